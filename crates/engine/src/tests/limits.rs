//! Temporal's per-workflow limits.

use super::builders::{Run, attrs, schedule_activity, types};
use crate::{
    ExecutionStatus,
    limits::{Limits, MAX_PENDING},
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

    run.state.next_event_id = Limits::default().suggest_continue_as_new_events + 1;
    run.signal("poke", "signal-1");
    let (_, changes) = run.start_workflow_task();
    let started = attrs!(changes.events[0], WorkflowTaskStartedEventAttributes);
    assert!(started.suggest_continue_as_new);
}

#[test]
fn a_run_past_the_history_limit_is_terminated_when_its_task_completes() {
    let mut run = Run::start();
    run.start_workflow_task();
    run.state.next_event_id = Limits::default().max_history_events + 1;
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

#[test]
fn limits_other_than_temporals_defaults_hold_when_configured() {
    let mut run = Run::start();
    run.limits = Limits {
        suggest_continue_as_new_events: 4,
        max_pending_activities: 1,
        ..Limits::default()
    };
    let (_, changes) = run.start_workflow_task();
    let started = attrs!(changes.events[0], WorkflowTaskStartedEventAttributes);
    assert!(!started.suggest_continue_as_new, "2 events before it");
    let (outcome, _) =
        run.complete_workflow_task(vec![schedule_activity("a1"), schedule_activity("a2")]);
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
    // The failed task's retry is transient; 4 events come before its started event.
    let (started, _) = run.start_workflow_task();
    let started = attrs!(
        started.transient_events[1],
        WorkflowTaskStartedEventAttributes
    );
    assert!(started.suggest_continue_as_new);
}
