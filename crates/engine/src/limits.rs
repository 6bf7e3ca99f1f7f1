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

/// Per-workflow limits: Temporal's defaults, unless the server is configured otherwise
/// (each field names the dynamic config key Temporal reads it from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From this many events workflow tasks suggest continuing as new
    /// (`limit.historyCount.suggestContinueAsNew`).
    pub suggest_continue_as_new_events: i64,
    /// From this many bytes of history workflow tasks suggest continuing as new
    /// (`limit.historySize.suggestContinueAsNew`).
    pub suggest_continue_as_new_bytes: i64,
    /// Past this many events the run is terminated (`limit.historyCount.error`).
    pub max_history_events: i64,
    /// Past this many bytes of history the run is terminated (`limit.historySize.error`).
    pub max_history_bytes: i64,
    /// Activities one run may have pending (`limit.numPendingActivities.error`).
    pub max_pending_activities: usize,
    /// Children one run may have pending (`limit.numPendingChildExecutions.error`).
    pub max_pending_children: usize,
    /// Signals to other workflows one run may have pending (`limit.numPendingSignals.error`).
    pub max_pending_signals: usize,
    /// Cancel requests to other workflows one run may have pending
    /// (`limit.numPendingCancelRequests.error`).
    pub max_pending_cancel_requests: usize,
}

/// Temporal's default of the pending limits.
pub const MAX_PENDING: usize = 2000;

impl Default for Limits {
    fn default() -> Self {
        Self {
            suggest_continue_as_new_events: 4 * 1024,
            suggest_continue_as_new_bytes: 4 * 1024 * 1024,
            max_history_events: 50 * 1024,
            max_history_bytes: 50 * 1024 * 1024,
            max_pending_activities: MAX_PENDING,
            max_pending_children: MAX_PENDING,
            max_pending_signals: MAX_PENDING,
            max_pending_cancel_requests: MAX_PENDING,
        }
    }
}

impl Limits {
    /// Whether a workflow task started now suggests continuing as new.
    pub fn suggests_continue_as_new(&self, state: &MutableState) -> bool {
        events(state) >= self.suggest_continue_as_new_events
            || state.history_size_bytes >= self.suggest_continue_as_new_bytes
    }

    /// The reason a run that outgrew its history is terminated with, if it did.
    pub fn history_exceeded(&self, state: &MutableState) -> Option<&'static str> {
        if events(state) > self.max_history_events {
            Some("Workflow history count exceeds limit.")
        } else if state.history_size_bytes > self.max_history_bytes {
            Some("Workflow history size exceeds limit.")
        } else {
            None
        }
    }
}

/// Refuses commands that would leave more pending than the limits allow.
pub(crate) fn check_pending(
    limits: &Limits,
    state: &MutableState,
    commands: &[Command],
) -> Result<(), Rejection> {
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
    for (pending, limit, cause, what) in [
        (
            activities,
            limits.max_pending_activities,
            Cause::PendingActivitiesLimitExceeded,
            "pending activities",
        ),
        (
            children,
            limits.max_pending_children,
            Cause::PendingChildWorkflowsLimitExceeded,
            "pending child workflows",
        ),
        (
            signals,
            limits.max_pending_signals,
            Cause::PendingSignalsLimitExceeded,
            "pending signals to external workflows",
        ),
        (
            cancels,
            limits.max_pending_cancel_requests,
            Cause::PendingRequestCancelLimitExceeded,
            "pending requests to cancel external workflows",
        ),
    ] {
        if pending > limit {
            return Err(Rejection::new(
                cause,
                format!(
                    "the number of {what}, {pending}, has reached the per-workflow limit of {limit}"
                ),
            ));
        }
    }
    Ok(())
}

fn events(state: &MutableState) -> i64 {
    state.next_event_id - 1
}
