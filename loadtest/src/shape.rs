//! Load shapes. A closed loop keeps `concurrency` iterations in flight, each starting when
//! the last ended. An open loop starts iterations at a fixed rate whatever happens, and
//! measures each from the moment it was due, so that queueing shows in the latency instead
//! of silently lowering the rate (coordinated omission).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{sync::Semaphore, task::JoinSet, time::MissedTickBehavior};

use crate::{
    connection::Client,
    scenarios::{Iteration, Outcome},
    stats::Recorder,
};

#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Closed { concurrency: usize },
    Open { rate: f64 },
}

/// How long a run lasts, after its warm-up.
#[derive(Debug, Clone, Copy)]
pub enum Length {
    Duration(Duration),
    Iterations(u64),
}

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub shape: Shape,
    pub length: Length,
    pub warmup: Duration,
    /// An open loop never has more than this many iterations in flight; the ones it cannot
    /// start are errors ("in-flight limit").
    pub max_in_flight: usize,
    /// How long the last iterations may take to finish once the run is over.
    pub drain: Duration,
}

/// Whether the run still issues iterations, and whether the warm-up is over.
struct Clock {
    began: Instant,
    plan: Plan,
    measured_from: std::sync::OnceLock<Instant>,
    issued_measured: AtomicU64,
}

impl Clock {
    /// The next iteration may start: false once the run is over. Ends the warm-up when due.
    fn admit(&self, recorder: &Recorder) -> bool {
        if self.measured_from.get().is_none() {
            if self.began.elapsed() < self.plan.warmup {
                return true;
            }
            if self.measured_from.set(Instant::now()).is_ok() {
                recorder.start_measuring();
            }
        }
        match self.plan.length {
            Length::Duration(length) => self
                .measured_from
                .get()
                .is_some_and(|from| from.elapsed() < length),
            Length::Iterations(total) => {
                self.issued_measured.fetch_add(1, Ordering::SeqCst) < total
            }
        }
    }

    fn measured(&self) -> Duration {
        self.measured_from
            .get()
            .map_or(Duration::ZERO, Instant::elapsed)
    }
}

fn record(recorder: &Recorder, outcome: Outcome, due: Instant) {
    match outcome {
        Outcome::Completed { start } => recorder.completed(start, due.elapsed()),
        Outcome::Failed(kind) => recorder.error(&kind),
    }
}

/// Runs `plan`; returns the measured window (warm-up excluded, drain included).
pub async fn drive(
    client: &Client,
    iteration: &Iteration,
    plan: Plan,
    recorder: &Arc<Recorder>,
) -> Duration {
    let clock = Arc::new(Clock {
        began: Instant::now(),
        plan,
        measured_from: std::sync::OnceLock::new(),
        issued_measured: AtomicU64::new(0),
    });
    let next = Arc::new(AtomicU64::new(0));
    let mut running = JoinSet::new();
    match plan.shape {
        Shape::Closed { concurrency } => {
            for _ in 0..concurrency.max(1) {
                let (client, iteration) = (client.clone(), iteration.clone());
                let (clock, next, recorder) =
                    (Arc::clone(&clock), Arc::clone(&next), Arc::clone(recorder));
                running.spawn(async move {
                    while clock.admit(&recorder) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let due = Instant::now();
                        let outcome = iteration.run(client.clone(), n, &recorder).await;
                        record(&recorder, outcome, due);
                    }
                });
            }
        }
        Shape::Open { rate } => {
            let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
            let mut ticks = tokio::time::interval(period);
            // Iterations that fell behind start at once, as they were due.
            ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
            let slots = Arc::new(Semaphore::new(plan.max_in_flight.max(1)));
            let mut due = Instant::now();
            loop {
                ticks.tick().await;
                if !clock.admit(recorder) {
                    break;
                }
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    recorder.error("in-flight limit");
                    due += period;
                    continue;
                };
                let n = next.fetch_add(1, Ordering::Relaxed);
                let (client, iteration, recorder) =
                    (client.clone(), iteration.clone(), Arc::clone(recorder));
                let this_due = due;
                running.spawn(async move {
                    let outcome = iteration.run(client, n, &recorder).await;
                    record(&recorder, outcome, this_due);
                    drop(slot);
                });
                due += period;
                // Reap finished iterations so the set does not grow for the whole run.
                while running.try_join_next().is_some() {}
            }
        }
    }
    let drained = tokio::time::timeout(plan.drain, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        for _ in 0..running.len() {
            recorder.error("unfinished when the run ended");
        }
        running.abort_all();
    }
    clock.measured()
}
