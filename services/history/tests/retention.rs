//! Retention: closed runs are deleted once their namespace's retention has passed since they
//! closed; open runs and runs still within it stay.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use cairn_engine::{
    RunKey, TaskRef,
    proto::{
        common::WorkflowType, taskqueue::TaskQueue, workflowservice::StartWorkflowExecutionRequest,
    },
};
use cairn_history::{Clock, History, HistoryConfig, QueryTask, RetentionOf, TaskSink};
use cairn_log::KafkaConfig;
use cairn_state::StateDb;
use cairn_testkit::TestKafka;

const DAY: i64 = 24 * 3600 * 1_000_000_000;

struct NoTasks;

impl TaskSink for NoTasks {
    fn withdraw(&self, _: Vec<TaskRef>) {}
    fn dispatch(&self, _: Vec<TaskRef>) {}
    fn dispatch_query(&self, _: &str, _: &str, _: QueryTask) {}
}

/// A clock the test moves.
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn run(workflow_id: &str) -> RunKey {
    RunKey {
        namespace_id: "ns".into(),
        workflow_id: workflow_id.into(),
        run_id: String::new(),
    }
}

async fn start(history: &History, workflow_id: &str) {
    let request = StartWorkflowExecutionRequest {
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
    };
    history
        .start_workflow(
            "ns".into(),
            "default".into(),
            request,
            format!("run-{workflow_id}"),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_runs_go_once_their_retention_has_passed() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("history", 1);
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TestClock(AtomicI64::new(1_700_000_000_000_000_000)));
    let config = HistoryConfig {
        partitions: 1,
        topic,
        node_id: "retention".into(),
        kafka: KafkaConfig::new(kafka.bootstrap()),
        snapshots: None,
        limits: Default::default(),
        max_record_bytes: cairn_history::DEFAULT_MAX_RECORD_BYTES,
        cached_runs: cairn_history::DEFAULT_CACHED_RUNS,
        task_window: cairn_history::DEFAULT_TASK_WINDOW,
    };
    let db = StateDb::open(dir.path()).unwrap();
    let history = History::start(
        config,
        db,
        Arc::new(NoTasks),
        Arc::clone(&clock) as Arc<dyn Clock>,
    )
    .await
    .unwrap();
    let retention: RetentionOf =
        Arc::new(|namespace_id: &str| (namespace_id == "ns").then_some(DAY));

    start(&history, "closed-early").await;
    start(&history, "still-open").await;
    history
        .terminate(run("closed-early"), "done".into(), None, "test".into())
        .await
        .unwrap();
    clock.0.fetch_add(DAY / 2, Ordering::SeqCst);
    start(&history, "closed-later").await;
    history
        .terminate(run("closed-later"), "done".into(), None, "test".into())
        .await
        .unwrap();
    assert_eq!(
        history.delete_expired(0, &retention).await.unwrap(),
        0,
        "within a day"
    );

    // A day after the first close, only that run has outlived its retention.
    clock.0.fetch_add(DAY / 2, Ordering::SeqCst);
    assert_eq!(history.delete_expired(0, &retention).await.unwrap(), 1);
    assert!(
        history.describe(run("closed-early")).await.is_err(),
        "deleted"
    );
    assert!(
        history.describe(run("closed-later")).await.is_ok(),
        "kept half a day more"
    );
    assert!(
        history.describe(run("still-open")).await.is_ok(),
        "open runs stay"
    );

    // Another namespace's retention (or none) never deletes this one's runs.
    let none: RetentionOf = Arc::new(|_: &str| None);
    clock.0.fetch_add(10 * DAY, Ordering::SeqCst);
    assert_eq!(history.delete_expired(0, &none).await.unwrap(), 0);
    assert_eq!(history.delete_expired(0, &retention).await.unwrap(), 1);
    assert!(history.describe(run("closed-later")).await.is_err());
    assert!(history.describe(run("still-open")).await.is_ok());
}
