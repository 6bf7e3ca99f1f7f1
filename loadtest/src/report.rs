//! What a run tells people: a live progress line while it runs, a table at the end (one
//! column per target, side by side), and the whole report as JSON.

use std::{io::Write as _, time::Duration};

use serde::Serialize;

use crate::{
    cpu,
    shape::{Length, Plan, Shape},
    stats::{Percentiles, Recorder, Summary},
    target::{Server, TargetSpec},
    usage::Usage,
};

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    /// `closed` with a concurrency, or `open` with a rate per second.
    pub shape: serde_json::Value,
    pub length: serde_json::Value,
    pub warmup_seconds: f64,
    pub targets: Vec<TargetReport>,
}

impl Report {
    pub fn new(scenario: &str, plan: Plan) -> Self {
        Self {
            scenario: scenario.to_string(),
            shape: match plan.shape {
                Shape::Closed { concurrency } => {
                    serde_json::json!({"kind": "closed", "concurrency": concurrency})
                }
                Shape::Open { rate } => serde_json::json!({"kind": "open", "rate": rate}),
            },
            length: match plan.length {
                Length::Duration(d) => serde_json::json!({"seconds": d.as_secs_f64()}),
                Length::Iterations(n) => serde_json::json!({"iterations": n}),
            },
            warmup_seconds: plan.warmup.as_secs_f64(),
            targets: Vec::new(),
        }
    }

    /// The end-of-run table: a row per figure, a column per target, then the notes.
    pub fn table(&self) -> String {
        let rows = self.rows();
        let names: Vec<&str> = self.targets.iter().map(|t| t.name.as_str()).collect();
        let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let widths: Vec<usize> = (0..names.len())
            .map(|i| {
                rows.iter()
                    .map(|(_, cells)| cells[i].len())
                    .chain([names[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        out.push_str(&format!("{:label_width$}", self.scenario));
        for (name, width) in names.iter().zip(&widths) {
            out.push_str(&format!("  {name:>width$}"));
        }
        out.push('\n');
        for (label, cells) in &rows {
            out.push_str(&format!("{label:label_width$}"));
            for (cell, width) in cells.iter().zip(&widths) {
                out.push_str(&format!("  {cell:>width$}"));
            }
            out.push('\n');
        }
        for note in self.notes() {
            out.push_str(&note);
            out.push('\n');
        }
        out
    }

    /// The figures of the table: a label, then one cell per target, in target order.
    pub fn rows(&self) -> Vec<(String, Vec<String>)> {
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        let mut row = |label: &str, cell: &dyn Fn(&TargetReport) -> String| {
            rows.push((label.to_string(), self.targets.iter().map(cell).collect()));
        };
        let pct = |p: &Option<Percentiles>, pick: fn(&Percentiles) -> f64| {
            p.as_ref().map_or("-".into(), |p| format!("{:.1}", pick(p)))
        };
        row("completed", &|t| t.summary.completed.to_string());
        row("per second", &|t| format!("{:.1}", t.summary.throughput));
        row("end-to-end p50 ms", &|t| {
            pct(&t.summary.end_to_end_latency_ms, |p| p.p50)
        });
        row("end-to-end p90 ms", &|t| {
            pct(&t.summary.end_to_end_latency_ms, |p| p.p90)
        });
        row("end-to-end p99 ms", &|t| {
            pct(&t.summary.end_to_end_latency_ms, |p| p.p99)
        });
        row("end-to-end p99.9 ms", &|t| {
            pct(&t.summary.end_to_end_latency_ms, |p| p.p999)
        });
        row("end-to-end max ms", &|t| {
            pct(&t.summary.end_to_end_latency_ms, |p| p.max)
        });
        row("start p50 ms", &|t| {
            pct(&t.summary.start_latency_ms, |p| p.p50)
        });
        row("start p99 ms", &|t| {
            pct(&t.summary.start_latency_ms, |p| p.p99)
        });
        row("workflow task wait p99 ms", &|t| {
            pct(&t.summary.workflow_task_schedule_to_start_ms, |p| p.p99)
        });
        row("activity task wait p99 ms", &|t| {
            pct(&t.summary.activity_task_schedule_to_start_ms, |p| p.p99)
        });
        row("errors", &|t| t.error_count().to_string());
        row("calls retried (throttled)", &|t| {
            t.summary.retries.values().sum::<u64>().to_string()
        });
        row("server CPU ms / iteration", &|t| {
            t.server_cpu_ms_per_iteration
                .map_or("-".into(), |ms| format!("{ms:.2}"))
        });
        row("server CPU cores", &|t| {
            t.cpu.server_seconds.map_or("-".into(), |s| {
                format!("{:.2}", s / t.summary.seconds.max(1e-9))
            })
        });
        row("server RSS MiB", &|t| {
            t.server_rss_bytes
                .map_or("-".into(), |b| format!("{:.0}", b as f64 / 1048576.0))
        });
        row("worker CPU cores", &|t| {
            format!("{:.2}", t.cpu.worker_seconds / t.summary.seconds.max(1e-9))
        });
        row("driver CPU cores", &|t| {
            format!("{:.2}", t.cpu.driver_seconds / t.summary.seconds.max(1e-9))
        });
        rows
    }

    /// What the table's figures leave out: each target's errors by kind and its retried calls.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for target in &self.targets {
            for (kind, count) in &target.summary.errors {
                notes.push(format!("{}: {count} × {kind}", target.name));
            }
            for (call, count) in &target.summary.retries {
                notes.push(format!("{}: {count} × retried {call}", target.name));
            }
        }
        notes
    }
}

/// CPU seconds used: by the server (when its process is known), by this tool's worker and by
/// its driver.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cpu {
    pub server_seconds: Option<f64>,
    pub worker_seconds: f64,
    pub driver_seconds: f64,
}

impl Cpu {
    pub fn sample(server: Usage, worker_threads: &str, driver_threads: &str) -> Self {
        Self {
            server_seconds: server.cpu_seconds,
            worker_seconds: cpu::own_threads_seconds(worker_threads),
            driver_seconds: cpu::own_threads_seconds(driver_threads),
        }
    }

    pub fn since(&self, before: &Self) -> Self {
        Self {
            server_seconds: self
                .server_seconds
                .zip(before.server_seconds)
                .map(|(after, before)| after - before),
            worker_seconds: self.worker_seconds - before.worker_seconds,
            driver_seconds: self.driver_seconds - before.driver_seconds,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TargetReport {
    pub name: String,
    pub address: String,
    pub summary: Summary,
    pub cpu: Cpu,
    pub server_cpu_ms_per_iteration: Option<f64>,
    pub server_rss_bytes: Option<u64>,
}

impl TargetReport {
    pub fn new(
        spec: &TargetSpec,
        server: &Server,
        summary: Summary,
        cpu: Cpu,
        usage: Usage,
    ) -> Self {
        let server_cpu_ms_per_iteration = cpu
            .server_seconds
            .filter(|_| summary.completed > 0)
            .map(|seconds| seconds * 1000.0 / summary.completed as f64);
        Self {
            name: spec.name.clone(),
            address: server.address.clone(),
            server_rss_bytes: usage.rss_bytes,
            summary,
            cpu,
            server_cpu_ms_per_iteration,
        }
    }

    pub fn error_count(&self) -> u64 {
        self.summary.errors.values().sum()
    }
}

/// Prints a progress line every second until aborted: completions, the last second's rate
/// and its end-to-end p50 and p99. On a terminal the line rewrites itself.
pub async fn show_progress(name: &str, recorder: &Recorder, terminal: bool) {
    let began = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let (completed, last_second, recent) = recorder.progress();
        let latency = recent.map_or(String::from("-"), |(p50, p99)| {
            format!(
                "p50 {:.1} ms  p99 {:.1} ms",
                p50 as f64 / 1000.0,
                p99 as f64 / 1000.0
            )
        });
        let line = format!(
            "{name}  {:>4}s  {completed:>8} done  {last_second:>6}/s  {latency}",
            began.elapsed().as_secs()
        );
        let mut err = std::io::stderr().lock();
        let written = if terminal {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        if written.and_then(|()| err.flush()).is_err() {
            return; // nowhere to show it
        }
    }
}
