//! Signals and cancellation requests from outside the run.

use super::builders::{Run, attrs, complete_workflow, ids, payloads, types, workflow_task_ref};
use crate::{Changes, EngineError, proto::enums::EventType, signal::Signal};

use EventType as E;

#[test]
fn signal_writes_signaled_and_schedules_a_workflow_task() {
    let mut run = Run::after_first_task(vec![]);

    let changes = run.signal("approve", "sig-1");

    assert_eq!(
        types(&changes.events),
        [E::WorkflowExecutionSignaled, E::WorkflowTaskScheduled]
    );
    assert_eq!(ids(&changes.events), [5, 6]);
    let signaled = attrs!(changes.events[0], WorkflowExecutionSignaledEventAttributes);
    assert_eq!(signaled.signal_name, "approve");
    assert_eq!(signaled.input, Some(payloads("approve")));
    assert_eq!(signaled.identity, "client-1");
    assert_eq!(signaled.request_id, "sig-1");
    assert_eq!(changes.tasks, [workflow_task_ref(6, 1)]);
    assert_eq!(run.state.signal_count, 1);
}

#[test]
fn signal_while_a_workflow_task_is_scheduled_rides_on_that_task() {
    let mut run = Run::start();

    let changes = run.signal("approve", "sig-1");

    assert_eq!(types(&changes.events), [E::WorkflowExecutionSignaled]);
    assert!(changes.tasks.is_empty());
    assert_eq!(run.workflow_task_info().scheduled_event_id, 2);
}

#[test]
fn a_retried_signal_with_the_same_request_id_is_applied_once() {
    let mut run = Run::after_first_task(vec![]);
    run.signal("approve", "sig-1");

    let again = run.signal("approve", "sig-1");

    assert_eq!(again, Changes::default());
    assert_eq!(run.state.signal_count, 1);
    let other = run.signal("approve", "sig-2");
    assert_eq!(types(&other.events), [E::WorkflowExecutionSignaled]);
    assert_eq!(run.state.signal_count, 2);
}

#[test]
fn signals_without_a_request_id_are_never_deduplicated() {
    let mut run = Run::start();
    run.signal("ping", "");
    run.signal("ping", "");
    assert_eq!(run.state.signal_count, 2);
    assert_eq!(
        run.history_types(),
        [
            E::WorkflowExecutionStarted,
            E::WorkflowTaskScheduled,
            E::WorkflowExecutionSignaled,
            E::WorkflowExecutionSignaled
        ]
    );
}

#[test]
fn signal_to_a_closed_run_is_not_found() {
    let mut run = Run::after_first_task(vec![complete_workflow("done")]);

    let error = run.refused(|tx| {
        tx.signal(Signal {
            name: "late".into(),
            ..Default::default()
        })
    });

    assert_eq!(error, EngineError::workflow_completed());
    assert!(matches!(error, EngineError::NotFound(_)));
}

#[test]
fn cancel_request_writes_cancel_requested_once_and_schedules_a_workflow_task() {
    let mut run = Run::after_first_task(vec![]);

    let (_, changes) = run.ok(|tx| tx.request_cancel("client-1", "no longer needed"));

    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowExecutionCancelRequested,
            E::WorkflowTaskScheduled
        ]
    );
    let requested = attrs!(
        changes.events[0],
        WorkflowExecutionCancelRequestedEventAttributes
    );
    assert_eq!(requested.cause, "no longer needed");
    assert_eq!(requested.identity, "client-1");
    assert!(run.state.cancel_requested);

    let (_, again) = run.ok(|tx| tx.request_cancel("client-1", "really"));
    assert_eq!(again, Changes::default(), "cancellation is idempotent");
}
