//! The commands a worker sends when it completes a workflow task: validated all together
//! first (a bad command fails the whole task and changes nothing else), then applied in order,
//! one history event per command, right after `WorkflowTaskCompleted`.

use std::collections::HashSet;

use crate::{
    events::{Tx, buffered_activity_close, buffered_timer_fired, decode_buffered},
    proto::{
        command::{Command, command::Attributes as C},
        enums::{CommandType, WorkflowTaskFailedCause as Cause},
        failure::{Failure, ServerFailureInfo, failure::FailureInfo},
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
    /// A rejection whose message reads as Temporal's: the cause, then what was wrong.
    pub(crate) fn new(cause: Cause, detail: impl std::fmt::Display) -> Self {
        Self {
            cause,
            message: format!("{cause:?}: {detail}"),
        }
    }

    /// The failure recorded in `WorkflowTaskFailed`: a server failure, as Temporal records it.
    pub fn failure(&self) -> Failure {
        Failure {
            message: self.message.clone(),
            failure_info: Some(FailureInfo::ServerFailureInfo(ServerFailureInfo {
                non_retryable: false,
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
                | C::ContinueAsNewWorkflowExecutionCommandAttributes(_)
        )
    )
}

/// Refuses a completion whose close command comes before other commands, with Temporal's
/// message. Temporal answers `InvalidArgument` and records nothing.
pub fn check_sequence(commands: &[Command]) -> Result<(), String> {
    let name = |c: &Command| {
        format!(
            "{:?}",
            CommandType::try_from(c.command_type).unwrap_or(CommandType::Unspecified)
        )
    };
    match commands.iter().position(closes_workflow) {
        Some(index) if index + 1 < commands.len() => Err(format!(
            "invalid command sequence: [{}], command {} must be the last command.",
            commands.iter().map(name).collect::<Vec<_>>().join(", "),
            name(&commands[index]),
        )),
        _ => Ok(()),
    }
}

/// Checks every command against the state as it will be when each one applies.
pub fn validate(
    limits: &crate::limits::Limits,
    state: &MutableState,
    commands: &[Command],
) -> Result<(), Rejection> {
    crate::limits::check_pending(limits, state, commands)?;
    let buffered = decode_buffered(&state.buffered_events);
    let mut unhandled = buffered.len();
    // Timers that fired while this task ran: canceling one deletes its `TimerFired` event.
    let mut fired: Vec<&str> = buffered.iter().filter_map(buffered_timer_fired).collect();
    let mut timers: HashSet<&str> = state.timers.iter().map(|t| t.timer_id.as_str()).collect();
    let mut activity_ids: HashSet<&str> = state
        .activities
        .iter()
        .map(|a| a.activity_id.as_str())
        .collect();
    // Activities a cancel may name: pending ones not yet asked to cancel, and ones whose
    // closing event waits in the buffer (the request is then recorded and nothing else).
    let mut cancelable: HashSet<i64> = state
        .activities
        .iter()
        .filter(|a| !a.cancel_requested)
        .map(|a| a.scheduled_event_id)
        .chain(buffered.iter().filter_map(buffered_activity_close))
        .collect();
    for command in commands {
        if closes_workflow(command) && unhandled > 0 {
            // New events arrived while the worker decided to close: it must see them first.
            let cause = Cause::UnhandledCommand;
            return Err(Rejection {
                cause,
                message: format!("{cause:?}"),
            });
        }
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
                if !cancelable.remove(&a.scheduled_event_id) {
                    return Err(Rejection::new(
                        Cause::BadRequestCancelActivityAttributes,
                        format!(
                            "invalid history builder state for action: add-activitytask-cancel-requested-event, ScheduledEventID: {}",
                            a.scheduled_event_id
                        ),
                    ));
                }
            }
            Some(C::StartTimerCommandAttributes(a)) => {
                if a.timer_id.is_empty() {
                    return Err(Rejection::new(
                        Cause::BadStartTimerAttributes,
                        "TimerId is not set on StartTimerCommand.",
                    ));
                }
                // Temporal 1.32 takes an unset or zero timeout (the timer fires at once) and
                // refuses only a negative one.
                if a.start_to_fire_timeout
                    .as_ref()
                    .is_some_and(|d| d.seconds < 0 || d.nanos < 0)
                {
                    return Err(Rejection::new(
                        Cause::BadStartTimerAttributes,
                        format!(
                            "An invalid StartToFireTimeout is set on StartTimerCommand: negative duration. TimerId={}",
                            a.timer_id
                        ),
                    ));
                }
                if !timers.insert(a.timer_id.as_str()) {
                    return Err(Rejection::new(
                        Cause::StartTimerDuplicateId,
                        format!(
                            "invalid history builder state for action: add-timer-started-event, TimerID: {}",
                            a.timer_id
                        ),
                    ));
                }
            }
            Some(C::CancelTimerCommandAttributes(a)) => {
                if a.timer_id.is_empty() {
                    return Err(Rejection::new(
                        Cause::BadCancelTimerAttributes,
                        "TimerId is not set on CancelTimerCommand.",
                    ));
                }
                if !timers.remove(a.timer_id.as_str()) {
                    let Some(index) = fired.iter().position(|id| *id == a.timer_id) else {
                        return Err(Rejection::new(
                            Cause::BadCancelTimerAttributes,
                            format!(
                                "invalid history builder state for action: add-timer-canceled-event, TimerID: {}",
                                a.timer_id
                            ),
                        ));
                    };
                    fired.remove(index);
                    unhandled -= 1;
                }
            }
            Some(C::RecordMarkerCommandAttributes(a)) => {
                if a.marker_name.is_empty() {
                    return Err(Rejection::new(
                        Cause::BadRecordMarkerAttributes,
                        "MarkerName is not set on RecordMarkerCommand.",
                    ));
                }
            }
            Some(C::ContinueAsNewWorkflowExecutionCommandAttributes(a)) => {
                if !a.cron_schedule.is_empty() && crate::cron::validate(&a.cron_schedule).is_err() {
                    return Err(Rejection::new(
                        Cause::BadContinueAsNewAttributes,
                        "invalid CronSchedule.",
                    ));
                }
                for (timeout, name) in [
                    (&a.workflow_run_timeout, "WorkflowRunTimeout"),
                    (&a.workflow_task_timeout, "WorkflowTaskTimeout"),
                    (&a.backoff_start_interval, "BackoffStartInterval"),
                ] {
                    if timeout
                        .as_ref()
                        .is_some_and(|d| d.seconds < 0 || d.nanos < 0)
                    {
                        return Err(Rejection::new(
                            Cause::BadContinueAsNewAttributes,
                            format!("Invalid {name}."),
                        ));
                    }
                }
            }
            Some(C::StartChildWorkflowExecutionCommandAttributes(a)) => {
                crate::children::validate_start(state, a)?;
            }
            Some(C::SignalExternalWorkflowExecutionCommandAttributes(a)) => {
                crate::external::validate_signal(&state.namespace, a)?;
            }
            Some(C::RequestCancelExternalWorkflowExecutionCommandAttributes(a)) => {
                crate::external::validate_cancel(&state.namespace, a)?;
            }
            Some(C::ProtocolMessageCommandAttributes(a)) => {
                if a.message_id.is_empty() {
                    return Err(Rejection::new(
                        Cause::BadUpdateWorkflowExecutionMessage,
                        "MessageID is not set on ProtocolMessageCommand.",
                    ));
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
                    format!(
                        "command {} is not supported by this server yet",
                        command_name(other)
                    ),
                ));
            }
            None => {
                return Err(Rejection::new(
                    Cause::UnhandledCommand,
                    "command attributes are not set",
                ));
            }
        }
    }
    Ok(())
}

fn command_name(attributes: &C) -> &'static str {
    match attributes {
        C::ScheduleNexusOperationCommandAttributes(_) => "ScheduleNexusOperation",
        C::RequestCancelNexusOperationCommandAttributes(_) => "RequestCancelNexusOperation",
        _ => "this command",
    }
}

/// Applies one validated command after `WorkflowTaskCompleted` (event `completed_id`) from
/// the worker `identity`. Returns true when the workflow needs a new task for what the
/// command did (an activity canceled before it started); it is scheduled after all commands.
pub fn apply(tx: &mut Tx<'_>, command: &Command, completed_id: i64, identity: &str) -> bool {
    match &command.attributes {
        Some(C::ScheduleActivityTaskCommandAttributes(a)) => tx.schedule_activity(a, completed_id),
        Some(C::RequestCancelActivityTaskCommandAttributes(a)) => {
            return tx.request_cancel_activity(a.scheduled_event_id, completed_id, identity);
        }
        Some(C::StartTimerCommandAttributes(a)) => {
            let started_event_id = tx.append(history::TimerStartedEventAttributes {
                timer_id: a.timer_id.clone(),
                start_to_fire_timeout: a.start_to_fire_timeout,
                workflow_task_completed_event_id: completed_id,
            });
            let fire_time = tx.now + time::from_duration(a.start_to_fire_timeout.as_ref());
            tx.state.timers.push(TimerInfo {
                timer_id: a.timer_id.clone(),
                started_event_id,
                fire_time,
            });
        }
        Some(C::CancelTimerCommandAttributes(a)) => {
            let started_event_id = match tx.state.remove_timer(&a.timer_id) {
                Some(timer) => Some(timer.started_event_id),
                None => tx.take_buffered_timer_fired(&a.timer_id),
            };
            if let Some(started_event_id) = started_event_id {
                tx.append(history::TimerCanceledEventAttributes {
                    timer_id: a.timer_id.clone(),
                    started_event_id,
                    workflow_task_completed_event_id: completed_id,
                    identity: identity.to_string(),
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
            tx.complete_run(a.result.clone(), completed_id);
        }
        Some(C::FailWorkflowExecutionCommandAttributes(a)) => {
            tx.fail_run(a.failure.clone(), completed_id);
        }
        Some(C::ContinueAsNewWorkflowExecutionCommandAttributes(a)) => {
            tx.continue_as_new(a, completed_id);
        }
        Some(C::StartChildWorkflowExecutionCommandAttributes(a)) => {
            tx.initiate_child(a, completed_id);
        }
        Some(C::SignalExternalWorkflowExecutionCommandAttributes(a)) => {
            tx.initiate_signal(a, completed_id);
        }
        Some(C::RequestCancelExternalWorkflowExecutionCommandAttributes(a)) => {
            tx.initiate_cancel(a, completed_id);
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
    false
}
