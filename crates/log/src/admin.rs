//! Questions about topics, and their creation.
//!
//! librdkafka answers metadata and watermark queries with blocking calls, so they run on
//! Tokio's blocking pool, never on an executor thread.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::LogError;
use crate::config::KafkaConfig;

/// Returns the high watermark of `topic`/`partition` (the offset the next record will get),
/// asking the partition leader.
///
/// This connects a short-lived client; [`LogReader::end_offset`](crate::LogReader::end_offset)
/// reuses the reader's connections instead.
pub async fn end_offset(
    config: &KafkaConfig,
    topic: &str,
    partition: i32,
) -> Result<i64, LogError> {
    let config = config.clone();
    let topic = topic.to_owned();
    blocking(move || {
        let consumer = metadata_client(&config)?;
        high_watermark(&consumer, &topic, partition, config.admin_timeout)
    })
    .await
}

/// Returns the partition count of `topic`, or `None` when the topic does not exist.
pub async fn partition_count(config: &KafkaConfig, topic: &str) -> Result<Option<i32>, LogError> {
    let config = config.clone();
    let topic = topic.to_owned();
    blocking(move || {
        let consumer = metadata_client(&config)?;
        fetch_partition_count(&consumer, &topic, config.admin_timeout)
    })
    .await
}

/// Creates `topic` with `partitions` partitions and `replication` replicas through the Admin
/// API. Succeeds without change when the topic already exists with that partition count.
///
/// The partition count is checked first, so that a restart against an existing topic needs no
/// admin call (and works on brokers without the Admin API, such as librdkafka's mock).
pub async fn create_topic(
    config: &KafkaConfig,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> Result<(), LogError> {
    if let Some(actual) = partition_count(config, topic).await? {
        return same_partition_count(topic, partitions, actual);
    }
    let spec = TopicSpec {
        name: topic.to_owned(),
        partitions,
        replication,
        configs: BTreeMap::from([(
            "max.message.bytes".to_owned(),
            crate::MAX_RECORD_BYTES.to_string(),
        )]),
    };
    create_topic_with(config, &spec).await?;
    // Another node may have created it between our check and our request.
    let actual = partition_count(config, topic).await?.unwrap_or(partitions);
    same_partition_count(topic, partitions, actual)
}

/// A topic as it should be: partitions, replicas and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication: i32,
    /// Topic-level settings (`cleanup.policy`, `retention.ms`…), set at creation.
    pub configs: BTreeMap<String, String>,
}

/// A topic as the cluster has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFacts {
    pub partitions: i32,
    /// Replicas of its first partition (Kafka gives every partition as many at creation).
    pub replication: i32,
    /// Every setting the broker reports for it, its own or the broker's default.
    pub configs: BTreeMap<String, String>,
}

/// Describes `topic`: partitions, replicas and settings; `None` when it does not exist.
pub async fn describe_topic(
    config: &KafkaConfig,
    topic: &str,
) -> Result<Option<TopicFacts>, LogError> {
    let layout = {
        let config = config.clone();
        let topic = topic.to_owned();
        blocking(move || {
            let consumer = metadata_client(&config)?;
            topic_layout(&consumer, &topic, config.admin_timeout)
        })
        .await?
    };
    let Some((partitions, replication)) = layout else {
        return Ok(None);
    };
    // Asked of one broker, which may be the one that just died: each attempt gets a part of
    // the bound and a new client, until the bound has passed.
    let deadline = Instant::now() + config.admin_timeout;
    let results = loop {
        let attempt = (config.admin_timeout / 4)
            .max(Duration::from_secs(1))
            .min(deadline.saturating_duration_since(Instant::now()));
        let admin = admin_client(config)?;
        let options = AdminOptions::new().request_timeout(Some(attempt));
        match admin
            .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
            .await
        {
            Ok(results) => break results,
            Err(_) if Instant::now() + QUERY_RETRY < deadline => {
                tokio::time::sleep(QUERY_RETRY).await; // backoff between attempts
            }
            Err(source) => {
                return Err(LogError::DescribeConfigs {
                    topic: topic.to_owned(),
                    source,
                });
            }
        }
    };
    let mut configs = BTreeMap::new();
    for result in results {
        let resource = result.map_err(|source| LogError::DescribeConfigsRefused {
            topic: topic.to_owned(),
            source,
        })?;
        for entry in resource.entries {
            if let Some(value) = entry.value {
                configs.insert(entry.name, value);
            }
        }
    }
    Ok(Some(TopicFacts {
        partitions,
        replication,
        configs,
    }))
}

/// Creates a topic as `spec` says. A topic of that name created meanwhile (by another
/// node) is not an error: the caller describes and checks it.
pub async fn create_topic_with(config: &KafkaConfig, spec: &TopicSpec) -> Result<(), LogError> {
    let admin = admin_client(config)?;
    let mut new_topic = NewTopic::new(
        &spec.name,
        spec.partitions,
        TopicReplication::Fixed(spec.replication),
    );
    for (key, value) in &spec.configs {
        new_topic = new_topic.set(key, value);
    }
    let options = AdminOptions::new()
        .request_timeout(Some(config.admin_timeout))
        .operation_timeout(Some(config.admin_timeout));
    let results = admin
        .create_topics([&new_topic], &options)
        .await
        .map_err(|source| LogError::CreateTopic {
            topic: spec.name.clone(),
            source,
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, source)) => {
                return Err(LogError::CreateTopicRefused {
                    topic: spec.name.clone(),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// How many brokers the cluster has.
///
/// This is the first thing a node asks Kafka, so it is also the connection check: a broker
/// that refuses the client's credentials or certificate (or whose certificate the client does
/// not trust) ends it at once with librdkafka's reason, and a cluster that cannot be reached
/// ends it after `admin_timeout` with the last problem seen, instead of the client retrying
/// in silence.
pub async fn broker_count(config: &KafkaConfig) -> Result<i32, LogError> {
    let config = config.clone();
    blocking(move || {
        let mut client = config.client_config("metadata")?;
        client.set("allow.auto.create.topics", "false");
        let consumer: BaseConsumer<ConnectionProblems> = client
            .create_with_context(ConnectionProblems::default())
            .map_err(|source| LogError::Connect {
                role: "metadata",
                source,
            })?;
        let deadline = Instant::now() + config.admin_timeout;
        loop {
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(CONNECT_POLL);
            match consumer.fetch_metadata(None, wait) {
                Ok(metadata) => {
                    return Ok(i32::try_from(metadata.brokers().len()).unwrap_or(i32::MAX));
                }
                Err(source) => {
                    // Error events reach the context only when the client is polled.
                    let _ = consumer.poll(Duration::ZERO);
                    let problems = consumer.context();
                    if let Some(reason) = problems.refusal() {
                        return Err(LogError::Refused {
                            bootstrap: config.bootstrap,
                            reason,
                        });
                    }
                    if Instant::now() >= deadline {
                        return Err(LogError::Unreachable {
                            bootstrap: config.bootstrap.clone(),
                            waited: config.admin_timeout,
                            reason: problems.last().unwrap_or_else(|| source.to_string()),
                        });
                    }
                }
            }
        }
    })
    .await
}

/// A long-lived client that asks whether the cluster answers, for a node's readiness: one
/// metadata request per call, over connections kept between calls.
pub struct ClusterProbe {
    consumer: std::sync::Arc<BaseConsumer>,
}

impl ClusterProbe {
    pub fn connect(config: &KafkaConfig) -> Result<Self, LogError> {
        Ok(Self {
            consumer: std::sync::Arc::new(metadata_client(config)?),
        })
    }

    /// How many brokers answer for the cluster, within `timeout`.
    pub async fn brokers(&self, timeout: Duration) -> Result<i32, LogError> {
        let consumer = std::sync::Arc::clone(&self.consumer);
        blocking(move || {
            let metadata = consumer
                .fetch_metadata(None, timeout)
                .map_err(LogError::ClusterMetadata)?;
            Ok(i32::try_from(metadata.brokers().len()).unwrap_or(i32::MAX))
        })
        .await
    }
}

/// How often the connection check looks at what librdkafka reported.
const CONNECT_POLL: Duration = Duration::from_millis(250);

/// What librdkafka reported while a connection check waited: its error events and its
/// error-level log lines, which name the cause (a refused password, an untrusted
/// certificate, a connection refused) that a timed-out request does not.
#[derive(Default)]
struct ConnectionProblems {
    refused: Mutex<Option<String>>,
    last: Mutex<Option<String>>,
}

impl ConnectionProblems {
    fn refusal(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn last(&self) -> Option<String> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, refused: bool, reason: String) {
        if refused {
            let mut slot = self.refused.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert_with(|| reason.clone());
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        // "All broker connections are down" follows the reason each connection failed, which
        // says more.
        if last.is_none() || !reason.contains("brokers are down") {
            *last = Some(reason);
        }
    }
}

/// Whether a librdkafka error is the broker or the client refusing the connection's security
/// (credentials, certificates), which retrying does not mend.
fn is_refusal(code: Option<RDKafkaErrorCode>, reason: &str) -> bool {
    matches!(
        code,
        Some(
            RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SSL
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::UnsupportedSASLMechanism
                | RDKafkaErrorCode::IllegalSASLState
        )
    ) || reason.contains("SSL handshake failed")
        // OpenSSL's own errors, among them a broker's alert about the client's certificate.
        || reason.contains("SSL routines")
        || reason.contains("SASL authentication error")
}

impl ClientContext for ConnectionProblems {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Error as i32) {
            self.record(is_refusal(None, message), message.to_owned());
        }
        DefaultClientContext.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.record(
            is_refusal(error.rdkafka_error_code(), reason),
            reason.to_owned(),
        );
        DefaultClientContext.error(error, reason);
    }
}

impl ConsumerContext for ConnectionProblems {}

fn admin_client(config: &KafkaConfig) -> Result<AdminClient<DefaultClientContext>, LogError> {
    config
        .client_config("admin")?
        .create()
        .map_err(|source| LogError::Connect {
            role: "admin",
            source,
        })
}

fn same_partition_count(topic: &str, expected: i32, actual: i32) -> Result<(), LogError> {
    if actual != expected {
        return Err(LogError::PartitionCountMismatch {
            topic: topic.to_owned(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// A consumer used only for metadata queries. As a consumer it never asks the broker to
/// create a topic it looks up, unlike a producer.
pub(crate) fn metadata_client(config: &KafkaConfig) -> Result<BaseConsumer, LogError> {
    let mut client = config.client_config("metadata")?;
    client.set("allow.auto.create.topics", "false");
    client.create().map_err(|source| LogError::Connect {
        role: "metadata",
        source,
    })
}

/// Blocking: asks the partition leader for the high watermark.
pub(crate) fn high_watermark(
    consumer: &impl Consumer,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<i64, LogError> {
    Ok(watermarks(consumer, topic, partition, timeout)?.1)
}

/// Blocking: asks the partition leader for the low and high watermarks: the oldest offset
/// still kept (above 0 once retention deleted records) and the offset the next record gets.
pub(crate) fn watermarks(
    consumer: &impl Consumer,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(i64, i64), LogError> {
    retried(timeout, |remaining| {
        consumer.fetch_watermarks(topic, partition, remaining)
    })
    .map_err(|source| LogError::Watermarks {
        topic: topic.to_owned(),
        partition,
        source,
    })
}

/// Blocking: runs `attempt` with the time left (at most [`MAX_ATTEMPT`]) until it succeeds
/// or `timeout` has passed, then returns the last error. A query that fails at once (the leader just died or moved, a
/// connection being replaced) is worth asking again within the caller's bound.
pub(crate) fn retried<T>(
    timeout: Duration,
    mut attempt: impl FnMut(Duration) -> Result<T, KafkaError>,
) -> Result<T, KafkaError> {
    let deadline = Instant::now() + timeout;
    loop {
        // One attempt never takes the whole budget: one stuck on a broker that just died
        // leaves time for another, once metadata names the partition's new leader.
        let left = deadline.saturating_duration_since(Instant::now());
        match attempt(left.min(MAX_ATTEMPT)) {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() + QUERY_RETRY >= deadline => return Err(error),
            Err(_) => std::thread::sleep(QUERY_RETRY), // backoff between attempts
        }
    }
}

/// The pause between two attempts of a retried query.
const QUERY_RETRY: Duration = Duration::from_millis(100);
/// The longest one attempt of a retried query may take.
const MAX_ATTEMPT: Duration = Duration::from_secs(2);

/// Blocking: reads the topic's metadata.
fn fetch_partition_count(
    consumer: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<Option<i32>, LogError> {
    Ok(topic_layout(consumer, topic, timeout)?.map(|(partitions, _)| partitions))
}

/// Blocking: the topic's partition count and its first partition's replica count.
fn topic_layout(
    consumer: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<Option<(i32, i32)>, LogError> {
    let metadata = retried(timeout, |remaining| {
        consumer.fetch_metadata(Some(topic), remaining)
    })
    .map_err(|source| LogError::Metadata {
        topic: topic.to_owned(),
        source,
    })?;
    let Some(found) = metadata.topics().iter().find(|found| found.name() == topic) else {
        return Ok(None);
    };
    match found.error().map(RDKafkaErrorCode::from) {
        None => {}
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            return Ok(None);
        }
        Some(source) => {
            return Err(LogError::TopicMetadata {
                topic: topic.to_owned(),
                source,
            });
        }
    }
    let count = i32::try_from(found.partitions().len())
        .expect("kafka partition counts fit in an i32 by protocol");
    let replication = found
        .partitions()
        .first()
        .map_or(0, |partition| partition.replicas().len());
    let replication = i32::try_from(replication).expect("replica counts fit in an i32");
    Ok(Some((count, replication)))
}

/// Runs a blocking librdkafka call on Tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, LogError> + Send + 'static,
) -> Result<T, LogError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(LogError::Blocking)?
}
