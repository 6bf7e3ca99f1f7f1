//! Cairn as a cluster: any number of processes, each running some of the roles (frontend,
//! history, matching) against one Kafka cluster.
//!
//! - [`directory`]: every node follows the metadata topic — the cluster record, the nodes
//!   and where to reach them, and who owns which partition.
//! - [`membership`]: history and matching partitions are spread over the live nodes of their
//!   role by Kafka consumer groups, and move when nodes come and go.
//! - [`internal`] and [`peers`]: the gRPC services nodes call on each other (task starts and
//!   reads on history owners, task handover to matching owners).
//! - [`router`]: a frontend's public API, sending each call to the owner of its state.
//! - [`node`]: one process, put together from the roles it runs.

pub mod clients;
pub mod directory;
pub mod internal;
pub mod membership;
pub mod metrics;
pub mod node;
pub mod peers;
pub mod rate_limit;
pub mod router;
pub mod wire;

pub use node::{DEFAULT_PARTITIONS, Node, NodeConfig, Roles};

/// How often a history owner deletes the closed runs its namespaces no longer keep.
pub const RETENTION_SWEEP: std::time::Duration = std::time::Duration::from_secs(60);
/// The history topic: one Kafka partition per history partition.
pub const HISTORY_TOPIC: &str = "cairn.history";
/// The metadata topic (one partition): cluster, namespaces, nodes, ownership.
pub const METADATA_TOPIC: &str = "cairn.metadata";
/// One Kafka partition per history partition: snapshots of each partition's state.
pub const SNAPSHOT_TOPIC: &str = "cairn.snapshots";
/// Transitions a history partition applies between two snapshots.
pub const SNAPSHOT_EVERY: u64 = 10_000;
/// One Kafka partition per task-queue partition. Matching nodes divide its partitions
/// through their consumer group; no records are written to it.
pub const MATCHING_TOPIC: &str = "cairn.matching";
