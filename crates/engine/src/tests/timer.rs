//! User timers: started by a command, fired by their deadline, canceled by a command.

use super::builders::{
    Run, T0, WORKER, attrs, cancel_timer, command, complete_workflow, ids, start_timer, types,
    workflow_task_ref,
};
use crate::{
    Changes, ExecutionStatus,
    proto::{
        command::{StartTimerCommandAttributes, command::Attributes as C},
        enums::{EventType, WorkflowTaskFailedCause as Cause},
    },
    time::{self, secs},
    timer::Deadline,
    workflow_task::CompletionOutcome,
};

use EventType as E;

fn user_timer(timer_id: &str, started_event_id: i64) -> Deadline {
    Deadline::UserTimer {
        timer_id: timer_id.into(),
        started_event_id,
    }
}

#[test]
fn start_timer_writes_timer_started_and_lists_its_deadline() {
    let run = Run::after_first_task(vec![start_timer("wait", 30)]);

    let event = run.history.last().unwrap();
    assert_eq!(event.event_id, 5);
    let started = attrs!(event, TimerStartedEventAttributes);
    assert_eq!(started.timer_id, "wait");
    assert_eq!(
        started.start_to_fire_timeout,
        Some(time::duration(secs(30)))
    );
    assert_eq!(started.workflow_task_completed_event_id, 4);
    assert_eq!(run.deadlines(), [(T0 + secs(30), user_timer("wait", 5))]);
}

#[test]
fn timer_fires_with_timer_fired_and_a_new_workflow_task() {
    let mut run = Run::after_first_task(vec![start_timer("wait", 30)]);

    let changes = run.fire_until(T0 + secs(30));

    assert_eq!(
        types(&changes.events),
        [E::TimerFired, E::WorkflowTaskScheduled]
    );
    assert_eq!(ids(&changes.events), [6, 7]);
    let fired = attrs!(changes.events[0], TimerFiredEventAttributes);
    assert_eq!(
        (fired.timer_id.as_str(), fired.started_event_id),
        ("wait", 5)
    );
    assert_eq!(changes.tasks, [workflow_task_ref(7, 1)]);
    assert!(run.state.timers.is_empty());
    assert_eq!(run.deadlines(), [], "nothing left to fire");
}

#[test]
fn a_timer_deadline_fired_early_does_nothing() {
    let mut run = Run::after_first_task(vec![start_timer("wait", 30)]);
    run.advance(secs(29));

    let changes = run.op(|tx| tx.fire(&user_timer("wait", 5))).1;

    assert_eq!(changes, Changes::default());
    assert_eq!(run.state.timers.len(), 1);
}

#[test]
fn cancel_timer_writes_timer_canceled_and_the_old_deadline_goes_stale() {
    let mut run = Run::after_first_task(vec![start_timer("wait", 30)]);
    run.signal("hurry", "sig-1");

    let changes = run.workflow_task(vec![cancel_timer("wait")]);

    assert_eq!(
        types(&changes.events),
        [E::WorkflowTaskCompleted, E::TimerCanceled]
    );
    let canceled = attrs!(changes.events[1], TimerCanceledEventAttributes);
    assert_eq!(
        (canceled.timer_id.as_str(), canceled.started_event_id),
        ("wait", 5)
    );
    assert_eq!(
        canceled.workflow_task_completed_event_id,
        changes.events[0].event_id
    );
    assert_eq!(canceled.identity, WORKER);
    assert_eq!(run.deadlines(), []);

    run.advance(secs(30));
    assert_eq!(
        run.op(|tx| tx.fire(&user_timer("wait", 5))).1,
        Changes::default(),
        "a stale fire is a no-op"
    );
}

#[test]
fn a_restarted_timer_ignores_the_deadline_of_its_predecessor() {
    let mut run = Run::after_first_task(vec![start_timer("wait", 30)]);
    run.signal("hurry", "sig-1");
    // Canceled and started again under the same ID in one task.
    let changes = run.workflow_task(vec![cancel_timer("wait"), start_timer("wait", 60)]);
    assert_eq!(
        types(&changes.events),
        [E::WorkflowTaskCompleted, E::TimerCanceled, E::TimerStarted]
    );
    let restarted_id = changes.events[2].event_id;
    run.advance(secs(30));

    assert_eq!(
        run.op(|tx| tx.fire(&user_timer("wait", 5))).1,
        Changes::default()
    );
    let changes = run.fire_until(T0 + secs(60));
    assert_eq!(
        attrs!(changes.events[0], TimerFiredEventAttributes).started_event_id,
        restarted_id
    );
}

#[test]
fn the_same_timer_id_twice_in_one_task_is_rejected() {
    let mut run = Run::start();
    run.start_workflow_task();

    let (outcome, changes) =
        run.complete_workflow_task(vec![start_timer("wait", 5), start_timer("wait", 10)]);

    let CompletionOutcome::CommandRejected { cause, message } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(cause, Cause::StartTimerDuplicateId);
    assert_eq!(
        message,
        "StartTimerDuplicateId: invalid history builder state for action: add-timer-started-event, TimerID: wait"
    );
    assert_eq!(types(&changes.events), [E::WorkflowTaskFailed]);
    assert!(run.state.timers.is_empty());
}

#[test]
fn starting_a_timer_whose_id_is_pending_is_rejected() {
    let mut run = Run::after_first_task(vec![start_timer("wait", 30)]);
    run.signal("hurry", "sig-1");
    run.start_workflow_task();

    let (outcome, _) = run.complete_workflow_task(vec![start_timer("wait", 5)]);

    assert!(
        matches!(
            outcome,
            CompletionOutcome::CommandRejected {
                cause: Cause::StartTimerDuplicateId,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[test]
fn timer_that_fired_while_the_canceling_task_ran_counts_as_canceled() {
    let mut run = Run::after_first_task(vec![start_timer("wait", 5)]);
    run.signal("hurry", "sig-1");
    run.start_workflow_task();
    let fired = run.fire_until(T0 + secs(5));
    assert_eq!(
        fired,
        Changes::default(),
        "the fire is buffered behind the running task"
    );

    let (outcome, changes) = run.complete_workflow_task(vec![cancel_timer("wait")]);

    // Temporal deletes the buffered TimerFired: the workflow asked first, as far as it knows.
    assert_eq!(
        outcome,
        CompletionOutcome::Accepted {
            eager_activities: vec![]
        }
    );
    assert_eq!(
        types(&changes.events),
        [E::WorkflowTaskCompleted, E::TimerCanceled]
    );
    assert_eq!(
        attrs!(changes.events[1], TimerCanceledEventAttributes).started_event_id,
        5
    );
    assert!(
        changes.tasks.is_empty(),
        "nothing left for the workflow to see"
    );
    assert!(!run.state.has_buffered_events());
}

#[test]
fn canceling_a_timer_that_fired_meanwhile_does_not_block_completing_the_workflow() {
    let mut run = Run::after_first_task(vec![start_timer("wait", 5)]);
    run.signal("hurry", "sig-1");
    run.start_workflow_task();
    run.fire_until(T0 + secs(5));

    let (outcome, changes) =
        run.complete_workflow_task(vec![cancel_timer("wait"), complete_workflow("done")]);

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
            E::TimerCanceled,
            E::WorkflowExecutionCompleted
        ]
    );
    assert_eq!(run.state.status, ExecutionStatus::Completed);
}

#[test]
fn cancel_of_an_unknown_timer_is_a_bad_command() {
    let mut run = Run::start();
    run.start_workflow_task();

    let (outcome, changes) = run.complete_workflow_task(vec![cancel_timer("never-started")]);

    assert!(
        matches!(
            outcome,
            CompletionOutcome::CommandRejected {
                cause: Cause::BadCancelTimerAttributes,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(types(&changes.events), [E::WorkflowTaskFailed]);
}

#[test]
fn timer_without_a_timeout_is_accepted_and_fires_at_once() {
    // Temporal 1.32 validates only that the timeout is not negative.
    let no_timeout = command(C::StartTimerCommandAttributes(
        StartTimerCommandAttributes {
            timer_id: "now".into(),
            start_to_fire_timeout: None,
        },
    ));
    let mut run = Run::after_first_task(vec![no_timeout]);
    assert_eq!(run.deadlines(), [(T0, user_timer("now", 5))]);

    let changes = run.fire_until(T0);

    assert_eq!(
        types(&changes.events),
        [E::TimerFired, E::WorkflowTaskScheduled]
    );
}
