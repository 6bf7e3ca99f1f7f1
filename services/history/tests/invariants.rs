//! The history service's invariants on a real Kafka-protocol broker (librdkafka's mock
//! cluster, or `CAIRN_TEST_KAFKA_BOOTSTRAP`): one writer per partition, durable before
//! acknowledged, state rebuildable from the log.

use std::sync::{Arc, Mutex};

use cairn_engine::{
    RunKey, TaskRef,
    proto::{
        common::WorkflowType, taskqueue::TaskQueue, workflowservice::StartWorkflowExecutionRequest,
    },
};
use cairn_history::{History, HistoryConfig, HistoryError, QueryTask, SystemClock, TaskSink};
use cairn_log::KafkaConfig;
use cairn_state::StateDb;
use cairn_testkit::TestKafka;

#[derive(Default)]
struct Tasks(Mutex<Vec<TaskRef>>);

impl TaskSink for Tasks {
    fn withdraw(&self, _: Vec<TaskRef>) {}
    fn dispatch(&self, tasks: Vec<TaskRef>) {
        self.0.lock().unwrap().extend(tasks);
    }

    fn dispatch_query(&self, _: &str, _: &str, _: QueryTask) {
        unreachable!("these tests send no queries")
    }
}

async fn node(kafka: &TestKafka, topic: &str, dir: &std::path::Path, name: &str) -> History {
    node_with_snapshots(kafka, topic, None, dir, name).await
}

/// A history node of one partition, its state in `dir/name`.
async fn node_with_snapshots(
    kafka: &TestKafka,
    topic: &str,
    snapshots: Option<&cairn_history::SnapshotConfig>,
    dir: &std::path::Path,
    name: &str,
) -> History {
    let config = HistoryConfig {
        partitions: 1,
        topic: topic.to_string(),
        node_id: name.to_string(),
        kafka: KafkaConfig::new(kafka.bootstrap()),
        snapshots: snapshots.cloned(),
        limits: Default::default(),
        max_record_bytes: cairn_history::DEFAULT_MAX_RECORD_BYTES,
        // One open run in memory: every other is read back from RocksDB, as on a node with
        // more open runs than its cache holds.
        cached_runs: 1,
        task_window: cairn_history::DEFAULT_TASK_WINDOW,
    };
    let db = StateDb::open(&dir.join(name)).unwrap();
    History::start(
        config,
        db,
        Arc::new(Tasks::default()),
        Arc::new(SystemClock),
    )
    .await
    .unwrap()
}

/// Snapshots are written in the background: waits until one is in the topic.
async fn wait_for_a_snapshot(kafka: &TestKafka, topic: &str) {
    let reader = cairn_log::LogReader::connect(&KafkaConfig::new(kafka.bootstrap())).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while reader.end_offset(topic, 0).await.unwrap() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot was written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await; // poll interval
    }
}

fn start_request(workflow_id: &str) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: workflow_id.into(),
        workflow_type: Some(WorkflowType {
            name: "Greet".into(),
        }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        request_id: format!("request-{workflow_id}"),
        ..Default::default()
    }
}

async fn start(history: &History, workflow_id: &str) -> Result<String, HistoryError> {
    let started = history
        .start_workflow(
            "ns".into(),
            "default".into(),
            start_request(workflow_id),
            format!("run-{workflow_id}"),
        )
        .await?;
    Ok(started.run_id)
}

fn run(workflow_id: &str) -> RunKey {
    RunKey {
        namespace_id: "ns".into(),
        workflow_id: workflow_id.into(),
        run_id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_owner_acknowledges_nothing_and_its_writes_never_count() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("history", 1);
    let dir = tempfile::tempdir().unwrap();

    let zombie = node(&kafka, &topic, dir.path(), "zombie").await;
    start(&zombie, "before-takeover")
        .await
        .expect("the only owner acknowledges");

    // A second node claims the partition while the first still believes it owns it.
    let owner = node(&kafka, &topic, dir.path(), "owner").await;
    let fenced = start(&zombie, "from-zombie").await;
    assert!(
        matches!(fenced, Err(HistoryError::Fenced { .. })),
        "the zombie must not acknowledge a write made after the new claim, got {fenced:?}"
    );
    start(&owner, "from-owner")
        .await
        .expect("the new owner acknowledges");

    // A third node rebuilds from the log alone: the zombie's late write is not there.
    let reader = node(&kafka, &topic, dir.path(), "reader").await;
    assert!(
        reader.describe(run("before-takeover")).await.is_ok(),
        "acknowledged before the takeover"
    );
    assert!(
        reader.describe(run("from-owner")).await.is_ok(),
        "acknowledged by the owner"
    );
    assert!(
        reader.describe(run("from-zombie")).await.is_err(),
        "a fenced write never counts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_work_survives_losing_the_node_state() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("history", 1);
    let dir = tempfile::tempdir().unwrap();
    let first = node(&kafka, &topic, dir.path(), "first").await;
    for i in 0..20 {
        start(&first, &format!("wf-{i}")).await.unwrap();
    }
    let before = first.describe(run("wf-7")).await.unwrap();

    // A node with an empty data directory rebuilds everything from Kafka.
    let rebuilt = node(&kafka, &topic, dir.path(), "rebuilt").await;
    for i in 0..20 {
        rebuilt
            .describe(run(&format!("wf-{i}")))
            .await
            .expect("every acknowledged start is rebuilt");
    }
    assert_eq!(
        rebuilt.describe(run("wf-7")).await.unwrap(),
        before,
        "replay reproduces the same state"
    );
    let events = rebuilt.events(&before.run, 1, i64::MAX).await.unwrap();
    assert_eq!(
        events.len(),
        2,
        "started and workflow-task-scheduled events are rebuilt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_resumes_from_its_checkpoint_and_keeps_id_policies() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("history", 1);
    let dir = tempfile::tempdir().unwrap();
    let run_id = {
        let first = node(&kafka, &topic, dir.path(), "same").await;
        let run_id = start(&first, "order-1").await.unwrap();
        first.shutdown().await;
        run_id
    };
    // The same data directory again: state from RocksDB, the rest of the log on top.
    let again = node(&kafka, &topic, dir.path(), "same").await;
    let retried = start(&again, "order-1")
        .await
        .expect("the same request ID answers with its run");
    assert_eq!(retried, run_id);
    let mut other_request = start_request("order-1");
    other_request.request_id = "another".into();
    let duplicate = again
        .start_workflow("ns".into(), "default".into(), other_request, "run-x".into())
        .await;
    assert!(
        matches!(
            duplicate,
            Err(HistoryError::Engine(
                cairn_engine::EngineError::AlreadyStarted { .. }
            ))
        ),
        "a running workflow ID refuses a second start, got {duplicate:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_appended_but_never_applied_is_applied_on_restart() {
    use cairn_schemas::{Event, HistoryRecord, Transition};
    use prost::Message;

    let kafka = TestKafka::start();
    let topic = kafka.topic("history", 1);
    let dir = tempfile::tempdir().unwrap();
    let first = node(&kafka, &topic, dir.path(), "crashy").await;
    start(&first, "applied").await.unwrap();
    first.shutdown().await;
    drop(first);

    // The owner (epoch 1, the first claim on this topic) appended one more record and died
    // before applying it to RocksDB.
    let in_flight = RunKey {
        namespace_id: "ns".into(),
        workflow_id: "in-flight".into(),
        run_id: "run-in-flight".into(),
    };
    let record = |run: &RunKey| {
        let (mut state, changes) =
            cairn_engine::start::start(run.clone(), "default", &start_request(&run.workflow_id), 1);
        state.memo = vec![7; 2_000];
        let events = changes
            .events
            .iter()
            .map(|e| Event {
                event_id: e.event_id,
                event_time: 1,
                event_type: String::new(),
                data: e.encode_to_vec(),
            })
            .collect();
        let changes =
            cairn_schemas::state_changes(&cairn_engine::sections::diff(None, &state)).unwrap();
        HistoryRecord {
            epoch: 1,
            writer: "crashy".into(),
            claim: None,
            transitions: vec![Transition {
                run: run.clone(),
                events,
                changes,
                deleted: false,
            }],
            fragment: None,
        }
    };
    let producer = cairn_log::LogProducer::connect(&KafkaConfig::new(kafka.bootstrap())).unwrap();
    // It went as fragments, as a record larger than the topic takes does.
    let fragments = record(&in_flight).encode_within(700).unwrap();
    assert!(fragments.len() > 2);
    for fragment in &fragments {
        producer
            .append(&topic, 0, b"in-flight", fragment)
            .await
            .unwrap();
    }
    // The next record's first fragments were written, the rest never: it must not count.
    let cut_short = RunKey {
        workflow_id: "cut-short".into(),
        run_id: "run-cut-short".into(),
        ..in_flight.clone()
    };
    let fragments = record(&cut_short).encode_within(700).unwrap();
    for fragment in &fragments[..fragments.len() - 1] {
        producer
            .append(&topic, 0, b"cut-short", fragment)
            .await
            .unwrap();
    }

    // The same node restarts on its data directory: its checkpoint is behind the log.
    let restarted = node(&kafka, &topic, dir.path(), "crashy").await;
    assert!(restarted.describe(run("applied")).await.is_ok());
    assert!(
        restarted.describe(run("in-flight")).await.is_ok(),
        "a record durable in Kafka counts even though it never reached RocksDB"
    );
    assert!(
        restarted.describe(run("cut-short")).await.is_err(),
        "a record whose fragments were not all written never counts"
    );
    // The partition goes on after the record cut short.
    start(&restarted, "after-cut-short").await.unwrap();
    assert!(restarted.describe(run("after-cut-short")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_state_starts_from_the_latest_snapshot_and_replays_the_rest() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("history", 1);
    let snapshots = cairn_history::SnapshotConfig {
        topic: kafka.topic("snapshots", 1),
        every: 10,
        interval: std::time::Duration::from_secs(3600),
    };
    let dir = tempfile::tempdir().unwrap();
    let first = node_with_snapshots(&kafka, &topic, Some(&snapshots), dir.path(), "first").await;
    for i in 0..40 {
        start(&first, &format!("wf-{i}")).await.unwrap();
    }
    wait_for_a_snapshot(&kafka, &snapshots.topic).await;
    // Work after the snapshot is in the log only.
    for i in 40..45 {
        start(&first, &format!("wf-{i}")).await.unwrap();
    }
    let expected: Vec<_> = {
        let mut states = Vec::new();
        for i in 0..45 {
            states.push(first.describe(run(&format!("wf-{i}"))).await.unwrap());
        }
        states
    };

    let restored =
        node_with_snapshots(&kafka, &topic, Some(&snapshots), dir.path(), "restored").await;
    assert_eq!(
        restored.snapshot_loads(),
        1,
        "the partition came from the snapshot"
    );
    for (i, state) in expected.iter().enumerate() {
        let id = format!("wf-{i}");
        assert_eq!(&restored.describe(run(&id)).await.unwrap(), state, "{id}");
        let events = restored.events(&state.run, 1, i64::MAX).await.unwrap();
        assert_eq!(
            events.len() as i64,
            state.next_event_id - 1,
            "{id}: every event"
        );
    }
    // And it serves on: the restored state is the partition's state.
    start(&restored, "after-restore").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_with_few_transitions_is_snapshotted_once_its_interval_passes() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("history", 1);
    // Never by count: only the interval can cause a snapshot.
    let snapshots = cairn_history::SnapshotConfig {
        topic: kafka.topic("snapshots", 1),
        every: u64::MAX,
        interval: std::time::Duration::from_millis(300),
    };
    let dir = tempfile::tempdir().unwrap();
    let first = node_with_snapshots(&kafka, &topic, Some(&snapshots), dir.path(), "first").await;
    for i in 0..3 {
        start(&first, &format!("wf-{i}")).await.unwrap();
    }
    wait_for_a_snapshot(&kafka, &snapshots.topic).await;
    let expected = first.describe(run("wf-2")).await.unwrap();

    let restored =
        node_with_snapshots(&kafka, &topic, Some(&snapshots), dir.path(), "restored").await;
    assert_eq!(restored.snapshot_loads(), 1, "restored from the snapshot");
    assert_eq!(restored.describe(run("wf-2")).await.unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_missing_records_is_refused_rather_than_rebuilt_without_them() {
    let kafka = TestKafka::start();
    if !kafka.is_mock() {
        return; // Only the mock broker drops old records on its own (beyond 5 MB).
    }
    let topic = kafka.topic("history", 1);
    let producer = cairn_log::LogProducer::connect(&KafkaConfig::new(kafka.bootstrap())).unwrap();
    let filler = vec![0_u8; 1024 * 1024];
    for _ in 0..8 {
        producer
            .append(&topic, 0, b"filler", &filler)
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let config = HistoryConfig {
        partitions: 1,
        topic: topic.clone(),
        node_id: "late".into(),
        kafka: KafkaConfig::new(kafka.bootstrap()),
        snapshots: None,
        limits: Default::default(),
        max_record_bytes: cairn_history::DEFAULT_MAX_RECORD_BYTES,
        cached_runs: cairn_history::DEFAULT_CACHED_RUNS,
        task_window: cairn_history::DEFAULT_TASK_WINDOW,
    };
    let refused = History::start(
        config,
        StateDb::open(&dir.path().join("late")).unwrap(),
        Arc::new(Tasks::default()),
        Arc::new(SystemClock),
    )
    .await;
    assert!(
        matches!(refused, Err(HistoryError::LogTruncated { expected: 0, .. })),
        "a node must not rebuild from a log that lost its first records"
    );
}
