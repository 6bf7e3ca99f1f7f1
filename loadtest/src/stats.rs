//! What a run measures: latencies as HDR histograms (microseconds), schedule-to-start of the
//! tasks the worker takes, errors by kind, and a per-second timeline. Nothing is recorded
//! during the warm-up.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use prost_wkt_types::Timestamp;
use serde::Serialize;

/// The largest latency a histogram holds: 10 minutes, in microseconds.
const MAX_MICROS: u64 = 600_000_000;

#[derive(Debug, Clone, Copy)]
pub enum TaskKind {
    Workflow,
    Activity,
}

/// Shared by the driver and the worker.
pub struct Recorder {
    measuring: AtomicBool,
    inner: Mutex<Inner>,
}

struct Inner {
    since: Instant,
    start: Histogram<u64>,
    end_to_end: Histogram<u64>,
    workflow_task_wait: Histogram<u64>,
    activity_task_wait: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    retries: BTreeMap<String, u64>,
    completed: u64,
    /// One entry per second since measuring began: completions and their latencies.
    seconds: Vec<Histogram<u64>>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_MICROS)
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            measuring: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                since: Instant::now(),
                start: histogram(),
                end_to_end: histogram(),
                workflow_task_wait: histogram(),
                activity_task_wait: histogram(),
                errors: BTreeMap::new(),
                retries: BTreeMap::new(),
                completed: 0,
                seconds: Vec::new(),
            }),
        }
    }
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ends the warm-up: from now on, everything counts.
    pub fn start_measuring(&self) {
        self.lock().since = Instant::now();
        self.measuring.store(true, Ordering::SeqCst);
    }

    fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }

    /// One iteration that ended as it should.
    pub fn completed(&self, start: Duration, end_to_end: Duration) {
        if !self.measuring() {
            return;
        }
        let mut inner = self.lock();
        let second = usize::try_from(inner.since.elapsed().as_secs()).unwrap_or(usize::MAX);
        while inner.seconds.len() <= second {
            inner.seconds.push(histogram());
        }
        let value = micros(end_to_end);
        inner.seconds[second].saturating_record(value);
        inner.end_to_end.saturating_record(value);
        inner.start.saturating_record(micros(start));
        inner.completed += 1;
    }

    /// One iteration that did not: `kind` says how.
    pub fn error(&self, kind: &str) {
        if !self.measuring() {
            return;
        }
        *self.lock().errors.entry(kind.to_string()).or_default() += 1;
    }

    /// A call of the worker that failed: by code and message, which says what to fix.
    pub fn worker_error(&self, status: &tonic::Status) {
        let message: String = status.message().chars().take(120).collect();
        self.error(&format!("worker: {:?}: {message}", status.code()));
    }

    /// A call the server throttled or could not serve and that was made again: not an
    /// error, but a sign the server pushed back.
    pub fn retried(&self, call: &str, code: tonic::Code) {
        if !self.measuring() {
            return;
        }
        *self
            .lock()
            .retries
            .entry(format!("{call}: {code:?}"))
            .or_default() += 1;
    }

    /// A task the worker took: how long it waited between being scheduled and started,
    /// by the server's clock.
    pub fn task_started(
        &self,
        kind: TaskKind,
        scheduled: Option<&Timestamp>,
        started: Option<&Timestamp>,
    ) {
        let (Some(scheduled), Some(started)) = (scheduled, started) else {
            return;
        };
        if !self.measuring() {
            return;
        }
        let nanos = |t: &Timestamp| i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
        let waited = u64::try_from((nanos(started) - nanos(scheduled)).max(0) / 1_000)
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_MICROS);
        let mut inner = self.lock();
        match kind {
            TaskKind::Workflow => inner.workflow_task_wait.saturating_record(waited),
            TaskKind::Activity => inner.activity_task_wait.saturating_record(waited),
        }
    }

    /// Completions so far and the end-to-end p50 and p99 of the last full second, for the
    /// progress line.
    pub fn progress(&self) -> (u64, u64, Option<(u64, u64)>) {
        let inner = self.lock();
        let elapsed = inner.since.elapsed().as_secs();
        let last = usize::try_from(elapsed.saturating_sub(1)).unwrap_or(0);
        let recent = inner
            .seconds
            .get(last)
            .filter(|h| !h.is_empty())
            .map(|h| (h.value_at_quantile(0.5), h.value_at_quantile(0.99)));
        let last_second = inner.seconds.get(last).map_or(0, Histogram::len);
        (inner.completed, last_second, recent)
    }

    pub fn summary(&self, wall: Duration) -> Summary {
        let inner = self.lock();
        Summary {
            completed: inner.completed,
            seconds: wall.as_secs_f64(),
            throughput: inner.completed as f64 / wall.as_secs_f64().max(1e-9),
            start_latency_ms: Percentiles::of(&inner.start),
            end_to_end_latency_ms: Percentiles::of(&inner.end_to_end),
            workflow_task_schedule_to_start_ms: Percentiles::of(&inner.workflow_task_wait),
            activity_task_schedule_to_start_ms: Percentiles::of(&inner.activity_task_wait),
            errors: inner.errors.clone(),
            retries: inner.retries.clone(),
            timeline: inner
                .seconds
                .iter()
                .enumerate()
                .map(|(second, h)| Second {
                    second: second as u64,
                    completed: h.len(),
                    p50_ms: ms(h.value_at_quantile(0.5)),
                    p99_ms: ms(h.value_at_quantile(0.99)),
                })
                .collect(),
            end_to_end_distribution: distribution(&inner.end_to_end),
        }
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The end-to-end latency distribution as (latency ms, fraction at or below), on a
/// logarithmic grid: what a distribution plot needs.
fn distribution(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    h.iter_log(100, 1.25)
        .map(|step| (ms(step.value_iterated_to()), step.quantile()))
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Second {
    pub second: u64,
    pub completed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub completed: u64,
    pub seconds: f64,
    /// Iterations completed per second of the measured window.
    pub throughput: f64,
    pub start_latency_ms: Option<Percentiles>,
    pub end_to_end_latency_ms: Option<Percentiles>,
    pub workflow_task_schedule_to_start_ms: Option<Percentiles>,
    pub activity_task_schedule_to_start_ms: Option<Percentiles>,
    pub errors: BTreeMap<String, u64>,
    /// Calls made again after `ResourceExhausted` or `Unavailable`, by call and code.
    pub retries: BTreeMap<String, u64>,
    pub timeline: Vec<Second>,
    pub end_to_end_distribution: Vec<(f64, f64)>,
}
