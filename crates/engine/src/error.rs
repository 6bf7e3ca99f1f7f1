//! Why the engine refused an operation. Each variant maps to one gRPC status in the frontend.

use crate::state::ExecutionStatus;

#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum EngineError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("workflow execution already started")]
    AlreadyStarted {
        start_request_id: String,
        run_id: String,
    },
    #[error("workflow execution already completed")]
    AlreadyCompleted { status: ExecutionStatus },
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    ResourceExhausted(String),
}

impl EngineError {
    pub fn workflow_task_not_found() -> Self {
        Self::NotFound("Workflow task not found.".into())
    }

    pub fn activity_task_not_found() -> Self {
        Self::NotFound(
            "invalid activityID or activity already timed out or invoking workflow is completed"
                .into(),
        )
    }

    pub fn workflow_completed() -> Self {
        Self::NotFound("workflow execution already completed".into())
    }

    /// A run (or, for an empty run ID, any run of the workflow) that does not exist, in
    /// Temporal's words.
    pub fn run_not_found(run: &crate::RunKey) -> Self {
        if run.run_id.is_empty() {
            Self::NotFound(format!("workflow not found for ID: {}", run.workflow_id))
        } else {
            Self::NotFound(format!(
                "workflow execution not found for workflow ID \"{}\" and run ID \"{}\"",
                run.workflow_id, run.run_id
            ))
        }
    }
}
