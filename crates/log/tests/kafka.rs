//! The Kafka seam against a Kafka-protocol broker: librdkafka's mock cluster by default, a
//! real cluster when `CAIRN_TEST_KAFKA_BOOTSTRAP` names one.

use cairn_log::{
    KafkaConfig, LogError, LogProducer, LogReader, PartitionStream, Record, create_topic,
    end_offset, partition_count,
};
use cairn_testkit::TestKafka;

fn config(kafka: &TestKafka) -> KafkaConfig {
    KafkaConfig::new(kafka.bootstrap())
}

fn record(topic: &str, partition: i32, offset: i64, key: &str, payload: &str) -> Record {
    Record {
        topic: topic.to_owned(),
        partition,
        offset,
        key: key.as_bytes().to_vec(),
        payload: payload.as_bytes().to_vec(),
    }
}

async fn append_numbered(producer: &LogProducer, topic: &str, partition: i32, count: usize) {
    for n in 0..count {
        let key = format!("key-{n}");
        let payload = format!("payload-{n}");
        producer
            .append(topic, partition, key.as_bytes(), payload.as_bytes())
            .await
            .expect("append succeeds");
    }
}

async fn read(stream: &mut PartitionStream, count: usize) -> Vec<Record> {
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        records.push(stream.next().await.expect("record is read"));
    }
    records
}

#[tokio::test]
async fn append_returns_consecutive_offsets_from_zero() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("offsets", 1);
    let producer = LogProducer::connect(&config(&kafka)).unwrap();

    let mut offsets = Vec::new();
    for n in 0..5 {
        offsets.push(
            producer
                .append(&topic, 0, b"key", format!("{n}").as_bytes())
                .await
                .unwrap(),
        );
    }

    assert_eq!(offsets, [0, 1, 2, 3, 4].map(Some));
}

#[tokio::test]
async fn records_read_back_in_order_with_their_offsets_keys_and_payloads() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("roundtrip", 1);
    let config = config(&kafka);
    let producer = LogProducer::connect(&config).unwrap();
    append_numbered(&producer, &topic, 0, 3).await;

    let reader = LogReader::connect(&config).unwrap();
    let mut stream = reader.open_partition(&topic, 0, 0).unwrap();

    assert_eq!(
        read(&mut stream, 3).await,
        vec![
            record(&topic, 0, 0, "key-0", "payload-0"),
            record(&topic, 0, 1, "key-1", "payload-1"),
            record(&topic, 0, 2, "key-2", "payload-2"),
        ]
    );
}

#[tokio::test]
async fn reading_resumes_from_a_middle_offset() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("resume", 1);
    let config = config(&kafka);
    let producer = LogProducer::connect(&config).unwrap();
    append_numbered(&producer, &topic, 0, 6).await;

    let reader = LogReader::connect(&config).unwrap();
    let mut stream = reader.open_partition(&topic, 0, 4).unwrap();

    assert_eq!(
        read(&mut stream, 2).await,
        vec![
            record(&topic, 0, 4, "key-4", "payload-4"),
            record(&topic, 0, 5, "key-5", "payload-5"),
        ]
    );
}

#[tokio::test]
async fn one_reader_reads_two_partitions_independently() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("two-partitions", 2);
    let config = config(&kafka);
    let producer = LogProducer::connect(&config).unwrap();
    append_numbered(&producer, &topic, 0, 3).await;
    append_numbered(&producer, &topic, 1, 2).await;

    let reader = LogReader::connect(&config).unwrap();
    let mut first = reader.open_partition(&topic, 0, 1).unwrap();
    let mut second = reader.open_partition(&topic, 1, 0).unwrap();

    // The second partition is drained before the first is touched: neither waits on the other.
    assert_eq!(
        read(&mut second, 2).await,
        vec![
            record(&topic, 1, 0, "key-0", "payload-0"),
            record(&topic, 1, 1, "key-1", "payload-1"),
        ]
    );
    assert_eq!(
        read(&mut first, 2).await,
        vec![
            record(&topic, 0, 1, "key-1", "payload-1"),
            record(&topic, 0, 2, "key-2", "payload-2"),
        ]
    );
}

#[tokio::test]
async fn reader_opened_on_an_empty_partition_receives_later_appends() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("tail", 1);
    let config = config(&kafka);
    let producer = LogProducer::connect(&config).unwrap();
    let reader = LogReader::connect(&config).unwrap();
    let mut stream = reader.open_partition(&topic, 0, 0).unwrap();

    let (read, offset) = tokio::join!(stream.next(), producer.append(&topic, 0, b"k", b"late"));

    assert_eq!(offset.unwrap(), Some(0));
    assert_eq!(read.unwrap(), record(&topic, 0, 0, "k", "late"));
}

#[tokio::test]
async fn append_all_writes_to_several_partitions_and_returns_offsets_in_input_order() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("append-all", 3);
    let config = config(&kafka);
    let producer = LogProducer::connect(&config).unwrap();
    append_numbered(&producer, &topic, 1, 2).await;

    let batch = [(0, "a"), (1, "b"), (2, "c"), (0, "d"), (1, "e")]
        .into_iter()
        .map(|(partition, body)| (topic.clone(), partition, body.into(), body.into()))
        .collect();
    let offsets = producer.append_all(batch).await.unwrap();

    assert_eq!(offsets, [0, 2, 0, 1, 3].map(Some));
    let reader = LogReader::connect(&config).unwrap();
    let mut partition_1 = reader.open_partition(&topic, 1, 2).unwrap();
    assert_eq!(
        read(&mut partition_1, 2).await,
        vec![
            record(&topic, 1, 2, "b", "b"),
            record(&topic, 1, 3, "e", "e")
        ]
    );
}

#[tokio::test]
async fn append_all_of_nothing_appends_nothing() {
    let kafka = TestKafka::start();
    let producer = LogProducer::connect(&config(&kafka)).unwrap();

    assert_eq!(
        producer.append_all(Vec::new()).await.unwrap(),
        Vec::<Option<i64>>::new()
    );
}

#[tokio::test]
async fn negative_partitions_are_refused_before_anything_is_written() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("negative", 1);
    let config = config(&kafka);
    let producer = LogProducer::connect(&config).unwrap();

    let single = producer.append(&topic, -1, b"k", b"v").await;
    let batch = vec![
        (topic.clone(), 0, b"k".to_vec(), b"v".to_vec()),
        (topic.clone(), -1, vec![], vec![]),
    ];
    let all = producer.append_all(batch).await;

    assert!(
        matches!(
            single,
            Err(LogError::InvalidPartition { partition: -1, .. })
        ),
        "{single:?}"
    );
    assert!(
        matches!(all, Err(LogError::InvalidPartition { partition: -1, .. })),
        "{all:?}"
    );
    assert_eq!(end_offset(&config, &topic, 0).await.unwrap(), 0);
}

#[tokio::test]
async fn end_offset_is_the_number_of_records_appended() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("end-offset", 2);
    let config = config(&kafka);
    let producer = LogProducer::connect(&config).unwrap();
    append_numbered(&producer, &topic, 0, 4).await;
    let reader = LogReader::connect(&config).unwrap();

    assert_eq!(end_offset(&config, &topic, 0).await.unwrap(), 4);
    assert_eq!(end_offset(&config, &topic, 1).await.unwrap(), 0);
    assert_eq!(reader.end_offset(&topic, 0).await.unwrap(), 4);
}

#[tokio::test]
async fn partition_count_reports_existing_topics_and_none_for_missing_ones() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("count", 3);
    let config = config(&kafka);

    assert_eq!(partition_count(&config, &topic).await.unwrap(), Some(3));
    let missing = format!("{topic}-missing");
    assert_eq!(partition_count(&config, &missing).await.unwrap(), None);
}

#[tokio::test]
async fn create_topic_accepts_an_existing_topic_with_the_same_partition_count() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("exists", 2);
    let config = config(&kafka);

    create_topic(&config, &topic, 2, 1).await.unwrap();
    let mismatch = create_topic(&config, &topic, 4, 1).await;

    assert!(
        matches!(
            mismatch,
            Err(LogError::PartitionCountMismatch {
                expected: 4,
                actual: 2,
                ..
            })
        ),
        "{mismatch:?}"
    );
}

#[tokio::test]
async fn create_topic_creates_a_missing_topic_on_a_real_broker() {
    let kafka = TestKafka::start();
    if kafka.is_mock() {
        // The mock cluster does not implement CreateTopics; TestKafka creates its topics.
        return;
    }
    let config = config(&kafka);
    let topic = TestKafka::unique_name("created");

    create_topic(&config, &topic, 3, 1).await.unwrap();

    assert_eq!(partition_count(&config, &topic).await.unwrap(), Some(3));
}

#[tokio::test]
async fn a_partition_opens_again_only_after_its_stream_is_dropped() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("reopen", 1);
    let config = config(&kafka);
    let producer = LogProducer::connect(&config).unwrap();
    append_numbered(&producer, &topic, 0, 3).await;
    let reader = LogReader::connect(&config).unwrap();

    let mut stream = reader.open_partition(&topic, 0, 0).unwrap();
    let twice = reader.open_partition(&topic, 0, 0);
    assert!(
        matches!(twice, Err(LogError::AlreadyOpen { .. })),
        "{twice:?}"
    );
    assert_eq!(stream.next().await.unwrap().offset, 0);

    reader.close_partition(&topic, 0);
    let after_close = stream.next().await;
    assert!(
        matches!(after_close, Err(LogError::Closed { .. })),
        "{after_close:?}"
    );
    let while_alive = reader.open_partition(&topic, 0, 0);
    assert!(
        matches!(while_alive, Err(LogError::StreamStillAlive { .. })),
        "{while_alive:?}"
    );

    drop(stream);
    let mut reopened = reader.open_partition(&topic, 0, 2).unwrap();
    assert_eq!(
        reopened.next().await.unwrap(),
        record(&topic, 0, 2, "key-2", "payload-2")
    );
}

#[tokio::test]
async fn closing_a_partition_wakes_a_stream_waiting_for_records() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("close-wakes", 1);
    let reader = LogReader::connect(&config(&kafka)).unwrap();
    let mut stream = reader.open_partition(&topic, 0, 0).unwrap();

    let (waiting, ()) = tokio::join!(stream.next(), async { reader.close_partition(&topic, 0) });

    assert!(
        matches!(waiting, Err(LogError::Closed { .. })),
        "{waiting:?}"
    );
}

#[tokio::test]
async fn dropping_a_stream_lets_its_partition_be_opened_again() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("drop", 1);
    let config = config(&kafka);
    let producer = LogProducer::connect(&config).unwrap();
    append_numbered(&producer, &topic, 0, 2).await;
    let reader = LogReader::connect(&config).unwrap();

    let mut stream = reader.open_partition(&topic, 0, 0).unwrap();
    assert_eq!(stream.next().await.unwrap().offset, 0);
    drop(stream);

    let mut reopened = reader.open_partition(&topic, 0, 0).unwrap();
    assert_eq!(reopened.next().await.unwrap().offset, 0);
    assert_eq!(reopened.next().await.unwrap().offset, 1);
}

#[tokio::test]
async fn invalid_positions_are_refused() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("invalid", 1);
    let reader = LogReader::connect(&config(&kafka)).unwrap();

    let negative_offset = reader.open_partition(&topic, 0, -2);
    let negative_partition = reader.open_partition(&topic, -1, 0);

    assert!(matches!(
        negative_offset,
        Err(LogError::InvalidOffset { offset: -2, .. })
    ));
    assert!(matches!(
        negative_partition,
        Err(LogError::InvalidPartition { partition: -1, .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_to_one_partition_get_distinct_offsets_and_all_read_back() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("concurrent", 1);
    let config = config(&kafka);
    let producer = LogProducer::connect(&config).unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..4 {
        let producer = producer.clone();
        let topic = topic.clone();
        tasks.spawn(async move {
            let mut offsets = Vec::new();
            for n in 0..25 {
                let payload = format!("{task}-{n}");
                offsets.push(
                    producer
                        .append(&topic, 0, b"k", payload.as_bytes())
                        .await
                        .unwrap()
                        .expect("a first send is acknowledged with its offset"),
                );
            }
            offsets
        });
    }
    let mut offsets: Vec<i64> = tasks.join_all().await.into_iter().flatten().collect();
    offsets.sort_unstable();

    assert_eq!(offsets, (0..100).collect::<Vec<_>>());
    let reader = LogReader::connect(&config).unwrap();
    let mut stream = reader.open_partition(&topic, 0, 0).unwrap();
    let read = read(&mut stream, 100).await;
    assert!(
        read.iter()
            .enumerate()
            .all(|(n, record)| record.offset == n as i64)
    );
}
