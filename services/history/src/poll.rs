//! What a poller receives once history recorded its task as started.

use cairn_engine::{ActivityInfo, MutableState, proto::HistoryEvent, workflow_task};

/// A workflow task recorded as started: the run's state, the task, and the history the
/// worker replays (transient events included).
#[derive(Debug, Clone)]
pub struct StartedWorkflowTask {
    pub state: MutableState,
    pub task: workflow_task::StartedWorkflowTask,
    pub history: Vec<HistoryEvent>,
}

/// An activity attempt recorded as started.
#[derive(Debug, Clone)]
pub struct StartedActivityTask {
    pub state: MutableState,
    pub info: ActivityInfo,
}
