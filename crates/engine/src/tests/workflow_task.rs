//! Workflow tasks: start, completion with commands, failure, transient retries, buffering.

use super::builders::{
    Run, T0, WORKER, activity_task_ref, attrs, command, complete_workflow, event_time, ids,
    payloads, record_marker, schedule_activity, start_timer, types, workflow_task_ref,
};
use crate::{
    Changes, EngineError,
    proto::{
        command::{
            ScheduleActivityTaskCommandAttributes, StartTimerCommandAttributes,
            command::Attributes as C,
        },
        enums::{EventType, TimeoutType, WorkflowTaskFailedCause as Cause},
        failure::failure::FailureInfo,
    },
    time::secs,
    timer::Deadline,
    workflow_task::{Completion, CompletionOutcome},
};

use EventType as E;

#[test]
fn starting_the_workflow_task_writes_workflow_task_started() {
    let mut run = Run::start();

    let (started, changes) = run.start_workflow_task();

    assert_eq!(types(&changes.events), [E::WorkflowTaskStarted]);
    assert_eq!(ids(&changes.events), [3]);
    let attributes = attrs!(changes.events[0], WorkflowTaskStartedEventAttributes);
    assert_eq!(attributes.scheduled_event_id, 2);
    assert_eq!(attributes.identity, WORKER);
    assert_eq!(attributes.request_id, "poll-1");
    assert_eq!(started.scheduled_event_id, 2);
    assert_eq!(started.started_event_id, 3);
    assert_eq!(started.attempt, 1);
    assert!(started.transient_events.is_empty());
    assert!(changes.tasks.is_empty());
    assert_eq!(run.state.next_event_id, 4);
}

#[test]
fn a_repeated_poll_gets_the_same_task_and_another_poller_is_refused() {
    let mut run = Run::start();
    let (first, _) = run.start_workflow_task();

    let (again, changes) = run.ok(|tx| tx.start_workflow_task(2, "poll-1", WORKER));
    assert_eq!(again, first);
    assert_eq!(changes, Changes::default());

    let error = run.refused(|tx| tx.start_workflow_task(2, "poll-other", WORKER));
    assert!(
        matches!(error, EngineError::FailedPrecondition(_)),
        "{error:?}"
    );
}

#[test]
fn starting_a_task_that_is_not_pending_is_not_found() {
    let mut run = Run::start();
    assert_eq!(
        run.refused(|tx| tx.start_workflow_task(7, "poll", WORKER)),
        EngineError::workflow_task_not_found()
    );
}

#[test]
fn completion_writes_workflow_task_completed_then_one_event_per_command_in_order() {
    let mut run = Run::start();

    let changes = run.workflow_task(vec![
        schedule_activity("charge"),
        start_timer("wait", 5),
        record_marker("version"),
    ]);

    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowTaskCompleted,
            E::ActivityTaskScheduled,
            E::TimerStarted,
            E::MarkerRecorded
        ]
    );
    assert_eq!(ids(&changes.events), [4, 5, 6, 7]);
    let completed = attrs!(changes.events[0], WorkflowTaskCompletedEventAttributes);
    assert_eq!(
        (completed.scheduled_event_id, completed.started_event_id),
        (2, 3)
    );
    assert_eq!(completed.identity, WORKER);
    assert_eq!(
        attrs!(changes.events[1], ActivityTaskScheduledEventAttributes)
            .workflow_task_completed_event_id,
        4
    );
    assert_eq!(
        attrs!(changes.events[2], TimerStartedEventAttributes).workflow_task_completed_event_id,
        4
    );
    assert_eq!(
        attrs!(changes.events[3], MarkerRecordedEventAttributes).workflow_task_completed_event_id,
        4
    );
    assert_eq!(
        changes.tasks,
        [activity_task_ref(5, 1)],
        "no new workflow task: nothing new happened"
    );
    assert_eq!(run.state.workflow_task, None);
    assert_eq!(run.state.last_completed_started_event_id, 3);
    assert_eq!(run.state.next_event_id, 8);
}

#[test]
fn completion_with_a_stale_token_is_not_found_and_changes_nothing() {
    let mut run = Run::start();
    let completion = Completion {
        identity: WORKER.into(),
        ..Default::default()
    };

    // Not started yet.
    assert_eq!(
        run.refused(|tx| tx.complete_workflow_task(2, 3, &completion)),
        EngineError::workflow_task_not_found()
    );
    run.start_workflow_task();
    // Wrong started event, wrong scheduled event.
    assert_eq!(
        run.refused(|tx| tx.complete_workflow_task(2, 9, &completion)),
        EngineError::workflow_task_not_found()
    );
    assert_eq!(
        run.refused(|tx| tx.complete_workflow_task(5, 3, &completion)),
        EngineError::workflow_task_not_found()
    );
}

#[test]
fn forced_new_workflow_task_is_scheduled_after_the_completion() {
    let mut run = Run::start();
    run.start_workflow_task();
    let completion = Completion {
        identity: WORKER.into(),
        force_create_new_workflow_task: true,
        ..Default::default()
    };

    let (outcome, changes) = run.ok(|tx| tx.complete_workflow_task(2, 3, &completion));

    assert_eq!(
        outcome,
        CompletionOutcome::Accepted {
            eager_activities: vec![]
        }
    );
    assert_eq!(
        types(&changes.events),
        [E::WorkflowTaskCompleted, E::WorkflowTaskScheduled]
    );
    assert_eq!(changes.tasks, [workflow_task_ref(5, 1)]);
}

#[test]
fn failed_task_writes_workflow_task_failed_and_retries_as_a_transient_attempt() {
    let mut run = Run::start();
    run.start_workflow_task();

    let changes = run.fail_workflow_task();

    assert_eq!(types(&changes.events), [E::WorkflowTaskFailed]);
    let failed = attrs!(changes.events[0], WorkflowTaskFailedEventAttributes);
    assert_eq!((failed.scheduled_event_id, failed.started_event_id), (2, 3));
    assert_eq!(failed.cause, Cause::WorkflowWorkerUnhandledFailure as i32);
    assert_eq!(failed.identity, WORKER);
    assert_eq!(
        failed.failure.as_ref().unwrap().message,
        "workflow panicked"
    );
    // The retry is not in history: it would be event 5.
    assert_eq!(run.state.next_event_id, 5);
    let task = run.workflow_task_info();
    assert!(task.is_transient());
    assert_eq!((task.scheduled_event_id, task.attempt), (5, 2));
    assert_eq!(changes.tasks, [workflow_task_ref(5, 2)]);
}

#[test]
fn a_task_failed_because_its_completion_was_too_large_terminates_the_workflow() {
    let mut run = Run::start();
    run.start_workflow_task();
    let task = run.workflow_task_info().clone();

    let (_, changes) = run.ok(|tx| {
        tx.fail_workflow_task(
            task.scheduled_event_id,
            task.started_event_id,
            Cause::GrpcMessageTooLarge,
            None,
            WORKER,
        )
    });

    assert_eq!(
        types(&changes.events),
        [E::WorkflowTaskFailed, E::WorkflowExecutionTerminated]
    );
    let failed = attrs!(changes.events[0], WorkflowTaskFailedEventAttributes);
    assert_eq!(failed.cause, Cause::ForceCloseCommand as i32);
    assert_eq!(failed.identity, "history-service");
    let terminated = attrs!(
        changes.events[1],
        WorkflowExecutionTerminatedEventAttributes
    );
    assert_eq!(terminated.reason, "GrpcMessageTooLarge");
    assert_eq!(terminated.identity, "history-service");
    assert_eq!(run.state.status, crate::ExecutionStatus::Terminated);
    assert!(changes.tasks.is_empty(), "no retry of the task");
}

#[test]
fn transient_attempt_starts_without_events_and_shows_the_worker_two_transient_ones() {
    let mut run = Run::start();
    run.start_workflow_task();
    run.fail_workflow_task();
    run.advance(secs(1));

    let (started, changes) = run.start_workflow_task();

    assert!(
        changes.events.is_empty(),
        "a transient attempt stays out of history"
    );
    assert_eq!(run.state.next_event_id, 5);
    assert_eq!(
        (
            started.scheduled_event_id,
            started.started_event_id,
            started.attempt
        ),
        (5, 6, 2)
    );
    assert_eq!(ids(&started.transient_events), [5, 6]);
    assert_eq!(
        types(&started.transient_events),
        [E::WorkflowTaskScheduled, E::WorkflowTaskStarted]
    );
    assert_eq!(
        attrs!(
            started.transient_events[0],
            WorkflowTaskScheduledEventAttributes
        )
        .attempt,
        2
    );
    let transient_started = attrs!(
        started.transient_events[1],
        WorkflowTaskStartedEventAttributes
    );
    assert_eq!(transient_started.scheduled_event_id, 5);
    assert_eq!(transient_started.request_id, "poll-2");
    assert_eq!(
        event_time(&started.transient_events[0]),
        T0,
        "scheduled when the first attempt failed"
    );
    assert_eq!(event_time(&started.transient_events[1]), T0 + secs(1));
}

#[test]
fn completed_transient_attempt_writes_the_events_the_worker_was_shown_then_completed() {
    let mut run = Run::start();
    run.start_workflow_task();
    run.fail_workflow_task();
    run.advance(secs(1));
    let (started, _) = run.start_workflow_task();
    run.advance(secs(1));

    let (outcome, changes) = run.complete_workflow_task(vec![start_timer("t", 30)]);

    assert_eq!(
        outcome,
        CompletionOutcome::Accepted {
            eager_activities: vec![]
        }
    );
    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::TimerStarted
        ]
    );
    assert_eq!(ids(&changes.events), [5, 6, 7, 8]);
    // What the worker saw is exactly what history keeps (IDs, times, history size).
    assert_eq!(changes.events[..2], started.transient_events[..]);
    let completed = attrs!(changes.events[2], WorkflowTaskCompletedEventAttributes);
    assert_eq!(
        (completed.scheduled_event_id, completed.started_event_id),
        (5, 6)
    );
    assert_eq!(run.state.last_completed_started_event_id, 6);
}

#[test]
fn failed_transient_attempt_writes_nothing_and_counts_the_attempt() {
    let mut run = Run::start();
    run.start_workflow_task();
    run.fail_workflow_task();
    run.start_workflow_task();

    let changes = run.fail_workflow_task();

    assert!(changes.events.is_empty());
    assert_eq!(changes.tasks, [workflow_task_ref(5, 3)]);
    assert_eq!(run.workflow_task_info().attempt, 3);
    assert_eq!(run.state.next_event_id, 5);
}

#[test]
fn events_arriving_while_a_transient_attempt_waits_make_it_an_ordinary_task_on_start() {
    let mut run = Run::start();
    run.start_workflow_task();
    run.fail_workflow_task();

    let signal = run.signal("approve", "sig-1");
    assert_eq!(types(&signal.events), [E::WorkflowExecutionSignaled]);
    assert_eq!(ids(&signal.events), [5]);
    assert!(
        signal.tasks.is_empty(),
        "the pending attempt will carry the signal"
    );

    let (started, changes) = run.start_workflow_task();

    assert_eq!(
        types(&changes.events),
        [E::WorkflowTaskScheduled, E::WorkflowTaskStarted]
    );
    assert_eq!(ids(&changes.events), [6, 7]);
    assert_eq!(
        attrs!(changes.events[0], WorkflowTaskScheduledEventAttributes).attempt,
        1
    );
    assert_eq!(
        attrs!(changes.events[1], WorkflowTaskStartedEventAttributes).scheduled_event_id,
        6
    );
    assert_eq!(
        (
            started.scheduled_event_id,
            started.started_event_id,
            started.attempt
        ),
        (6, 7, 1)
    );
    assert!(started.transient_events.is_empty());
    assert!(!run.workflow_task_info().is_transient());
}

#[test]
fn events_arriving_while_a_task_is_started_are_written_after_its_commands() {
    let mut run = Run::start();
    run.start_workflow_task();
    run.advance(secs(1));

    let signal = run.signal("approve", "sig-1");
    assert_eq!(
        signal,
        Changes::default(),
        "buffered while the worker decides"
    );
    assert!(run.state.has_buffered_events());
    run.advance(secs(1));

    let (outcome, changes) = run.complete_workflow_task(vec![start_timer("t", 30)]);

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
            E::TimerStarted,
            E::WorkflowExecutionSignaled,
            E::WorkflowTaskScheduled
        ]
    );
    assert_eq!(ids(&changes.events), [4, 5, 6, 7]);
    assert_eq!(
        attrs!(changes.events[2], WorkflowExecutionSignaledEventAttributes).signal_name,
        "approve"
    );
    assert_eq!(
        event_time(&changes.events[2]),
        T0 + secs(1),
        "a buffered event keeps its arrival time"
    );
    assert_eq!(event_time(&changes.events[3]), T0 + secs(2));
    assert_eq!(changes.tasks, [workflow_task_ref(7, 1)]);
    assert!(!run.state.has_buffered_events());
}

#[test]
fn failed_task_writes_the_events_that_waited_and_retries_as_an_ordinary_task() {
    let mut run = Run::start();
    run.start_workflow_task();
    run.signal("approve", "sig-1");

    let changes = run.fail_workflow_task();

    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowTaskFailed,
            E::WorkflowExecutionSignaled,
            E::WorkflowTaskScheduled
        ]
    );
    assert_eq!(
        attrs!(changes.events[2], WorkflowTaskScheduledEventAttributes).attempt,
        1
    );
    assert_eq!(changes.tasks, [workflow_task_ref(6, 1)]);
    assert!(!run.workflow_task_info().is_transient());
}

#[test]
fn closing_the_workflow_while_events_wait_fails_the_task_with_unhandled_command() {
    let mut run = Run::start();
    run.start_workflow_task();
    run.signal("approve", "sig-1");

    let (outcome, changes) = run.complete_workflow_task(vec![complete_workflow("done")]);

    assert!(
        matches!(
            &outcome,
            CompletionOutcome::CommandRejected {
                cause: Cause::UnhandledCommand,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowTaskFailed,
            E::WorkflowExecutionSignaled,
            E::WorkflowTaskScheduled
        ]
    );
    let failed = attrs!(changes.events[0], WorkflowTaskFailedEventAttributes);
    assert_eq!(failed.cause, Cause::UnhandledCommand as i32);
    assert_eq!(failed.identity, WORKER);
    assert_eq!(failed.failure.as_ref().unwrap().message, "UnhandledCommand");
    assert_eq!(
        attrs!(changes.events[2], WorkflowTaskScheduledEventAttributes).attempt,
        1,
        "new events: not a retry"
    );
    assert!(run.state.is_open());
}

#[test]
fn complete_workflow_execution_closes_the_run() {
    let mut run = Run::start();
    run.advance(secs(3));

    let changes = run.workflow_task(vec![complete_workflow("done")]);

    assert_eq!(
        types(&changes.events),
        [E::WorkflowTaskCompleted, E::WorkflowExecutionCompleted]
    );
    let completed = attrs!(changes.events[1], WorkflowExecutionCompletedEventAttributes);
    assert_eq!(completed.result, Some(payloads("done")));
    assert_eq!(completed.workflow_task_completed_event_id, 4);
    assert_eq!(run.state.status, crate::ExecutionStatus::Completed);
    assert_eq!(run.state.completion_event_id, 5);
    assert_eq!(run.state.close_time, Some(T0 + secs(3)));
    assert!(changes.tasks.is_empty());
    assert_eq!(run.state.workflow_task, None);
}

#[test]
fn a_close_command_before_other_commands_is_refused_outright() {
    let mut run = Run::start();
    run.start_workflow_task();
    let completion = Completion {
        identity: WORKER.into(),
        commands: vec![complete_workflow("done"), start_timer("t", 1)],
        ..Default::default()
    };

    let error = run.refused(|tx| tx.complete_workflow_task(2, 3, &completion));

    assert_eq!(
        error,
        EngineError::InvalidArgument(
            "invalid command sequence: [CompleteWorkflowExecution, StartTimer], command \
             CompleteWorkflowExecution must be the last command."
                .into()
        )
    );
}

#[test]
fn a_bad_command_fails_the_task_with_its_cause_and_nothing_else_applies() {
    let mut run = Run::start();
    run.start_workflow_task();
    let no_type = command(C::ScheduleActivityTaskCommandAttributes(
        ScheduleActivityTaskCommandAttributes {
            activity_type: None,
            ..super::builders::activity_attributes("charge")
        },
    ));

    let (outcome, changes) = run.complete_workflow_task(vec![start_timer("t", 5), no_type]);

    let CompletionOutcome::CommandRejected { cause, message } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(cause, Cause::BadScheduleActivityAttributes);
    assert_eq!(
        message,
        "BadScheduleActivityAttributes: activityType is not set"
    );
    assert_eq!(
        types(&changes.events),
        [E::WorkflowTaskFailed],
        "the valid timer is not started either"
    );
    let failed = attrs!(changes.events[0], WorkflowTaskFailedEventAttributes);
    assert_eq!(failed.cause, Cause::BadScheduleActivityAttributes as i32);
    assert_eq!(failed.identity, WORKER);
    let failure = failed.failure.as_ref().unwrap();
    assert_eq!(failure.message, message);
    assert!(
        matches!(
            failure.failure_info,
            Some(FailureInfo::ServerFailureInfo(_))
        ),
        "Temporal records a server failure"
    );
    assert!(run.state.timers.is_empty());
    assert!(run.workflow_task_info().is_transient());
    assert_eq!(changes.tasks, [workflow_task_ref(5, 2)]);
}

#[test]
fn a_timer_with_a_negative_timeout_is_a_bad_command() {
    let mut run = Run::start();
    run.start_workflow_task();
    let negative = command(C::StartTimerCommandAttributes(
        StartTimerCommandAttributes {
            timer_id: "t".into(),
            start_to_fire_timeout: Some(crate::proto::Duration {
                seconds: -1,
                nanos: 0,
            }),
        },
    ));

    let (outcome, changes) = run.complete_workflow_task(vec![negative]);

    assert!(
        matches!(
            outcome,
            CompletionOutcome::CommandRejected {
                cause: Cause::BadStartTimerAttributes,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(types(&changes.events), [E::WorkflowTaskFailed]);
}

#[test]
fn a_retry_that_sends_a_bad_command_again_is_dropped_until_its_timeout() {
    let mut run = Run::start();
    run.start_workflow_task();
    run.complete_workflow_task(vec![start_timer("", 5)]);
    run.start_workflow_task();
    let task = run.workflow_task_info().clone();
    let completion = Completion {
        identity: WORKER.into(),
        commands: vec![start_timer("", 5)],
        ..Default::default()
    };

    // Temporal answers InvalidArgument and records nothing, so a broken worker cannot spin.
    let error = run.refused(|tx| {
        tx.complete_workflow_task(task.scheduled_event_id, task.started_event_id, &completion)
    });
    assert!(
        matches!(&error, EngineError::InvalidArgument(m) if m.starts_with("BadStartTimerAttributes")),
        "{error:?}"
    );

    let changes = run.fire(|d| matches!(d, Deadline::WorkflowTaskTimeout { .. }));
    assert_eq!(run.now, T0 + secs(10));
    assert!(
        changes.events.is_empty(),
        "a transient attempt times out without a trace"
    );
    assert_eq!(changes.tasks, [workflow_task_ref(5, 3)]);
}

#[test]
fn started_task_times_out_with_workflow_task_timed_out_and_retries_as_transient() {
    let mut run = Run::start();
    run.start_workflow_task();
    assert_eq!(
        run.deadlines(),
        [(
            T0 + secs(10),
            Deadline::WorkflowTaskTimeout {
                scheduled_event_id: 2,
                started_event_id: 3
            }
        )]
    );

    let changes = run.fire_until(T0 + secs(10));

    assert_eq!(types(&changes.events), [E::WorkflowTaskTimedOut]);
    let timed_out = attrs!(changes.events[0], WorkflowTaskTimedOutEventAttributes);
    assert_eq!(
        (timed_out.scheduled_event_id, timed_out.started_event_id),
        (2, 3)
    );
    assert_eq!(timed_out.timeout_type, TimeoutType::StartToClose as i32);
    assert_eq!(changes.tasks, [workflow_task_ref(5, 2)]);
    assert!(run.workflow_task_info().is_transient());
}

#[test]
fn a_workflow_task_timeout_that_no_longer_applies_does_nothing() {
    let mut run = Run::start();
    run.start_workflow_task();
    let deadline = Deadline::WorkflowTaskTimeout {
        scheduled_event_id: 2,
        started_event_id: 3,
    };
    run.complete_workflow_task(vec![]);
    run.signal("approve", "sig-1");
    run.start_workflow_task();
    run.advance(secs(60));

    let changes = run.op(|tx| tx.fire(&deadline)).1;

    assert_eq!(changes, Changes::default());
}

#[test]
fn a_task_that_keeps_failing_gets_more_time_from_its_fourth_attempt() {
    let mut run = Run::start();
    let default = run.state.workflow_task_timeout;
    let mut timeouts = Vec::new();
    for _ in 0..7 {
        timeouts.push(run.workflow_task_info().timeout);
        run.start_workflow_task();
        run.fail_workflow_task();
    }
    assert_eq!(run.workflow_task_info().attempt, 8);
    timeouts.push(run.workflow_task_info().timeout);
    assert_eq!(timeouts[..3], [default; 3]);
    // 5 s, then doubling, less up to a fifth as jitter.
    for (attempt, added) in [(4, 5), (5, 10), (6, 20), (7, 40), (8, 80)] {
        let extra = timeouts[attempt - 1] - default;
        assert!(
            extra > secs(added) * 4 / 5 - 1 && extra <= secs(added),
            "attempt {attempt}: {extra}"
        );
    }
    assert_eq!(
        crate::events::attempt_timeout(default, 40, &run.state.run) - default,
        crate::events::attempt_timeout(default, 40, &run.state.run) - default,
        "the same attempt of the same run always gets the same time"
    );
    assert!(crate::events::attempt_timeout(default, 40, &run.state.run) - default <= secs(600));
}

#[test]
fn a_commands_summary_and_details_stay_on_the_event_it_writes() {
    use crate::proto::{common::Payload, sdk::UserMetadata};
    let metadata = UserMetadata {
        summary: Some(Payload {
            data: b"\"wait a second\"".to_vec(),
            ..Default::default()
        }),
        details: None,
    };
    let mut run = Run::start();
    run.start_workflow_task();
    let mut timer = start_timer("t1", 1);
    timer.user_metadata = Some(metadata.clone());
    let (_, changes) = run.complete_workflow_task(vec![timer, record_marker("m")]);
    assert_eq!(
        types(&changes.events),
        [E::WorkflowTaskCompleted, E::TimerStarted, E::MarkerRecorded]
    );
    assert_eq!(changes.events[0].user_metadata, None);
    assert_eq!(changes.events[1].user_metadata, Some(metadata));
    assert_eq!(
        changes.events[2].user_metadata, None,
        "only the command's own event"
    );
}

#[test]
fn a_memo_field_upserted_with_a_nil_value_is_removed() {
    use crate::proto::common::{Memo, Payload};
    use prost::Message;

    let payload = |data: &[u8]| Payload {
        metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
        data: data.to_vec(),
        ..Default::default()
    };
    let memo = |fields: &[(&str, Payload)]| Memo {
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    };
    let mut run = Run::start();
    run.ok(|tx| {
        tx.upsert_memo(memo(&[
            ("kept", payload(b"1")),
            ("nulled", payload(b"2")),
            ("emptied", payload(b"3")),
            ("listed", payload(b"4")),
        ]));
        tx.upsert_memo(memo(&[
            ("nulled", payload(b"null")),
            ("emptied", Payload::default()),
            ("listed", payload(b"[]")),
            ("kept", payload(b"5")),
        ]));
        Ok(())
    });
    let stored = Memo::decode(run.state.memo.as_slice()).unwrap();
    assert_eq!(stored, memo(&[("kept", payload(b"5"))]));
}
