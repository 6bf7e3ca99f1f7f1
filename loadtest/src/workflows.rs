//! The workflows the scenarios run, as the lean worker decides them: each workflow task is
//! decided from the run's whole history in one pass (no replay, no sandbox). A workflow's
//! input and result are JSON payloads.
//!
//! - `SingleNoopActivity(x)`: runs activity `noop(x)`; completes with its result (`x`).
//! - `FanOut({activities: K})`: runs `noop(i)` for i in 0..K at once; completes with the
//!   number of activities whose result was their input (`K`).
//! - `ManyTimers({timers: T})`: starts T timers at once (10 ms, 20 ms, …); completes with the
//!   number that fired (`T`).
//! - `SignalCounter({signals: N})`: completes, with the number of distinct signals `storm`
//!   it got, once it has N.
//! - `ThroughputStress({id, signals: S, generation: 0})`: runs two activities, a timer and a
//!   child `SingleNoopActivity` at once, takes S signals and one update; then continues as
//!   new with `generation: 1`, which runs one activity and completes with `id`.
//!
//! Every workflow answers the query `state` with `{"signals": n}` and accepts every update,
//! answering with its arguments.

use std::collections::{BTreeMap, BTreeSet};

use cairn_api::proto::{
    command::v1::{
        Command, CompleteWorkflowExecutionCommandAttributes,
        ContinueAsNewWorkflowExecutionCommandAttributes, FailWorkflowExecutionCommandAttributes,
        ScheduleActivityTaskCommandAttributes, StartChildWorkflowExecutionCommandAttributes,
        StartTimerCommandAttributes, command,
    },
    common::v1::{ActivityType, Payload, Payloads, WorkflowType},
    enums::v1::{CommandType, TaskQueueKind},
    failure::v1::Failure,
    history::v1::{HistoryEvent, history_event::Attributes},
    taskqueue::v1::TaskQueue,
};
use serde_json::{Value, json};

pub const SINGLE_NOOP_ACTIVITY: &str = "SingleNoopActivity";
pub const FAN_OUT: &str = "FanOut";
pub const MANY_TIMERS: &str = "ManyTimers";
pub const SIGNAL_COUNTER: &str = "SignalCounter";
pub const THROUGHPUT_STRESS: &str = "ThroughputStress";
/// The one activity: returns its input.
pub const NOOP_ACTIVITY: &str = "noop";
/// The signal `SignalCounter` and `ThroughputStress` count.
pub const SIGNAL: &str = "storm";
/// The query every workflow answers.
pub const QUERY: &str = "state";
/// How long the timer of `ThroughputStress` runs.
const STRESS_TIMER_MS: i64 = 50;

/// A JSON payload, as the SDKs' default converter writes one.
pub fn payload(value: &Value) -> Payloads {
    Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
            data: serde_json::to_vec(value).unwrap_or_default(),
            ..Default::default()
        }],
    }
}

/// The JSON value of a payload, if it is one.
pub fn value(payloads: Option<&Payloads>) -> Option<Value> {
    let first = payloads?.payloads.first()?;
    serde_json::from_slice(&first.data).ok()
}

/// What a run's history says, in the terms the workflows decide by.
#[derive(Default)]
pub struct Seen {
    pub workflow_type: String,
    pub input: Option<Value>,
    /// Activity IDs by the event that scheduled them.
    scheduled: BTreeMap<i64, String>,
    /// Completed activities' results, by activity ID.
    completed: BTreeMap<String, Option<Value>>,
    /// An activity, child or timer that will never end as the workflow needs.
    broken: Option<String>,
    timers_started: BTreeSet<String>,
    timers_fired: BTreeSet<String>,
    child_initiated: bool,
    child_result: Option<Option<Value>>,
    /// The payloads of the signals `storm`, in order.
    signals: Vec<Option<Value>>,
    /// Updates accepted so far (in the history, or in the task being answered).
    pub updates: usize,
}

impl Seen {
    pub fn of(events: &[HistoryEvent]) -> Self {
        let mut seen = Self::default();
        for event in events {
            seen.apply(event);
        }
        seen
    }

    fn apply(&mut self, event: &HistoryEvent) {
        match &event.attributes {
            Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
                self.workflow_type = a.workflow_type.clone().unwrap_or_default().name;
                self.input = value(a.input.as_ref());
            }
            Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => {
                self.scheduled.insert(event.event_id, a.activity_id.clone());
            }
            Some(Attributes::ActivityTaskCompletedEventAttributes(a)) => {
                if let Some(id) = self.scheduled.get(&a.scheduled_event_id) {
                    self.completed.insert(id.clone(), value(a.result.as_ref()));
                }
            }
            Some(Attributes::ActivityTaskFailedEventAttributes(_)) => {
                self.broken = Some("an activity failed".into());
            }
            Some(Attributes::ActivityTaskTimedOutEventAttributes(_)) => {
                self.broken = Some("an activity timed out".into());
            }
            Some(Attributes::TimerStartedEventAttributes(a)) => {
                self.timers_started.insert(a.timer_id.clone());
            }
            Some(Attributes::TimerFiredEventAttributes(a)) => {
                self.timers_fired.insert(a.timer_id.clone());
            }
            Some(Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(_)) => {
                self.child_initiated = true;
            }
            Some(Attributes::ChildWorkflowExecutionCompletedEventAttributes(a)) => {
                self.child_result = Some(value(a.result.as_ref()));
            }
            Some(
                Attributes::StartChildWorkflowExecutionFailedEventAttributes(_)
                | Attributes::ChildWorkflowExecutionFailedEventAttributes(_)
                | Attributes::ChildWorkflowExecutionTimedOutEventAttributes(_)
                | Attributes::ChildWorkflowExecutionTerminatedEventAttributes(_)
                | Attributes::ChildWorkflowExecutionCanceledEventAttributes(_),
            ) => self.broken = Some("the child did not complete".into()),
            Some(Attributes::WorkflowExecutionSignaledEventAttributes(a))
                if a.signal_name == SIGNAL =>
            {
                self.signals.push(value(a.input.as_ref()));
            }
            Some(Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(_)) => {
                self.updates += 1;
            }
            _ => {}
        }
    }

    /// The answer to the query `state`.
    pub fn query_answer(&self) -> Payloads {
        payload(&json!({"signals": self.signals.len()}))
    }

    fn count(&self, field: &str) -> u64 {
        self.input
            .as_ref()
            .and_then(|input| input.get(field))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    fn activity_done(&self, id: &str) -> bool {
        self.completed.contains_key(id)
    }
}

/// The commands of a workflow's next task.
pub fn decide(seen: &Seen, task_queue: &str) -> Vec<Command> {
    if let Some(why) = &seen.broken {
        return vec![fail(why)];
    }
    match seen.workflow_type.as_str() {
        SINGLE_NOOP_ACTIVITY => single_noop_activity(seen, task_queue),
        FAN_OUT => fan_out(seen, task_queue),
        MANY_TIMERS => many_timers(seen),
        SIGNAL_COUNTER => signal_counter(seen),
        THROUGHPUT_STRESS => throughput_stress(seen, task_queue),
        other => vec![fail(&format!(
            "this worker does not run workflow type {other}"
        ))],
    }
}

fn single_noop_activity(seen: &Seen, task_queue: &str) -> Vec<Command> {
    match seen.completed.get("noop") {
        Some(result) => vec![complete(result.clone().unwrap_or(Value::Null))],
        None if seen.scheduled.is_empty() => vec![schedule_activity(
            "noop",
            seen.input.clone().unwrap_or(Value::Null),
            task_queue,
        )],
        None => Vec::new(),
    }
}

fn fan_out(seen: &Seen, task_queue: &str) -> Vec<Command> {
    let total = seen.count("activities");
    if seen.scheduled.is_empty() {
        return (0..total)
            .map(|i| schedule_activity(&format!("a{i}"), json!(i), task_queue))
            .collect();
    }
    if (seen.completed.len() as u64) < total {
        return Vec::new();
    }
    let right = (0..total)
        .filter(|i| seen.completed.get(&format!("a{i}")) == Some(&Some(json!(i))))
        .count();
    vec![complete(json!(right))]
}

fn many_timers(seen: &Seen) -> Vec<Command> {
    let total = seen.count("timers");
    if seen.timers_started.is_empty() {
        return (0..total)
            .map(|i| {
                let ms = 10 * (i64::try_from(i).unwrap_or(0) + 1);
                start_timer(&format!("t{i}"), ms)
            })
            .collect();
    }
    if (seen.timers_fired.len() as u64) < total {
        return Vec::new();
    }
    vec![complete(json!(seen.timers_fired.len()))]
}

fn signal_counter(seen: &Seen) -> Vec<Command> {
    let wanted = seen.count("signals");
    let distinct: BTreeSet<String> = seen
        .signals
        .iter()
        .map(|s| s.as_ref().map(Value::to_string).unwrap_or_default())
        .collect();
    if (distinct.len() as u64) < wanted {
        return Vec::new();
    }
    vec![complete(json!(distinct.len()))]
}

fn throughput_stress(seen: &Seen, task_queue: &str) -> Vec<Command> {
    let Some(input) = &seen.input else {
        return vec![fail("ThroughputStress needs an input")];
    };
    let id = input.get("id").cloned().unwrap_or(Value::Null);
    if seen.count("generation") > 0 {
        return match seen.completed.get("last") {
            Some(_) => vec![complete(id)],
            None if seen.scheduled.is_empty() => {
                vec![schedule_activity("last", id, task_queue)]
            }
            None => Vec::new(),
        };
    }
    if seen.scheduled.is_empty() {
        let child_id = format!("{}-child", id.as_str().unwrap_or("stress"));
        return vec![
            schedule_activity("first", id.clone(), task_queue),
            schedule_activity("second", id.clone(), task_queue),
            start_timer("pause", STRESS_TIMER_MS),
            start_child(&child_id, id, task_queue),
        ];
    }
    let done = seen.activity_done("first")
        && seen.activity_done("second")
        && seen.timers_fired.contains("pause")
        && seen.child_initiated
        && seen.child_result.is_some()
        && seen.updates > 0
        && seen.signals.len() as u64 >= seen.count("signals");
    if !done {
        return Vec::new();
    }
    let mut next = input.clone();
    next["generation"] = json!(1);
    vec![Command {
        command_type: CommandType::ContinueAsNewWorkflowExecution as i32,
        attributes: Some(
            command::Attributes::ContinueAsNewWorkflowExecutionCommandAttributes(
                ContinueAsNewWorkflowExecutionCommandAttributes {
                    workflow_type: Some(WorkflowType {
                        name: THROUGHPUT_STRESS.into(),
                    }),
                    task_queue: task_queue_of(task_queue),
                    input: Some(payload(&next)),
                    ..Default::default()
                },
            ),
        ),
        ..Default::default()
    }]
}

pub fn task_queue_of(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.to_string(),
        kind: TaskQueueKind::Normal as i32,
        ..Default::default()
    })
}

fn seconds(ms: i64) -> Option<prost_wkt_types::Duration> {
    Some(prost_wkt_types::Duration {
        seconds: ms / 1000,
        nanos: i32::try_from((ms % 1000) * 1_000_000).unwrap_or(0),
    })
}

fn schedule_activity(id: &str, input: Value, task_queue: &str) -> Command {
    Command {
        command_type: CommandType::ScheduleActivityTask as i32,
        attributes: Some(command::Attributes::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
                activity_id: id.into(),
                activity_type: Some(ActivityType {
                    name: NOOP_ACTIVITY.into(),
                }),
                task_queue: task_queue_of(task_queue),
                input: Some(payload(&input)),
                start_to_close_timeout: seconds(10_000),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn start_timer(id: &str, ms: i64) -> Command {
    Command {
        command_type: CommandType::StartTimer as i32,
        attributes: Some(command::Attributes::StartTimerCommandAttributes(
            StartTimerCommandAttributes {
                timer_id: id.into(),
                start_to_fire_timeout: seconds(ms),
            },
        )),
        ..Default::default()
    }
}

fn start_child(workflow_id: &str, input: Value, task_queue: &str) -> Command {
    Command {
        command_type: CommandType::StartChildWorkflowExecution as i32,
        attributes: Some(
            command::Attributes::StartChildWorkflowExecutionCommandAttributes(
                StartChildWorkflowExecutionCommandAttributes {
                    workflow_id: workflow_id.into(),
                    workflow_type: Some(WorkflowType {
                        name: SINGLE_NOOP_ACTIVITY.into(),
                    }),
                    task_queue: task_queue_of(task_queue),
                    input: Some(payload(&input)),
                    ..Default::default()
                },
            ),
        ),
        ..Default::default()
    }
}

fn complete(result: Value) -> Command {
    Command {
        command_type: CommandType::CompleteWorkflowExecution as i32,
        attributes: Some(
            command::Attributes::CompleteWorkflowExecutionCommandAttributes(
                CompleteWorkflowExecutionCommandAttributes {
                    result: Some(payload(&result)),
                },
            ),
        ),
        ..Default::default()
    }
}

fn fail(message: &str) -> Command {
    Command {
        command_type: CommandType::FailWorkflowExecution as i32,
        attributes: Some(command::Attributes::FailWorkflowExecutionCommandAttributes(
            FailWorkflowExecutionCommandAttributes {
                failure: Some(Failure {
                    message: message.into(),
                    ..Default::default()
                }),
            },
        )),
        ..Default::default()
    }
}
