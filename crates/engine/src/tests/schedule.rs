//! Schedules: which workflows a schedule starts and when, under each overlap policy, a
//! catch-up window, pause, triggers and backfills, as Temporal 1.32's scheduler does.

use prost::Message;

use super::builders::*;
use crate::{
    RunKey,
    events::task_queue,
    proto::{
        Attributes, HistoryEvent,
        common::WorkflowType,
        enums::{ScheduleOverlapPolicy, WorkflowExecutionStatus, WorkflowIdReusePolicy},
        history::{
            WorkflowExecutionCompletedEventAttributes, WorkflowExecutionFailedEventAttributes,
        },
        schedule::{
            BackfillRequest, IntervalSpec, Schedule, ScheduleAction, SchedulePatch,
            SchedulePolicies, ScheduleSpec, ScheduleState, TriggerImmediatelyRequest,
            schedule_action,
        },
        workflow::NewWorkflowExecutionInfo,
        workflowservice::StartWorkflowExecutionRequest,
    },
    schedule::{self, ScheduledAction},
    start::RunStart,
    time::{self, Nanos},
    timer::Deadline,
    transfer::{self, Transfer},
};

const HOUR: Nanos = 3600 * time::NANOS_PER_SEC;

fn every_hour(policy: ScheduleOverlapPolicy) -> Schedule {
    Schedule {
        spec: Some(ScheduleSpec {
            interval: vec![IntervalSpec {
                interval: Some(time::duration(HOUR)),
                phase: None,
            }],
            ..Default::default()
        }),
        action: Some(ScheduleAction {
            action: Some(schedule_action::Action::StartWorkflow(
                NewWorkflowExecutionInfo {
                    workflow_id: "report".into(),
                    workflow_type: Some(WorkflowType {
                        name: "Report".into(),
                    }),
                    task_queue: Some(task_queue(TASK_QUEUE)),
                    ..Default::default()
                },
            )),
        }),
        policies: Some(SchedulePolicies {
            overlap_policy: policy as i32,
            ..Default::default()
        }),
        state: None,
    }
}

/// A schedule's run created at [`T0`] (22:13:20, so the first hourly time is 23:00:00).
fn schedule_run(schedule: Schedule) -> Run {
    let schedule = schedule::prepare(schedule).expect("a valid schedule");
    let run = RunKey {
        namespace_id: "ns-1".into(),
        workflow_id: schedule::workflow_id("s1"),
        run_id: "schedule-run".into(),
    };
    let request = StartWorkflowExecutionRequest {
        workflow_id: run.workflow_id.clone(),
        workflow_type: Some(WorkflowType {
            name: schedule::WORKFLOW_TYPE.into(),
        }),
        task_queue: Some(task_queue(schedule::TASK_QUEUE)),
        request_id: "create-1".into(),
        ..Default::default()
    };
    let start = RunStart {
        schedule: Some(schedule::new_state("ns-1", "s1", &schedule, T0)),
        ..RunStart::from_request(run, NAMESPACE, &request, T0)
    };
    Run::begun(start, T0)
}

fn first_hour() -> Nanos {
    // 2023-11-14T23:00:00Z
    T0 + 46 * 60 * time::NANOS_PER_SEC + 40 * time::NANOS_PER_SEC
}

fn actions(run: &Run) -> &[ScheduledAction] {
    &run.state.schedule.as_ref().unwrap().actions
}

fn starts(run: &Run) -> Vec<StartWorkflowExecutionRequest> {
    transfer::pending(&run.state)
        .into_iter()
        .filter_map(|t| match t {
            Transfer::StartScheduled { request, .. } => {
                Some(StartWorkflowExecutionRequest::decode(request.as_slice()).unwrap())
            }
            _ => None,
        })
        .collect()
}

/// The owner of each started workflow made it: the schedule records the runs.
fn settle_starts(run: &mut Run) {
    let sequences: Vec<i64> = actions(run)
        .iter()
        .filter(|a| a.is_starting())
        .map(|a| a.sequence)
        .collect();
    for sequence in sequences {
        run.op(|tx| tx.record_scheduled_start(sequence, Some(&format!("run-{sequence}"))));
    }
}

fn closed(run: &mut Run, sequence: i64, event: Attributes) {
    let action = actions(run)
        .iter()
        .find(|a| a.sequence == sequence)
        .unwrap()
        .clone();
    let event = HistoryEvent {
        attributes: Some(event),
        ..Default::default()
    };
    run.op(|tx| tx.record_scheduled_close(&action.workflow_id, &action.run_id, &event));
}

fn completed() -> Attributes {
    Attributes::WorkflowExecutionCompletedEventAttributes(
        WorkflowExecutionCompletedEventAttributes {
            result: Some(payloads("done")),
            ..Default::default()
        },
    )
}

fn info(run: &Run) -> crate::proto::schedule::ScheduleInfo {
    run.state.schedule.as_ref().unwrap().info(run.now)
}

#[test]
fn a_schedule_run_has_no_workflow_task_and_wakes_at_its_first_time() {
    let run = schedule_run(every_hour(ScheduleOverlapPolicy::Skip));
    assert!(run.tasks.is_empty() && run.state.workflow_task.is_none());
    assert_eq!(
        run.deadlines(),
        vec![(first_hour(), Deadline::ScheduleWake)]
    );
    let info = info(&run);
    assert_eq!(
        info.future_action_times.len(),
        schedule::FUTURE_ACTION_TIMES
    );
    assert_eq!(info.future_action_times[0], time::timestamp(first_hour()));
    // Defaults as Temporal fills them in.
    let stored = run.state.schedule.as_ref().unwrap().schedule();
    let policies = stored.policies.unwrap();
    assert_eq!(policies.overlap_policy, ScheduleOverlapPolicy::Skip as i32);
    assert_eq!(
        time::from_duration(policies.catchup_window.as_ref()),
        365 * 24 * HOUR
    );
}

#[test]
fn a_due_time_starts_the_action_with_a_timestamped_id_and_schedule_attributes() {
    let mut run = schedule_run(every_hour(ScheduleOverlapPolicy::Skip));
    run.fire(|d| *d == Deadline::ScheduleWake);
    let starts = starts(&run);
    assert_eq!(starts.len(), 1);
    let start = &starts[0];
    assert_eq!(start.workflow_id, "report-2023-11-14T23:00:00Z");
    assert_eq!(start.identity, "temporal-scheduler-default-s1");
    assert_eq!(
        start.workflow_id_reuse_policy,
        WorkflowIdReusePolicy::RejectDuplicate as i32
    );
    let attributes = &start.search_attributes.as_ref().unwrap().indexed_fields;
    assert_eq!(
        attributes["TemporalScheduledStartTime"].data,
        b"\"2023-11-14T23:00:00Z\""
    );
    assert_eq!(attributes["TemporalScheduledById"].data, b"\"s1\"");
    // Nothing counts until the start was made.
    assert_eq!(info(&run).action_count, 0);
    settle_starts(&mut run);
    let info = info(&run);
    assert_eq!(info.action_count, 1);
    assert_eq!(info.running_workflows.len(), 1);
    assert_eq!(info.recent_actions.len(), 1);
    assert_eq!(
        info.recent_actions[0].start_workflow_status,
        WorkflowExecutionStatus::Running as i32
    );
    // The next wake is the next hour.
    assert_eq!(
        run.deadlines(),
        vec![(first_hour() + HOUR, Deadline::ScheduleWake)]
    );
}

#[test]
fn skip_drops_a_time_that_overlaps_a_running_workflow() {
    let mut run = schedule_run(every_hour(ScheduleOverlapPolicy::Skip));
    run.fire(|d| *d == Deadline::ScheduleWake);
    settle_starts(&mut run);
    run.fire(|d| *d == Deadline::ScheduleWake);
    assert!(starts(&run).is_empty());
    assert_eq!(info(&run).overlap_skipped, 1);
}

#[test]
fn buffer_one_keeps_one_start_for_when_the_running_workflow_closes() {
    let mut run = schedule_run(every_hour(ScheduleOverlapPolicy::BufferOne));
    run.fire(|d| *d == Deadline::ScheduleWake);
    settle_starts(&mut run);
    run.fire(|d| *d == Deadline::ScheduleWake);
    run.fire(|d| *d == Deadline::ScheduleWake);
    let state = info(&run);
    assert_eq!((state.buffer_size, state.overlap_skipped), (1, 1));
    assert!(starts(&run).is_empty());
    closed(&mut run, 1, completed());
    let starts = starts(&run);
    assert_eq!(
        starts.len(),
        1,
        "the buffered start goes once the first closes"
    );
    assert_eq!(starts[0].workflow_id, "report-2023-11-15T00:00:00Z");
    // It carries the result of the one before.
    assert_eq!(starts[0].last_completion_result, Some(payloads("done")));
    assert_eq!(info(&run).buffer_size, 0);
}

#[test]
fn terminate_other_stops_the_running_workflow_before_starting() {
    let mut run = schedule_run(every_hour(ScheduleOverlapPolicy::TerminateOther));
    run.fire(|d| *d == Deadline::ScheduleWake);
    settle_starts(&mut run);
    run.fire(|d| *d == Deadline::ScheduleWake);
    let stops: Vec<_> = transfer::pending(&run.state)
        .into_iter()
        .filter(|t| {
            matches!(
                t,
                Transfer::StopScheduled {
                    terminate: true,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(stops.len(), 1);
    assert!(starts(&run).is_empty());
    run.op(|tx| tx.record_scheduled_stop(1));
    closed(
        &mut run,
        1,
        Attributes::WorkflowExecutionTerminatedEventAttributes(Default::default()),
    );
    assert_eq!(starts(&run).len(), 1);
}

#[test]
fn allow_all_starts_alongside_and_is_not_tracked_as_running() {
    let mut run = schedule_run(every_hour(ScheduleOverlapPolicy::Skip));
    run.fire(|d| *d == Deadline::ScheduleWake);
    settle_starts(&mut run);
    run.ok(|tx| {
        tx.patch_schedule(&SchedulePatch {
            trigger_immediately: Some(TriggerImmediatelyRequest {
                overlap_policy: ScheduleOverlapPolicy::AllowAll as i32,
                scheduled_time: None,
            }),
            ..Default::default()
        })
    });
    let starts = starts(&run);
    assert_eq!(starts.len(), 1);
    assert_eq!(
        starts[0].workflow_id_reuse_policy,
        WorkflowIdReusePolicy::AllowDuplicate as i32
    );
    settle_starts(&mut run);
    let info = info(&run);
    assert_eq!(info.action_count, 2);
    assert_eq!(info.running_workflows.len(), 1);
}

#[test]
fn times_older_than_the_catchup_window_are_missed() {
    let mut schedule = every_hour(ScheduleOverlapPolicy::AllowAll);
    schedule.policies.as_mut().unwrap().catchup_window =
        Some(time::duration(90 * 60 * time::NANOS_PER_SEC));
    let mut run = schedule_run(schedule);
    // Down for five hours: only the times within the last 90 minutes are started.
    run.fire_until(first_hour() + 5 * HOUR);
    assert_eq!(info(&run).missed_catchup_window, 4);
    assert_eq!(starts(&run).len(), 2);
}

#[test]
fn a_paused_schedule_lets_times_pass_but_a_trigger_still_starts() {
    let mut run = schedule_run(every_hour(ScheduleOverlapPolicy::Skip));
    run.ok(|tx| {
        tx.patch_schedule(&SchedulePatch {
            pause: "maintenance".into(),
            ..Default::default()
        })
    });
    let stored = run.state.schedule.as_ref().unwrap();
    assert_eq!(
        stored.conflict_token, 2,
        "pausing changes the conflict token"
    );
    run.fire(|d| *d == Deadline::ScheduleWake);
    assert!(starts(&run).is_empty());
    assert_eq!(info(&run).future_action_times.len(), 10);
    run.ok(|tx| {
        tx.patch_schedule(&SchedulePatch {
            trigger_immediately: Some(TriggerImmediatelyRequest::default()),
            ..Default::default()
        })
    });
    assert_eq!(starts(&run).len(), 1);
}

#[test]
fn a_backfill_takes_every_time_of_its_range_both_ends_included() {
    let mut run = schedule_run(every_hour(ScheduleOverlapPolicy::AllowAll));
    let from = first_hour() + 24 * HOUR;
    run.ok(|tx| {
        tx.patch_schedule(&SchedulePatch {
            backfill_request: vec![BackfillRequest {
                start_time: Some(time::timestamp(from)),
                end_time: Some(time::timestamp(from + 3 * HOUR)),
                overlap_policy: 0,
            }],
            ..Default::default()
        })
    });
    let ids: Vec<String> = starts(&run).into_iter().map(|s| s.workflow_id).collect();
    assert_eq!(
        ids,
        vec![
            "report-2023-11-15T23:00:00Z",
            "report-2023-11-16T00:00:00Z",
            "report-2023-11-16T01:00:00Z",
            "report-2023-11-16T02:00:00Z"
        ]
    );
}

#[test]
fn limited_actions_stop_scheduled_starts_but_not_triggers() {
    let mut schedule = every_hour(ScheduleOverlapPolicy::AllowAll);
    schedule.state = Some(ScheduleState {
        limited_actions: true,
        remaining_actions: 1,
        ..Default::default()
    });
    let mut run = schedule_run(schedule);
    assert_eq!(info(&run).future_action_times.len(), 1);
    run.fire_until(first_hour() + 2 * HOUR);
    assert_eq!(starts(&run).len(), 1);
    let stored = run.state.schedule.as_ref().unwrap().schedule();
    assert_eq!(stored.state.unwrap().remaining_actions, 0);
    run.ok(|tx| {
        tx.patch_schedule(&SchedulePatch {
            trigger_immediately: Some(TriggerImmediatelyRequest::default()),
            ..Default::default()
        })
    });
    assert_eq!(starts(&run).len(), 2);
}

#[test]
fn an_update_with_another_conflict_token_is_ignored() {
    let mut run = schedule_run(every_hour(ScheduleOverlapPolicy::Skip));
    let mut changed = schedule::prepare(every_hour(ScheduleOverlapPolicy::BufferAll)).unwrap();
    changed.state.as_mut().unwrap().notes = "changed".into();
    run.ok(|tx| tx.update_schedule(&changed, &7_i64.to_be_bytes(), None));
    let stored = run.state.schedule.as_ref().unwrap();
    assert_eq!(stored.conflict_token, 1);
    assert!(stored.update_time.is_none());
    run.ok(|tx| tx.update_schedule(&changed, &1_i64.to_be_bytes(), None));
    let stored = run.state.schedule.as_ref().unwrap();
    assert_eq!(stored.conflict_token, 2);
    assert_eq!(stored.update_time, Some(T0));
    assert_eq!(stored.schedule().state.unwrap().notes, "changed");
}

#[test]
fn pause_on_failure_pauses_with_the_failure_in_the_notes() {
    let mut schedule = every_hour(ScheduleOverlapPolicy::Skip);
    schedule.policies.as_mut().unwrap().pause_on_failure = true;
    let mut run = schedule_run(schedule);
    run.fire(|d| *d == Deadline::ScheduleWake);
    settle_starts(&mut run);
    closed(
        &mut run,
        1,
        Attributes::WorkflowExecutionFailedEventAttributes(
            WorkflowExecutionFailedEventAttributes {
                failure: Some(app_failure("boom", "Oops", true)),
                ..Default::default()
            },
        ),
    );
    let state = run
        .state
        .schedule
        .as_ref()
        .unwrap()
        .schedule()
        .state
        .unwrap();
    assert!(state.paused);
    assert_eq!(
        state.notes,
        "paused due to workflow failure: report-2023-11-14T23:00:00Z: boom"
    );
    let info = info(&run);
    assert!(info.running_workflows.is_empty());
    assert_eq!(
        info.recent_actions[0].start_workflow_status,
        WorkflowExecutionStatus::Failed as i32
    );
}

#[test]
fn a_start_that_finds_the_id_taken_is_dropped_uncounted() {
    let mut run = schedule_run(every_hour(ScheduleOverlapPolicy::Skip));
    run.fire(|d| *d == Deadline::ScheduleWake);
    run.op(|tx| tx.record_scheduled_start(1, None));
    let info = info(&run);
    assert_eq!(info.action_count, 0);
    assert!(info.recent_actions.is_empty() && info.running_workflows.is_empty());
    assert!(starts(&run).is_empty());
}

#[test]
fn bad_specs_are_refused_with_temporals_messages() {
    let refused = |spec: ScheduleSpec| {
        let schedule = Schedule {
            spec: Some(spec),
            ..Default::default()
        };
        match schedule::prepare(schedule) {
            Err(crate::EngineError::InvalidArgument(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    };
    let cron = |text: &str| ScheduleSpec {
        cron_string: vec![text.into()],
        ..Default::default()
    };
    assert_eq!(
        refused(cron("* * * *")),
        "Invalid schedule spec: CronString does not have 5-7 fields"
    );
    assert_eq!(
        refused(cron("61 * * * *")),
        "Invalid schedule spec: Minute is not in range [0-59]"
    );
    assert_eq!(
        refused(ScheduleSpec {
            timezone_name: "Mars/Olympus".into(),
            ..Default::default()
        }),
        "Invalid schedule spec: unknown time zone Mars/Olympus"
    );
    assert_eq!(
        refused(ScheduleSpec {
            interval: vec![IntervalSpec {
                interval: Some(time::duration(HOUR)),
                phase: Some(time::duration(HOUR)),
            }],
            ..Default::default()
        }),
        "Invalid schedule spec: phase cannot be greater than Interval"
    );
    assert_eq!(
        refused(ScheduleSpec {
            calendar: vec![crate::proto::schedule::CalendarSpec {
                minute: "77".into(),
                hour: "1-2-3".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        "Invalid schedule spec: Minute is not in range [0-59], Hour has too many dashes"
    );
}

#[test]
fn creating_a_schedule_again_finds_it_and_another_request_for_its_id_is_refused() {
    use super::store::MemoryStore;
    use crate::{
        EngineError,
        schedule::create::{NewSchedule, create},
    };

    let new = |request_id: &str| NewSchedule {
        schedule_id: "hourly".into(),
        schedule: every_hour(ScheduleOverlapPolicy::Skip),
        initial_patch: None,
        memo: None,
        search_attributes: None,
        identity: "operator".into(),
        request_id: request_id.into(),
    };
    let mut store = MemoryStore::default();
    let created = create(
        &mut store,
        "ns-1".into(),
        "default".into(),
        new("req-1"),
        "run-1".into(),
    )
    .unwrap();
    assert!(created.started);
    let again = create(
        &mut store,
        "ns-1".into(),
        "default".into(),
        new("req-1"),
        "run-2".into(),
    )
    .unwrap();
    assert_eq!(again.run_id, "run-1");
    let other = create(
        &mut store,
        "ns-1".into(),
        "default".into(),
        new("req-2"),
        "run-3".into(),
    )
    .unwrap_err();
    assert!(
        matches!(other, EngineError::AlreadyStarted { .. }),
        "{other:?}"
    );
    assert_eq!(store.runs.len(), 1);
}
