//! ResetWorkflowExecution: the new run's history and state, as Temporal 1.32 writes them.

use super::{builders::*, update};
use crate::{
    EngineError, TaskKind,
    proto::enums::{
        EventType, ResetReapplyType, UpdateAdmittedEventOrigin, WorkflowTaskFailedCause,
    },
    reset::{Reapply, ResetRequest, reset},
    time,
    timer::Deadline,
    update::{UpdateStage, request_messages},
};

fn request(finish: i64) -> ResetRequest {
    ResetRequest {
        workflow_task_finish_event_id: finish,
        reason: "bad deploy".into(),
        identity: "operator".into(),
        request_id: "reset-1".into(),
        reapply: Reapply::ALL,
    }
}

/// Started; the first task schedules activity "a" and a 60 s timer (events 5, 6); the
/// activity starts (its started event waits for its end); a signal (7) brings a second task
/// (8-10) that does nothing more.
fn busy_run() -> Run {
    let mut run = Run::after_first_task(vec![schedule_activity("a"), start_timer("t", 60)]);
    run.start_activity(5);
    run.advance(time::secs(1));
    run.signal("nudge", "signal-1");
    run.workflow_task(vec![]);
    run
}

#[test]
fn a_reset_copies_history_to_the_task_fails_it_and_schedules_a_new_one() {
    let mut run = busy_run();
    run.signal("late", "signal-2");
    let (state, changes) = reset(&run.state, &run.history, &request(4), run.now).unwrap();
    assert_eq!(
        types(&changes.events),
        vec![
            EventType::WorkflowExecutionStarted,
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted,
            EventType::WorkflowTaskFailed,
            // Both signals after the reset point are written again.
            EventType::WorkflowExecutionSignaled,
            EventType::WorkflowExecutionSignaled,
            EventType::WorkflowTaskScheduled,
        ]
    );
    assert_eq!(ids(&changes.events), (1..=7).collect::<Vec<_>>());
    assert_eq!(changes.events[..3], run.history[..3], "the copy is exact");
    let failed = attrs!(changes.events[3], WorkflowTaskFailedEventAttributes);
    assert_eq!(failed.cause, WorkflowTaskFailedCause::ResetWorkflow as i32);
    assert_eq!(failed.base_run_id, run.state.run.run_id);
    assert_eq!(failed.new_run_id, state.run.run_id);
    assert_eq!(failed.failure.as_ref().unwrap().message, "bad deploy");
    assert_eq!((failed.scheduled_event_id, failed.started_event_id), (2, 3));
    // Nothing the old run did after the reset point is pending in the new one.
    assert!(state.activities.is_empty() && state.timers.is_empty());
    assert_eq!(state.signal_count, 2);
    assert_eq!(
        state.signal_request_ids,
        ["signal-1", "signal-2"],
        "a signal sent again is recorded once"
    );
    assert_eq!(state.first_run_id, run.state.first_run_id);
    assert_eq!(state.next_event_id, 8);
    assert_eq!(
        changes.tasks.iter().map(|t| t.kind).collect::<Vec<_>>(),
        vec![TaskKind::Workflow]
    );
}

#[test]
fn what_was_pending_at_the_reset_point_is_pending_again() {
    let run = busy_run();
    let (state, changes) = reset(&run.state, &run.history, &request(10), run.now).unwrap();
    // The timer keeps its original fire time; the running activity is dispatched again.
    let timer = state.timer("t").expect("the timer is pending");
    assert_eq!(timer.fire_time, T0 + time::secs(60));
    assert!(
        crate::timer::deadlines(&state)
            .iter()
            .any(|(due, d)| *due == T0 + time::secs(60) && matches!(d, Deadline::UserTimer { .. }))
    );
    let activity = state.activity(5).expect("the activity is pending");
    assert!(!activity.is_started());
    assert!(
        changes
            .tasks
            .iter()
            .any(|t| t.kind == TaskKind::Activity && t.scheduled_event_id == 5)
    );
    // The signal was before the reset point: it is in the copy, not written again.
    assert_eq!(
        changes
            .events
            .iter()
            .filter(|e| e.event_type() == EventType::WorkflowExecutionSignaled)
            .count(),
        1
    );
}

#[test]
fn signals_are_not_written_again_when_excluded() {
    let mut run = busy_run();
    run.signal("late", "signal-2");
    let request = ResetRequest {
        reapply: Reapply {
            signals: false,
            ..Reapply::ALL
        },
        ..request(4)
    };
    let (_, changes) = reset(&run.state, &run.history, &request, run.now).unwrap();
    assert_eq!(
        types(&changes.events[3..]),
        vec![
            EventType::WorkflowTaskFailed,
            EventType::WorkflowTaskScheduled
        ]
    );
}

#[test]
fn a_reset_point_must_be_a_workflow_task_event_of_the_history() {
    let run = busy_run();
    for finish in [5, 99] {
        let refused = reset(&run.state, &run.history, &request(finish), run.now);
        assert!(
            matches!(refused, Err(EngineError::InvalidArgument(_))),
            "{finish}: {refused:?}"
        );
    }
}

#[test]
fn the_new_run_id_depends_on_the_request() {
    let run = busy_run();
    let (a, _) = reset(&run.state, &run.history, &request(4), run.now).unwrap();
    let (b, _) = reset(&run.state, &run.history, &request(4), run.now).unwrap();
    let other = ResetRequest {
        request_id: "reset-2".into(),
        ..request(4)
    };
    let (c, _) = reset(&run.state, &run.history, &other, run.now).unwrap();
    assert_eq!(a.run.run_id, b.run.run_id);
    assert_ne!(a.run.run_id, c.run.run_id);
}

/// After the first task, update "u1" is admitted, accepted and answered by a second task
/// (events 5-9: scheduled, started, completed, accepted, completed).
fn run_with_an_update() -> Run {
    use crate::proto::update::{Acceptance, Response};
    use prost::Message as _;
    let mut run = Run::after_first_task(vec![]);
    run.ok(|tx| tx.admit_update(&update::request("u1")));
    run.start_workflow_task();
    let acceptance = update::answer("u1", "Acceptance", Acceptance::default().encode_to_vec());
    let response = update::answer("u1", "Response", Response::default().encode_to_vec());
    update::complete(
        &mut run,
        vec![update::place(&acceptance), update::place(&response)],
        vec![acceptance, response],
    );
    run
}

#[test]
fn updates_after_the_reset_point_are_admitted_again_from_history() {
    let run = run_with_an_update();
    let (state, changes) = reset(&run.state, &run.history, &request(4), run.now).unwrap();
    assert_eq!(
        types(&changes.events[3..]),
        vec![
            EventType::WorkflowTaskFailed,
            EventType::WorkflowExecutionUpdateAdmitted,
            EventType::WorkflowTaskScheduled
        ]
    );
    let admitted = attrs!(
        changes.events[4],
        WorkflowExecutionUpdateAdmittedEventAttributes
    );
    assert_eq!(admitted.origin, UpdateAdmittedEventOrigin::Reapply as i32);
    assert_eq!(admitted.request, Some(update::request("u1")));
    let u1 = state.update("u1").expect("the update is known again");
    assert_eq!((u1.stage, u1.admitted_event_id), (UpdateStage::Admitted, 5));
    // The worker reads the request from the event: no message repeats it.
    assert!(request_messages(&state, 7).is_empty());
}

#[test]
fn updates_are_not_written_again_when_excluded_or_before_the_reset_point() {
    let run = run_with_an_update();
    let signals_only = ResetRequest {
        reapply: Reapply::from_request(ResetReapplyType::Signal as i32, &[]),
        ..request(4)
    };
    let (_, changes) = reset(&run.state, &run.history, &signals_only, run.now).unwrap();
    assert_eq!(
        types(&changes.events[3..]),
        vec![
            EventType::WorkflowTaskFailed,
            EventType::WorkflowTaskScheduled
        ]
    );
    // Reset after the task that answered the update: the copy holds it, completed, and
    // its ID stays taken.
    let mut run = run;
    run.signal("nudge", "signal-1");
    run.workflow_task(vec![]);
    let (state, changes) = reset(&run.state, &run.history, &request(13), run.now).unwrap();
    assert_eq!(
        types(&changes.events[12..]),
        vec![
            EventType::WorkflowTaskFailed,
            EventType::WorkflowTaskScheduled
        ]
    );
    let u1 = state.update("u1").expect("the update is in the copy");
    assert_eq!(
        (u1.stage, u1.completed_event_id),
        (UpdateStage::Completed, 9)
    );
    assert_eq!(state.update_count, 1);
}

#[test]
fn reapply_types_and_exclusions_read_as_temporal_reads_them() {
    use crate::proto::enums::ResetReapplyExcludeType as X;
    let read = |kind: ResetReapplyType, exclude: &[X]| {
        let exclude: Vec<i32> = exclude.iter().map(|x| *x as i32).collect();
        let r = Reapply::from_request(kind as i32, &exclude);
        (r.signals, r.updates)
    };
    assert_eq!(read(ResetReapplyType::Unspecified, &[]), (true, true));
    assert_eq!(read(ResetReapplyType::AllEligible, &[]), (true, true));
    assert_eq!(read(ResetReapplyType::Signal, &[]), (true, false));
    assert_eq!(read(ResetReapplyType::None, &[]), (false, false));
    assert_eq!(
        read(ResetReapplyType::Unspecified, &[X::Signal]),
        (false, true)
    );
    assert_eq!(
        read(ResetReapplyType::AllEligible, &[X::Update]),
        (true, false)
    );
}

/// Starts the pending workflow task and completes it from a worker of build `build_id`.
#[allow(deprecated)]
fn complete_as_build(run: &mut Run, build_id: &str) {
    use crate::{
        proto::{common::WorkerVersionStamp, history::WorkflowTaskCompletedEventAttributes},
        workflow_task::Completion,
    };
    run.start_workflow_task();
    let task = run.workflow_task_info().clone();
    let completion = Completion {
        identity: WORKER.into(),
        completed_attributes: Some(WorkflowTaskCompletedEventAttributes {
            worker_version: Some(WorkerVersionStamp {
                build_id: build_id.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    run.ok(|tx| {
        tx.complete_workflow_task(task.scheduled_event_id, task.started_event_id, &completion)
    });
}

fn points(state: &crate::MutableState) -> Vec<(String, String, i64)> {
    state
        .reset_points
        .iter()
        .map(|p| {
            (
                p.build_id.clone(),
                p.run_id.clone(),
                p.first_workflow_task_completed_id,
            )
        })
        .collect()
}

#[test]
fn the_first_task_each_build_completes_is_a_reset_point() {
    let mut run = Run::start();
    complete_as_build(&mut run, "build-1");
    run.signal("nudge", "signal-1");
    complete_as_build(&mut run, "build-1");
    run.signal("nudge", "signal-2");
    complete_as_build(&mut run, "build-2");
    let id = run.state.run.run_id.clone();
    assert_eq!(
        points(&run.state),
        [
            ("build-1".into(), id.clone(), 4),
            ("build-2".into(), id, 12)
        ]
    );
    // A reset to the second build's task keeps the first point, noted in the new run.
    let (state, _) = reset(&run.state, &run.history, &request(12), run.now).unwrap();
    assert_eq!(
        points(&state),
        [("build-1".into(), state.run.run_id.clone(), 4)]
    );
}

#[test]
fn reset_points_of_earlier_runs_stay_through_a_reset() {
    let mut run = Run::start();
    complete_as_build(&mut run, "build-1");
    run.state.reset_points[0].run_id = "an-earlier-run".into();
    let (state, _) = reset(&run.state, &run.history, &request(4), run.now).unwrap();
    assert_eq!(
        points(&state),
        [("build-1".into(), "an-earlier-run".into(), 4)]
    );
}

#[test]
fn a_reset_ends_the_running_run_and_starts_the_new_one_in_one_operation_and_a_repeat_finds_it() {
    use super::store::MemoryStore;
    use crate::{ExecutionStatus, reset::reset_workflow, store::RunStore};

    let run = Run::after_first_task(vec![]);
    let base = run.state.run.clone();
    let mut store = MemoryStore::default();
    store.stage(
        run.state.clone(),
        crate::Changes {
            events: run.history.clone(),
            ..Default::default()
        },
    );
    let read_through = run.state.next_event_id;
    let new_run_id = reset_workflow(&mut store, &base, &run.history, &request(4), read_through)
        .unwrap()
        .expect("the run did not move on");
    assert_eq!(store.status(&base.run_id), ExecutionStatus::Terminated);
    assert_eq!(store.status(&new_run_id), ExecutionStatus::Running);
    let again = reset_workflow(&mut store, &base, &run.history, &request(4), read_through).unwrap();
    assert_eq!(
        again,
        Some(new_run_id),
        "the same request finds the run it made"
    );
}

#[test]
fn a_reset_of_a_run_that_moved_on_since_it_was_read_asks_for_another_read() {
    use super::store::MemoryStore;
    use crate::{reset::reset_workflow, store::RunStore};

    let run = Run::after_first_task(vec![]);
    let mut store = MemoryStore::default();
    store.stage(run.state.clone(), crate::Changes::default());
    let stale = run.state.next_event_id - 1;
    let outcome =
        reset_workflow(&mut store, &run.state.run, &run.history, &request(4), stale).unwrap();
    assert_eq!(outcome, None);
}
