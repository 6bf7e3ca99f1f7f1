//! What a poller receives once history recorded its task as started.

use cairn_engine::{MutableState, activity::ActivityTask, proto::HistoryEvent, workflow_task};

use serde::{Deserialize, Serialize};

use crate::QueryTask;

/// A workflow task recorded as started: the run's state, the task, the history the worker
/// replays (transient events included) and the queries riding on the task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartedWorkflowTask {
    pub state: MutableState,
    pub task: workflow_task::StartedWorkflowTask,
    pub history: Vec<HistoryEvent>,
    pub queries: Vec<QueryTask>,
}

/// An activity attempt recorded as started.
pub type StartedActivityTask = ActivityTask;
