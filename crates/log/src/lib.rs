//! The Kafka seam of Cairn: appending records and reading partitions back.
//!
//! Kafka is Cairn's only durable store, and this crate is the only place that talks to it.
//! It owns three guarantees the rest of Cairn builds on:
//!
//! - **Durable before acknowledged.** [`LogProducer`] is idempotent and uses `acks=all`; an
//!   append returns its offset only after every in-sync replica has the record.
//! - **Order.** Records appended to one partition are read back in the order they were
//!   appended, each with the offset its append returned.
//! - **The caller owns its position.** [`LogReader`] reads partitions assigned by hand from
//!   any offset, with no consumer group and no offset commits; the caller stores the next
//!   offset to read together with the state it derived, and reopens from there.
//!
//! Offsets in a partition:
//!
//! ```text
//!  offset   0     1     2     3
//!         +-----+-----+-----+-----+
//!         | r0  | r1  | r2  | r3  |  <- end_offset() == 4, the next append gets 4
//!         +-----+-----+-----+-----+
//!                     ^ open_partition(.., 2) reads r2, r3, then waits for 4, 5, ...
//! ```
//!
//! Nothing here relies on Kafka transactions or log compaction, so any Kafka-API broker works.

/// The largest record Cairn writes or creates topics for: a request's events, whose
/// payloads Temporal allows up to 2 MB each, with room for several.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

mod admin;
mod config;
mod error;
mod producer;
mod reader;
mod security;

pub use admin::{
    ClusterProbe, TopicFacts, TopicSpec, broker_count, create_topic, create_topic_with,
    describe_topic, end_offset, partition_count,
};
pub use config::KafkaConfig;
pub use error::LogError;
pub use producer::LogProducer;
pub use reader::{LogReader, PartitionStream, Record};
pub use security::{
    OAuthBearerSettings, SaslMechanism, SaslSettings, Secret, SecurityError, SecurityProtocol,
    TlsSettings,
};
