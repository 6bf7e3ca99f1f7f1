//! Operators' actions on pending activities: pause, unpause, reset and new options, checked
//! against how Temporal Server 1.32 treats them.

use super::builders::{Run, TASK_QUEUE, app_failure, schedule_activity};
use crate::{
    EngineError, TaskKind,
    activity_control::{ActivitySelector, OptionsChange, Pause, Reset, Unpause},
    proto::{activity::ActivityOptions, taskqueue::TaskQueue},
    time::{self, secs},
    timer::Deadline,
};

const ACTIVITY: i64 = 5;

fn by_id() -> ActivitySelector {
    ActivitySelector::Id("charge".into())
}

fn pause(run: &mut Run) {
    run.ok(|tx| {
        tx.pause_activities(
            &by_id(),
            &Pause {
                identity: "operator".into(),
                reason: "card provider down".into(),
                request_id: "pause-1".into(),
            },
        )
    });
}

fn activity_deadlines(run: &Run) -> Vec<Deadline> {
    run.deadlines()
        .into_iter()
        .map(|(_, d)| d)
        .filter(|d| {
            matches!(
                d,
                Deadline::ActivityRetry { .. } | Deadline::ActivityTimeout { .. }
            )
        })
        .collect()
}

#[test]
fn a_paused_activity_is_not_started_from_an_earlier_dispatch_and_runs_again_when_unpaused() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    let dispatched = run.tasks.last().unwrap().clone();

    pause(&mut run);

    let refused = run.refused(|tx| tx.start_activity(ACTIVITY, dispatched.attempt, "poll", "w"));
    assert_eq!(refused, EngineError::activity_task_not_found());
    assert!(
        activity_deadlines(&run).is_empty(),
        "no timeout runs while paused"
    );
    assert!(run.state.pending_tasks(run.now).is_empty());

    let (_, changes) = run.ok(|tx| tx.unpause_activities(&by_id(), &Unpause::default()));

    let redispatched = changes.tasks.last().expect("dispatched again").clone();
    assert_eq!(redispatched.kind, TaskKind::Activity);
    assert_ne!(redispatched.attempt, dispatched.attempt, "a new stamp");
    assert!(!run.state.activity(ACTIVITY).unwrap().is_paused());
    run.start_activity(ACTIVITY);
}

#[test]
fn pausing_twice_fails_unless_the_request_repeats() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    pause(&mut run);
    pause(&mut run);
    let refused = run.refused(|tx| tx.pause_activities(&by_id(), &Pause::default()));
    assert_eq!(
        refused,
        EngineError::FailedPrecondition("activity is already paused".into())
    );
}

#[test]
fn a_running_attempt_hears_of_the_pause_and_its_failure_waits_for_the_unpause() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    pause(&mut run);

    let (reply, _) = run.ok(|tx| tx.heartbeat_activity(ACTIVITY, Some(1), None));
    assert!(reply.paused && !reply.reset && !reply.cancel_requested);

    let changes = run.fail_activity(ACTIVITY, app_failure("down", "Unavailable", false));

    assert!(changes.events.is_empty() && changes.tasks.is_empty());
    let activity = run.state.activity(ACTIVITY).unwrap();
    assert_eq!(activity.attempt, 2);
    assert!(!activity.is_started());
    assert!(activity_deadlines(&run).is_empty());

    run.advance(secs(30));
    let (_, changes) = run.ok(|tx| tx.unpause_activities(&by_id(), &Unpause::default()));
    assert_eq!(
        changes.tasks.len(),
        1,
        "the held attempt goes now, its backoff forgotten"
    );
}

#[test]
fn a_reset_starts_a_waiting_retry_over_from_attempt_one_at_once() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    run.fail_activity(ACTIVITY, app_failure("declined", "Declined", false));
    run.fire(|d| matches!(d, Deadline::ActivityRetry { .. }));
    run.start_activity(ACTIVITY);
    run.fail_activity(ACTIVITY, app_failure("declined", "Declined", false));
    assert_eq!(run.state.activity(ACTIVITY).unwrap().attempt, 3);

    let (_, changes) = run.ok(|tx| tx.reset_activities(&by_id(), &Reset::default()));

    let activity = run.state.activity(ACTIVITY).unwrap();
    assert_eq!(activity.attempt, 1);
    assert_eq!(changes.tasks.len(), 1);
    assert_eq!(changes.tasks[0].attempt, activity.current_stamp());
    run.start_activity(ACTIVITY);
}

#[test]
fn a_reset_of_a_running_attempt_is_told_on_heartbeat_and_clears_details_for_the_next() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    run.start_activity(ACTIVITY);
    run.ok(|tx| tx.heartbeat_activity(ACTIVITY, Some(1), Some(super::builders::payloads("50%"))));

    run.ok(|tx| {
        tx.reset_activities(
            &by_id(),
            &Reset {
                reset_heartbeat: true,
                ..Reset::default()
            },
        )
    });

    let (reply, _) = run.ok(|tx| tx.heartbeat_activity(ACTIVITY, Some(1), None));
    assert!(reply.reset && !reply.paused);
    run.fail_activity(ACTIVITY, app_failure("stopped", "Reset", false));
    let activity = run.state.activity(ACTIVITY).unwrap();
    assert!(activity.heartbeat_details.is_empty());
    assert!(!activity.reset_requested);
}

#[test]
fn new_options_send_a_waiting_activity_to_its_new_queue_and_can_be_restored() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    let change = OptionsChange {
        options: Some(ActivityOptions {
            task_queue: Some(TaskQueue {
                name: "payments-backup".into(),
                ..Default::default()
            }),
            start_to_close_timeout: Some(time::duration(secs(30))),
            ..Default::default()
        }),
        paths: Some(vec!["task_queue.name".into(), "startToCloseTimeout".into()]),
        restore_original: false,
    };

    let (options, changes) = run.ok(|tx| tx.update_activity_options(&by_id(), &change));

    assert_eq!(options.task_queue.unwrap().name, "payments-backup");
    assert_eq!(
        options.start_to_close_timeout,
        Some(time::duration(secs(30)))
    );
    assert_eq!(changes.tasks.len(), 1);
    assert_eq!(changes.tasks[0].task_queue, "payments-backup");

    let restore = OptionsChange {
        restore_original: true,
        ..OptionsChange::default()
    };
    let (options, changes) = run.ok(|tx| tx.update_activity_options(&by_id(), &restore));
    assert_eq!(options.task_queue.unwrap().name, TASK_QUEUE);
    assert_eq!(
        options.start_to_close_timeout,
        Some(time::duration(secs(10)))
    );
    assert_eq!(changes.tasks[0].task_queue, TASK_QUEUE);
}

#[test]
fn options_without_a_mask_or_activity_are_refused() {
    let mut run = Run::after_first_task(vec![schedule_activity("charge")]);
    let without_mask = OptionsChange {
        options: Some(ActivityOptions::default()),
        ..OptionsChange::default()
    };
    assert_eq!(
        run.refused(|tx| tx.update_activity_options(&by_id(), &without_mask)),
        EngineError::InvalidArgument("UpdateMask is not provided".into())
    );
    let unknown = ActivitySelector::Id("refund".into());
    assert_eq!(
        run.refused(|tx| tx.pause_activities(&unknown, &Pause::default())),
        crate::activity_control::activity_not_found()
    );
}
