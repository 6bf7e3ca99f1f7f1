//! The pure workflow state machine. It knows nothing of Kafka, RocksDB, gRPC or clocks: every
//! operation takes the current [`MutableState`] of one workflow run plus a request and the
//! current time, and either rejects the request (changing nothing) or mutates the state and
//! returns the history events it appended and the tasks it made ready for dispatch.
//!
//! The services are thin shells of I/O around it: the history owner of a partition persists
//! the new state and events to Kafka, applies what reads back to RocksDB, and only then hands
//! the tasks to matching and answers the caller. Applying the same requests with the same
//! inputs to the same state always yields the same state and outputs (no environment reads).

pub mod activity;
pub mod activity_control;
pub mod children;
pub mod commands;
pub mod continuation;
pub mod cron;
pub mod delivery;
pub mod error;
pub mod events;
pub mod external;
pub mod ids;
pub mod limits;
pub mod proto;
pub mod reset;
pub mod retention;
pub mod retry;
pub mod schedule;
pub mod sections;
pub mod signal;
pub mod start;
pub mod state;
pub mod store;
pub mod time;
pub mod timer;
pub mod token;
pub mod transfer;
pub mod update;
pub mod workflow_task;

pub use error::EngineError;
pub use ids::{PartitionId, RunKey, WorkflowKey, partition_of};
pub use state::{ActivityInfo, ExecutionStatus, MutableState, TimerInfo, WorkflowTaskInfo};

/// Placeholder for an event ID that a buffered event refers to before it has one: the
/// started event of an activity closed while a workflow task ran. Fixed up on flush.
pub const BUFFERED_EVENT_ID: i64 = -123;

/// What one accepted operation changed besides the state itself.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes {
    /// History events appended to the run, in event-ID order.
    pub events: Vec<proto::HistoryEvent>,
    /// Tasks that became ready for a worker and must be handed to matching once durable.
    pub tasks: Vec<TaskRef>,
    /// The run that continues this one, when the operation closed the run and the workflow
    /// goes on (continue-as-new, a retry, the next cron run). It must be created with
    /// [`start::begin`] in the same durable record.
    pub next_run: Option<Box<start::RunStart>>,
    /// Updates that ended without a completion event: rejected by the worker or the server,
    /// or cut short by the run's close. Their callers learn of them from here once the
    /// record is durable.
    pub ended_updates: Vec<update::UpdateEnded>,
    /// The run is deleted: its state and history go once the record is durable.
    pub deleted: bool,
}

/// A task that matching delivers to a worker. Matching asks the history owner to record it
/// as started before the worker sees it; a stale or duplicate ref is rejected there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TaskRef {
    pub run: RunKey,
    pub kind: TaskKind,
    pub task_queue: String,
    pub scheduled_event_id: i64,
    /// The attempt (workflow task) or stamp (activity) this dispatch belongs to.
    pub attempt: i32,
}

impl TaskRef {
    /// The dispatch of a run's workflow task, on the queue it waits on.
    pub fn workflow(run: &RunKey, task: &WorkflowTaskInfo) -> Self {
        Self {
            run: run.clone(),
            kind: TaskKind::Workflow,
            task_queue: task.task_queue.clone(),
            scheduled_event_id: task.scheduled_event_id,
            attempt: task.attempt,
        }
    }

    /// The dispatch of an activity's current attempt.
    pub fn activity(run: &RunKey, activity: &ActivityInfo) -> Self {
        Self {
            run: run.clone(),
            kind: TaskKind::Activity,
            task_queue: activity.task_queue.clone(),
            scheduled_event_id: activity.scheduled_event_id,
            attempt: activity.current_stamp(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TaskKind {
    Workflow,
    Activity,
}

#[cfg(test)]
mod tests;
