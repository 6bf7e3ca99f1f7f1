//! Activities: scheduled by a command, started by a poller, closed by the worker or by a
//! timeout. Failed attempts are retried by policy without a trace in history: the started
//! event is written only when the activity closes, with the final attempt number.

use prost::Message;

use crate::{
    EngineError, TaskRef,
    commands::Rejection,
    events::{Tx, task_queue},
    proto::{
        Attributes,
        command::ScheduleActivityTaskCommandAttributes,
        common::{Header, Payload, Payloads},
        enums::{RetryState, TimeoutType, WorkflowTaskFailedCause as Cause},
        failure::{Failure, TimeoutFailureInfo, failure::FailureInfo},
        history,
    },
    retry::RetryPolicy,
    state::ActivityInfo,
    time::{self, Nanos},
};

/// An activity attempt recorded as started.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedActivity {
    pub info: ActivityInfo,
}

/// What a worker needs to run an activity attempt: its run and workflow type, the
/// activity's state, and the input and header its `ActivityTaskScheduled` event holds
/// (encoded `Payloads` and `Header`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ActivityTask {
    pub run: crate::RunKey,
    pub workflow_type: String,
    pub info: ActivityInfo,
    pub input: Vec<u8>,
    pub header: Vec<u8>,
}

impl ActivityTask {
    /// The task of an attempt of `state`'s run, started for an activity scheduled by `event`.
    pub fn from_scheduled(
        state: &crate::MutableState,
        info: ActivityInfo,
        event: &history::ActivityTaskScheduledEventAttributes,
    ) -> Self {
        Self {
            run: state.run.clone(),
            workflow_type: state.workflow_type.clone(),
            info,
            input: opt_bytes(&event.input),
            header: opt_bytes::<Header>(&event.header),
        }
    }
}

/// What a heartbeat tells the worker running the attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeartbeatReply {
    pub cancel_requested: bool,
    /// An operator paused the activity: the worker should stop the attempt.
    pub paused: bool,
    /// An operator reset the activity: the worker should stop the attempt.
    pub reset: bool,
}

/// How a worker closed an activity attempt.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // short-lived, moved once into the engine
pub enum ActivityOutcome {
    Completed {
        result: Option<Payloads>,
    },
    Failed {
        failure: Failure,
        last_heartbeat_details: Option<Payloads>,
    },
    Canceled {
        details: Option<Payloads>,
    },
}

/// The details Temporal records when it cancels an activity that had not started.
pub const ACTIVITY_NOT_STARTED: &str = "ACTIVITY_ID_NOT_STARTED";

/// A string as the Go SDK's default data converter encodes it (`json/plain`).
fn json_string_payloads(value: &str) -> Payloads {
    let data = serde_json::to_vec(value).expect("a string serializes to JSON");
    Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())]
                .into_iter()
                .collect(),
            data,
            ..Default::default()
        }],
    }
}

pub fn validate_schedule(
    _state: &crate::MutableState,
    a: &ScheduleActivityTaskCommandAttributes,
) -> Result<(), Rejection> {
    let bad = |message: &str| {
        Err(Rejection::new(
            Cause::BadScheduleActivityAttributes,
            message,
        ))
    };
    if a.activity_id.is_empty() {
        return bad("activityId is not set");
    }
    let activity_type = a.activity_type.as_ref().map_or("", |t| t.name.as_str());
    if activity_type.is_empty() {
        return bad("activityType is not set");
    }
    if a.activity_id.len() > 1000 {
        return bad(&format!(
            "activityId exceeds length limit. Length={} Limit=1000",
            a.activity_id.len()
        ));
    }
    // Temporal 1.32 wants one of the two even when the run timeout could fill them in.
    let schedule_to_close = time::from_duration(a.schedule_to_close_timeout.as_ref());
    let start_to_close = time::from_duration(a.start_to_close_timeout.as_ref());
    if schedule_to_close <= 0 && start_to_close <= 0 {
        return bad(&format!(
            "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. ActivityId={} ActivityType={activity_type}",
            a.activity_id
        ));
    }
    Ok(())
}

/// Fills unset timeouts the way Temporal does: schedule-to-close defaults to the run timeout,
/// schedule-to-start and start-to-close to schedule-to-close, and none exceeds the run timeout.
pub(crate) fn normalized_timeouts(
    run_timeout: Nanos,
    a: &ScheduleActivityTaskCommandAttributes,
) -> (Nanos, Nanos, Nanos, Nanos) {
    let cap = |d: Nanos| {
        if run_timeout > 0 && (d <= 0 || d > run_timeout) {
            run_timeout
        } else {
            d.max(0)
        }
    };
    let mut schedule_to_close = cap(time::from_duration(a.schedule_to_close_timeout.as_ref()));
    let mut start_to_close = time::from_duration(a.start_to_close_timeout.as_ref());
    if start_to_close <= 0 {
        start_to_close = schedule_to_close;
    }
    start_to_close = cap(start_to_close);
    if schedule_to_close > 0 && start_to_close > schedule_to_close {
        start_to_close = schedule_to_close;
    }
    let mut schedule_to_start = time::from_duration(a.schedule_to_start_timeout.as_ref());
    if schedule_to_start <= 0 || (schedule_to_close > 0 && schedule_to_start > schedule_to_close) {
        schedule_to_start = schedule_to_close;
    }
    if run_timeout <= 0 && time::from_duration(a.schedule_to_close_timeout.as_ref()) <= 0 {
        // Unlimited run and no schedule-to-close: the activity is bounded by retries only.
        schedule_to_close = 0;
    }
    let heartbeat = time::from_duration(a.heartbeat_timeout.as_ref()).min(start_to_close.max(0));
    (
        schedule_to_close,
        schedule_to_start,
        start_to_close,
        heartbeat,
    )
}

pub(crate) fn opt_bytes<M: Message>(message: &Option<M>) -> Vec<u8> {
    message
        .as_ref()
        .map(Message::encode_to_vec)
        .unwrap_or_default()
}

pub fn decode_opt<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    if bytes.is_empty() {
        None
    } else {
        M::decode(bytes).ok()
    }
}

impl ActivityInfo {
    /// A newly scheduled activity, as its `ActivityTaskScheduled` event describes it.
    pub(crate) fn scheduled(
        scheduled_event_id: i64,
        a: &history::ActivityTaskScheduledEventAttributes,
        retry_policy: RetryPolicy,
        at: Nanos,
    ) -> Self {
        Self {
            scheduled_event_id,
            activity_id: a.activity_id.clone(),
            activity_type: a.activity_type.clone().unwrap_or_default().name,
            task_queue: a.task_queue.clone().unwrap_or_default().name,
            schedule_to_close_timeout: time::from_duration(a.schedule_to_close_timeout.as_ref()),
            schedule_to_start_timeout: time::from_duration(a.schedule_to_start_timeout.as_ref()),
            start_to_close_timeout: time::from_duration(a.start_to_close_timeout.as_ref()),
            heartbeat_timeout: time::from_duration(a.heartbeat_timeout.as_ref()),
            retry_policy,
            scheduled_time: at,
            attempt_scheduled_time: at,
            attempt: 1,
            started_time: None,
            started_identity: String::new(),
            started_request_id: String::new(),
            last_heartbeat_time: None,
            heartbeat_details: Vec::new(),
            last_failure: Vec::new(),
            cancel_requested: false,
            cancel_requested_event_id: 0,
            workflow_task_completed_event_id: a.workflow_task_completed_event_id,
            stamp: 1,
            pause: None,
            reset_requested: false,
            reset_heartbeat: false,
            original_options: None,
        }
    }
}

impl Tx<'_> {
    pub fn schedule_activity(
        &mut self,
        a: &ScheduleActivityTaskCommandAttributes,
        completed_id: i64,
    ) {
        let (schedule_to_close, schedule_to_start, start_to_close, heartbeat) =
            normalized_timeouts(self.state.run_timeout, a);
        let retry_policy = RetryPolicy::for_activity(a.retry_policy.as_ref());
        let queue = match &a.task_queue {
            Some(q) if !q.name.is_empty() => q.name.clone(),
            _ => self.state.task_queue.clone(),
        };
        let scheduled = history::ActivityTaskScheduledEventAttributes {
            activity_id: a.activity_id.clone(),
            activity_type: Some(a.activity_type.clone().unwrap_or_default()),
            task_queue: Some(task_queue(&queue)),
            header: a.header.clone(),
            input: a.input.clone(),
            schedule_to_close_timeout: Some(time::duration(schedule_to_close)),
            schedule_to_start_timeout: Some(time::duration(schedule_to_start)),
            start_to_close_timeout: Some(time::duration(start_to_close)),
            heartbeat_timeout: Some(time::duration(heartbeat)),
            workflow_task_completed_event_id: completed_id,
            retry_policy: Some(retry_policy.to_proto()),
            priority: a.priority.clone(),
            ..Default::default()
        };
        let scheduled_event_id = self.append(scheduled.clone());
        self.state.activities.push(ActivityInfo::scheduled(
            scheduled_event_id,
            &scheduled,
            retry_policy,
            self.now,
        ));
        self.dispatch_activity(scheduled_event_id);
    }

    pub(crate) fn dispatch_activity(&mut self, scheduled_event_id: i64) {
        let activity = self
            .state
            .activity(scheduled_event_id)
            .expect("activity is pending");
        self.changes
            .tasks
            .push(TaskRef::activity(&self.state.run, activity));
    }

    /// Applies a workflow's request to cancel an activity. Returns true when the activity had
    /// not started and was canceled at once: the workflow then needs a new task to hear of it,
    /// which the caller schedules after the rest of the task's commands.
    pub fn request_cancel_activity(
        &mut self,
        scheduled_event_id: i64,
        completed_id: i64,
        identity: &str,
    ) -> bool {
        let requested_id = self.append(history::ActivityTaskCancelRequestedEventAttributes {
            scheduled_event_id,
            workflow_task_completed_event_id: completed_id,
        });
        let Some(activity) = self.state.activity_mut(scheduled_event_id) else {
            // Its closing event waits in the buffer (validation checked): the request is
            // recorded and nothing else happens, as in Temporal.
            return false;
        };
        if activity.is_started() {
            activity.cancel_requested = true;
            activity.cancel_requested_event_id = requested_id;
            return false;
        }
        // Not running anywhere: canceled at once, with Temporal's details and the identity
        // of the worker that asked.
        self.state.remove_activity(scheduled_event_id);
        self.append(history::ActivityTaskCanceledEventAttributes {
            details: Some(json_string_payloads(ACTIVITY_NOT_STARTED)),
            latest_cancel_requested_event_id: requested_id,
            scheduled_event_id,
            started_event_id: 0,
            identity: identity.to_string(),
            ..Default::default()
        });
        true
    }

    /// Records the activity's current attempt as started by a poller. `stamp` is the one its
    /// dispatch carried: a dispatch made stale since (by a retry, a pause, a reset or new
    /// options), or one for a paused activity, is refused.
    pub fn start_activity(
        &mut self,
        scheduled_event_id: i64,
        stamp: i32,
        request_id: &str,
        identity: &str,
    ) -> Result<StartedActivity, EngineError> {
        if !self.state.is_open() {
            return Err(EngineError::workflow_completed());
        }
        let now = self.now;
        let Some(activity) = self.state.activity_mut(scheduled_event_id) else {
            return Err(EngineError::activity_task_not_found());
        };
        if activity.current_stamp() != stamp {
            return Err(EngineError::activity_task_not_found());
        }
        if activity.is_started() {
            if activity.started_request_id == request_id {
                return Ok(StartedActivity {
                    info: activity.clone(),
                });
            }
            return Err(EngineError::FailedPrecondition(
                "Activity task already started.".into(),
            ));
        }
        if activity.is_backing_off(now) || activity.is_paused() {
            return Err(EngineError::activity_task_not_found());
        }
        activity.started_time = Some(now);
        activity.started_identity = identity.to_string();
        activity.started_request_id = request_id.to_string();
        activity.last_heartbeat_time = None;
        Ok(StartedActivity {
            info: activity.clone(),
        })
    }

    /// Finds the started attempt a worker's token (or activity ID) refers to.
    fn started_activity(
        &self,
        scheduled_event_id: i64,
        attempt: Option<i32>,
    ) -> Result<&ActivityInfo, EngineError> {
        if !self.state.is_open() {
            return Err(EngineError::workflow_completed());
        }
        match self.state.activity(scheduled_event_id) {
            Some(a) if a.is_started() && attempt.is_none_or(|n| n == a.attempt) => Ok(a),
            _ => Err(EngineError::activity_task_not_found()),
        }
    }

    /// The scheduled event ID of the pending activity with this activity ID.
    pub fn activity_by_id(&self, activity_id: &str) -> Result<i64, EngineError> {
        if !self.state.is_open() {
            return Err(EngineError::workflow_completed());
        }
        self.state
            .activity_by_id(activity_id)
            .map(|a| a.scheduled_event_id)
            .ok_or_else(EngineError::activity_task_not_found)
    }

    /// A worker closed an attempt. `attempt` is `None` for the by-ID RPCs.
    pub fn close_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: Option<i32>,
        identity: &str,
        outcome: ActivityOutcome,
    ) -> Result<(), EngineError> {
        let activity = self.started_activity(scheduled_event_id, attempt)?.clone();
        match outcome {
            ActivityOutcome::Completed { result } => {
                self.finish_activity(&activity, identity, |started_event_id| {
                    history::ActivityTaskCompletedEventAttributes {
                        result,
                        scheduled_event_id,
                        started_event_id,
                        identity: identity.to_string(),
                        ..Default::default()
                    }
                    .into()
                });
            }
            ActivityOutcome::Canceled { details } => {
                let requested = activity.cancel_requested_event_id;
                self.finish_activity(&activity, identity, |started_event_id| {
                    history::ActivityTaskCanceledEventAttributes {
                        details,
                        latest_cancel_requested_event_id: requested,
                        scheduled_event_id,
                        started_event_id,
                        identity: identity.to_string(),
                        ..Default::default()
                    }
                    .into()
                });
            }
            ActivityOutcome::Failed {
                failure,
                last_heartbeat_details,
            } => {
                let (error_type, non_retryable, requested_delay) = match &failure.failure_info {
                    Some(FailureInfo::ApplicationFailureInfo(info)) => (
                        info.r#type.clone(),
                        info.non_retryable,
                        Some(time::from_duration(info.next_retry_delay.as_ref()))
                            .filter(|delay| *delay > 0),
                    ),
                    _ => (String::new(), false, None),
                };
                if let Some(details) = last_heartbeat_details {
                    self.state
                        .activity_mut(scheduled_event_id)
                        .expect("pending")
                        .heartbeat_details = details.encode_to_vec();
                }
                let retry = if activity.cancel_requested {
                    Err(RetryState::CancelRequested)
                } else if activity.is_paused()
                    && activity
                        .retry_policy
                        .is_retryable(&error_type, non_retryable)
                {
                    // A paused activity keeps its failed attempt's successor waiting for the
                    // unpause, whatever its policy's attempts and deadline say, as in Temporal.
                    Ok(0)
                } else {
                    let deadline = schedule_to_close_deadline(&activity);
                    let now = self.now;
                    activity
                        .retry_policy
                        .next(activity.attempt, &error_type, non_retryable, now, deadline)
                        .and_then(|backoff| match requested_delay {
                            // The activity asked for its own delay (an application failure's
                            // next_retry_delay): it replaces the policy's backoff, as in
                            // Temporal, still within the schedule-to-close deadline.
                            Some(delay)
                                if deadline.is_some_and(|d| now.saturating_add(delay) > d) =>
                            {
                                Err(RetryState::Timeout)
                            }
                            Some(delay) => Ok(delay),
                            None => Ok(backoff),
                        })
                };
                match retry {
                    Ok(backoff) => self.retry_activity(scheduled_event_id, backoff, failure),
                    Err(retry_state) => {
                        self.finish_activity(&activity, identity, |started_event_id| {
                            history::ActivityTaskFailedEventAttributes {
                                failure: Some(failure),
                                scheduled_event_id,
                                started_event_id,
                                identity: identity.to_string(),
                                retry_state: retry_state as i32,
                                ..Default::default()
                            }
                            .into()
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the activity's started event and its closing event, and forgets it.
    fn finish_activity(
        &mut self,
        activity: &ActivityInfo,
        identity: &str,
        closing: impl FnOnce(i64) -> Attributes,
    ) {
        self.state.remove_activity(activity.scheduled_event_id);
        let started = activity.started_time.map(|started_time| {
            let attributes = history::ActivityTaskStartedEventAttributes {
                scheduled_event_id: activity.scheduled_event_id,
                identity: if activity.started_identity.is_empty() {
                    identity.to_string()
                } else {
                    activity.started_identity.clone()
                },
                request_id: activity.started_request_id.clone(),
                attempt: activity.attempt,
                last_failure: decode_opt(&activity.last_failure),
                ..Default::default()
            };
            (attributes, started_time)
        });
        // The started event takes the next ID unless it is buffered behind a running task.
        // Written only now, it keeps the time the attempt started, as in Temporal.
        let mut batch = Vec::new();
        let started_event_id = match started {
            Some((started, started_time)) => {
                let id = if self.state.has_started_workflow_task() {
                    crate::BUFFERED_EVENT_ID
                } else {
                    self.state.next_event_id
                };
                batch.push((started.into(), started_time));
                id
            }
            None => 0,
        };
        batch.push((closing(started_event_id), self.now));
        self.append_all_for_workflow(batch);
    }

    fn retry_activity(&mut self, scheduled_event_id: i64, backoff: Nanos, failure: Failure) {
        let now = self.now;
        let activity = self
            .state
            .activity_mut(scheduled_event_id)
            .expect("pending");
        activity.renew_stamp();
        activity.attempt += 1;
        activity.attempt_scheduled_time = now + backoff;
        activity.started_time = None;
        activity.started_identity.clear();
        activity.started_request_id.clear();
        activity.last_heartbeat_time = None;
        activity.last_failure = failure.encode_to_vec();
        // A reset during the attempt that just ended is done with; the next attempt starts
        // without heartbeat details when the reset asked for that.
        activity.reset_requested = false;
        if std::mem::take(&mut activity.reset_heartbeat) {
            activity.heartbeat_details.clear();
        }
        if backoff <= 0 && !activity.is_paused() {
            self.dispatch_activity(scheduled_event_id);
        }
        // Otherwise the retry deadline dispatches the next attempt when the backoff ends, or
        // the unpause does.
    }

    /// The backoff of an activity retry ended: its next attempt goes to matching.
    pub fn dispatch_activity_retry(&mut self, scheduled_event_id: i64, stamp: i32) {
        let due = self.state.activity(scheduled_event_id).is_some_and(|a| {
            a.current_stamp() == stamp
                && !a.is_started()
                && !a.is_paused()
                && a.attempt_scheduled_time <= self.now
        });
        if due {
            self.dispatch_activity(scheduled_event_id);
        }
    }

    /// A heartbeat from the running attempt; answers what the worker should hear.
    pub fn heartbeat_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: Option<i32>,
        details: Option<Payloads>,
    ) -> Result<HeartbeatReply, EngineError> {
        let activity = self.started_activity(scheduled_event_id, attempt)?;
        let reply = HeartbeatReply {
            cancel_requested: activity.cancel_requested,
            paused: activity.is_paused(),
            reset: activity.reset_requested,
        };
        let now = self.now;
        let activity = self
            .state
            .activity_mut(scheduled_event_id)
            .expect("checked above");
        activity.last_heartbeat_time = Some(now);
        if let Some(details) = details {
            activity.heartbeat_details = details.encode_to_vec();
        }
        Ok(reply)
    }

    /// An activity timeout deadline passed. Start-to-close and heartbeat timeouts are retried
    /// by policy; schedule-to-start and schedule-to-close timeouts close the activity.
    pub fn time_out_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        timeout: TimeoutType,
    ) {
        let Some(activity) = self.state.activity(scheduled_event_id).cloned() else {
            return;
        };
        if activity.attempt != attempt || activity.is_paused() {
            return;
        }
        let Some(due) = activity_deadline(&activity, timeout) else {
            return;
        };
        if due > self.now {
            return;
        }
        // An attempt whose time ran out with the whole activity's (an eager start, or no
        // start-to-close timeout of its own) timed out by schedule-to-close, as in Temporal.
        let timeout = match timeout {
            TimeoutType::StartToClose | TimeoutType::Heartbeat
                if schedule_to_close_deadline(&activity).is_some_and(|d| d <= self.now) =>
            {
                TimeoutType::ScheduleToClose
            }
            other => other,
        };
        let name = timeout_name(timeout);
        let failure = timeout_failure(format!("activity {name} timeout"), timeout);
        // As in Temporal's `RetryActivity`: a cancel request stops retries first; schedule-to-
        // start and schedule-to-close are deadlines, never retried.
        let retry = if activity.cancel_requested {
            Err(RetryState::CancelRequested)
        } else if !matches!(timeout, TimeoutType::StartToClose | TimeoutType::Heartbeat) {
            Err(RetryState::Timeout)
        } else {
            let error_type = format!("TemporalTimeout:{name}");
            activity.retry_policy.next(
                activity.attempt,
                &error_type,
                false,
                self.now,
                schedule_to_close_deadline(&activity),
            )
        };
        match retry {
            Ok(backoff) => self.retry_activity(scheduled_event_id, backoff, failure),
            Err(retry_state) => {
                let mut failure = if retry_state == RetryState::Timeout
                    && timeout != TimeoutType::ScheduleToStart
                {
                    // Temporal reports every timeout that leaves no time for another attempt
                    // as a schedule-to-close timeout.
                    timeout_failure(
                        "Not enough time to schedule next retry before activity ScheduleToClose timeout, giving up retrying".into(),
                        TimeoutType::ScheduleToClose,
                    )
                } else {
                    failure
                };
                failure.cause = decode_opt::<Failure>(&activity.last_failure).map(Box::new);
                if let Some(FailureInfo::TimeoutFailureInfo(info)) = &mut failure.failure_info {
                    info.last_heartbeat_details = decode_opt(&activity.heartbeat_details);
                }
                self.finish_activity(&activity, "", |started_event_id| {
                    history::ActivityTaskTimedOutEventAttributes {
                        failure: Some(failure),
                        scheduled_event_id,
                        started_event_id,
                        retry_state: retry_state as i32,
                    }
                    .into()
                });
            }
        }
    }
}

fn schedule_to_close_deadline(activity: &ActivityInfo) -> Option<Nanos> {
    (activity.schedule_to_close_timeout > 0)
        .then(|| activity.scheduled_time + activity.schedule_to_close_timeout)
}

/// When the given timeout of the activity's current attempt expires, if it applies now.
pub fn activity_deadline(activity: &ActivityInfo, timeout: TimeoutType) -> Option<Nanos> {
    match timeout {
        TimeoutType::ScheduleToClose => schedule_to_close_deadline(activity),
        TimeoutType::ScheduleToStart => (activity.started_time.is_none()
            && activity.schedule_to_start_timeout > 0)
            .then(|| activity.attempt_scheduled_time + activity.schedule_to_start_timeout),
        TimeoutType::StartToClose => activity
            .started_time
            .filter(|_| activity.start_to_close_timeout > 0)
            .map(|started| started + activity.start_to_close_timeout),
        TimeoutType::Heartbeat => activity
            .started_time
            .filter(|_| activity.heartbeat_timeout > 0)
            .map(|started| {
                activity.last_heartbeat_time.unwrap_or(started).max(started)
                    + activity.heartbeat_timeout
            }),
        TimeoutType::Unspecified => None,
    }
}

fn timeout_name(timeout: TimeoutType) -> &'static str {
    match timeout {
        TimeoutType::StartToClose => "StartToClose",
        TimeoutType::ScheduleToStart => "ScheduleToStart",
        TimeoutType::ScheduleToClose => "ScheduleToClose",
        TimeoutType::Heartbeat => "Heartbeat",
        TimeoutType::Unspecified => "Unspecified",
    }
}

/// A timeout failure as the server creates it. The failure of a retried attempt is kept
/// bare; the one that closes the activity gets the previous failure and heartbeat details.
fn timeout_failure(message: String, timeout: TimeoutType) -> Failure {
    Failure {
        message,
        source: "Server".into(),
        failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
            timeout_type: timeout as i32,
            last_heartbeat_details: None,
        })),
        ..Default::default()
    }
}
