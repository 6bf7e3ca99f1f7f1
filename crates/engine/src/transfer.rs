//! What one workflow does to another: start a child, signal or cancel another workflow,
//! tell a parent its child closed, apply a parent close policy to a child.
//!
//! Each is written first in the run that causes it (an `…Initiated` event, or the close of
//! the run) and is pending in that run's state until the other workflow took it and the
//! outcome came back. [`pending`] derives every pending transfer from a state, so a new owner
//! of the partition sends them again after a failover; the receiving side deduplicates
//! (request IDs derived from the initiating run and event), so a transfer sent twice acts
//! once.

use serde::{Deserialize, Serialize};

use crate::{RunKey, proto::enums::ParentClosePolicy, state::MutableState};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Transfer {
    /// Start the child that `parent` initiated.
    StartChild {
        parent: RunKey,
        namespace: String,
        initiated_event_id: i64,
        /// Encoded `StartChildWorkflowExecutionCommandAttributes`.
        command: Vec<u8>,
        /// The top of the parent's chain of parents (the parent itself when it has none).
        #[serde(default)]
        root: Option<RunKey>,
    },
    /// Deliver a signal (`cancel` false) or a cancel request to another workflow.
    External {
        from: RunKey,
        namespace: String,
        initiated_event_id: i64,
        cancel: bool,
        /// The encoded command that initiated it.
        command: Vec<u8>,
    },
    /// Tell `parent` that its child `child` closed with `close_event`.
    ChildClosed {
        child: RunKey,
        parent: RunKey,
        initiated_event_id: i64,
        workflow_type: String,
        /// The child's encoded close event; filled in by the sender from the child's history.
        close_event: Vec<u8>,
    },
    /// Terminate or cancel a child of a closed parent, as its parent close policy says.
    ParentClosed {
        parent: RunKey,
        initiated_event_id: i64,
        child: RunKey,
        terminate: bool,
    },
    /// Start the workflow a schedule's action `sequence` asks for.
    StartScheduled {
        schedule: RunKey,
        namespace: String,
        sequence: i64,
        /// The encoded `StartWorkflowExecutionRequest`.
        request: Vec<u8>,
    },
    /// Cancel or terminate a workflow a schedule started, as its overlap policy says.
    StopScheduled {
        schedule: RunKey,
        sequence: i64,
        /// The workflow and its first run.
        workflow: RunKey,
        terminate: bool,
    },
    /// Tell the schedule that started `workflow` that its last run closed with `close_event`.
    ScheduledClosed {
        workflow: RunKey,
        first_run_id: String,
        schedule: RunKey,
        /// The encoded close event; filled in by the sender from the workflow's history.
        close_event: Vec<u8>,
    },
}

/// What the other workflow made of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferOutcome {
    /// The child runs as this run.
    ChildStarted { run_id: String },
    /// A workflow with the child's ID already runs (or ran, and the reuse policy forbids).
    ChildAlreadyExists,
    /// Taken (signal recorded, cancel requested, close recorded, policy applied).
    Delivered,
    /// The target workflow does not exist or is closed.
    TargetNotFound,
}

impl Transfer {
    /// The run that owes this transfer and records its outcome.
    pub fn origin(&self) -> &RunKey {
        match self {
            Self::StartChild { parent, .. } => parent,
            Self::External { from, .. } => from,
            Self::ChildClosed { child, .. } => child,
            Self::ParentClosed { parent, .. } => parent,
            Self::StartScheduled { schedule, .. } => schedule,
            Self::StopScheduled { schedule, .. } => schedule,
            Self::ScheduledClosed { workflow, .. } => workflow,
        }
    }

    /// The workflow this transfer acts on; an empty run ID means its current run.
    pub fn target(&self) -> RunKey {
        match self {
            Self::StartChild {
                parent, command, ..
            } => RunKey {
                namespace_id: parent.namespace_id.clone(),
                workflow_id: crate::children::child_workflow_id(command),
                run_id: String::new(),
            },
            Self::External {
                from,
                command,
                cancel,
                ..
            } => crate::external::target(from, *cancel, command),
            Self::ChildClosed { parent, .. } => parent.clone(),
            Self::ParentClosed { child, .. } => child.clone(),
            Self::StartScheduled {
                schedule, request, ..
            } => RunKey {
                namespace_id: schedule.namespace_id.clone(),
                workflow_id: crate::schedule::started_workflow_id(request),
                run_id: String::new(),
            },
            // The workflow's current run: a stop acts on the last run of its chain.
            Self::StopScheduled { workflow, .. } => RunKey {
                run_id: String::new(),
                ..workflow.clone()
            },
            Self::ScheduledClosed { schedule, .. } => schedule.clone(),
        }
    }

    /// Identifies a transfer among those pending, so one in flight is not sent twice.
    pub fn key(&self) -> (RunKey, i64, u8) {
        let (kind, id) = match self {
            Self::StartChild {
                initiated_event_id, ..
            } => (0, *initiated_event_id),
            Self::External {
                initiated_event_id, ..
            } => (1, *initiated_event_id),
            Self::ChildClosed { .. } => (2, 0),
            Self::ParentClosed {
                initiated_event_id, ..
            } => (3, *initiated_event_id),
            Self::StartScheduled { sequence, .. } => (4, *sequence),
            Self::StopScheduled { sequence, .. } => (5, *sequence),
            Self::ScheduledClosed { .. } => (6, 0),
        };
        (self.origin().clone(), id, kind)
    }

    /// The request ID the target deduplicates this transfer by.
    pub fn request_id(&self) -> String {
        let (origin, id, kind) = self.key();
        format!("{}:{}:{kind}:{id}", origin.workflow_id, origin.run_id)
    }
}

/// Every transfer the run still owes.
pub fn pending(state: &MutableState) -> Vec<Transfer> {
    let mut out = Vec::new();
    let namespace = state.namespace.clone();
    if state.is_open() {
        for child in state.children.iter().filter(|c| !c.started) {
            out.push(Transfer::StartChild {
                parent: state.run.clone(),
                namespace: namespace.clone(),
                initiated_event_id: child.initiated_event_id,
                command: child.command.clone(),
                root: Some(state.root.clone().unwrap_or_else(|| state.run.clone())),
            });
        }
        for request in &state.external_requests {
            out.push(Transfer::External {
                from: state.run.clone(),
                namespace: namespace.clone(),
                initiated_event_id: request.initiated_event_id,
                cancel: request.cancel,
                command: request.command.clone(),
            });
        }
    } else {
        for child in state.children.iter().filter(|c| c.started) {
            out.push(Transfer::ParentClosed {
                parent: state.run.clone(),
                initiated_event_id: child.initiated_event_id,
                child: RunKey {
                    namespace_id: state.run.namespace_id.clone(),
                    workflow_id: child.workflow_id.clone(),
                    run_id: child.run_id.clone(),
                },
                terminate: child.parent_close_policy != ParentClosePolicy::RequestCancel as i32,
            });
        }
    }
    if state.notify_parent
        && let Some(parent) = &state.parent
    {
        out.push(Transfer::ChildClosed {
            child: state.run.clone(),
            parent: parent.run.clone(),
            initiated_event_id: parent.initiated_event_id,
            workflow_type: state.workflow_type.clone(),
            close_event: Vec::new(),
        });
    } else if state.notify_parent
        && let Some(schedule) = &state.scheduled_by
    {
        out.push(Transfer::ScheduledClosed {
            workflow: state.run.clone(),
            first_run_id: state.first_run_id.clone(),
            schedule: schedule.clone(),
            close_event: Vec::new(),
        });
    }
    if let Some(schedule) = state.schedule.as_ref().filter(|_| state.is_open()) {
        for action in &schedule.actions {
            if action.is_starting() {
                out.push(Transfer::StartScheduled {
                    schedule: state.run.clone(),
                    namespace: namespace.clone(),
                    sequence: action.sequence,
                    request: action.start_request.clone(),
                });
            } else if action.stop > 0 {
                out.push(Transfer::StopScheduled {
                    schedule: state.run.clone(),
                    sequence: action.sequence,
                    workflow: RunKey {
                        namespace_id: state.run.namespace_id.clone(),
                        workflow_id: action.workflow_id.clone(),
                        run_id: action.run_id.clone(),
                    },
                    terminate: action.stop == crate::schedule::STOP_TERMINATE,
                });
            }
        }
    }
    out
}
