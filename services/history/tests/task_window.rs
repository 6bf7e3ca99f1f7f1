//! A partition hands matching a window of each queue's waiting tasks, not its whole backlog:
//! the first to become ready, then the next as workers start them; tasks that stop waiting
//! are withdrawn, and a new owner hands its windows again. The backlog's size is exact
//! whatever the window holds.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use cairn_engine::{
    RunKey, TaskKind, TaskRef,
    proto::{
        common::WorkflowType, taskqueue::TaskQueue, workflowservice::StartWorkflowExecutionRequest,
    },
};
use cairn_history::{History, HistoryConfig, QueryTask, SystemClock, TaskSink};
use cairn_log::KafkaConfig;
use cairn_state::StateDb;
use cairn_testkit::TestKafka;
use tokio::sync::Notify;

const WINDOW: usize = 3;

/// What matching was told, in order.
#[derive(Default)]
struct Told {
    handed: Mutex<Vec<TaskRef>>,
    withdrawn: Mutex<Vec<TaskRef>>,
    changed: Notify,
}

impl TaskSink for Told {
    fn dispatch(&self, tasks: Vec<TaskRef>) {
        self.handed.lock().unwrap().extend(tasks);
        self.changed.notify_waiters();
    }

    fn withdraw(&self, tasks: Vec<TaskRef>) {
        self.withdrawn.lock().unwrap().extend(tasks);
        self.changed.notify_waiters();
    }

    fn dispatch_query(&self, _: &str, _: &str, _: QueryTask) {
        unreachable!("these tests send no queries")
    }
}

impl Told {
    /// Waits until matching was handed `count` tasks in all; returns their workflow IDs.
    async fn handed(&self, count: usize) -> Vec<String> {
        self.wait(|told| told.handed.lock().unwrap().len() >= count)
            .await;
        let handed = self.handed.lock().unwrap();
        handed.iter().map(|t| t.run.workflow_id.clone()).collect()
    }

    async fn withdrawn(&self, count: usize) -> Vec<String> {
        self.wait(|told| told.withdrawn.lock().unwrap().len() >= count)
            .await;
        let withdrawn = self.withdrawn.lock().unwrap();
        withdrawn
            .iter()
            .map(|t| t.run.workflow_id.clone())
            .collect()
    }

    async fn wait(&self, done: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.changed.notified();
            if done(self) {
                return;
            }
            assert!(
                tokio::time::timeout_at(deadline, notified).await.is_ok(),
                "matching was not told in time"
            );
        }
    }
}

async fn node(
    kafka: &TestKafka,
    topic: &str,
    dir: &std::path::Path,
    name: &str,
) -> (History, Arc<Told>) {
    let config = HistoryConfig {
        partitions: 1,
        topic: topic.to_string(),
        node_id: name.to_string(),
        kafka: KafkaConfig::new(kafka.bootstrap()),
        snapshots: None,
        limits: Default::default(),
        max_record_bytes: cairn_history::DEFAULT_MAX_RECORD_BYTES,
        cached_runs: 1,
        task_window: WINDOW,
    };
    let told = Arc::new(Told::default());
    let history = History::start(
        config,
        StateDb::open(&dir.join(name)).unwrap(),
        Arc::clone(&told) as Arc<dyn TaskSink>,
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    (history, told)
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

async fn waiting(history: &History) -> i64 {
    history
        .waiting_tasks(0, "ns".into(), "q".into(), TaskKind::Workflow)
        .await
        .unwrap()
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("wf-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_holds_a_window_that_moves_as_workers_start_tasks() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("history", 1);
    let dir = tempfile::tempdir().unwrap();
    let (history, told) = node(&kafka, &topic, dir.path(), "first").await;

    for i in 0..10 {
        start(&history, &format!("wf-{i}")).await;
    }
    // The window: the first three to become ready, no more.
    assert_eq!(told.handed(WINDOW).await, ids(0..3));
    assert_eq!(waiting(&history).await, 10, "the backlog counts every task");

    // A worker starts the first: the window moves on by one.
    let first = told.handed.lock().unwrap()[0].clone();
    history
        .record_workflow_task_started(&first, "start-0".into(), "worker".into())
        .await
        .unwrap();
    assert_eq!(told.handed(4).await, ids(0..4));
    assert_eq!(waiting(&history).await, 9);

    // A run whose task matching holds closes: matching drops its copy, and the window
    // takes the next.
    history
        .terminate(
            RunKey {
                namespace_id: "ns".into(),
                workflow_id: "wf-1".into(),
                run_id: String::new(),
            },
            "done".into(),
            None,
            "test".into(),
        )
        .await
        .unwrap();
    assert_eq!(told.withdrawn(1).await, ["wf-1"]);
    assert_eq!(told.handed(5).await, ids(0..5));
    assert_eq!(waiting(&history).await, 8);
    assert_eq!(
        told.handed.lock().unwrap().len(),
        5,
        "nothing beyond the window was handed"
    );
    history.shutdown().await;

    // A new owner hands a window again (matching may have lost what it held), from the
    // first task still waiting.
    let (owner, told) = node(&kafka, &topic, dir.path(), "second").await;
    assert_eq!(told.handed(WINDOW).await, ["wf-2", "wf-3", "wf-4"]);
    assert_eq!(waiting(&owner).await, 8);
    owner.shutdown().await;
}
