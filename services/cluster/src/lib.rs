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
//! - [`tls`]: TLS on the public port, mutual TLS between nodes, files read again as they change.
//! - [`node`]: one process, put together from the roles it runs.

pub mod clients;
pub mod directory;
pub mod health;
pub mod internal;
pub mod membership;
pub mod metrics;
pub mod node;
pub mod peers;
pub mod rate_limit;
pub mod router;
pub mod tls;
pub mod topics;
pub mod trace_context;
pub mod wire;

pub use node::{DEFAULT_PARTITIONS, Node, NodeConfig, Roles};
pub use topics::{DEFAULT_TOPIC_PREFIX, TopicNames};

/// How often a history owner deletes the closed runs its namespaces no longer keep.
pub const RETENTION_SWEEP: std::time::Duration = std::time::Duration::from_secs(60);
/// Transitions a history partition applies between two snapshots.
pub const SNAPSHOT_EVERY: u64 = 10_000;
/// The longest time between two snapshots of a history partition that changed, unless
/// configured; the history topic must keep three of these (see `topics::needed_retention`).
pub const DEFAULT_SNAPSHOT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);
