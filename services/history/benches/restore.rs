//! Restore time: how long a history node with an empty data directory takes to own every
//! partition again, rebuilding its state from Kafka alone, for a given number of open
//! workflows. Also how long a restart takes when the data directory survived.
//!
//! `cargo bench -p cairn-history --bench restore -- 10000 5 1000`: 10,000 open workflows
//! (the default), each signalled 5 times after its start (default 0), so the log holds six
//! records per workflow, with a snapshot every 1,000 transitions per partition (default 0:
//! none). Without snapshots restore follows the log; with them, the state.
//! The broker is librdkafka's in-process mock cluster, or `CAIRN_TEST_KAFKA_BOOTSTRAP`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use cairn_engine::{
    RunKey, TaskRef,
    proto::{
        common::WorkflowType, taskqueue::TaskQueue, workflowservice::StartWorkflowExecutionRequest,
    },
    signal::Signal,
};
use cairn_history::{History, HistoryConfig, QueryTask, SnapshotConfig, SystemClock, TaskSink};
use cairn_log::KafkaConfig;
use cairn_state::StateDb;
use cairn_testkit::TestKafka;
use futures::{StreamExt, TryStreamExt};

const PARTITIONS: u32 = 16;

/// Counts the tasks a node hands to matching (every open workflow has one pending).
#[derive(Default)]
struct CountedTasks(AtomicUsize);

impl TaskSink for CountedTasks {
    fn withdraw(&self, _: Vec<TaskRef>) {}
    fn dispatch(&self, tasks: Vec<TaskRef>) {
        self.0.fetch_add(tasks.len(), Ordering::Relaxed);
    }

    fn dispatch_query(&self, _: &str, _: &str, _: QueryTask) {}
}

fn start_request(n: usize) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: format!("restore-{n}"),
        workflow_type: Some(WorkflowType {
            name: "Restore".into(),
        }),
        task_queue: Some(TaskQueue {
            name: "restore".into(),
            ..Default::default()
        }),
        request_id: format!("request-{n}"),
        ..Default::default()
    }
}

fn main() {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let workflows = numbers.first().copied().unwrap_or(10_000);
    let signals = numbers.get(1).copied().unwrap_or(0);
    let snapshot_every = numbers.get(2).copied().unwrap_or(0) as u64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(workflows, signals, snapshot_every));
}

async fn run(workflows: usize, signals: usize, snapshot_every: u64) {
    let kafka = TestKafka::start();
    let topic = kafka.topic("restore", PARTITIONS as i32);
    let snapshots = (snapshot_every > 0).then(|| SnapshotConfig {
        topic: kafka.topic("restore-snapshots", PARTITIONS as i32),
        every: snapshot_every,
        interval: std::time::Duration::from_secs(3600),
    });
    let config = |node: &str| HistoryConfig {
        partitions: PARTITIONS,
        topic: topic.clone(),
        node_id: node.to_string(),
        kafka: KafkaConfig::new(kafka.bootstrap()),
        snapshots: snapshots.clone(),
        limits: Default::default(),
        max_record_bytes: cairn_history::DEFAULT_MAX_RECORD_BYTES,
        cached_runs: cairn_history::DEFAULT_CACHED_RUNS,
        task_window: cairn_history::DEFAULT_TASK_WINDOW,
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let clock = Arc::new(SystemClock);

    let writer = History::start(
        config("writer"),
        StateDb::open(&dir.path().join("writer")).expect("a state store"),
        Arc::new(CountedTasks::default()),
        Arc::clone(&clock) as Arc<dyn cairn_history::Clock>,
    )
    .await
    .expect("the writer starts");
    let started = Instant::now();
    futures::stream::iter(0..workflows)
        .map(|n| {
            let writer = writer.clone();
            async move {
                writer
                    .start_workflow(
                        "ns".into(),
                        "default".into(),
                        start_request(n),
                        format!("run-{n}"),
                    )
                    .await
            }
        })
        .buffer_unordered(1024)
        .try_collect::<Vec<_>>()
        .await
        .expect("every workflow starts");
    futures::stream::iter((0..workflows).flat_map(|n| (0..signals).map(move |s| (n, s))))
        .map(|(n, s)| {
            let writer = writer.clone();
            async move {
                let run = RunKey {
                    namespace_id: "ns".into(),
                    workflow_id: format!("restore-{n}"),
                    run_id: format!("run-{n}"),
                };
                let signal = Signal {
                    name: "poke".into(),
                    input: None,
                    identity: "bench".into(),
                    header: None,
                    request_id: format!("signal-{n}-{s}"),
                };
                writer.signal(run, signal).await
            }
        })
        .buffer_unordered(1024)
        .try_collect::<Vec<_>>()
        .await
        .expect("every signal lands");
    let writing = started.elapsed();
    writer.shutdown().await;
    drop(writer);

    let tasks = Arc::new(CountedTasks::default());
    let started = Instant::now();
    let restored = History::start(
        config("restorer"),
        StateDb::open(&dir.path().join("restorer")).expect("a state store"),
        Arc::clone(&tasks) as Arc<dyn TaskSink>,
        Arc::clone(&clock) as Arc<dyn cairn_history::Clock>,
    )
    .await
    .expect("the restorer starts");
    let from_kafka = started.elapsed();
    // Pending tasks go to matching from each partition's effects task, just after its claim.
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while tasks.0.load(Ordering::Relaxed) < workflows && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await; // poll interval
    }
    assert_eq!(
        tasks.0.load(Ordering::Relaxed),
        workflows,
        "every open workflow's task is pending again"
    );
    restored.shutdown().await;
    drop(restored);

    let started = Instant::now();
    let restarted = History::start(
        config("restorer"),
        StateDb::open(&dir.path().join("restorer")).expect("the state store again"),
        Arc::new(CountedTasks::default()),
        clock,
    )
    .await
    .expect("the restart works");
    let from_checkpoint = started.elapsed();
    restarted.shutdown().await;

    println!(
        "restore: {workflows} open workflows, {} records on {PARTITIONS} partitions \
         (written in {:.1} s): empty data directory {:.2} s, surviving data directory {:.2} s",
        workflows * (1 + signals),
        writing.as_secs_f64(),
        from_kafka.as_secs_f64(),
        from_checkpoint.as_secs_f64()
    );
}
