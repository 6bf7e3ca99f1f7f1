//! Small builders for engine tests: a [`Run`] that owns one run's state, a clock and the
//! history written so far, plus constructors for commands, failures and payloads.

use std::collections::HashMap;

use crate::{
    Changes, EngineError, MutableState, RunKey, TaskKind, TaskRef,
    activity::{ActivityOutcome, StartedActivity},
    events::{Tx, task_queue},
    proto::{
        Attributes, HistoryEvent,
        command::{
            self, Command, CompleteWorkflowExecutionCommandAttributes,
            RecordMarkerCommandAttributes, RequestCancelActivityTaskCommandAttributes,
            ScheduleActivityTaskCommandAttributes, StartTimerCommandAttributes,
            command::Attributes as C,
        },
        common::{ActivityType, Payload, Payloads, RetryPolicy, WorkflowType},
        enums::{CommandType, EventType},
        failure::{ApplicationFailureInfo, Failure, failure::FailureInfo},
        workflowservice::StartWorkflowExecutionRequest,
    },
    signal::Signal,
    start,
    state::WorkflowTaskInfo,
    time::{self, Nanos},
    timer::{self, Deadline},
    workflow_task::{Completion, CompletionOutcome, StartedWorkflowTask},
};

/// When every test run starts: 2023-11-14T22:13:20Z.
pub const T0: Nanos = 1_700_000_000 * time::NANOS_PER_SEC;
pub const NAMESPACE: &str = "default";
pub const TASK_QUEUE: &str = "orders";
pub const WORKER: &str = "worker-1";

/// The attributes of an event, which must be of the given kind.
macro_rules! attrs {
    ($event:expr, $variant:ident) => {
        match &$event.attributes {
            Some($crate::proto::Attributes::$variant(a)) => a,
            other => panic!("expected {}, got {other:?}", stringify!($variant)),
        }
    };
}
pub(crate) use attrs;

pub fn run_key() -> RunKey {
    RunKey {
        namespace_id: "ns-1".into(),
        workflow_id: "order-1".into(),
        run_id: "run-1".into(),
    }
}

pub fn start_request() -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: NAMESPACE.into(),
        workflow_id: "order-1".into(),
        workflow_type: Some(WorkflowType {
            name: "OrderWorkflow".into(),
        }),
        task_queue: Some(task_queue(TASK_QUEUE)),
        input: Some(payloads("order")),
        identity: "client-1".into(),
        request_id: "start-request-1".into(),
        ..Default::default()
    }
}

/// One run under test: its state, the current time, and what was written and dispatched.
#[derive(Debug, Clone)]
pub struct Run {
    pub state: MutableState,
    pub now: Nanos,
    /// Every event written since the run started, in order.
    pub history: Vec<HistoryEvent>,
    /// Every task handed to matching since the run started, in order.
    pub tasks: Vec<TaskRef>,
    /// The limits operations are held to.
    pub limits: crate::limits::Limits,
    polls: u32,
}

impl Run {
    /// A run started with [`start_request`] at [`T0`].
    pub fn start() -> Self {
        Self::start_with(&start_request())
    }

    pub fn start_with(request: &StartWorkflowExecutionRequest) -> Self {
        let (state, changes) = start::start(run_key(), NAMESPACE, request, T0);
        Self {
            state,
            now: T0,
            history: changes.events,
            tasks: changes.tasks,
            limits: crate::limits::Limits::default(),
            polls: 0,
        }
    }

    /// A run that [`start::begin`] created at `now`.
    pub fn begun(start: start::RunStart, now: Nanos) -> Self {
        let (state, changes) = start::begin(start, now);
        Self {
            state,
            now,
            history: changes.events,
            tasks: changes.tasks,
            limits: crate::limits::Limits::default(),
            polls: 0,
        }
    }

    /// A run whose first workflow task completed with `commands`.
    pub fn after_first_task(commands: Vec<Command>) -> Self {
        let mut run = Self::start();
        run.workflow_task(commands);
        run
    }

    pub fn advance(&mut self, by: Nanos) {
        self.now += by;
    }

    /// Runs one operation at the current time and records what it wrote.
    pub fn op<R>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> R) -> (R, Changes) {
        let mut tx = Tx::new(&mut self.state, self.now).with_limits(self.limits);
        let result = f(&mut tx);
        let changes = tx.finish();
        self.history.extend(changes.events.iter().cloned());
        self.tasks.extend(changes.tasks.iter().cloned());
        (result, changes)
    }

    /// Runs an operation that must succeed.
    pub fn ok<T>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, EngineError>) -> (T, Changes) {
        let (result, changes) = self.op(f);
        (
            result.unwrap_or_else(|e| panic!("operation refused: {e:?}")),
            changes,
        )
    }

    /// Runs an operation that must be refused, and checks that it changed nothing at all.
    pub fn refused<T: std::fmt::Debug>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, EngineError>,
    ) -> EngineError {
        let before = self.state.clone();
        let (result, changes) = self.op(f);
        assert_eq!(
            changes,
            Changes::default(),
            "a refused operation writes nothing"
        );
        assert_eq!(
            self.state, before,
            "a refused operation leaves the state alone"
        );
        result.expect_err("operation should be refused")
    }

    pub fn workflow_task_info(&self) -> &WorkflowTaskInfo {
        self.state
            .workflow_task
            .as_ref()
            .expect("a workflow task is pending")
    }

    /// A poller picks up the pending workflow task.
    pub fn start_workflow_task(&mut self) -> (StartedWorkflowTask, Changes) {
        self.polls += 1;
        let scheduled = self.workflow_task_info().scheduled_event_id;
        let request_id = format!("poll-{}", self.polls);
        self.ok(|tx| tx.start_workflow_task(scheduled, &request_id, WORKER))
    }

    /// The worker completes the started workflow task with `commands`.
    pub fn complete_workflow_task(
        &mut self,
        commands: Vec<Command>,
    ) -> (CompletionOutcome, Changes) {
        let task = self.workflow_task_info().clone();
        assert!(task.is_started(), "the workflow task was started");
        let completion = Completion {
            identity: WORKER.into(),
            commands,
            ..Default::default()
        };
        self.ok(|tx| {
            tx.complete_workflow_task(task.scheduled_event_id, task.started_event_id, &completion)
        })
    }

    /// Starts the pending workflow task and completes it with `commands`, which must be
    /// accepted. Returns what the completion wrote.
    pub fn workflow_task(&mut self, commands: Vec<Command>) -> Changes {
        self.start_workflow_task();
        let (outcome, changes) = self.complete_workflow_task(commands);
        assert_eq!(
            outcome,
            crate::workflow_task::CompletionOutcome::Accepted {
                eager_activities: vec![]
            }
        );
        changes
    }

    /// The worker reports that the started workflow task failed.
    pub fn fail_workflow_task(&mut self) -> Changes {
        let task = self.workflow_task_info().clone();
        let cause = crate::proto::enums::WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure;
        let failure = Some(app_failure("workflow panicked", "Panic", false));
        self.ok(|tx| {
            tx.fail_workflow_task(
                task.scheduled_event_id,
                task.started_event_id,
                cause,
                failure,
                WORKER,
            )
        })
        .1
    }

    pub fn signal(&mut self, name: &str, request_id: &str) -> Changes {
        let signal = Signal {
            name: name.into(),
            input: Some(payloads(name)),
            identity: "client-1".into(),
            request_id: request_id.into(),
            ..Default::default()
        };
        self.ok(|tx| tx.signal(signal)).1
    }

    /// Every deadline of the run, soonest first.
    pub fn deadlines(&self) -> Vec<(Nanos, Deadline)> {
        let mut deadlines = timer::deadlines(&self.state);
        deadlines.sort();
        deadlines
    }

    /// Moves the clock to `at` and fires every deadline due by then, each in its own
    /// operation as the history owner's timer wheel would.
    pub fn fire_until(&mut self, at: Nanos) -> Changes {
        self.now = self.now.max(at);
        let mut all = Changes::default();
        for (due, deadline) in self.deadlines() {
            if due <= self.now {
                let changes = self.op(|tx| tx.fire(&deadline)).1;
                all.events.extend(changes.events);
                all.tasks.extend(changes.tasks);
                all.next_run = all.next_run.or(changes.next_run);
            }
        }
        all
    }

    /// Fires the one deadline matching `pick` at its due time.
    pub fn fire(&mut self, pick: impl Fn(&Deadline) -> bool) -> Changes {
        let (due, deadline) = self
            .deadlines()
            .into_iter()
            .find(|(_, d)| pick(d))
            .expect("the deadline is listed");
        self.now = self.now.max(due);
        self.op(|tx| tx.fire(&deadline)).1
    }

    /// A poller picks up the activity's current attempt.
    pub fn start_activity(&mut self, scheduled_event_id: i64) -> StartedActivity {
        self.polls += 1;
        let stamp = self
            .state
            .activity(scheduled_event_id)
            .expect("activity is pending")
            .current_stamp();
        let request_id = format!("poll-{}", self.polls);
        self.ok(|tx| tx.start_activity(scheduled_event_id, stamp, &request_id, WORKER))
            .0
    }

    pub fn close_activity(&mut self, scheduled_event_id: i64, outcome: ActivityOutcome) -> Changes {
        let attempt = self
            .state
            .activity(scheduled_event_id)
            .expect("activity is pending")
            .attempt;
        self.ok(|tx| tx.close_activity(scheduled_event_id, Some(attempt), WORKER, outcome))
            .1
    }

    pub fn complete_activity(&mut self, scheduled_event_id: i64, result: &str) -> Changes {
        self.close_activity(
            scheduled_event_id,
            ActivityOutcome::Completed {
                result: Some(payloads(result)),
            },
        )
    }

    pub fn fail_activity(&mut self, scheduled_event_id: i64, failure: Failure) -> Changes {
        self.close_activity(
            scheduled_event_id,
            ActivityOutcome::Failed {
                failure,
                last_heartbeat_details: None,
            },
        )
    }

    /// The events written so far with their types, for compact assertions.
    pub fn history_types(&self) -> Vec<EventType> {
        types(&self.history)
    }
}

pub fn types(events: &[HistoryEvent]) -> Vec<EventType> {
    events
        .iter()
        .map(|e| EventType::try_from(e.event_type).expect("a known event type"))
        .collect()
}

pub fn ids(events: &[HistoryEvent]) -> Vec<i64> {
    events.iter().map(|e| e.event_id).collect()
}

pub fn event_time(event: &HistoryEvent) -> Nanos {
    time::from_timestamp(event.event_time.as_ref().expect("events carry a time"))
}

pub fn workflow_task_ref(scheduled_event_id: i64, attempt: i32) -> TaskRef {
    TaskRef {
        run: run_key(),
        kind: TaskKind::Workflow,
        task_queue: TASK_QUEUE.into(),
        scheduled_event_id,
        attempt,
    }
}

pub fn activity_task_ref(scheduled_event_id: i64, attempt: i32) -> TaskRef {
    TaskRef {
        kind: TaskKind::Activity,
        ..workflow_task_ref(scheduled_event_id, attempt)
    }
}

pub fn payloads(value: &str) -> Payloads {
    Payloads {
        payloads: vec![Payload {
            metadata: HashMap::from([("encoding".to_string(), b"json/plain".to_vec())]),
            data: format!("{value:?}").into_bytes(),
            ..Default::default()
        }],
    }
}

pub fn app_failure(message: &str, error_type: &str, non_retryable: bool) -> Failure {
    Failure {
        message: message.into(),
        source: "GoSDK".into(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo {
                r#type: error_type.into(),
                non_retryable,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

pub fn command(attributes: C) -> Command {
    let command_type = match &attributes {
        C::ScheduleActivityTaskCommandAttributes(_) => CommandType::ScheduleActivityTask,
        C::RequestCancelActivityTaskCommandAttributes(_) => CommandType::RequestCancelActivityTask,
        C::StartTimerCommandAttributes(_) => CommandType::StartTimer,
        C::CompleteWorkflowExecutionCommandAttributes(_) => CommandType::CompleteWorkflowExecution,
        C::FailWorkflowExecutionCommandAttributes(_) => CommandType::FailWorkflowExecution,
        C::CancelTimerCommandAttributes(_) => CommandType::CancelTimer,
        C::CancelWorkflowExecutionCommandAttributes(_) => CommandType::CancelWorkflowExecution,
        C::RecordMarkerCommandAttributes(_) => CommandType::RecordMarker,
        C::ContinueAsNewWorkflowExecutionCommandAttributes(_) => {
            CommandType::ContinueAsNewWorkflowExecution
        }
        _ => CommandType::Unspecified,
    };
    Command {
        command_type: command_type as i32,
        attributes: Some(attributes),
        ..Default::default()
    }
}

/// The attributes of [`schedule_activity`], to adjust before wrapping in [`command`].
pub fn activity_attributes(activity_id: &str) -> ScheduleActivityTaskCommandAttributes {
    ScheduleActivityTaskCommandAttributes {
        activity_id: activity_id.into(),
        activity_type: Some(ActivityType {
            name: "Charge".into(),
        }),
        task_queue: Some(task_queue(TASK_QUEUE)),
        input: Some(payloads(activity_id)),
        start_to_close_timeout: Some(time::duration(time::secs(10))),
        ..Default::default()
    }
}

/// An activity with a 10 s start-to-close timeout and the default retry policy.
pub fn schedule_activity(activity_id: &str) -> Command {
    command(C::ScheduleActivityTaskCommandAttributes(
        activity_attributes(activity_id),
    ))
}

/// An activity that gives up after `maximum_attempts`, retrying after 1 s, 2 s, 4 s, ...
pub fn schedule_activity_with_attempts(activity_id: &str, maximum_attempts: i32) -> Command {
    command(C::ScheduleActivityTaskCommandAttributes(
        ScheduleActivityTaskCommandAttributes {
            retry_policy: Some(RetryPolicy {
                maximum_attempts,
                ..Default::default()
            }),
            ..activity_attributes(activity_id)
        },
    ))
}

pub fn request_cancel_activity(scheduled_event_id: i64) -> Command {
    command(C::RequestCancelActivityTaskCommandAttributes(
        RequestCancelActivityTaskCommandAttributes { scheduled_event_id },
    ))
}

pub fn start_timer(timer_id: &str, seconds: i64) -> Command {
    command(C::StartTimerCommandAttributes(
        StartTimerCommandAttributes {
            timer_id: timer_id.into(),
            start_to_fire_timeout: Some(time::duration(time::secs(seconds))),
        },
    ))
}

pub fn cancel_timer(timer_id: &str) -> Command {
    command(C::CancelTimerCommandAttributes(
        command::CancelTimerCommandAttributes {
            timer_id: timer_id.into(),
        },
    ))
}

pub fn record_marker(name: &str) -> Command {
    command(C::RecordMarkerCommandAttributes(
        RecordMarkerCommandAttributes {
            marker_name: name.into(),
            ..Default::default()
        },
    ))
}

pub fn complete_workflow(result: &str) -> Command {
    command(C::CompleteWorkflowExecutionCommandAttributes(
        CompleteWorkflowExecutionCommandAttributes {
            result: Some(payloads(result)),
        },
    ))
}

/// Checks what every accepted operation must leave behind: event IDs contiguous from 1,
/// `next_event_id` just past the last one, and nothing written after a close event.
pub fn assert_history_invariants(run: &Run) {
    for (index, event) in run.history.iter().enumerate() {
        assert_eq!(
            event.event_id,
            index as i64 + 1,
            "event IDs are contiguous from 1"
        );
        assert_ne!(
            event.event_type,
            EventType::Unspecified as i32,
            "every event has a type"
        );
    }
    assert_eq!(
        run.state.next_event_id,
        run.history.len() as i64 + 1,
        "next_event_id follows the last event"
    );
    if let Some(index) = run.history.iter().position(is_close_event) {
        assert_eq!(
            index + 1,
            run.history.len(),
            "nothing is written after the close event"
        );
        assert!(!run.state.is_open(), "a close event closes the run");
        assert_eq!(run.state.completion_event_id, index as i64 + 1);
    } else {
        assert!(run.state.is_open(), "an open run has no close event");
    }
}

pub fn is_close_event(event: &HistoryEvent) -> bool {
    matches!(
        event.attributes,
        Some(
            Attributes::WorkflowExecutionCompletedEventAttributes(_)
                | Attributes::WorkflowExecutionFailedEventAttributes(_)
                | Attributes::WorkflowExecutionCanceledEventAttributes(_)
                | Attributes::WorkflowExecutionTerminatedEventAttributes(_)
                | Attributes::WorkflowExecutionTimedOutEventAttributes(_)
                | Attributes::WorkflowExecutionContinuedAsNewEventAttributes(_)
        )
    )
}
