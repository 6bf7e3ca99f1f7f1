//! History processors. Each history partition has one owner, the single writer of its Kafka
//! partition of the history topic. For every request the owner computes the new state and
//! events through the pure engine, appends them to Kafka (acks=all), reads its own records
//! back under its epoch, applies them to RocksDB together with the log offset in one write
//! batch, and only then answers the caller and hands new tasks to matching. Requests that
//! arrive while a batch is in flight form the next batch (group commit).

mod effects;
mod error;
mod handle;
mod partition;
mod peers;
mod poll;
mod queries;
mod reset;
mod retention;
mod schedules;
mod timers;
mod transfers;
mod updates;

#[cfg(test)]
mod supervision_tests;

use std::sync::Arc;

use cairn_engine::TaskRef;

pub use cairn_engine::schedule::create::NewSchedule;
pub use cairn_engine::start::Started;
pub use error::HistoryError;
pub use handle::{
    ActivityTarget, Appended, DEFAULT_CACHED_RUNS, DEFAULT_MAX_RECORD_BYTES, History, HistoryConfig,
};
pub use partition::{DEFAULT_TASK_WINDOW, SnapshotConfig};
pub use peers::Peers;
pub use poll::{StartedActivityTask, StartedWorkflowTask};
pub use queries::{AnswerWaiter, Queries, QueryAnswer, QueryTask};
pub use retention::RetentionOf;
pub use updates::UpdateEndings;

/// Where a history owner hands tasks that became ready (matching). Delivery is at least
/// once: a task handed over twice is refused when a poller asks to start it again.
pub trait TaskSink: Send + Sync + 'static {
    fn dispatch(&self, tasks: Vec<TaskRef>);
    /// Tasks handed earlier that no longer wait (their run closed, they timed out or moved):
    /// copies still queued are dropped. Best effort: a stale copy left behind is refused
    /// when a poller asks to start it.
    fn withdraw(&self, tasks: Vec<TaskRef>);
    /// A query for a worker of `task_queue`, for a run with no workflow task pending.
    fn dispatch_query(&self, namespace_id: &str, task_queue: &str, task: QueryTask);
}

pub type SharedTaskSink = Arc<dyn TaskSink>;

/// Where partitions announce the workflows each durable batch changed.
pub type Changed = tokio::sync::broadcast::Sender<Arc<Vec<cairn_engine::WorkflowKey>>>;

/// The current time in Unix nanoseconds. Injected so tests can control time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the wall clock is read
    fn now(&self) -> i64 {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
    }
}
