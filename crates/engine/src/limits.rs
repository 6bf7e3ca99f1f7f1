//! Temporal's default per-workflow limits: history length and size (with the suggestion to
//! continue as new before they bite), and how much a run may have pending at once.

use crate::{
    commands::Rejection,
    proto::{
        command::{Command, command::Attributes as C},
        enums::WorkflowTaskFailedCause as Cause,
    },
    state::MutableState,
};

/// From this many events, or this many bytes, workflow tasks suggest continuing as new.
pub const SUGGEST_CONTINUE_AS_NEW_EVENTS: i64 = 4 * 1024;
pub const SUGGEST_CONTINUE_AS_NEW_BYTES: i64 = 4 * 1024 * 1024;
/// Past this many events, or this many bytes, the run is terminated.
pub const MAX_HISTORY_EVENTS: i64 = 50 * 1024;
pub const MAX_HISTORY_BYTES: i64 = 50 * 1024 * 1024;
/// At most this many activities, children, signals and cancel requests to other workflows
/// may be pending in one run.
pub const MAX_PENDING: usize = 2000;

/// Whether a workflow task started now suggests continuing as new.
pub fn suggests_continue_as_new(state: &MutableState) -> bool {
    events(state) >= SUGGEST_CONTINUE_AS_NEW_EVENTS
        || state.history_size_bytes >= SUGGEST_CONTINUE_AS_NEW_BYTES
}

/// The reason a run that outgrew its history is terminated with, if it did.
pub fn history_exceeded(state: &MutableState) -> Option<&'static str> {
    if events(state) > MAX_HISTORY_EVENTS {
        Some("Workflow history count exceeds limit.")
    } else if state.history_size_bytes > MAX_HISTORY_BYTES {
        Some("Workflow history size exceeds limit.")
    } else {
        None
    }
}

/// Refuses commands that would leave more pending than the limits allow.
pub(crate) fn check_pending(state: &MutableState, commands: &[Command]) -> Result<(), Rejection> {
    let count = |pick: fn(&C) -> bool| {
        commands
            .iter()
            .filter(|c| c.attributes.as_ref().is_some_and(pick))
            .count()
    };
    let activities = state.activities.len()
        + count(|a| matches!(a, C::ScheduleActivityTaskCommandAttributes(_)));
    let children = state.children.len()
        + count(|a| matches!(a, C::StartChildWorkflowExecutionCommandAttributes(_)));
    let signals = state.external_requests.iter().filter(|r| !r.cancel).count()
        + count(|a| matches!(a, C::SignalExternalWorkflowExecutionCommandAttributes(_)));
    let cancels = state.external_requests.iter().filter(|r| r.cancel).count()
        + count(|a| {
            matches!(
                a,
                C::RequestCancelExternalWorkflowExecutionCommandAttributes(_)
            )
        });
    for (pending, cause, what) in [
        (
            activities,
            Cause::PendingActivitiesLimitExceeded,
            "pending activities",
        ),
        (
            children,
            Cause::PendingChildWorkflowsLimitExceeded,
            "pending child workflows",
        ),
        (
            signals,
            Cause::PendingSignalsLimitExceeded,
            "pending signals to external workflows",
        ),
        (
            cancels,
            Cause::PendingRequestCancelLimitExceeded,
            "pending requests to cancel external workflows",
        ),
    ] {
        if pending > MAX_PENDING {
            return Err(Rejection::new(
                cause,
                format!(
                    "the number of {what}, {pending}, has reached the per-workflow limit of {MAX_PENDING}"
                ),
            ));
        }
    }
    Ok(())
}

fn events(state: &MutableState) -> i64 {
    state.next_event_id - 1
}
