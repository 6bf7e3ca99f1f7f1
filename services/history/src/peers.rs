//! The history owners of partitions this node does not own, as matching and frontends reach
//! them: to start a task for a poller, and to read a run, its events or a partition's runs.

use cairn_engine::{
    MutableState, PartitionId, RunKey, TaskRef,
    proto::HistoryEvent,
    transfer::{Transfer, TransferOutcome},
};

use crate::{HistoryError, StartedActivityTask, StartedWorkflowTask};

#[async_trait::async_trait]
pub trait Peers: Send + Sync + 'static {
    async fn record_workflow_task_started(
        &self,
        task: TaskRef,
        request_id: String,
        identity: String,
    ) -> Result<StartedWorkflowTask, HistoryError>;

    async fn record_activity_task_started(
        &self,
        task: TaskRef,
        request_id: String,
        identity: String,
    ) -> Result<StartedActivityTask, HistoryError>;

    async fn reset_sticky(&self, run: RunKey) -> Result<(), HistoryError>;

    /// The durable state of a run; an empty run ID means the workflow's current run.
    async fn describe(&self, run: RunKey) -> Result<MutableState, HistoryError>;

    /// A run's own fields, without its collections (see [`crate::History::progress`]).
    async fn progress(&self, run: RunKey) -> Result<MutableState, HistoryError>;

    /// Durable events of a run with IDs in `[from, to)`.
    async fn events(
        &self,
        run: RunKey,
        from: i64,
        to: i64,
    ) -> Result<Vec<HistoryEvent>, HistoryError>;

    /// A partition's part of a listing page (see `History::visibility_page`).
    async fn visibility_page(
        &self,
        partition: PartitionId,
        request: cairn_visibility::PageRequest,
    ) -> Result<cairn_visibility::Page, HistoryError>;

    /// A partition's counts of a query's matches (see `History::visibility_count`).
    async fn visibility_count(
        &self,
        partition: PartitionId,
        request: cairn_visibility::CountRequest,
    ) -> Result<cairn_visibility::Counts, HistoryError>;

    /// How many tasks of a queue wait in a partition (see `History::waiting_tasks`).
    async fn waiting_tasks(
        &self,
        partition: PartitionId,
        namespace_id: String,
        task_queue: String,
        kind: cairn_engine::TaskKind,
    ) -> Result<i64, HistoryError>;

    /// Applies a transfer to the workflow it acts on (see `History::deliver`).
    async fn deliver(&self, transfer: Transfer) -> Result<TransferOutcome, HistoryError>;
}
