//! Signals and cancel requests from one workflow to another: the sender's side (initiating
//! and recording the outcome) and the receiver's cancel request.

// The SDKs still send and read fields Temporal marks deprecated (`namespace`, `control`,
// `inherit_build_id`, an external target's `workflow_id` and `run_id`).
#![allow(deprecated)]

use prost::Message;

use crate::{
    EngineError, RunKey,
    commands::Rejection,
    events::Tx,
    proto::{
        command::{
            RequestCancelExternalWorkflowExecutionCommandAttributes as CancelCommand,
            SignalExternalWorkflowExecutionCommandAttributes as SignalCommand,
        },
        common::WorkflowExecution,
        enums::{
            CancelExternalWorkflowExecutionFailedCause as CancelFailed,
            SignalExternalWorkflowExecutionFailedCause as SignalFailed,
            WorkflowTaskFailedCause as Cause,
        },
        history,
    },
    state::ExternalRequest,
};

/// The workflow an encoded signal or cancel command names.
pub fn target(from: &RunKey, cancel: bool, command: &[u8]) -> RunKey {
    let execution = if cancel {
        let a = CancelCommand::decode(command).unwrap_or_default();
        WorkflowExecution {
            workflow_id: a.workflow_id,
            run_id: a.run_id,
        }
    } else {
        SignalCommand::decode(command)
            .unwrap_or_default()
            .execution
            .unwrap_or_default()
    };
    RunKey {
        namespace_id: from.namespace_id.clone(),
        workflow_id: execution.workflow_id,
        run_id: execution.run_id,
    }
}

pub(crate) fn validate_signal(namespace: &str, a: &SignalCommand) -> Result<(), Rejection> {
    let bad = |detail: &str| Rejection::new(Cause::BadSignalWorkflowExecutionAttributes, detail);
    if a.execution
        .as_ref()
        .is_none_or(|e| e.workflow_id.is_empty())
    {
        return Err(bad(
            "WorkflowId is not set on SignalExternalWorkflowExecutionCommand.",
        ));
    }
    if a.signal_name.is_empty() {
        return Err(bad(
            "SignalName is not set on SignalExternalWorkflowExecutionCommand.",
        ));
    }
    if !a.namespace.is_empty() && a.namespace != namespace {
        return Err(bad(
            "Signaling a workflow in another namespace is not supported by this server.",
        ));
    }
    Ok(())
}

pub(crate) fn validate_cancel(namespace: &str, a: &CancelCommand) -> Result<(), Rejection> {
    let bad = |detail: &str| {
        Rejection::new(
            Cause::BadRequestCancelExternalWorkflowExecutionAttributes,
            detail,
        )
    };
    if a.workflow_id.is_empty() {
        return Err(bad(
            "WorkflowId is not set on RequestCancelExternalWorkflowExecutionCommand.",
        ));
    }
    if !a.namespace.is_empty() && a.namespace != namespace {
        return Err(bad(
            "Canceling a workflow in another namespace is not supported by this server.",
        ));
    }
    Ok(())
}

impl Tx<'_> {
    pub(crate) fn initiate_signal(&mut self, a: &SignalCommand, completed_id: i64) {
        let initiated_event_id = self.append(
            history::SignalExternalWorkflowExecutionInitiatedEventAttributes {
                workflow_task_completed_event_id: completed_id,
                namespace: self.state.namespace.clone(),
                namespace_id: self.state.run.namespace_id.clone(),
                workflow_execution: a.execution.clone(),
                signal_name: a.signal_name.clone(),
                input: a.input.clone(),
                control: a.control.clone(),
                child_workflow_only: a.child_workflow_only,
                header: a.header.clone(),
            },
        );
        self.state.external_requests.push(ExternalRequest {
            initiated_event_id,
            cancel: false,
            command: a.encode_to_vec(),
        });
    }

    pub(crate) fn initiate_cancel(&mut self, a: &CancelCommand, completed_id: i64) {
        let initiated_event_id = self.append(
            history::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes {
                workflow_task_completed_event_id: completed_id,
                namespace: self.state.namespace.clone(),
                namespace_id: self.state.run.namespace_id.clone(),
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: a.workflow_id.clone(),
                    run_id: a.run_id.clone(),
                }),
                control: a.control.clone(),
                child_workflow_only: a.child_workflow_only,
                reason: a.reason.clone(),
            },
        );
        self.state.external_requests.push(ExternalRequest {
            initiated_event_id,
            cancel: true,
            command: a.encode_to_vec(),
        });
    }

    /// The other workflow took the signal or cancel request (`delivered`), or it does not
    /// exist. A repeated report changes nothing.
    pub fn record_external_outcome(&mut self, initiated_event_id: i64, delivered: bool) {
        if !self.state.is_open() {
            return;
        }
        let Some(index) = self
            .state
            .external_requests
            .iter()
            .position(|r| r.initiated_event_id == initiated_event_id)
        else {
            return;
        };
        let request = self.state.external_requests.remove(index);
        let target = target(&self.state.run, request.cancel, &request.command);
        let execution = Some(WorkflowExecution {
            workflow_id: target.workflow_id,
            run_id: target.run_id,
        });
        let namespace = self.state.namespace.clone();
        let namespace_id = self.state.run.namespace_id.clone();
        if request.cancel {
            let control = CancelCommand::decode(request.command.as_slice())
                .unwrap_or_default()
                .control;
            if delivered {
                self.append_for_workflow(
                    history::ExternalWorkflowExecutionCancelRequestedEventAttributes {
                        initiated_event_id,
                        namespace,
                        namespace_id,
                        workflow_execution: execution,
                    },
                );
            } else {
                self.append_for_workflow(
                    history::RequestCancelExternalWorkflowExecutionFailedEventAttributes {
                        cause: CancelFailed::ExternalWorkflowExecutionNotFound as i32,
                        // Temporal leaves it unset on the failure events.
                        workflow_task_completed_event_id: 0,
                        namespace,
                        namespace_id,
                        workflow_execution: execution,
                        initiated_event_id,
                        control,
                    },
                );
            }
        } else {
            let control = SignalCommand::decode(request.command.as_slice())
                .unwrap_or_default()
                .control;
            if delivered {
                self.append_for_workflow(
                    history::ExternalWorkflowExecutionSignaledEventAttributes {
                        initiated_event_id,
                        namespace,
                        namespace_id,
                        workflow_execution: execution,
                        control,
                    },
                );
            } else {
                self.append_for_workflow(
                    history::SignalExternalWorkflowExecutionFailedEventAttributes {
                        cause: SignalFailed::ExternalWorkflowExecutionNotFound as i32,
                        // Temporal leaves it unset on the failure events.
                        workflow_task_completed_event_id: 0,
                        namespace,
                        namespace_id,
                        workflow_execution: execution,
                        initiated_event_id,
                        control,
                    },
                );
            }
        }
    }

    /// Another workflow (`from`, by its event `initiated_event_id`) asks this run to cancel.
    pub fn request_cancel_from_workflow(
        &mut self,
        from: &RunKey,
        initiated_event_id: i64,
        reason: &str,
    ) -> Result<(), EngineError> {
        if !self.state.is_open() {
            return Err(EngineError::workflow_completed());
        }
        if self.state.cancel_requested {
            return Ok(());
        }
        self.state.cancel_requested = true;
        self.append_for_workflow(history::WorkflowExecutionCancelRequestedEventAttributes {
            cause: reason.to_string(),
            external_initiated_event_id: initiated_event_id,
            external_workflow_execution: Some(WorkflowExecution {
                workflow_id: from.workflow_id.clone(),
                run_id: from.run_id.clone(),
            }),
            identity: String::new(),
        });
        Ok(())
    }
}
