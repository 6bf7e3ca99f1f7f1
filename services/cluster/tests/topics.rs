//! The topic plan against a broker: a node's topics are created with the plan's settings,
//! found again as they are, and refused with every problem named when an operator made them
//! in a way that would lose records or wedge a partition; clusters with different prefixes
//! share one Kafka. Runs on the embedded broker, and on Apache Kafka when
//! `CAIRN_TEST_KAFKA_DIR` names a cluster from `scripts/kafka start`.

use cairn_broker::{Broker, BrokerConfig};
use cairn_cluster::DEFAULT_SNAPSHOT_INTERVAL;
use cairn_cluster::topics::{self, TopicNames, TopicOutcome};
use cairn_log::{KafkaConfig, TopicSpec};
use cairn_testkit::{KafkaCluster, TestKafka};

/// A broker for one test: the cluster of `CAIRN_TEST_KAFKA_DIR`, else an embedded broker.
async fn broker() -> (KafkaConfig, Option<Broker>, i32) {
    match KafkaCluster::from_env() {
        Some(cluster) => (
            KafkaConfig::new(cluster.bootstrap()),
            None,
            cluster.brokers(),
        ),
        None => {
            let broker = Broker::start(BrokerConfig::ephemeral()).await.unwrap();
            (KafkaConfig::new(broker.bootstrap()), Some(broker), 1)
        }
    }
}

fn prefix() -> String {
    TestKafka::unique_name("plan")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topics_are_created_with_the_plans_settings_and_found_again() {
    let (kafka, _broker, brokers) = broker().await;
    let names = TopicNames::new(&prefix()).unwrap();
    let replication = topics::default_replication(cairn_log::broker_count(&kafka).await.unwrap());
    assert_eq!(replication, brokers.min(3));
    let mut plan = vec![topics::metadata_plan(&names, replication)];
    plan.extend(topics::partitioned_plan(
        &names,
        4,
        2,
        replication,
        DEFAULT_SNAPSHOT_INTERVAL,
    ));

    let created = topics::ensure(&kafka, &plan, true).await.unwrap();
    assert!(
        created
            .iter()
            .all(|(_, outcome)| *outcome == TopicOutcome::Created)
    );
    let history = cairn_log::describe_topic(&kafka, &names.history)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(history.partitions, 4);
    assert_eq!(history.replication, replication);
    assert_eq!(history.configs["cleanup.policy"], "delete");
    assert_eq!(history.configs["retention.ms"], "-1");
    let snapshots = cairn_log::describe_topic(&kafka, &names.snapshots)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snapshots.configs["cleanup.policy"], "compact");
    assert_eq!(
        history.configs["min.insync.replicas"],
        replication.min(2).to_string()
    );

    let again = topics::ensure(&kafka, &plan, true).await.unwrap();
    assert!(
        again
            .iter()
            .all(|(_, outcome)| *outcome == TopicOutcome::Exists)
    );

    // Another cluster on the same Kafka gets topics of its own.
    let other = TopicNames::new(&prefix()).unwrap();
    let other_plan = topics::partitioned_plan(&other, 8, 8, replication, DEFAULT_SNAPSHOT_INTERVAL);
    topics::ensure(&kafka, &other_plan, true).await.unwrap();
    assert_eq!(
        cairn_log::partition_count(&kafka, &names.history)
            .await
            .unwrap(),
        Some(4)
    );
    assert_eq!(
        cairn_log::partition_count(&kafka, &other.history)
            .await
            .unwrap(),
        Some(8)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_made_to_lose_records_are_refused_with_what_to_change() {
    let (kafka, broker, _) = broker().await;
    let names = TopicNames::new(&prefix()).unwrap();
    let planned = topics::partitioned_plan(&names, 4, 4, 1, DEFAULT_SNAPSHOT_INTERVAL).remove(0);
    // What an operator might have made: a retention of one minute, Kafka's default message
    // limit, the wrong partition count, and (where the broker allows it) compaction.
    let mut configs = std::collections::BTreeMap::from([
        ("retention.ms".to_owned(), "60000".to_owned()),
        ("max.message.bytes".to_owned(), "1048588".to_owned()),
    ]);
    if broker.is_none() {
        configs.insert("cleanup.policy".to_owned(), "compact".to_owned());
    }
    let made = TopicSpec {
        name: planned.spec.name.clone(),
        partitions: 2,
        replication: 1,
        configs,
    };
    cairn_log::create_topic_with(&kafka, &made).await.unwrap();

    let refused = topics::ensure(&kafka, &[planned], true)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("has 2 partitions where this cluster has 4"),
        "{refused}"
    );
    assert!(refused.contains("retention.ms=60000"), "{refused}");
    assert!(
        refused.contains("set retention.ms to at least 1800000"),
        "{refused}"
    );
    assert!(refused.contains("max.message.bytes=1048588"), "{refused}");
    if broker.is_none() {
        assert!(refused.contains("set cleanup.policy=delete"), "{refused}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_topic_is_not_created_when_creation_is_left_to_operators() {
    let (kafka, _broker, _) = broker().await;
    let names = TopicNames::new(&prefix()).unwrap();
    let refused = topics::ensure(&kafka, &[topics::metadata_plan(&names, 1)], false)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("does not exist"), "{refused}");
    assert!(refused.contains("cairn admin topics create"), "{refused}");
    assert_eq!(
        cairn_log::partition_count(&kafka, &names.metadata)
            .await
            .unwrap(),
        None
    );
}
