//! The mutable state of one workflow run: everything the engine needs to validate the next
//! request without reading history. It is persisted whole with every transition, so it holds
//! only plain values; Temporal API messages it must keep verbatim are encoded protobuf bytes.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

use crate::{ids::RunKey, retry::RetryPolicy, time::Nanos};

/// The run's status, numbered as `temporal.api.enums.v1.WorkflowExecutionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, AvroSchema)]
pub enum ExecutionStatus {
    Running,
    Completed,
    Failed,
    Canceled,
    Terminated,
    ContinuedAsNew,
    TimedOut,
}

impl ExecutionStatus {
    pub fn is_open(self) -> bool {
        self == Self::Running
    }

    pub fn to_proto(self) -> i32 {
        match self {
            Self::Running => 1,
            Self::Completed => 2,
            Self::Failed => 3,
            Self::Canceled => 4,
            Self::Terminated => 5,
            Self::ContinuedAsNew => 6,
            Self::TimedOut => 7,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Running => "Running",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Canceled => "Canceled",
            Self::Terminated => "Terminated",
            Self::ContinuedAsNew => "ContinuedAsNew",
            Self::TimedOut => "TimedOut",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct MutableState {
    pub run: RunKey,
    /// The namespace's name (the run key holds its ID).
    pub namespace: String,
    pub workflow_type: String,
    pub task_queue: String,
    pub status: ExecutionStatus,
    pub start_time: Nanos,
    pub execution_time: Nanos,
    pub close_time: Option<Nanos>,
    /// The request ID of the start that created this run (start idempotency).
    pub start_request_id: String,
    pub first_run_id: String,
    pub identity: String,
    pub execution_timeout: Nanos,
    pub run_timeout: Nanos,
    /// The worker-specific queue of the worker that ran the last workflow task, when it asked
    /// for sticky execution; empty otherwise. New workflow tasks go there first.
    #[serde(default)]
    #[avro(default = r#""""#)]
    pub sticky_task_queue: String,
    /// How long a workflow task may wait on the sticky queue before it moves to the normal one.
    #[serde(default)]
    #[avro(default = "0")]
    pub sticky_schedule_to_start_timeout: Nanos,
    pub workflow_task_timeout: Nanos,
    /// When the whole execution (all runs) times out; `None` when unlimited.
    pub execution_expiration: Option<Nanos>,
    /// When this run times out; `None` when unlimited.
    pub run_expiration: Option<Nanos>,
    pub next_event_id: i64,
    /// Started event ID of the last completed workflow task (`previous_started_event_id`).
    pub last_completed_started_event_id: i64,
    pub workflow_task: Option<WorkflowTaskInfo>,
    /// Pending activities ordered by scheduled event ID.
    pub activities: Vec<ActivityInfo>,
    /// Pending user timers ordered by started event ID.
    pub timers: Vec<TimerInfo>,
    /// Events that arrived while a workflow task was started: length-delimited encoded
    /// `HistoryEvent`s without IDs, written after the task's completion events.
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub buffered_events: Vec<u8>,
    pub cancel_requested: bool,
    /// Request IDs of accepted signals, so a retried signal is applied once; sorted.
    pub signal_request_ids: Vec<String>,
    pub signal_count: i64,
    /// Encoded `Memo` and `SearchAttributes` as given at start.
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub memo: Vec<u8>,
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub search_attributes: Vec<u8>,
    /// Event ID of the event that closed the run, 0 while open.
    pub completion_event_id: i64,
    pub history_size_bytes: i64,
    /// Which attempt of the workflow this run is (its retry policy's attempts), from 1.
    #[serde(default = "first_attempt")]
    #[avro(default = "1")]
    pub attempt: i32,
    /// The workflow's retry policy, defaults filled in; `None` when the start set none.
    #[serde(default)]
    #[avro(default = "null")]
    pub retry_policy: Option<RetryPolicy>,
    #[serde(default)]
    #[avro(default = r#""""#)]
    pub cron_schedule: String,
    /// While the first workflow task waits out a start delay or a retry or cron backoff:
    /// when it is due. Signals and cancel requests are recorded meanwhile, but no task.
    #[serde(default)]
    #[avro(default = "null")]
    pub first_workflow_task_due: Option<Nanos>,
    /// Encoded `Payloads` and `Header` the run started with, kept only when a retry or cron
    /// run may need them again.
    #[serde(default, with = "apache_avro::serde::bytes")]
    #[avro(with, default = r#""""#)]
    pub start_input: Vec<u8>,
    #[serde(default, with = "apache_avro::serde::bytes")]
    #[avro(with, default = r#""""#)]
    pub start_header: Vec<u8>,
    /// Children started and not yet closed. After the run closes, the children its parent
    /// close policy still has to terminate or cancel.
    #[serde(default)]
    #[avro(default = "[]")]
    pub children: Vec<ChildInfo>,
    /// Signals and cancel requests to other workflows not yet delivered.
    #[serde(default)]
    #[avro(default = "[]")]
    pub external_requests: Vec<ExternalRequest>,
    /// Set when this run is a child workflow's.
    #[serde(default)]
    #[avro(default = "null")]
    pub parent: Option<ParentInfo>,
    /// Set when the run closed and its parent (or the schedule that started it) has not yet
    /// been told.
    #[serde(default)]
    #[avro(default = "false")]
    pub notify_parent: bool,
    /// Updates admitted, accepted or completed.
    #[serde(default)]
    #[avro(default = "[]")]
    pub updates: Vec<crate::update::UpdateInfo>,
    /// Updates ever admitted to this run.
    #[serde(default)]
    #[avro(default = "0")]
    pub update_count: i64,
    /// Set on the run that holds a schedule (see [`crate::schedule`]).
    #[serde(default)]
    #[avro(default = "null")]
    pub schedule: Option<crate::schedule::ScheduleState>,
    /// The run of the schedule that started this workflow; it hears when the workflow's last
    /// run closes.
    #[serde(default)]
    #[avro(default = "null")]
    pub scheduled_by: Option<RunKey>,
    /// Where the workflow can be reset to: the first workflow task each build completed,
    /// in this run or the runs it continues (Temporal's `auto_reset_points`).
    #[serde(default)]
    #[avro(default = "[]")]
    pub reset_points: Vec<ResetPoint>,
    /// The workflow at the top of this run's chain of parents, when it has a parent; a run
    /// without one is its own root.
    #[serde(default)]
    #[avro(default = "null")]
    pub root: Option<RunKey>,
}

/// The first workflow task a worker build completed in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct ResetPoint {
    pub build_id: String,
    pub run_id: String,
    pub first_workflow_task_completed_id: i64,
    pub create_time: Nanos,
}

fn first_attempt() -> i32 {
    1
}

/// A child workflow this run started (or is starting) and has not yet seen close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct ChildInfo {
    /// The `StartChildWorkflowExecutionInitiated` event, which identifies the child.
    pub initiated_event_id: i64,
    /// The `ChildWorkflowExecutionStarted` event; 0 until the child started, or while that
    /// event waits in the buffer.
    pub started_event_id: i64,
    pub started: bool,
    pub workflow_id: String,
    /// The child's run, once started.
    pub run_id: String,
    pub workflow_type: String,
    /// `temporal.api.enums.v1.ParentClosePolicy`.
    pub parent_close_policy: i32,
    pub workflow_task_completed_event_id: i64,
    /// The encoded `StartChildWorkflowExecutionCommandAttributes`, until the child started.
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub command: Vec<u8>,
}

/// A signal or cancel request this run sent to another workflow, until it is delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct ExternalRequest {
    pub initiated_event_id: i64,
    pub cancel: bool,
    /// The encoded command: `SignalExternalWorkflowExecutionCommandAttributes` or
    /// `RequestCancelExternalWorkflowExecutionCommandAttributes`.
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub command: Vec<u8>,
}

/// The parent of a child workflow's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct ParentInfo {
    pub namespace: String,
    pub run: RunKey,
    pub initiated_event_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct WorkflowTaskInfo {
    /// For a transient task this is the ID its scheduled event would have taken when it was
    /// scheduled; if other events were written since, it becomes an ordinary task on start.
    pub scheduled_event_id: i64,
    /// 0 while the task waits in its queue.
    pub started_event_id: i64,
    pub attempt: i32,
    pub task_queue: String,
    pub timeout: Nanos,
    pub scheduled_time: Nanos,
    pub started_time: Nanos,
    pub request_id: String,
    pub identity: String,
    /// A retried task (attempt > 1) stays out of history until it completes: its scheduled
    /// and started events are only written with its completion.
    pub transient: bool,
    /// Set when the task waits on a worker's sticky queue: the run's normal queue.
    #[serde(default)]
    #[avro(default = r#""""#)]
    pub normal_task_queue: String,
    /// A task scheduled only to carry updates: transient, and dropped without a trace if
    /// the worker only rejects them.
    #[serde(default)]
    #[avro(default = "false")]
    pub speculative: bool,
}

impl WorkflowTaskInfo {
    pub fn is_started(&self) -> bool {
        self.started_event_id != 0
    }

    pub fn is_sticky(&self) -> bool {
        !self.normal_task_queue.is_empty()
    }

    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct ActivityInfo {
    pub scheduled_event_id: i64,
    pub activity_id: String,
    pub activity_type: String,
    pub task_queue: String,
    // The activity's input and header stay in its `ActivityTaskScheduled` event only.
    pub schedule_to_close_timeout: Nanos,
    pub schedule_to_start_timeout: Nanos,
    pub start_to_close_timeout: Nanos,
    pub heartbeat_timeout: Nanos,
    pub retry_policy: RetryPolicy,
    /// When the first attempt was scheduled.
    pub scheduled_time: Nanos,
    /// When the current attempt was scheduled (after its retry backoff, if any).
    pub attempt_scheduled_time: Nanos,
    pub attempt: i32,
    /// Set while the current attempt is running on a worker.
    pub started_time: Option<Nanos>,
    pub started_identity: String,
    pub started_request_id: String,
    pub last_heartbeat_time: Option<Nanos>,
    /// Encoded `Payloads` of the last heartbeat, carried to the next attempt.
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub heartbeat_details: Vec<u8>,
    /// Encoded `Failure` of the previous attempt.
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub last_failure: Vec<u8>,
    pub cancel_requested: bool,
    pub cancel_requested_event_id: i64,
    pub workflow_task_completed_event_id: i64,
    /// Which dispatch of the activity counts: raised by every retry, pause, unpause, reset
    /// and options change, so a task handed out before is refused when a worker picks it.
    /// 0 in state written before stamps existed, where the attempt is the stamp.
    #[serde(default)]
    #[avro(default = "0")]
    pub stamp: i32,
    /// Set while an operator holds the activity: no new attempt is dispatched and no timeout
    /// fires; a running attempt may still finish.
    #[serde(default)]
    #[avro(default = "null")]
    pub pause: Option<ActivityPause>,
    /// An operator reset the activity while an attempt ran: heartbeats tell the worker, and
    /// the next attempt starts from 1 (with no heartbeat details when `reset_heartbeat`).
    #[serde(default)]
    #[avro(default = "false")]
    pub reset_requested: bool,
    #[serde(default)]
    #[avro(default = "false")]
    pub reset_heartbeat: bool,
    /// The options the workflow scheduled the activity with, kept once an operator changed
    /// them, so that they can be restored.
    #[serde(default)]
    #[avro(default = "null")]
    pub original_options: Option<ActivityOptions>,
}

/// Who paused an activity, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct ActivityPause {
    pub time: Nanos,
    pub identity: String,
    pub reason: String,
    pub request_id: String,
}

/// The options of an activity an operator may change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct ActivityOptions {
    pub task_queue: String,
    pub schedule_to_close_timeout: Nanos,
    pub schedule_to_start_timeout: Nanos,
    pub start_to_close_timeout: Nanos,
    pub heartbeat_timeout: Nanos,
    pub retry_policy: RetryPolicy,
}

impl ActivityInfo {
    pub fn is_started(&self) -> bool {
        self.started_time.is_some()
    }

    pub fn is_paused(&self) -> bool {
        self.pause.is_some()
    }

    /// The stamp a dispatch of the activity carries now.
    pub fn current_stamp(&self) -> i32 {
        if self.stamp == 0 {
            self.attempt
        } else {
            self.stamp
        }
    }

    /// Makes every dispatch handed out so far stale.
    pub fn renew_stamp(&mut self) {
        self.stamp = self.current_stamp() + 1;
    }

    /// The options the activity runs with now.
    pub fn options(&self) -> ActivityOptions {
        ActivityOptions {
            task_queue: self.task_queue.clone(),
            schedule_to_close_timeout: self.schedule_to_close_timeout,
            schedule_to_start_timeout: self.schedule_to_start_timeout,
            start_to_close_timeout: self.start_to_close_timeout,
            heartbeat_timeout: self.heartbeat_timeout,
            retry_policy: self.retry_policy.clone(),
        }
    }

    pub(crate) fn set_options(&mut self, options: ActivityOptions) {
        self.task_queue = options.task_queue;
        self.schedule_to_close_timeout = options.schedule_to_close_timeout;
        self.schedule_to_start_timeout = options.schedule_to_start_timeout;
        self.start_to_close_timeout = options.start_to_close_timeout;
        self.heartbeat_timeout = options.heartbeat_timeout;
        self.retry_policy = options.retry_policy;
    }

    /// True while the next attempt waits out its retry backoff.
    pub fn is_backing_off(&self, now: Nanos) -> bool {
        self.started_time.is_none() && self.attempt_scheduled_time > now
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct TimerInfo {
    pub timer_id: String,
    pub started_event_id: i64,
    pub fire_time: Nanos,
}

impl MutableState {
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }

    pub fn activity(&self, scheduled_event_id: i64) -> Option<&ActivityInfo> {
        self.activities
            .iter()
            .find(|a| a.scheduled_event_id == scheduled_event_id)
    }

    pub fn activity_mut(&mut self, scheduled_event_id: i64) -> Option<&mut ActivityInfo> {
        self.activities
            .iter_mut()
            .find(|a| a.scheduled_event_id == scheduled_event_id)
    }

    pub fn activity_by_id(&self, activity_id: &str) -> Option<&ActivityInfo> {
        self.activities
            .iter()
            .find(|a| a.activity_id == activity_id)
    }

    pub fn remove_activity(&mut self, scheduled_event_id: i64) -> Option<ActivityInfo> {
        let index = self
            .activities
            .iter()
            .position(|a| a.scheduled_event_id == scheduled_event_id)?;
        Some(self.activities.remove(index))
    }

    /// Whether a signal with this request ID was accepted already.
    pub fn has_signal_request(&self, request_id: &str) -> bool {
        self.signal_request_ids
            .binary_search_by(|id| id.as_str().cmp(request_id))
            .is_ok()
    }

    /// Remembers an accepted signal's request ID (kept sorted, as a set).
    pub fn record_signal_request(&mut self, request_id: &str) {
        if let Err(at) = self
            .signal_request_ids
            .binary_search_by(|id| id.as_str().cmp(request_id))
        {
            self.signal_request_ids.insert(at, request_id.to_string());
        }
    }

    pub fn timer(&self, timer_id: &str) -> Option<&TimerInfo> {
        self.timers.iter().find(|t| t.timer_id == timer_id)
    }

    pub fn remove_timer(&mut self, timer_id: &str) -> Option<TimerInfo> {
        let index = self.timers.iter().position(|t| t.timer_id == timer_id)?;
        Some(self.timers.remove(index))
    }

    /// Tasks that wait for a worker: a workflow task not yet started, and activity attempts
    /// not started nor backing off. A new owner of the run's partition dispatches them
    /// again, since matching keeps its queues in memory.
    pub fn pending_tasks(&self, now: Nanos) -> Vec<crate::TaskRef> {
        let mut tasks = Vec::new();
        if let Some(task) = &self.workflow_task
            && !task.is_started()
        {
            tasks.push(crate::TaskRef::workflow(&self.run, task));
        }
        for activity in &self.activities {
            if !activity.is_started() && !activity.is_backing_off(now) && !activity.is_paused() {
                tasks.push(crate::TaskRef::activity(&self.run, activity));
            }
        }
        tasks
    }

    pub fn has_buffered_events(&self) -> bool {
        !self.buffered_events.is_empty()
    }

    pub fn has_started_workflow_task(&self) -> bool {
        self.workflow_task
            .as_ref()
            .is_some_and(WorkflowTaskInfo::is_started)
    }
}
