//! Test helpers shared by Cairn's crates (a dev-dependency only, never linked into a release).
//!
//! [`TestKafka`] is the Kafka-protocol broker of every test: librdkafka's in-process mock
//! cluster by default, or a real cluster when `CAIRN_TEST_KAFKA_BOOTSTRAP` names one. Tests
//! get only a bootstrap string and unique topic names from it, so the same test runs
//! unchanged against either broker and in parallel with every other test. [`KafkaCluster`]
//! reaches the brokers of a real cluster started by `scripts/kafka` (named by
//! `CAIRN_TEST_KAFKA_DIR`) for tests that kill, freeze and move them.

mod cluster;
mod kafka;

pub use cluster::{CLUSTER_DIR_ENV, Faults, KafkaCluster};
pub use kafka::{BOOTSTRAP_ENV, Mock, TestKafka};
