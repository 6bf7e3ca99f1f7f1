//! The embedded broker as stock Kafka clients (librdkafka) see it: topics created through
//! the Admin API, idempotent producers, consumers reading by offset and in groups, committed
//! offsets, and everything still there after a restart.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use cairn_broker::{Broker, BrokerConfig};
use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, CommitMode, Consumer},
    error::{KafkaError, RDKafkaErrorCode},
    producer::{FutureProducer, FutureRecord},
};

/// Generous bounds for a loaded test machine; they only end a test that has already failed.
const PATIENCE: Duration = Duration::from_secs(60);

async fn broker_in(dir: &std::path::Path) -> Broker {
    let mut config = BrokerConfig::ephemeral();
    config.dir = Some(dir.to_owned());
    Broker::start(config).await.expect("the broker starts")
}

fn client(broker: &Broker) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", broker.bootstrap());
    config
}

async fn create_topic(broker: &Broker, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = client(broker).create().expect("admin client");
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create topics answers");
    for result in results {
        result.expect("the topic is created");
    }
}

fn producer(broker: &Broker) -> FutureProducer {
    client(broker)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("producer")
}

async fn produce(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    key: &str,
    payload: &[u8],
) -> i64 {
    producer
        .send(
            FutureRecord::to(topic)
                .partition(partition)
                .key(key)
                .payload(payload),
            PATIENCE,
        )
        .await
        .map_err(|(error, _)| error)
        .expect("the record is acknowledged")
        .offset
}

/// Reads `count` records of one partition from `from`, with a consumer that joins no group.
fn read(
    broker: &Broker,
    topic: &str,
    partition: i32,
    from: i64,
    count: usize,
) -> Vec<(i64, Vec<u8>)> {
    let consumer: BaseConsumer = client(broker)
        .set("group.id", "reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Offset(from))
        .expect("offset");
    consumer.assign(&assignment).expect("assign");
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut records = Vec::new();
    while records.len() < count {
        assert!(
            std::time::Instant::now() < deadline,
            "read {} of {count} records",
            records.len()
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("a record");
            records.push((
                message.offset(),
                message.payload().unwrap_or_default().to_vec(),
            ));
        }
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_are_read_back_after_a_restart() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let broker = broker_in(dir.path()).await;
    create_topic(&broker, "orders", 3, &[]).await;
    let producer = producer(&broker);
    let mut expected: BTreeMap<i32, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
    for n in 0..300 {
        let partition = n % 3;
        let payload = format!("order {n}").into_bytes();
        let offset = produce(&producer, "orders", partition, &n.to_string(), &payload).await;
        expected
            .entry(partition)
            .or_default()
            .push((offset, payload));
    }
    drop(producer);
    broker.stop().await;

    let broker = broker_in(dir.path()).await;
    for (partition, records) in &expected {
        let offsets: Vec<i64> = records.iter().map(|(offset, _)| *offset).collect();
        assert_eq!(
            offsets,
            (0..100).collect::<Vec<_>>(),
            "offsets of partition {partition}"
        );
        assert_eq!(&read(&broker, "orders", *partition, 0, 100), records);
    }
    // New records continue the old offsets.
    let producer = self::producer(&broker);
    assert_eq!(
        produce(&producer, "orders", 0, "next", b"after restart").await,
        100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_keeps_everything_past_where_the_mock_cluster_dropped_records() {
    let broker = Broker::start(BrokerConfig::ephemeral())
        .await
        .expect("broker");
    create_topic(&broker, "big", 1, &[("max.message.bytes", "2000000")]).await;
    let producer = producer(&broker);
    // 7.2 MB in 900 KB records, then 110,000 small ones: past librdkafka's mock cluster's
    // 5 MB and 100,000-record windows.
    let large = vec![7u8; 900_000];
    for n in 0..8 {
        produce(&producer, "big", 0, &n.to_string(), &large).await;
    }
    let sends: Vec<_> = (0..110_000)
        .map(|n| {
            producer
                .send_result(
                    FutureRecord::to("big")
                        .partition(0)
                        .key("small")
                        .payload(&[1u8; 8][..]),
                )
                .unwrap_or_else(|_| panic!("record {n} is queued"))
        })
        .collect();
    for send in sends {
        send.await.expect("delivered").expect("acknowledged");
    }
    let first = read(&broker, "big", 0, 0, 9);
    assert_eq!(
        first[0],
        (0, large.clone()),
        "the first record is still there"
    );
    assert_eq!(first[7].1, large);
    assert_eq!(first[8], (8, vec![1u8; 8]));
    let last = read(&broker, "big", 0, 110_007, 1);
    assert_eq!(last[0].0, 110_007);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_the_topic_takes_is_refused() {
    let broker = Broker::start(BrokerConfig::ephemeral())
        .await
        .expect("broker");
    create_topic(&broker, "small", 1, &[("max.message.bytes", "10000")]).await;
    let producer: FutureProducer = client(&broker).create().expect("producer");
    let refused = producer
        .send(
            FutureRecord::to("small")
                .partition(0)
                .key("k")
                .payload(&[0u8; 20_000][..]),
            PATIENCE,
        )
        .await
        .map_err(|(error, _)| error)
        .expect_err("too large");
    assert_eq!(
        refused,
        KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_an_existing_topic_or_an_invalid_one_is_refused() {
    let broker = Broker::start(BrokerConfig::ephemeral())
        .await
        .expect("broker");
    create_topic(&broker, "once", 2, &[]).await;
    let admin: AdminClient<DefaultClientContext> = client(&broker).create().expect("admin");
    let topics = [
        NewTopic::new("once", 2, TopicReplication::Fixed(1)),
        NewTopic::new("bad name!", 1, TopicReplication::Fixed(1)),
        NewTopic::new("replicated", 1, TopicReplication::Fixed(3)),
    ];
    let results = admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .expect("answers");
    let codes: Vec<_> = results
        .into_iter()
        .map(|result| result.expect_err("refused").1)
        .collect();
    assert_eq!(
        codes,
        [
            RDKafkaErrorCode::TopicAlreadyExists,
            RDKafkaErrorCode::InvalidTopic,
            RDKafkaErrorCode::InvalidReplicationFactor
        ]
    );
}

fn member(broker: &Broker, group: &str) -> BaseConsumer {
    let consumer: BaseConsumer = client(broker)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "200")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["shared"]).expect("subscribe");
    consumer
}

fn assigned(consumer: &BaseConsumer) -> BTreeSet<i32> {
    consumer
        .assignment()
        .expect("assignment")
        .elements()
        .iter()
        .map(|element| element.partition())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_shares_partitions_among_its_members_and_rebalances_when_one_leaves() {
    let broker = Broker::start(BrokerConfig::ephemeral())
        .await
        .expect("broker");
    create_topic(&broker, "shared", 4, &[]).await;
    let first = member(&broker, "workers");
    let second = member(&broker, "workers");
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        first.poll(Duration::from_millis(20));
        second.poll(Duration::from_millis(20));
        let (a, b) = (assigned(&first), assigned(&second));
        if a.len() == 2 && b.len() == 2 {
            assert!(a.is_disjoint(&b), "{a:?} and {b:?} overlap");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never split: {a:?} {b:?}"
        );
    }
    // The second member leaves; the first takes every partition.
    second.unsubscribe();
    drop(second);
    loop {
        first.poll(Duration::from_millis(20));
        if assigned(&first).len() == 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never took over: {:?}",
            assigned(&first)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let broker = broker_in(dir.path()).await;
    create_topic(&broker, "shared", 1, &[]).await;
    let consumer = member(&broker, "auditors");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("shared", 0, Offset::Offset(42))
        .expect("offset");
    consumer
        .commit(&offsets, CommitMode::Sync)
        .expect("committed");
    drop(consumer);
    broker.stop().await;

    let broker = broker_in(dir.path()).await;
    let consumer: BaseConsumer = client(&broker)
        .set("group.id", "auditors")
        .create()
        .expect("consumer");
    let mut asked = TopicPartitionList::new();
    asked.add_partition("shared", 0);
    let committed = consumer
        .committed_offsets(asked, PATIENCE)
        .expect("committed offsets");
    assert_eq!(committed.elements()[0].offset(), Offset::Offset(42));
}
