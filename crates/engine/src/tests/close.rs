//! Closing a run from outside: termination and the workflow timeouts.

use super::builders::{
    Run, T0, attrs, payloads, schedule_activity, start_request, start_timer, types,
};
use crate::{
    Changes, EngineError, ExecutionStatus,
    proto::{
        enums::{EventType, RetryState, WorkflowTaskFailedCause as Cause},
        workflowservice::StartWorkflowExecutionRequest,
    },
    time::{self, secs},
    timer::Deadline,
};

use EventType as E;

fn terminate(run: &mut Run) -> Changes {
    run.ok(|tx| tx.terminate("stuck", Some(payloads("details")), "admin"))
        .1
}

#[test]
fn terminate_fails_a_started_workflow_task_first_then_writes_terminated() {
    let mut run = Run::start();
    run.start_workflow_task();
    run.signal("approve", "sig-1");
    run.advance(secs(2));

    let changes = terminate(&mut run);

    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowTaskFailed,
            E::WorkflowExecutionSignaled,
            E::WorkflowExecutionTerminated
        ]
    );
    let failed = attrs!(changes.events[0], WorkflowTaskFailedEventAttributes);
    assert_eq!((failed.scheduled_event_id, failed.started_event_id), (2, 3));
    assert_eq!(failed.cause, Cause::ForceCloseCommand as i32);
    assert_eq!(failed.identity, "history-service");
    let terminated = attrs!(
        changes.events[2],
        WorkflowExecutionTerminatedEventAttributes
    );
    assert_eq!(terminated.reason, "stuck");
    assert_eq!(terminated.details, Some(payloads("details")));
    assert_eq!(terminated.identity, "admin");
    assert_eq!(run.state.status, ExecutionStatus::Terminated);
    assert_eq!(run.state.completion_event_id, 6);
    assert_eq!(run.state.close_time, Some(T0 + secs(2)));
    assert!(changes.tasks.is_empty());
    assert_eq!(run.state.workflow_task, None);
    assert_eq!(run.deadlines(), [], "a closed run has no deadlines");
}

#[test]
fn terminate_with_only_a_scheduled_workflow_task_writes_terminated() {
    let mut run = Run::start();

    let changes = terminate(&mut run);

    assert_eq!(types(&changes.events), [E::WorkflowExecutionTerminated]);
    assert_eq!(changes.events[0].event_id, 3);
    assert_eq!(run.state.workflow_task, None);
}

#[test]
fn terminate_during_a_transient_attempt_leaves_no_failed_event_for_it() {
    let mut run = Run::start();
    run.start_workflow_task();
    run.fail_workflow_task();
    run.start_workflow_task();

    let changes = terminate(&mut run);

    assert_eq!(types(&changes.events), [E::WorkflowExecutionTerminated]);
    assert_eq!(changes.events[0].event_id, 5);
}

#[test]
fn terminate_drops_pending_activities_and_timers() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge"), start_timer("t", 30)]);
    run.start_activity(5);

    terminate(&mut run);

    assert!(run.state.activities.is_empty());
    assert!(run.state.timers.is_empty());
    assert_eq!(run.deadlines(), []);
    let error = run.refused(|tx| tx.heartbeat_activity(5, Some(1), None));
    assert_eq!(error, EngineError::workflow_completed());
}

#[test]
fn a_closed_run_refuses_everything_but_a_cancel_request_which_changes_nothing() {
    let mut run = Run::start();
    terminate(&mut run);

    assert_eq!(
        run.refused(|tx| tx.terminate("again", None, "admin")),
        EngineError::workflow_completed()
    );
    assert_eq!(
        run.refused(|tx| tx.start_workflow_task(2, "poll", "w")),
        EngineError::workflow_completed()
    );
    let (_, changes) = run.ok(|tx| tx.request_cancel("c", "r"));
    assert_eq!(
        changes,
        Changes::default(),
        "as in Temporal, a late cancel succeeds"
    );
    run.advance(secs(3600));
    assert_eq!(
        run.op(|tx| tx.fire(&Deadline::WorkflowTimeout)).1,
        Changes::default()
    );
}

fn with_timeouts(execution: Option<i64>, run: Option<i64>) -> Run {
    Run::start_with(&StartWorkflowExecutionRequest {
        workflow_execution_timeout: execution.map(|s| time::duration(secs(s))),
        workflow_run_timeout: run.map(|s| time::duration(secs(s))),
        ..start_request()
    })
}

#[test]
fn execution_timeout_closes_the_run_with_timed_out() {
    let mut run = with_timeouts(Some(60), None);
    run.workflow_task(vec![start_timer("t", 600)]);
    assert!(
        run.deadlines()
            .contains(&(T0 + secs(60), Deadline::WorkflowTimeout))
    );

    let changes = run.fire_until(T0 + secs(60));

    assert_eq!(types(&changes.events), [E::WorkflowExecutionTimedOut]);
    let timed_out = attrs!(changes.events[0], WorkflowExecutionTimedOutEventAttributes);
    assert_eq!(
        timed_out.retry_state,
        RetryState::Timeout as i32,
        "the whole execution expired"
    );
    assert_eq!(run.state.status, ExecutionStatus::TimedOut);
    assert_eq!(run.state.completion_event_id, changes.events[0].event_id);
    assert!(run.state.timers.is_empty());
    assert!(changes.tasks.is_empty());
}

#[test]
fn run_timeout_without_an_execution_timeout_reports_no_retry_policy() {
    let mut run = with_timeouts(None, Some(30));

    let changes = run.fire_until(T0 + secs(30));

    let timed_out = attrs!(changes.events[0], WorkflowExecutionTimedOutEventAttributes);
    // Temporal would retry the run under a workflow retry policy; this run has none.
    assert_eq!(timed_out.retry_state, RetryState::RetryPolicyNotSet as i32);
    assert_eq!(run.state.status, ExecutionStatus::TimedOut);
}

#[test]
fn workflow_timeout_fails_a_started_workflow_task_first() {
    let mut run = with_timeouts(Some(5), None);
    run.start_workflow_task();

    let changes = run.fire(|d| *d == Deadline::WorkflowTimeout);

    assert_eq!(
        types(&changes.events),
        [E::WorkflowTaskFailed, E::WorkflowExecutionTimedOut]
    );
    assert_eq!(
        attrs!(changes.events[0], WorkflowTaskFailedEventAttributes).cause,
        Cause::ForceCloseCommand as i32
    );
}

#[test]
fn workflow_timeout_fired_early_does_nothing() {
    let mut run = with_timeouts(Some(60), None);
    run.advance(secs(59));
    assert_eq!(
        run.op(|tx| tx.fire(&Deadline::WorkflowTimeout)).1,
        Changes::default()
    );
    assert!(run.state.is_open());
}
