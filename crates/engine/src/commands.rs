//! The commands a worker sends when it completes a workflow task: validated all together
//! first (a bad command fails the whole task and changes nothing else), then applied in order,
//! one history event per command, right after `WorkflowTaskCompleted`.

use std::collections::HashSet;

use crate::{
    events::Tx,
    proto::{
        command::{Command, command::Attributes as C},
        enums::{RetryState, WorkflowTaskFailedCause as Cause},
        failure::{ApplicationFailureInfo, Failure, failure::FailureInfo},
        history,
    },
    state::{MutableState, TimerInfo},
    time,
};

/// Why a workflow task's commands were refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub cause: Cause,
    pub message: String,
}

impl Rejection {
    fn new(cause: Cause, message: impl Into<String>) -> Self {
        Self { cause, message: message.into() }
    }

    /// The failure recorded in `WorkflowTaskFailed`.
    pub fn failure(&self) -> Failure {
        Failure {
            message: self.message.clone(),
            failure_info: Some(FailureInfo::ApplicationFailureInfo(ApplicationFailureInfo {
                r#type: format!("{:?}", self.cause),
                non_retryable: false,
                ..Default::default()
            })),
            ..Default::default()
        }
    }
}

/// True for the commands that close the run.
pub fn closes_workflow(command: &Command) -> bool {
    matches!(
        command.attributes,
        Some(
            C::CompleteWorkflowExecutionCommandAttributes(_)
                | C::FailWorkflowExecutionCommandAttributes(_)
                | C::CancelWorkflowExecutionCommandAttributes(_)
        )
    )
}

/// Checks every command against the state as it will be when each one applies.
pub fn validate(state: &MutableState, commands: &[Command]) -> Result<(), Rejection> {
    let mut timers: HashSet<&str> = state.timers.iter().map(|t| t.timer_id.as_str()).collect();
    let mut activity_ids: HashSet<&str> =
        state.activities.iter().map(|a| a.activity_id.as_str()).collect();
    for command in commands {
        match &command.attributes {
            Some(C::ScheduleActivityTaskCommandAttributes(a)) => {
                crate::activity::validate_schedule(state, a)?;
                if !activity_ids.insert(a.activity_id.as_str()) {
                    return Err(Rejection::new(
                        Cause::ScheduleActivityDuplicateId,
                        format!("Activity ID {} is already in use.", a.activity_id),
                    ));
                }
            }
            Some(C::RequestCancelActivityTaskCommandAttributes(a)) => {
                if a.scheduled_event_id <= 0 {
                    return Err(Rejection::new(
                        Cause::BadRequestCancelActivityAttributes,
                        "ScheduledEventId is not set on RequestCancelActivityTaskCommand.",
                    ));
                }
            }
            Some(C::StartTimerCommandAttributes(a)) => {
                if a.timer_id.is_empty() {
                    return Err(Rejection::new(Cause::BadStartTimerAttributes, "TimerId is not set."));
                }
                if time::from_duration(a.start_to_fire_timeout.as_ref()) <= 0 {
                    return Err(Rejection::new(
                        Cause::BadStartTimerAttributes,
                        "A valid StartToFireTimeout is not set on StartTimerCommand.",
                    ));
                }
                if !timers.insert(a.timer_id.as_str()) {
                    return Err(Rejection::new(
                        Cause::StartTimerDuplicateId,
                        format!("invalid history builder state for action: add-timer-started-event, TimerId {} already exists", a.timer_id),
                    ));
                }
            }
            Some(C::CancelTimerCommandAttributes(a)) => {
                if a.timer_id.is_empty() {
                    return Err(Rejection::new(Cause::BadCancelTimerAttributes, "TimerId is not set."));
                }
            }
            Some(C::RecordMarkerCommandAttributes(a)) => {
                if a.marker_name.is_empty() {
                    return Err(Rejection::new(Cause::BadRecordMarkerAttributes, "MarkerName is not set on RecordMarkerCommand."));
                }
            }
            Some(C::CompleteWorkflowExecutionCommandAttributes(_))
            | Some(C::FailWorkflowExecutionCommandAttributes(_))
            | Some(C::CancelWorkflowExecutionCommandAttributes(_))
            | Some(C::UpsertWorkflowSearchAttributesCommandAttributes(_))
            | Some(C::ModifyWorkflowPropertiesCommandAttributes(_)) => {}
            Some(other) => {
                return Err(Rejection::new(
                    Cause::UnhandledCommand,
                    format!("command {} is not supported by this server yet", command_name(other)),
                ));
            }
            None => {
                return Err(Rejection::new(Cause::UnhandledCommand, "command attributes are not set"));
            }
        }
    }
    Ok(())
}

fn command_name(attributes: &C) -> &'static str {
    match attributes {
        C::RequestCancelExternalWorkflowExecutionCommandAttributes(_) => "RequestCancelExternalWorkflowExecution",
        C::ContinueAsNewWorkflowExecutionCommandAttributes(_) => "ContinueAsNewWorkflowExecution",
        C::SignalExternalWorkflowExecutionCommandAttributes(_) => "SignalExternalWorkflowExecution",
        C::StartChildWorkflowExecutionCommandAttributes(_) => "StartChildWorkflowExecution",
        C::ProtocolMessageCommandAttributes(_) => "ProtocolMessage",
        C::ScheduleNexusOperationCommandAttributes(_) => "ScheduleNexusOperation",
        C::RequestCancelNexusOperationCommandAttributes(_) => "RequestCancelNexusOperation",
        _ => "this command",
    }
}

/// Applies one validated command after `WorkflowTaskCompleted` (event `completed_id`).
pub fn apply(tx: &mut Tx<'_>, command: &Command, completed_id: i64) {
    match &command.attributes {
        Some(C::ScheduleActivityTaskCommandAttributes(a)) => tx.schedule_activity(a, completed_id),
        Some(C::RequestCancelActivityTaskCommandAttributes(a)) => {
            tx.request_cancel_activity(a.scheduled_event_id, completed_id)
        }
        Some(C::StartTimerCommandAttributes(a)) => {
            let started_event_id = tx.append(history::TimerStartedEventAttributes {
                timer_id: a.timer_id.clone(),
                start_to_fire_timeout: a.start_to_fire_timeout,
                workflow_task_completed_event_id: completed_id,
            });
            let fire_time = tx.now + time::from_duration(a.start_to_fire_timeout.as_ref());
            tx.state.timers.push(TimerInfo { timer_id: a.timer_id.clone(), started_event_id, fire_time });
        }
        Some(C::CancelTimerCommandAttributes(a)) => {
            if let Some(timer) = tx.state.remove_timer(&a.timer_id) {
                tx.append(history::TimerCanceledEventAttributes {
                    timer_id: a.timer_id.clone(),
                    started_event_id: timer.started_event_id,
                    workflow_task_completed_event_id: completed_id,
                    identity: String::new(),
                });
            }
        }
        Some(C::RecordMarkerCommandAttributes(a)) => {
            tx.append(history::MarkerRecordedEventAttributes {
                marker_name: a.marker_name.clone(),
                details: a.details.clone(),
                workflow_task_completed_event_id: completed_id,
                header: a.header.clone(),
                failure: a.failure.clone(),
            });
        }
        Some(C::CompleteWorkflowExecutionCommandAttributes(a)) => {
            let id = tx.append(history::WorkflowExecutionCompletedEventAttributes {
                result: a.result.clone(),
                workflow_task_completed_event_id: completed_id,
                new_execution_run_id: String::new(),
            });
            tx.close(crate::ExecutionStatus::Completed, id);
        }
        Some(C::FailWorkflowExecutionCommandAttributes(a)) => {
            let id = tx.append(history::WorkflowExecutionFailedEventAttributes {
                failure: a.failure.clone(),
                retry_state: RetryState::RetryPolicyNotSet as i32,
                workflow_task_completed_event_id: completed_id,
                new_execution_run_id: String::new(),
            });
            tx.close(crate::ExecutionStatus::Failed, id);
        }
        Some(C::CancelWorkflowExecutionCommandAttributes(a)) => {
            let id = tx.append(history::WorkflowExecutionCanceledEventAttributes {
                workflow_task_completed_event_id: completed_id,
                details: a.details.clone(),
            });
            tx.close(crate::ExecutionStatus::Canceled, id);
        }
        Some(C::UpsertWorkflowSearchAttributesCommandAttributes(a)) => {
            tx.upsert_search_attributes(a.search_attributes.clone().unwrap_or_default());
            tx.append(history::UpsertWorkflowSearchAttributesEventAttributes {
                workflow_task_completed_event_id: completed_id,
                search_attributes: a.search_attributes.clone(),
            });
        }
        Some(C::ModifyWorkflowPropertiesCommandAttributes(a)) => {
            tx.upsert_memo(a.upserted_memo.clone().unwrap_or_default());
            tx.append(history::WorkflowPropertiesModifiedEventAttributes {
                workflow_task_completed_event_id: completed_id,
                upserted_memo: a.upserted_memo.clone(),
            });
        }
        _ => unreachable!("commands are validated before they are applied"),
    }
}
