//! What can fail when talking to Kafka.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// An error from a Kafka client of this crate.
///
/// Every variant names the topic (and partition) it concerns; the librdkafka error, where
/// there is one, is the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot create the kafka {role} client")]
    Connect {
        role: &'static str,
        #[source]
        source: KafkaError,
    },
    #[error("{partition} is not a partition number (topic `{topic}`)")]
    InvalidPartition { topic: String, partition: i32 },
    #[error("{offset} is not an offset to read from (topic `{topic}` partition {partition})")]
    InvalidOffset {
        topic: String,
        partition: i32,
        offset: i64,
    },
    #[error("`{topic}` is not a valid topic name")]
    InvalidTopic { topic: String },
    #[error("cannot append to topic `{topic}` partition {partition}")]
    Append {
        topic: String,
        partition: i32,
        #[source]
        source: KafkaError,
    },
    #[error("producer stopped before it reported the append to `{topic}` partition {partition}")]
    DeliveryLost { topic: String, partition: i32 },
    #[error("cannot assign topic `{topic}` partition {partition} to the reader")]
    Assign {
        topic: String,
        partition: i32,
        #[source]
        source: KafkaError,
    },
    #[error("topic `{topic}` partition {partition} is already open in this reader")]
    AlreadyOpen { topic: String, partition: i32 },
    #[error("topic `{topic}` partition {partition} is closed but its stream is not dropped yet")]
    StreamStillAlive { topic: String, partition: i32 },
    #[error("topic `{topic}` partition {partition} was closed")]
    Closed { topic: String, partition: i32 },
    #[error("cannot read topic `{topic}` partition {partition}")]
    Read {
        topic: String,
        partition: i32,
        #[source]
        source: KafkaError,
    },
    #[error("cannot fetch the watermarks of topic `{topic}` partition {partition}")]
    Watermarks {
        topic: String,
        partition: i32,
        #[source]
        source: KafkaError,
    },
    #[error("cannot fetch the metadata of topic `{topic}`")]
    Metadata {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("broker reports an error in the metadata of topic `{topic}`")]
    TopicMetadata {
        topic: String,
        #[source]
        source: RDKafkaErrorCode,
    },
    #[error("cannot create topic `{topic}`")]
    CreateTopic {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("broker refused to create topic `{topic}`")]
    CreateTopicRefused {
        topic: String,
        #[source]
        source: RDKafkaErrorCode,
    },
    #[error("topic `{topic}` has {actual} partitions, not the {expected} asked for")]
    PartitionCountMismatch {
        topic: String,
        expected: i32,
        actual: i32,
    },
    #[error("cannot describe the configuration of topic `{topic}`")]
    DescribeConfigs {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("broker refused to describe the configuration of topic `{topic}`")]
    DescribeConfigsRefused {
        topic: String,
        #[source]
        source: RDKafkaErrorCode,
    },
    #[error("cannot fetch the cluster's metadata")]
    ClusterMetadata(#[source] KafkaError),
    #[error(
        "kafka at {bootstrap} refused the connection: {reason}; check kafka.security_protocol, \
         kafka.tls and kafka.sasl"
    )]
    Refused { bootstrap: String, reason: String },
    #[error("cannot reach kafka at {bootstrap} within {waited:?}: {reason}")]
    Unreachable {
        bootstrap: String,
        waited: std::time::Duration,
        reason: String,
    },
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
    #[error("blocking kafka call did not complete")]
    Blocking(#[source] tokio::task::JoinError),
}
