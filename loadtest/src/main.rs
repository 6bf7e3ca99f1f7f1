//! `cairn-loadtest`: drives any Temporal-API server (Cairn, Temporal, or anything else that
//! speaks the API) with a scenario and its own lean worker, and reports throughput, latency
//! distributions, schedule-to-start, errors and CPU, for one target or side by side for
//! several. See `loadtest/README.md`.

mod connection;
mod cpu;
mod plot;
mod report;
mod scenarios;
mod shape;
mod stats;
mod target;
mod usage;
mod worker;
mod workflows;

use std::{io::IsTerminal, path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, ensure};
use clap::Parser;
use tokio_util::sync::CancellationToken;

use crate::{
    report::{Cpu, Report, TargetReport},
    scenarios::{Iteration, Scenario, Sizes},
    shape::{Length, Plan, Shape},
    stats::Recorder,
    target::TargetSpec,
};

/// Threads of the worker's runtime start with this name, the driver's with the other.
const WORKER_THREADS: &str = "lt-worker";
const DRIVER_THREADS: &str = "lt-driver";

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Load-tests a Temporal-API server with a scenario and a lean worker"
)]
struct Args {
    /// A server to load: `HOST:PORT`, or `name=…,address=…[,pid=…][,metrics=URL]`, or
    /// `name=…,start=cairn:PATH` / `start=temporal:PATH` to start a dev server on free ports
    /// for the run. Repeat it to compare servers: each gets the same load, one after the other.
    #[arg(long = "target", required = true)]
    targets: Vec<TargetSpec>,
    /// The scenario to run: workflow_with_single_noop_activity, throughput_stress, fan_out,
    /// many_timers, signal_storm or schedules.
    #[arg(long, default_value = "workflow_with_single_noop_activity")]
    scenario: String,
    /// fan_out: activities each workflow runs at once.
    #[arg(long, default_value_t = 10)]
    activities: u64,
    /// many_timers: timers each workflow starts at once.
    #[arg(long, default_value_t = 10)]
    timers: u64,
    /// signal_storm: signals each workflow is sent at once.
    #[arg(long, default_value_t = 50)]
    signals: u64,
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Closed loop: iterations kept in flight (the default shape, 50).
    #[arg(long, conflicts_with = "rate")]
    concurrency: Option<usize>,
    /// Open loop: iterations started per second, each measured from when it was due.
    #[arg(long)]
    rate: Option<f64>,
    /// How long to measure, after the warm-up (default 30s).
    #[arg(long, conflicts_with = "iterations")]
    duration: Option<humantime::Duration>,
    /// How many iterations to measure, after the warm-up.
    #[arg(long)]
    iterations: Option<u64>,
    /// Load before measuring, not counted.
    #[arg(long, default_value = "5s")]
    warmup: humantime::Duration,
    /// Long polls the worker keeps open for each kind of task.
    #[arg(long, default_value_t = 32)]
    pollers: usize,
    /// Most iterations an open loop keeps in flight.
    #[arg(long, default_value_t = 10_000)]
    max_in_flight: usize,
    /// TLS and credentials for targets given by address (dev servers started here are
    /// plaintext).
    #[command(flatten)]
    security: connection::Security,
    /// Writes the whole report as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Writes a self-contained HTML report with plots here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scenario = Scenario::named(
        &args.scenario,
        Sizes {
            activities: args.activities,
            timers: args.timers,
            signals: args.signals,
        },
    )?;
    let plan = Plan {
        shape: match (args.rate, args.concurrency) {
            (Some(rate), _) => {
                ensure!(rate > 0.0, "--rate must be positive");
                Shape::Open { rate }
            }
            (None, concurrency) => Shape::Closed {
                concurrency: concurrency.unwrap_or(50),
            },
        },
        length: match (args.iterations, args.duration) {
            (Some(iterations), _) => Length::Iterations(iterations),
            (None, duration) => {
                Length::Duration(duration.map_or(Duration::from_secs(30), Into::into))
            }
        },
        warmup: args.warmup.into(),
        max_in_flight: args.max_in_flight,
        drain: Duration::from_secs(60),
    };
    // The worker runs on threads of its own, so its CPU is reported apart from the driver's.
    let worker_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name(WORKER_THREADS)
        .enable_all()
        .build()?;
    let driver_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name(DRIVER_THREADS)
        .enable_all()
        .build()?;
    let mut report = Report::new(&args.scenario, plan);
    for spec in &args.targets {
        let result =
            driver_runtime.block_on(run_target(&args, spec, scenario, plan, &worker_runtime));
        let target = result.with_context(|| format!("target {}", spec.name))?;
        report.targets.push(target);
    }
    print!("{}", report.table());
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    if let Some(path) = &args.html {
        std::fs::write(path, plot::html(&report))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("HTML report written to {}", path.display());
    }
    let errors: u64 = report.targets.iter().map(TargetReport::error_count).sum();
    ensure!(errors == 0, "{errors} errors (listed under the table)");
    Ok(())
}

async fn run_target(
    args: &Args,
    spec: &TargetSpec,
    scenario: Scenario,
    plan: Plan,
    worker_runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<TargetReport> {
    let server = target::prepare(spec).await?;
    let security = if spec.start.is_some() {
        connection::Security::default()
    } else {
        args.security.clone()
    };
    let client = connection::connect(&server.address, &security).await?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let task_queue = format!("loadtest-{}", &run[..12]);
    let identity = format!("cairn-loadtest@{}", std::process::id());
    let recorder = Arc::new(Recorder::default());
    let stop = CancellationToken::new();
    let worker = worker_runtime.spawn(worker::run(
        client.clone(),
        worker::WorkerConfig {
            namespace: args.namespace.clone(),
            task_queue: task_queue.clone(),
            identity: identity.clone(),
            pollers: args.pollers,
        },
        Arc::clone(&recorder),
        stop.clone(),
    ));
    let iteration = Iteration {
        scenario,
        namespace: args.namespace.clone(),
        task_queue,
        identity,
        prefix: format!("loadtest-{run}"),
    };
    // CPU counts from the end of the warm-up, when measuring begins.
    let cpu_at_warmup_end = async {
        tokio::time::sleep(plan.warmup).await;
        Cpu::sample(usage::of(&server).await, WORKER_THREADS, DRIVER_THREADS)
    };
    let progress = async {
        if !args.quiet {
            report::show_progress(&spec.name, &recorder, std::io::stderr().is_terminal()).await;
        }
        std::future::pending::<()>().await;
    };
    let (measured, cpu_before) = tokio::select! {
        both = async {
            tokio::join!(shape::drive(&client, &iteration, plan, &recorder), cpu_at_warmup_end)
        } => both,
        () = progress => unreachable!("progress never ends"),
    };
    let usage = usage::of(&server).await;
    let cpu = Cpu::sample(usage, WORKER_THREADS, DRIVER_THREADS).since(&cpu_before);
    if !args.quiet {
        eprintln!();
    }
    stop.cancel();
    // The worker's pollers end with their long polls; a server that is gone ends them too.
    let _ended = tokio::time::timeout(Duration::from_secs(5), worker).await;
    let summary = recorder.summary(measured);
    Ok(TargetReport::new(spec, &server, summary, cpu, usage))
}
