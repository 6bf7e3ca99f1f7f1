//! Runs that go on in new runs: continue-as-new, workflow retries, cron schedules, and the
//! first workflow task held back by a start delay or a backoff.

use super::builders::{
    Run, T0, app_failure, attrs, command, complete_workflow, payloads, start_request, types,
};
use crate::{
    Changes, ExecutionStatus,
    continuation::next_run_id,
    proto::{
        command::{
            ContinueAsNewWorkflowExecutionCommandAttributes,
            FailWorkflowExecutionCommandAttributes, command::Attributes as C,
        },
        common::RetryPolicy,
        enums::{ContinueAsNewInitiator as Initiator, EventType, RetryState},
        workflowservice::StartWorkflowExecutionRequest,
    },
    start::RunStart,
    time::{self, secs},
    timer::Deadline,
};

use EventType as E;

const MILLI: i64 = time::NANOS_PER_SEC / 1000;

fn continue_as_new(input: &str) -> crate::proto::command::Command {
    command(C::ContinueAsNewWorkflowExecutionCommandAttributes(
        ContinueAsNewWorkflowExecutionCommandAttributes {
            input: Some(payloads(input)),
            ..Default::default()
        },
    ))
}

fn fail_workflow(
    message: &str,
    error_type: &str,
    non_retryable: bool,
) -> crate::proto::command::Command {
    command(C::FailWorkflowExecutionCommandAttributes(
        FailWorkflowExecutionCommandAttributes {
            failure: Some(app_failure(message, error_type, non_retryable)),
        },
    ))
}

fn with_retry(maximum_attempts: i32) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        retry_policy: Some(RetryPolicy {
            initial_interval: Some(time::duration(secs(2))),
            backoff_coefficient: 1.0,
            maximum_attempts,
            ..Default::default()
        }),
        ..start_request()
    }
}

/// The run that `changes` hands on to, begun at `now`, as the history owner creates it.
fn next(changes: &Changes, now: i64) -> Run {
    Run::begun(next_start(changes).clone(), now)
}

fn next_start(changes: &Changes) -> &RunStart {
    changes.next_run.as_deref().expect("the workflow goes on")
}

#[test]
fn continue_as_new_closes_the_run_and_names_the_next_one() {
    let mut run = Run::start();
    run.state.reset_points.push(crate::state::ResetPoint {
        build_id: "build-1".into(),
        run_id: "run-0".into(),
        first_workflow_task_completed_id: 4,
        create_time: T0,
    });
    run.advance(secs(5));
    let changes = run.workflow_task(vec![continue_as_new("round 2")]);

    assert_eq!(
        types(&changes.events),
        [E::WorkflowTaskCompleted, E::WorkflowExecutionContinuedAsNew]
    );
    let continued = attrs!(
        changes.events[1],
        WorkflowExecutionContinuedAsNewEventAttributes
    );
    let next_id = next_run_id(&run.state.run, run.now);
    assert_eq!(continued.new_execution_run_id, next_id);
    assert_eq!(continued.workflow_task_completed_event_id, 4);
    assert_eq!(continued.input, Some(payloads("round 2")));
    assert_eq!(
        continued.workflow_type.as_ref().unwrap().name,
        "OrderWorkflow",
        "an unset type keeps the run's"
    );
    assert_eq!(run.state.status, ExecutionStatus::ContinuedAsNew);

    let start = next_start(&changes);
    assert_eq!(start.run.run_id, next_id);
    assert_eq!(start.initiator, Initiator::Workflow);
    assert_eq!(start.attempt, 1);
    assert_eq!(start.backoff, 0, "the run lasted over a second");
    let next = next(&changes, run.now);
    assert_eq!(
        next.state.reset_points, run.state.reset_points,
        "the runs before stay places to reset to"
    );
    let started = attrs!(next.history[0], WorkflowExecutionStartedEventAttributes);
    assert_eq!(started.continued_execution_run_id, "run-1");
    assert_eq!(started.first_execution_run_id, "run-1");
    assert_eq!(started.original_execution_run_id, next_id);
    assert_eq!(started.input, Some(payloads("round 2")));
    assert_eq!(
        types(&next.history),
        [E::WorkflowExecutionStarted, E::WorkflowTaskScheduled]
    );
    assert_eq!(next.tasks.len(), 1);
}

#[test]
fn a_run_that_continues_within_a_second_of_its_start_waits_out_the_rest() {
    let mut run = Run::start();
    run.advance(300 * MILLI);
    let changes = run.workflow_task(vec![continue_as_new("again")]);
    assert_eq!(next_start(&changes).backoff, 700 * MILLI);

    let mut next = next(&changes, run.now);
    assert_eq!(
        types(&next.history),
        [E::WorkflowExecutionStarted],
        "no workflow task before the backoff ends"
    );
    assert!(next.tasks.is_empty());
    // A signal meanwhile is recorded, and still no task is scheduled.
    let signaled = next.signal("early", "sig-1");
    assert_eq!(types(&signaled.events), [E::WorkflowExecutionSignaled]);
    assert!(signaled.tasks.is_empty());

    let fired = next.fire(|d| *d == Deadline::FirstWorkflowTask);
    assert_eq!(types(&fired.events), [E::WorkflowTaskScheduled]);
    assert_eq!(fired.tasks.len(), 1);
    assert_eq!(next.now, run.now + 700 * MILLI);
}

#[test]
fn a_failed_run_is_retried_by_its_policy_until_the_attempts_run_out() {
    let mut run = Run::start_with(&with_retry(2));
    run.advance(secs(3));
    let changes = run.workflow_task(vec![fail_workflow("boom", "Boom", false)]);
    let failed = attrs!(changes.events[1], WorkflowExecutionFailedEventAttributes);
    assert_eq!(failed.retry_state, RetryState::InProgress as i32);
    assert_eq!(
        failed.new_execution_run_id,
        next_run_id(&run.state.run, run.now)
    );
    assert_eq!(run.state.status, ExecutionStatus::Failed);
    let start = next_start(&changes);
    assert_eq!(
        (start.initiator, start.attempt, start.backoff),
        (Initiator::Retry, 2, secs(2))
    );
    assert_eq!(
        start.input,
        Some(payloads("order")),
        "a retry starts from the same input"
    );
    assert!(start.continued_failure.is_some());

    let mut second = next(&changes, run.now);
    let started = attrs!(second.history[0], WorkflowExecutionStartedEventAttributes);
    assert_eq!(started.attempt, 2);
    assert_eq!(
        started.first_workflow_task_backoff,
        Some(time::duration(secs(2)))
    );
    second.fire(|d| *d == Deadline::FirstWorkflowTask);
    let changes = second.workflow_task(vec![fail_workflow("boom", "Boom", false)]);
    let failed = attrs!(changes.events[1], WorkflowExecutionFailedEventAttributes);
    assert_eq!(
        failed.retry_state,
        RetryState::MaximumAttemptsReached as i32
    );
    assert_eq!(failed.new_execution_run_id, "");
    assert!(changes.next_run.is_none());
}

#[test]
fn a_non_retryable_failure_or_a_run_without_policy_is_not_retried() {
    let mut run = Run::start_with(&with_retry(0));
    let changes = run.workflow_task(vec![fail_workflow("fatal", "Fatal", true)]);
    let failed = attrs!(changes.events[1], WorkflowExecutionFailedEventAttributes);
    assert_eq!(failed.retry_state, RetryState::NonRetryableFailure as i32);
    assert!(changes.next_run.is_none());

    let mut run = Run::start();
    let changes = run.workflow_task(vec![fail_workflow("boom", "Boom", false)]);
    let failed = attrs!(changes.events[1], WorkflowExecutionFailedEventAttributes);
    assert_eq!(failed.retry_state, RetryState::RetryPolicyNotSet as i32);
    assert!(changes.next_run.is_none());
}

#[test]
fn a_run_timeout_is_retried_but_an_execution_timeout_is_not() {
    let mut request = with_retry(0);
    request.workflow_run_timeout = Some(time::duration(secs(10)));
    request.workflow_execution_timeout = Some(time::duration(secs(25)));
    let mut run = Run::start_with(&request);
    let changes = run.fire(|d| *d == Deadline::WorkflowTimeout);
    let timed_out = attrs!(
        changes.events.last().unwrap(),
        WorkflowExecutionTimedOutEventAttributes
    );
    assert_eq!(timed_out.retry_state, RetryState::InProgress as i32);
    let start = next_start(&changes);
    assert_eq!(
        start.execution_expiration,
        Some(T0 + secs(25)),
        "the execution's expiry carries over"
    );

    let mut second = next(&changes, run.now);
    second.fire(|d| *d == Deadline::FirstWorkflowTask);
    // The second run (from 12 s) times out at 22 s and is retried at 24 s; that third run
    // times out with the whole execution at 25 s.
    let changes = second.fire(|d| *d == Deadline::WorkflowTimeout);
    assert!(changes.next_run.is_some());
    let mut third = next(&changes, second.now);
    third.fire(|d| *d == Deadline::FirstWorkflowTask);
    let changes = third.fire(|d| *d == Deadline::WorkflowTimeout);
    assert_eq!(third.now, T0 + secs(25));
    let timed_out = attrs!(
        changes.events.last().unwrap(),
        WorkflowExecutionTimedOutEventAttributes
    );
    assert_eq!(timed_out.retry_state, RetryState::Timeout as i32);
    assert!(changes.next_run.is_none());
}

#[test]
fn a_cron_workflow_waits_for_its_schedule_and_goes_on_after_each_run() {
    let request = StartWorkflowExecutionRequest {
        cron_schedule: "@every 60s".into(),
        ..start_request()
    };
    let mut run = Run::start_with(&request);
    let started = attrs!(run.history[0], WorkflowExecutionStartedEventAttributes);
    assert_eq!(started.initiator, Initiator::CronSchedule as i32);
    assert_eq!(started.cron_schedule, "@every 60s");
    assert_eq!(
        started.first_workflow_task_backoff,
        Some(time::duration(secs(60)))
    );
    assert_eq!(run.state.execution_time, T0 + secs(60));
    assert!(run.tasks.is_empty());

    run.fire(|d| *d == Deadline::FirstWorkflowTask);
    run.advance(secs(5));
    let changes = run.workflow_task(vec![complete_workflow("first")]);
    let completed = attrs!(changes.events[1], WorkflowExecutionCompletedEventAttributes);
    assert_eq!(
        completed.new_execution_run_id,
        next_run_id(&run.state.run, run.now)
    );
    assert_eq!(run.state.status, ExecutionStatus::Completed);
    let start = next_start(&changes);
    assert_eq!(start.initiator, Initiator::CronSchedule);
    assert_eq!(
        start.backoff,
        secs(55),
        "the next time counts from the last schedule"
    );
    assert_eq!(start.last_completion_result, Some(payloads("first")));
}

#[test]
fn a_start_delay_holds_the_first_workflow_task_back() {
    let request = StartWorkflowExecutionRequest {
        workflow_start_delay: Some(time::duration(secs(30))),
        ..start_request()
    };
    let mut run = Run::start_with(&request);
    assert_eq!(types(&run.history), [E::WorkflowExecutionStarted]);
    assert_eq!(run.state.execution_time, T0 + secs(30));
    assert_eq!(
        run.deadlines()[0],
        (T0 + secs(30), Deadline::FirstWorkflowTask)
    );
    let fired = run.fire_until(T0 + secs(30));
    assert_eq!(types(&fired.events), [E::WorkflowTaskScheduled]);
    assert_eq!(fired.tasks.len(), 1);
}

#[test]
fn a_continuing_run_gets_a_time_ordered_id_fixed_by_its_predecessor_and_instant() {
    let run = Run::start();
    let id = next_run_id(&run.state.run, run.now);
    let parsed = uuid::Uuid::parse_str(&id).unwrap();
    assert_eq!(parsed.get_version_num(), 7);
    let (seconds, _) = parsed.get_timestamp().unwrap().to_unix();
    assert_eq!(seconds as i64, run.now / crate::time::NANOS_PER_SEC);
    assert_eq!(id, next_run_id(&run.state.run, run.now));
    assert_ne!(
        id,
        next_run_id(&run.state.run, run.now + crate::time::NANOS_PER_SEC)
    );
}
