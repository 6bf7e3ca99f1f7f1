//! The history service under broker faults injected into librdkafka's mock cluster: request
//! errors, added latency, partition leaders moving between brokers, and the leader's broker
//! going down and coming back. Through all of it a node keeps serving or resumes by itself,
//! and nothing it acknowledged is lost or applied twice; and the same on Apache Kafka, with
//! brokers killed, frozen and moved for real (given by `CAIRN_TEST_KAFKA_DIR`, a cluster that
//! `scripts/kafka start` made). The mock's faults cannot be injected into a real broker, so
//! that test runs on the mock only.

use std::{sync::Arc, time::Duration};

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
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const PARTITIONS: u32 = 2;
const BROKERS: i32 = 3;

struct NoTasks;

impl TaskSink for NoTasks {
    fn withdraw(&self, _: Vec<TaskRef>) {}
    fn dispatch(&self, _: Vec<TaskRef>) {}
    fn dispatch_query(&self, _: &str, _: &str, _: QueryTask) {}
}

async fn node(kafka: &TestKafka, topic: &str, dir: &std::path::Path, name: &str) -> History {
    let config = HistoryConfig {
        partitions: PARTITIONS,
        topic: topic.to_string(),
        node_id: name.to_string(),
        kafka: KafkaConfig::new(kafka.bootstrap()),
        snapshots: None,
        limits: Default::default(),
        max_record_bytes: cairn_history::DEFAULT_MAX_RECORD_BYTES,
        cached_runs: cairn_history::DEFAULT_CACHED_RUNS,
        task_window: cairn_history::DEFAULT_TASK_WINDOW,
    };
    History::start(
        config,
        StateDb::open(&dir.join(name)).unwrap(),
        Arc::new(NoTasks),
        Arc::new(SystemClock),
    )
    .await
    .unwrap()
}

fn request(workflow_id: &str) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: workflow_id.into(),
        workflow_type: Some(WorkflowType {
            name: "Faults".into(),
        }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        // The same request ID on a retry: the SDKs' idempotency.
        request_id: format!("request-{workflow_id}"),
        ..Default::default()
    }
}

async fn start(history: &History, workflow_id: &str) -> Result<String, HistoryError> {
    history
        .start_workflow(
            "ns".into(),
            "default".into(),
            request(workflow_id),
            format!("run-{workflow_id}"),
        )
        .await
        .map(|started| started.run_id)
}

/// Starts `ids` at once; returns those acknowledged and those that failed, with the error.
async fn start_all(history: &History, ids: &[String]) -> (Vec<String>, Vec<(String, String)>) {
    let results = futures::future::join_all(ids.iter().map(|id| start(history, id))).await;
    let mut acknowledged = Vec::new();
    let mut failed = Vec::new();
    for (id, result) in ids.iter().zip(results) {
        match result {
            Ok(run_id) => {
                assert_eq!(run_id, format!("run-{id}"));
                acknowledged.push(id.clone());
            }
            Err(error) => failed.push((id.clone(), cairn_runtime::report(&error).to_string())),
        }
    }
    (acknowledged, failed)
}

/// A node that rebuilds from Kafka alone holds every acknowledged start exactly once.
async fn rebuilt_holds_each_once(
    kafka: &TestKafka,
    topic: &str,
    dir: &std::path::Path,
    acknowledged: &[String],
) {
    let rebuilt = node(kafka, topic, dir, "rebuilt").await;
    let mut runs = 0;
    for partition in 0..PARTITIONS {
        let every_run = cairn_visibility::CountRequest {
            namespace_id: "ns".into(),
            query: cairn_query::Query::default(),
            divisions: vec![cairn_visibility::keys::Division::Workflows],
        };
        runs += rebuilt
            .visibility_count(partition, every_run)
            .await
            .unwrap()
            .total;
    }
    assert_eq!(
        runs,
        acknowledged.len() as i64,
        "one run per acknowledged start"
    );
    for id in acknowledged {
        let state = rebuilt
            .describe(run(id))
            .await
            .expect("acknowledged, so durable");
        assert_eq!(
            state.next_event_id, 3,
            "{id}: started and one task scheduled, once"
        );
    }
}

fn ids(phase: &str) -> Vec<String> {
    (0..20).map(|i| format!("{phase}-{i}")).collect()
}

fn run(workflow_id: &str) -> RunKey {
    RunKey {
        namespace_id: "ns".into(),
        workflow_id: workflow_id.into(),
        run_id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_work_survives_broker_faults_and_nothing_is_applied_twice() {
    let kafka = TestKafka::start_with_brokers(BROKERS);
    if !kafka.is_mock() {
        // On Apache Kafka the next test injects real faults; this one's cannot be injected
        // there, and a node it started would meet that test's faults half-way.
        return;
    }
    let topic = kafka.topic("faults", PARTITIONS as i32);
    let dir = tempfile::tempdir().unwrap();
    let history = node(&kafka, &topic, dir.path(), "node").await;
    let mut acknowledged = Vec::new();

    // Retriable errors on appends and reads: the idempotent producer retries them.
    kafka.with_mock(|mock| {
        mock.request_errors(
            RDKafkaApiKey::Produce,
            &[
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            ],
        );
        mock.request_errors(
            RDKafkaApiKey::Fetch,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION],
        );
    });
    let (ok, failed) = start_all(&history, &ids("errors")).await;
    acknowledged.extend(ok);
    // A request timeout leaves an append's fate unknown to librdkafka, which takes a later
    // append's success as proof that the earlier one landed. Real Kafka enforces the
    // sequence numbers that make that so; the mock does not, and can acknowledge a record it
    // never wrote. The node reads back before it answers, so such a start is answered
    // "unavailable", never acknowledged, and lands when the client retries.
    for (id, error) in &failed {
        assert!(
            error.contains("unavailable"),
            "retriable errors are absorbed or answered as unknown: {id}: {error}"
        );
        start(&history, id)
            .await
            .expect("a start retried with its request ID lands");
        acknowledged.push(id.clone());
    }

    // Added latency on every broker.
    kafka.with_mock(|mock| {
        for broker in 1..=BROKERS {
            mock.broker_round_trip_time(broker, Duration::from_millis(150))
                .unwrap();
        }
    });
    let (ok, failed) = start_all(&history, &ids("latency")).await;
    assert!(failed.is_empty(), "latency is absorbed: {failed:?}");
    acknowledged.extend(ok);
    kafka.with_mock(|mock| {
        for broker in 1..=BROKERS {
            mock.broker_round_trip_time(broker, Duration::ZERO).unwrap();
        }
    });

    // Every partition's leader moves to another broker.
    let moved = topic.clone();
    kafka.with_mock(move |mock| {
        for partition in 0..PARTITIONS as i32 {
            mock.partition_leader(&moved, partition, Some(2 + partition % 2))
                .unwrap();
        }
    });
    let (ok, failed) = start_all(&history, &ids("leaders")).await;
    assert!(failed.is_empty(), "leader moves are absorbed: {failed:?}");
    acknowledged.extend(ok);

    // The leaders' brokers go down while starts are in flight, and come back.
    let pending = {
        let history = history.clone();
        cairn_runtime::supervise("caller", cairn_runtime::Failure::Logged, async move {
            start_all(&history, &ids("down")).await
        })
    };
    kafka.with_mock(|mock| {
        mock.broker_down(2).unwrap();
        mock.broker_down(3).unwrap();
    });
    tokio::time::sleep(Duration::from_secs(2)).await; // how long the brokers stay down
    kafka.with_mock(|mock| {
        mock.broker_up(2).unwrap();
        mock.broker_up(3).unwrap();
    });
    let (ok, failed) = pending.await.unwrap();
    acknowledged.extend(ok);
    // A start whose outcome was unknown is retried, as an SDK does, with its request ID: it
    // lands once whether or not the first attempt did.
    for (id, _) in &failed {
        start(&history, id)
            .await
            .expect("the node resumes by itself once the broker is back");
        acknowledged.push(id.clone());
    }

    rebuilt_holds_each_once(&kafka, &topic, dir.path(), &acknowledged).await;
}

/// Starts `phase`'s workflows while `fault` runs on another thread, then retries (with their
/// request IDs, as an SDK does) every start whose outcome was unknown.
async fn starts_through(
    history: &History,
    phase: &str,
    fault: impl FnOnce() + Send + 'static,
) -> Vec<String> {
    let pending = {
        let history = history.clone();
        let ids = ids(phase);
        cairn_runtime::supervise("caller", cairn_runtime::Failure::Logged, async move {
            start_all(&history, &ids).await
        })
    };
    tokio::task::spawn_blocking(fault).await.unwrap();
    let (mut acknowledged, failed) = pending.await.unwrap();
    for (id, _) in failed {
        start(history, &id)
            .await
            .expect("a node resumes by itself once the cluster has a leader for its partitions");
        acknowledged.push(id);
    }
    acknowledged
}

/// The same promise on Apache Kafka (three brokers, replication factor 3,
/// `min.insync.replicas` 2, from `scripts/kafka start`): a broker killed with SIGKILL while
/// starts are in flight and started again, a broker frozen with SIGSTOP, and every
/// partition's leader moved by a reassignment and a preferred-leader election.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_work_survives_apache_kafka_brokers_killed_frozen_and_moved() {
    let Some(cluster) = cairn_testkit::KafkaCluster::from_env() else {
        eprintln!(
            "no Apache Kafka cluster ({}): skipped",
            cairn_testkit::CLUSTER_DIR_ENV
        );
        return;
    };
    let cluster = Arc::new(cluster);
    let kafka = TestKafka::start();
    let topic = kafka.topic("real-faults", PARTITIONS as i32);
    let dir = tempfile::tempdir().unwrap();
    let history = node(&kafka, &topic, dir.path(), "node").await;
    let mut acknowledged = start_all(&history, &ids("before")).await.0;

    let faults = Arc::clone(&cluster);
    acknowledged.extend(
        starts_through(&history, "killed", move || {
            let faults = faults.faults();
            faults.kill(1);
            faults.restart(1);
        })
        .await,
    );
    let faults = Arc::clone(&cluster);
    acknowledged.extend(
        starts_through(&history, "frozen", move || {
            let faults = faults.faults();
            faults.freeze(2);
            // Frozen for longer than the broker session timeout (6 s): the controller fences
            // it and its partitions get new leaders.
            std::thread::sleep(Duration::from_secs(8));
            faults.thaw(2);
        })
        .await,
    );
    let faults = Arc::clone(&cluster);
    let moved = topic.clone();
    acknowledged.extend(
        starts_through(&history, "moved", move || {
            faults.faults().move_leaders(&moved, PARTITIONS as i32);
        })
        .await,
    );

    rebuilt_holds_each_once(&kafka, &topic, dir.path(), &acknowledged).await;
}
