//! A partition loop that panics takes nothing down silently: the node is told to stop (so
//! that another takes the partition) and stops calling the partition its own.

use std::sync::Arc;

use cairn_engine::TaskRef;
use cairn_log::KafkaConfig;
use cairn_state::StateDb;
use cairn_testkit::TestKafka;

use crate::{History, HistoryConfig, HistoryError, QueryTask, SystemClock, TaskSink};

struct NoTasks;

impl TaskSink for NoTasks {
    fn withdraw(&self, _: Vec<TaskRef>) {}
    fn dispatch(&self, _: Vec<TaskRef>) {}

    fn dispatch_query(&self, _: &str, _: &str, _: QueryTask) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_loop_that_panics_stops_its_node_and_gives_up_the_partition() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("history", 1);
    let dir = tempfile::tempdir().unwrap();
    let history = History::start(
        HistoryConfig {
            partitions: 1,
            topic,
            node_id: "doomed".into(),
            kafka: KafkaConfig::new(kafka.bootstrap()),
            snapshots: None,
            limits: Default::default(),
            max_record_bytes: crate::DEFAULT_MAX_RECORD_BYTES,
            cached_runs: crate::DEFAULT_CACHED_RUNS,
            task_window: crate::DEFAULT_TASK_WINDOW,
        },
        StateDb::open(dir.path()).unwrap(),
        Arc::new(NoTasks),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    assert!(history.owns(0));
    assert!(!history.failure().is_cancelled());

    let answer = history
        .submit(0, "panic", |_| -> Result<(), HistoryError> {
            panic!("a bug in a request's operation")
        })
        .await;

    assert!(
        matches!(answer, Err(HistoryError::Unavailable { .. })),
        "the caller is told, got {answer:?}"
    );
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        history.failure().cancelled(),
    )
    .await
    .expect("the node is told to stop");
    let gone = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while history.owns(0) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the partition is no longer served here");
}
