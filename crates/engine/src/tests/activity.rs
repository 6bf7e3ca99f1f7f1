//! Activities: scheduling, attempts and retries, timeouts, cancellation, buffering.

use prost::Message;

use super::builders::{
    Run, T0, TASK_QUEUE, WORKER, activity_attributes, activity_task_ref, app_failure, attrs,
    command, complete_workflow, event_time, ids, payloads, request_cancel_activity,
    schedule_activity, schedule_activity_with_attempts, start_timer, types, workflow_task_ref,
};
use crate::{
    BUFFERED_EVENT_ID, Changes, EngineError,
    activity::{ActivityOutcome, decode_opt},
    events::decode_buffered,
    proto::{
        Duration,
        command::{ScheduleActivityTaskCommandAttributes, command::Attributes as C},
        common::{Payloads, RetryPolicy},
        enums::{EventType, RetryState, TimeoutType, WorkflowTaskFailedCause as Cause},
        failure::{Failure, failure::FailureInfo},
        workflowservice::StartWorkflowExecutionRequest,
    },
    time::{self, secs},
    timer::Deadline,
    workflow_task::CompletionOutcome,
};

use EventType as E;

/// The scheduled event ID of the activity the first workflow task schedules.
const ACTIVITY: i64 = 5;

fn with_activity(attributes: ScheduleActivityTaskCommandAttributes) -> Run {
    Run::after_first_task(vec![command(C::ScheduleActivityTaskCommandAttributes(
        attributes,
    ))])
}

fn scheduled_attributes(run: &Run) -> crate::proto::history::ActivityTaskScheduledEventAttributes {
    let event = run
        .history
        .iter()
        .find(|e| e.event_id == ACTIVITY)
        .expect("scheduled event");
    attrs!(event, ActivityTaskScheduledEventAttributes).clone()
}

fn d(seconds: i64) -> Option<Duration> {
    Some(time::duration(secs(seconds)))
}

#[test]
fn scheduled_activity_gets_the_default_retry_policy_and_is_dispatched() {
    let run = Run::after_first_task(vec![schedule_activity("charge")]);

    let scheduled = scheduled_attributes(&run);
    assert_eq!(scheduled.activity_id, "charge");
    assert_eq!(scheduled.activity_type.as_ref().unwrap().name, "Charge");
    assert_eq!(scheduled.task_queue.as_ref().unwrap().name, TASK_QUEUE);
    assert_eq!(scheduled.input, Some(payloads("charge")));
    assert_eq!(scheduled.workflow_task_completed_event_id, 4);
    assert_eq!(
        scheduled.retry_policy,
        Some(RetryPolicy {
            initial_interval: d(1),
            backoff_coefficient: 2.0,
            maximum_interval: d(100),
            maximum_attempts: 0,
            non_retryable_error_types: vec![],
        })
    );
    // No run timeout: schedule-to-close stays unlimited and so does schedule-to-start.
    assert_eq!(scheduled.start_to_close_timeout, d(10));
    assert_eq!(scheduled.schedule_to_close_timeout, d(0));
    assert_eq!(scheduled.schedule_to_start_timeout, d(0));
    assert_eq!(scheduled.heartbeat_timeout, d(0));
    assert_eq!(run.tasks.last(), Some(&activity_task_ref(ACTIVITY, 1)));
    let activity = run.state.activity(ACTIVITY).unwrap();
    assert_eq!((activity.attempt, activity.scheduled_time), (1, T0));
}

#[test]
fn unset_timeouts_are_filled_from_schedule_to_close_and_capped_by_the_run_timeout() {
    let mut run = Run::start_with(&StartWorkflowExecutionRequest {
        workflow_run_timeout: Some(time::duration(secs(60))),
        ..super::builders::start_request()
    });
    run.workflow_task(vec![command(C::ScheduleActivityTaskCommandAttributes(
        ScheduleActivityTaskCommandAttributes {
            schedule_to_close_timeout: d(120),
            start_to_close_timeout: None,
            heartbeat_timeout: d(200),
            ..activity_attributes("charge")
        },
    ))]);

    let scheduled = scheduled_attributes(&run);
    assert_eq!(scheduled.schedule_to_close_timeout, d(60));
    assert_eq!(scheduled.schedule_to_start_timeout, d(60));
    assert_eq!(scheduled.start_to_close_timeout, d(60));
    assert_eq!(
        scheduled.heartbeat_timeout,
        d(60),
        "never longer than start-to-close"
    );
}

#[test]
fn start_to_close_and_schedule_to_start_never_exceed_schedule_to_close() {
    let run = with_activity(ScheduleActivityTaskCommandAttributes {
        schedule_to_close_timeout: d(30),
        schedule_to_start_timeout: d(45),
        start_to_close_timeout: d(45),
        heartbeat_timeout: d(5),
        ..activity_attributes("charge")
    });

    let scheduled = scheduled_attributes(&run);
    assert_eq!(scheduled.schedule_to_close_timeout, d(30));
    assert_eq!(scheduled.schedule_to_start_timeout, d(30));
    assert_eq!(scheduled.start_to_close_timeout, d(30));
    assert_eq!(scheduled.heartbeat_timeout, d(5));
}

#[test]
fn activity_without_start_to_close_or_schedule_to_close_is_a_bad_command_even_under_a_run_timeout()
{
    let mut run = Run::start_with(&StartWorkflowExecutionRequest {
        workflow_run_timeout: Some(time::duration(secs(60))),
        ..super::builders::start_request()
    });
    run.start_workflow_task();
    let no_timeouts = command(C::ScheduleActivityTaskCommandAttributes(
        ScheduleActivityTaskCommandAttributes {
            start_to_close_timeout: None,
            ..activity_attributes("charge")
        },
    ));

    let (outcome, changes) = run.complete_workflow_task(vec![no_timeouts]);

    assert!(
        matches!(
            outcome,
            CompletionOutcome::CommandRejected {
                cause: Cause::BadScheduleActivityAttributes,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(types(&changes.events), [E::WorkflowTaskFailed]);
}

#[test]
fn a_second_activity_with_a_pending_activity_id_is_a_bad_command() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.signal("go", "sig-1");
    run.start_workflow_task();

    let (outcome, _) = run.complete_workflow_task(vec![schedule_activity("charge")]);

    assert!(
        matches!(
            outcome,
            CompletionOutcome::CommandRejected {
                cause: Cause::ScheduleActivityDuplicateId,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[test]
fn starting_an_activity_writes_nothing_and_a_repeated_poll_gets_the_same_attempt() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.advance(secs(2));
    let history_len = run.history.len();

    let started = run.start_activity(ACTIVITY);

    assert_eq!(
        run.history.len(),
        history_len,
        "the started event waits for the attempt to close"
    );
    assert_eq!(started.info.attempt, 1);
    assert_eq!(started.info.started_time, Some(T0 + secs(2)));
    let (again, changes) =
        run.ok(|tx| tx.start_activity(ACTIVITY, 1, &started.info.started_request_id, WORKER));
    assert_eq!(again, started);
    assert_eq!(changes, Changes::default());
    let error = run.refused(|tx| tx.start_activity(ACTIVITY, 1, "another-poll", WORKER));
    assert!(
        matches!(error, EngineError::FailedPrecondition(_)),
        "{error:?}"
    );
    assert_eq!(
        run.refused(|tx| tx.start_activity(ACTIVITY, 2, "stale", WORKER)),
        EngineError::activity_task_not_found()
    );
}

#[test]
fn completed_activity_writes_started_and_completed_and_schedules_a_workflow_task() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);

    let changes = run.complete_activity(ACTIVITY, "charged");

    assert_eq!(
        types(&changes.events),
        [
            E::ActivityTaskStarted,
            E::ActivityTaskCompleted,
            E::WorkflowTaskScheduled
        ]
    );
    assert_eq!(ids(&changes.events), [6, 7, 8]);
    let started = attrs!(changes.events[0], ActivityTaskStartedEventAttributes);
    assert_eq!(started.scheduled_event_id, ACTIVITY);
    assert_eq!(started.attempt, 1);
    assert_eq!(started.identity, WORKER);
    assert_eq!(started.request_id, "poll-2");
    assert_eq!(started.last_failure, None);
    let completed = attrs!(changes.events[1], ActivityTaskCompletedEventAttributes);
    assert_eq!(
        (completed.scheduled_event_id, completed.started_event_id),
        (ACTIVITY, 6)
    );
    assert_eq!(completed.result, Some(payloads("charged")));
    assert_eq!(completed.identity, WORKER);
    assert_eq!(changes.tasks, [workflow_task_ref(8, 1)]);
    assert!(run.state.activities.is_empty());
}

#[test]
fn closing_an_attempt_that_is_not_running_is_not_found() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    let outcome = || ActivityOutcome::Completed { result: None };

    assert_eq!(
        run.refused(|tx| tx.close_activity(ACTIVITY, Some(1), WORKER, outcome())),
        EngineError::activity_task_not_found()
    );
    run.start_activity(ACTIVITY);
    assert_eq!(
        run.refused(|tx| tx.close_activity(ACTIVITY, Some(2), WORKER, outcome())),
        EngineError::activity_task_not_found(),
        "a token for another attempt"
    );
}

#[test]
fn failed_attempt_with_retries_left_writes_nothing_and_waits_out_its_backoff() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    run.advance(secs(3));
    let failure = app_failure("card declined", "Declined", false);

    let changes = run.fail_activity(ACTIVITY, failure.clone());

    assert_eq!(
        changes,
        Changes::default(),
        "a retried attempt leaves no trace in history"
    );
    let activity = run.state.activity(ACTIVITY).unwrap();
    assert_eq!(activity.attempt, 2);
    assert!(!activity.is_started());
    assert_eq!(
        activity.attempt_scheduled_time,
        T0 + secs(4),
        "first retry after the 1 s initial interval"
    );
    assert!(run.deadlines().contains(&(
        T0 + secs(4),
        Deadline::ActivityRetry {
            scheduled_event_id: ACTIVITY,
            stamp: 2
        }
    )));
    assert_eq!(
        run.refused(|tx| tx.start_activity(ACTIVITY, 2, "early", WORKER)),
        EngineError::activity_task_not_found(),
        "not dispatched before its backoff ends"
    );

    let dispatched = run.fire(|d| matches!(d, Deadline::ActivityRetry { .. }));
    assert_eq!(dispatched.events, []);
    assert_eq!(dispatched.tasks, [activity_task_ref(ACTIVITY, 2)]);

    run.start_activity(ACTIVITY);
    let changes = run.complete_activity(ACTIVITY, "charged");
    let started = attrs!(changes.events[0], ActivityTaskStartedEventAttributes);
    assert_eq!(started.attempt, 2);
    assert_eq!(started.last_failure, Some(failure));
}

#[test]
fn backoff_grows_by_the_coefficient() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    for (attempt, backoff) in [(1, 1), (2, 2), (3, 4), (4, 8)] {
        run.start_activity(ACTIVITY);
        run.fail_activity(ACTIVITY, app_failure("boom", "Boom", false));
        let activity = run.state.activity(ACTIVITY).unwrap();
        assert_eq!(activity.attempt, attempt + 1);
        assert_eq!(
            activity.attempt_scheduled_time,
            run.now + secs(backoff),
            "after attempt {attempt}"
        );
        run.fire(|d| matches!(d, Deadline::ActivityRetry { .. }));
    }
}

#[test]
fn activity_fails_for_good_when_maximum_attempts_are_reached() {
    let mut run = Run::after_first_task(vec![schedule_activity_with_attempts("charge", 2)]);
    let first = app_failure("first", "Boom", false);
    let second = app_failure("second", "Boom", false);
    run.start_activity(ACTIVITY);
    run.fail_activity(ACTIVITY, first.clone());
    run.fire(|d| matches!(d, Deadline::ActivityRetry { .. }));
    run.start_activity(ACTIVITY);

    let changes = run.fail_activity(ACTIVITY, second.clone());

    assert_eq!(
        types(&changes.events),
        [
            E::ActivityTaskStarted,
            E::ActivityTaskFailed,
            E::WorkflowTaskScheduled
        ]
    );
    let started = attrs!(changes.events[0], ActivityTaskStartedEventAttributes);
    assert_eq!(
        started.attempt, 2,
        "the started event carries the final attempt"
    );
    assert_eq!(started.last_failure, Some(first));
    let failed = attrs!(changes.events[1], ActivityTaskFailedEventAttributes);
    assert_eq!(
        failed.retry_state,
        RetryState::MaximumAttemptsReached as i32
    );
    assert_eq!(failed.started_event_id, changes.events[0].event_id);
    assert_eq!(failed.scheduled_event_id, ACTIVITY);
    assert_eq!(failed.failure, Some(second));
    assert!(run.state.activities.is_empty());
}

#[test]
fn non_retryable_failures_fail_the_activity_at_once() {
    let mut explicit = Run::after_first_task(vec![schedule_activity("charge")]);
    explicit.start_activity(ACTIVITY);
    let changes = explicit.fail_activity(ACTIVITY, app_failure("fatal", "Boom", true));
    assert_eq!(
        attrs!(changes.events[1], ActivityTaskFailedEventAttributes).retry_state,
        RetryState::NonRetryableFailure as i32
    );

    let mut by_type = with_activity(ScheduleActivityTaskCommandAttributes {
        retry_policy: Some(RetryPolicy {
            non_retryable_error_types: vec!["Fatal".into()],
            ..Default::default()
        }),
        ..activity_attributes("charge")
    });
    by_type.start_activity(ACTIVITY);
    let changes = by_type.fail_activity(ACTIVITY, app_failure("fatal", "Fatal", false));
    assert_eq!(
        attrs!(changes.events[1], ActivityTaskFailedEventAttributes).retry_state,
        RetryState::NonRetryableFailure as i32
    );
}

#[test]
fn activity_closed_while_a_workflow_task_runs_is_written_after_it_with_its_started_id_fixed() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    run.signal("go", "sig-1"); // WorkflowTaskScheduled(7) after WorkflowExecutionSignaled(6)
    run.start_workflow_task(); // WorkflowTaskStarted(8)

    let changes = run.complete_activity(ACTIVITY, "charged");

    assert_eq!(
        changes,
        Changes::default(),
        "buffered behind the running workflow task"
    );
    let buffered = decode_buffered(&run.state.buffered_events);
    assert_eq!(
        types(&buffered),
        [E::ActivityTaskStarted, E::ActivityTaskCompleted]
    );
    assert_eq!(
        attrs!(buffered[1], ActivityTaskCompletedEventAttributes).started_event_id,
        BUFFERED_EVENT_ID,
        "the started event has no ID yet"
    );

    let (_, changes) = run.complete_workflow_task(vec![]);

    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowTaskCompleted,
            E::ActivityTaskStarted,
            E::ActivityTaskCompleted,
            E::WorkflowTaskScheduled
        ]
    );
    assert_eq!(ids(&changes.events), [9, 10, 11, 12]);
    assert_eq!(
        attrs!(changes.events[2], ActivityTaskCompletedEventAttributes).started_event_id,
        10
    );
    assert_eq!(changes.tasks, [workflow_task_ref(12, 1)]);
}

#[test]
fn buffered_activity_results_are_written_after_the_other_buffered_events() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    run.signal("go", "sig-1");
    run.start_workflow_task();
    run.complete_activity(ACTIVITY, "charged");
    run.signal("late", "sig-2");

    let (_, changes) = run.complete_workflow_task(vec![]);

    // Temporal's history builder moves activity closing events behind the rest of a flush.
    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowTaskCompleted,
            E::ActivityTaskStarted,
            E::WorkflowExecutionSignaled,
            E::ActivityTaskCompleted,
            E::WorkflowTaskScheduled
        ]
    );
    assert_eq!(
        attrs!(changes.events[3], ActivityTaskCompletedEventAttributes).started_event_id,
        10
    );
}

#[test]
fn heartbeat_details_are_carried_to_the_next_attempt() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    let details = payloads("page 7");

    let (reply, changes) =
        run.ok(|tx| tx.heartbeat_activity(ACTIVITY, Some(1), Some(details.clone())));
    assert!(!reply.cancel_requested);
    assert_eq!(changes, Changes::default());
    run.fail_activity(ACTIVITY, app_failure("boom", "Boom", false));
    run.fire(|d| matches!(d, Deadline::ActivityRetry { .. }));

    let started = run.start_activity(ACTIVITY);

    assert_eq!(started.info.attempt, 2);
    assert_eq!(
        decode_opt::<Payloads>(&started.info.heartbeat_details),
        Some(details)
    );
}

#[test]
fn start_to_close_timeout_is_retried_like_a_failure() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.advance(secs(1));
    run.start_activity(ACTIVITY);
    let timeout = Deadline::ActivityTimeout {
        scheduled_event_id: ACTIVITY,
        attempt: 1,
        timeout: TimeoutType::StartToClose as i32,
    };
    assert!(run.deadlines().contains(&(T0 + secs(11), timeout.clone())));

    let changes = run.fire_until(T0 + secs(11));

    assert_eq!(changes, Changes::default());
    let activity = run.state.activity(ACTIVITY).unwrap();
    assert_eq!(activity.attempt, 2);
    assert_eq!(activity.attempt_scheduled_time, T0 + secs(12));
    assert_eq!(
        run.op(|tx| tx.fire(&timeout)).1,
        Changes::default(),
        "the old attempt's timeout is stale"
    );

    run.fire(|d| matches!(d, Deadline::ActivityRetry { .. }));
    run.start_activity(ACTIVITY);
    let changes = run.complete_activity(ACTIVITY, "charged");
    let last_failure = attrs!(changes.events[0], ActivityTaskStartedEventAttributes)
        .last_failure
        .clone()
        .unwrap();
    assert_eq!(last_failure.message, "activity StartToClose timeout");
    assert_eq!(last_failure.source, "Server");
    assert_eq!(last_failure.cause, None);
    let Some(FailureInfo::TimeoutFailureInfo(info)) = last_failure.failure_info else {
        panic!("{last_failure:?}")
    };
    assert_eq!(info.timeout_type, TimeoutType::StartToClose as i32);
}

#[test]
fn schedule_to_close_timeout_closes_the_activity_with_timed_out() {
    let mut run = with_activity(ScheduleActivityTaskCommandAttributes {
        schedule_to_close_timeout: d(30),
        start_to_close_timeout: d(100),
        ..activity_attributes("charge")
    });
    run.advance(secs(5));
    run.start_activity(ACTIVITY);
    let details = payloads("half way");
    run.ok(|tx| tx.heartbeat_activity(ACTIVITY, Some(1), Some(details.clone())));

    let changes = run.fire_until(T0 + secs(30));

    assert_eq!(
        types(&changes.events),
        [
            E::ActivityTaskStarted,
            E::ActivityTaskTimedOut,
            E::WorkflowTaskScheduled
        ]
    );
    let timed_out = attrs!(changes.events[1], ActivityTaskTimedOutEventAttributes);
    assert_eq!(timed_out.retry_state, RetryState::Timeout as i32);
    assert_eq!(timed_out.started_event_id, changes.events[0].event_id);
    let failure = timed_out.failure.as_ref().unwrap();
    let Some(FailureInfo::TimeoutFailureInfo(info)) = &failure.failure_info else {
        panic!("{failure:?}")
    };
    assert_eq!(info.timeout_type, TimeoutType::ScheduleToClose as i32);
    assert_eq!(info.last_heartbeat_details, Some(details));
    assert!(run.state.activities.is_empty());
}

#[test]
fn start_to_close_timeout_without_time_for_another_attempt_reads_as_schedule_to_close() {
    let mut run = with_activity(ScheduleActivityTaskCommandAttributes {
        schedule_to_close_timeout: d(30),
        start_to_close_timeout: d(10),
        ..activity_attributes("charge")
    });
    run.start_activity(ACTIVITY);
    run.fail_activity(ACTIVITY, app_failure("first", "Boom", false));
    run.fire(|d| matches!(d, Deadline::ActivityRetry { .. }));
    run.advance(secs(18) + secs(1) / 2);
    run.start_activity(ACTIVITY); // at 19.5 s: times out at 29.5 s, a retry would start at 30.5 s

    let changes = run.fire(|d| matches!(d, Deadline::ActivityTimeout { .. }));

    assert_eq!(run.now, T0 + secs(29) + secs(1) / 2);
    let timed_out = attrs!(changes.events[1], ActivityTaskTimedOutEventAttributes);
    assert_eq!(timed_out.retry_state, RetryState::Timeout as i32);
    let failure = timed_out.failure.as_ref().unwrap();
    assert_eq!(
        failure.message,
        "Not enough time to schedule next retry before activity ScheduleToClose timeout, giving up retrying"
    );
    let Some(FailureInfo::TimeoutFailureInfo(info)) = &failure.failure_info else {
        panic!("{failure:?}")
    };
    assert_eq!(info.timeout_type, TimeoutType::ScheduleToClose as i32);
    assert_eq!(
        failure.cause.as_deref(),
        Some(&app_failure("first", "Boom", false)),
        "the previous attempt's failure"
    );
}

#[test]
fn an_attempt_started_at_once_whose_time_runs_out_with_the_activity_times_out_by_schedule_to_close()
{
    // Started in the same instant it was scheduled (an eager start), with no
    // start-to-close timeout of its own: both deadlines fall together.
    let mut run = with_activity(ScheduleActivityTaskCommandAttributes {
        schedule_to_close_timeout: Some(Duration {
            seconds: 0,
            nanos: 300_000_000,
        }),
        start_to_close_timeout: None,
        retry_policy: Some(RetryPolicy {
            maximum_attempts: 1,
            ..Default::default()
        }),
        ..activity_attributes("sleep")
    });
    run.start_activity(ACTIVITY);

    let changes = run.fire_until(T0 + secs(1));

    let timed_out = attrs!(changes.events[1], ActivityTaskTimedOutEventAttributes);
    assert_eq!(timed_out.retry_state, RetryState::Timeout as i32);
    let failure = timed_out.failure.as_ref().unwrap();
    let Some(FailureInfo::TimeoutFailureInfo(info)) = &failure.failure_info else {
        panic!("{failure:?}")
    };
    assert_eq!(info.timeout_type, TimeoutType::ScheduleToClose as i32);
}

#[test]
fn the_started_event_keeps_the_time_the_attempt_started() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.advance(secs(1));
    run.start_activity(ACTIVITY);
    run.advance(secs(2));

    let changes = run.complete_activity(ACTIVITY, "charged");

    assert_eq!(event_time(&changes.events[0]), T0 + secs(1));
    assert_eq!(event_time(&changes.events[1]), T0 + secs(3));
}

#[test]
fn cancel_request_for_an_unstarted_activity_cancels_it_at_once() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.signal("stop", "sig-1"); // Signaled(6), WorkflowTaskScheduled(7)

    let changes = run.workflow_task(vec![request_cancel_activity(ACTIVITY), start_timer("t", 5)]);

    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowTaskCompleted,
            E::ActivityTaskCancelRequested,
            E::ActivityTaskCanceled,
            E::TimerStarted,
            E::WorkflowTaskScheduled
        ],
        "the new workflow task comes after all of the task's commands"
    );
    assert_eq!(ids(&changes.events), [9, 10, 11, 12, 13]);
    let requested = attrs!(
        changes.events[1],
        ActivityTaskCancelRequestedEventAttributes
    );
    assert_eq!(
        (
            requested.scheduled_event_id,
            requested.workflow_task_completed_event_id
        ),
        (ACTIVITY, 9)
    );
    let canceled = attrs!(changes.events[2], ActivityTaskCanceledEventAttributes);
    assert_eq!(canceled.scheduled_event_id, ACTIVITY);
    assert_eq!(canceled.started_event_id, 0);
    assert_eq!(canceled.latest_cancel_requested_event_id, 10);
    assert_eq!(canceled.identity, WORKER);
    let details = &canceled.details.as_ref().unwrap().payloads[0];
    assert_eq!(details.data, b"\"ACTIVITY_ID_NOT_STARTED\"");
    assert_eq!(details.metadata["encoding"], b"json/plain");
    assert_eq!(changes.tasks, [workflow_task_ref(13, 1)]);
    assert!(run.state.activities.is_empty());
}

#[test]
fn cancel_of_an_unstarted_activity_in_a_closing_task_schedules_no_workflow_task() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.signal("stop", "sig-1");

    let changes = run.workflow_task(vec![
        request_cancel_activity(ACTIVITY),
        complete_workflow("stopped"),
    ]);

    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowTaskCompleted,
            E::ActivityTaskCancelRequested,
            E::ActivityTaskCanceled,
            E::WorkflowExecutionCompleted
        ]
    );
    assert!(changes.tasks.is_empty());
}

#[test]
fn cancel_request_for_a_started_activity_is_passed_to_its_worker() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    run.signal("stop", "sig-1");

    let changes = run.workflow_task(vec![request_cancel_activity(ACTIVITY)]);

    assert_eq!(
        types(&changes.events),
        [E::WorkflowTaskCompleted, E::ActivityTaskCancelRequested]
    );
    assert!(
        changes.tasks.is_empty(),
        "nothing for the workflow until the worker answers"
    );
    let requested_id = changes.events[1].event_id;
    let activity = run.state.activity(ACTIVITY).unwrap();
    assert!(activity.cancel_requested);
    assert_eq!(activity.cancel_requested_event_id, requested_id);
    let (reply, _) = run.ok(|tx| tx.heartbeat_activity(ACTIVITY, Some(1), None));
    assert!(reply.cancel_requested, "the heartbeat tells the worker");

    let changes = run.close_activity(
        ACTIVITY,
        ActivityOutcome::Canceled {
            details: Some(payloads("undone")),
        },
    );

    assert_eq!(
        types(&changes.events),
        [
            E::ActivityTaskStarted,
            E::ActivityTaskCanceled,
            E::WorkflowTaskScheduled
        ]
    );
    let canceled = attrs!(changes.events[1], ActivityTaskCanceledEventAttributes);
    assert_eq!(canceled.latest_cancel_requested_event_id, requested_id);
    assert_eq!(canceled.started_event_id, changes.events[0].event_id);
    assert_eq!(canceled.details, Some(payloads("undone")));
}

#[test]
fn failure_after_a_cancel_request_is_not_retried() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    run.signal("stop", "sig-1");
    run.workflow_task(vec![request_cancel_activity(ACTIVITY)]);

    let changes = run.fail_activity(ACTIVITY, app_failure("boom", "Boom", false));

    assert_eq!(
        attrs!(changes.events[1], ActivityTaskFailedEventAttributes).retry_state,
        RetryState::CancelRequested as i32
    );
}

#[test]
fn cancel_of_an_activity_whose_result_waits_in_the_buffer_records_only_the_request() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    run.signal("stop", "sig-1");
    run.start_workflow_task();
    run.complete_activity(ACTIVITY, "charged");

    let (outcome, changes) = run.complete_workflow_task(vec![request_cancel_activity(ACTIVITY)]);

    assert_eq!(
        outcome,
        CompletionOutcome::Accepted {
            eager_activities: vec![]
        }
    );
    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowTaskCompleted,
            E::ActivityTaskCancelRequested,
            E::ActivityTaskStarted,
            E::ActivityTaskCompleted,
            E::WorkflowTaskScheduled
        ]
    );
}

#[test]
fn cancel_of_an_activity_that_is_not_pending_is_a_bad_command() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    run.complete_activity(ACTIVITY, "charged");
    run.start_workflow_task();

    let (outcome, changes) = run.complete_workflow_task(vec![request_cancel_activity(ACTIVITY)]);

    assert!(
        matches!(
            outcome,
            CompletionOutcome::CommandRejected {
                cause: Cause::BadRequestCancelActivityAttributes,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(types(&changes.events), [E::WorkflowTaskFailed]);
}

#[test]
fn heartbeat_timeout_counts_from_the_last_heartbeat() {
    let mut run = with_activity(ScheduleActivityTaskCommandAttributes {
        heartbeat_timeout: d(2),
        ..activity_attributes("charge")
    });
    run.start_activity(ACTIVITY);
    run.advance(secs(1));
    run.ok(|tx| tx.heartbeat_activity(ACTIVITY, Some(1), None));
    let heartbeat = |d: &Deadline| matches!(d, Deadline::ActivityTimeout { timeout, .. } if *timeout == TimeoutType::Heartbeat as i32);
    assert!(
        run.deadlines()
            .iter()
            .any(|(due, d)| *due == T0 + secs(3) && heartbeat(d))
    );

    let changes = run.fire(heartbeat);

    assert_eq!(changes, Changes::default(), "retried");
    assert_eq!(run.state.activity(ACTIVITY).unwrap().attempt, 2);
}

#[test]
fn activity_failure_details_survive_encoding_in_the_state() {
    // The state keeps the last failure as encoded bytes; it must decode to what was sent.
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    let failure = Failure {
        stack_trace: "at charge()".into(),
        ..app_failure("boom", "Boom", false)
    };
    run.fail_activity(ACTIVITY, failure.clone());

    let stored = &run.state.activity(ACTIVITY).unwrap().last_failure;
    assert_eq!(Failure::decode(stored.as_slice()).unwrap(), failure);
}

fn eager(activity_id: &str, queue: &str) -> crate::proto::command::Command {
    command(C::ScheduleActivityTaskCommandAttributes(
        ScheduleActivityTaskCommandAttributes {
            request_eager_execution: true,
            task_queue: Some(crate::events::task_queue(queue)),
            ..activity_attributes(activity_id)
        },
    ))
}

#[test]
fn eagerly_requested_activities_start_for_the_completing_worker_and_skip_matching() {
    let mut run = Run::start();
    run.start_workflow_task();
    let commands = vec![
        eager("a", TASK_QUEUE),
        eager("b", "elsewhere"),
        schedule_activity("c"),
        eager("d", TASK_QUEUE),
        eager("e", TASK_QUEUE),
        eager("f", TASK_QUEUE),
    ];
    let (outcome, changes) = run.complete_workflow_task(commands);
    let CompletionOutcome::Accepted { eager_activities } = outcome else {
        panic!("the completion is accepted, got {outcome:?}");
    };
    let started: Vec<&str> = eager_activities
        .iter()
        .map(|a| a.info.activity_id.as_str())
        .collect();
    assert_eq!(
        started,
        ["a", "d", "e"],
        "only the workflow's own queue, at most three"
    );
    assert!(
        eager_activities
            .iter()
            .all(|a| a.info.is_started() && a.info.started_identity == WORKER)
    );
    assert!(
        eager_activities.iter().all(|a| !a.input.is_empty()),
        "an eager task carries the input its command gave"
    );
    let dispatched: Vec<i64> = changes.tasks.iter().map(|t| t.scheduled_event_id).collect();
    let scheduled_of = |id: &str| run.state.activity_by_id(id).unwrap().scheduled_event_id;
    assert_eq!(
        dispatched,
        [scheduled_of("b"), scheduled_of("c"), scheduled_of("f")]
    );
    assert!(
        !changes
            .events
            .iter()
            .any(|e| e.event_type == E::ActivityTaskStarted as i32),
        "an eager start writes no event, like any activity start"
    );
}

#[test]
fn a_failure_that_names_its_next_retry_delay_replaces_the_policy_backoff() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    let mut failure = app_failure("rate limited", "Throttled", false);
    if let Some(FailureInfo::ApplicationFailureInfo(info)) = &mut failure.failure_info {
        info.next_retry_delay = Some(time::duration(secs(30)));
    }

    let changes = run.fail_activity(ACTIVITY, failure);

    assert_eq!(
        changes,
        Changes::default(),
        "still a retry without a trace in history"
    );
    let activity = run.state.activity(ACTIVITY).unwrap();
    assert_eq!(activity.attempt, 2);
    assert_eq!(
        activity.attempt_scheduled_time,
        T0 + secs(30),
        "the requested 30 s, not the policy's 1 s initial interval"
    );
}

#[test]
fn pending_tasks_are_the_unstarted_workflow_task_and_activities_not_backing_off() {
    let mut run = Run::start();
    assert_eq!(
        run.state.pending_tasks(run.now),
        [workflow_task_ref(2, 1)],
        "a new run waits for its first workflow task"
    );
    run.workflow_task(vec![schedule_activity("charge"), schedule_activity("ship")]);
    let charge = run
        .state
        .activity_by_id("charge")
        .unwrap()
        .scheduled_event_id;
    let ship = run.state.activity_by_id("ship").unwrap().scheduled_event_id;
    assert_eq!(
        run.state.pending_tasks(run.now),
        [activity_task_ref(charge, 1), activity_task_ref(ship, 1)]
    );
    run.start_activity(charge);
    run.start_activity(ship);
    run.fail_activity(ship, app_failure("later", "Busy", false));
    assert!(
        run.state.pending_tasks(run.now).is_empty(),
        "a started attempt and one waiting out its backoff are not dispatched"
    );
    run.advance(secs(1));
    assert_eq!(
        run.state.pending_tasks(run.now),
        [activity_task_ref(ship, 2)]
    );
}
