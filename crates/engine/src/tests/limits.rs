//! Temporal's per-workflow limits.

use super::builders::{Run, attrs, schedule_activity, types};
use crate::{
    ExecutionStatus,
    limits::{MAX_HISTORY_EVENTS, MAX_PENDING, SUGGEST_CONTINUE_AS_NEW_EVENTS},
    proto::enums::{EventType, WorkflowTaskFailedCause as Cause},
    workflow_task::CompletionOutcome,
};

#[test]
fn a_long_history_makes_workflow_tasks_suggest_continuing_as_new() {
    let mut run = Run::start();
    let (_, changes) = run.start_workflow_task();
    let started = attrs!(changes.events[0], WorkflowTaskStartedEventAttributes);
    assert!(!started.suggest_continue_as_new);
    assert!(started.history_size_bytes > 0);
    run.complete_workflow_task(vec![]);

    run.state.next_event_id = SUGGEST_CONTINUE_AS_NEW_EVENTS + 1;
    run.signal("poke", "signal-1");
    let (_, changes) = run.start_workflow_task();
    let started = attrs!(changes.events[0], WorkflowTaskStartedEventAttributes);
    assert!(started.suggest_continue_as_new);
}

#[test]
fn a_run_past_the_history_limit_is_terminated_when_its_task_completes() {
    let mut run = Run::start();
    run.start_workflow_task();
    run.state.next_event_id = MAX_HISTORY_EVENTS + 1;
    let (_, changes) = run.complete_workflow_task(vec![]);
    assert_eq!(
        types(&changes.events),
        [
            EventType::WorkflowTaskCompleted,
            EventType::WorkflowExecutionTerminated
        ]
    );
    let terminated = attrs!(
        changes.events[1],
        WorkflowExecutionTerminatedEventAttributes
    );
    assert_eq!(terminated.reason, "Workflow history count exceeds limit.");
    assert_eq!(run.state.status, ExecutionStatus::Terminated);
}

#[test]
fn more_pending_activities_than_the_limit_fail_the_workflow_task() {
    let mut run = Run::start();
    run.start_workflow_task();
    let commands = (0..=MAX_PENDING)
        .map(|n| schedule_activity(&format!("a{n}")))
        .collect();
    let (outcome, _) = run.complete_workflow_task(commands);
    assert!(
        matches!(
            outcome,
            CompletionOutcome::CommandRejected {
                cause: Cause::PendingActivitiesLimitExceeded,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(run.state.activities.is_empty());
}
