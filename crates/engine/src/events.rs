//! Appending events to a run: ID allocation, buffering while a workflow task is started, and
//! the bookkeeping every operation shares. All operations go through a [`Tx`].

use prost::Message;

use crate::{
    Changes, RunKey, TaskRef,
    proto::{Attributes, HistoryEvent, enums::EventType, history, taskqueue},
    state::{MutableState, WorkflowTaskInfo},
    time::{self, Nanos},
};

/// One operation on one run: the state it mutates, the time it happens at, and what it
/// changed. Dropping a `Tx` whose operation failed is how a rejected request changes nothing:
/// callers run operations on a copy of the state.
pub struct Tx<'a> {
    pub state: &'a mut MutableState,
    pub now: Nanos,
    pub changes: Changes,
    /// The per-workflow limits the operation is held to.
    pub limits: crate::limits::Limits,
    /// The summary and details the user gave the command (or start) being applied: the
    /// next event written carries them, as in Temporal.
    pub user_metadata: Option<crate::proto::sdk::UserMetadata>,
}

impl<'a> Tx<'a> {
    pub fn new(state: &'a mut MutableState, now: Nanos) -> Self {
        Self {
            state,
            now,
            changes: Changes::default(),
            limits: crate::limits::Limits::default(),
            user_metadata: None,
        }
    }

    /// Holds the operation to `limits` instead of Temporal's defaults.
    pub fn with_limits(mut self, limits: crate::limits::Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn finish(self) -> Changes {
        self.changes
    }

    /// Writes an event to history now and returns its ID.
    pub fn append(&mut self, attributes: impl Into<Attributes>) -> i64 {
        self.write(attributes.into())
    }

    /// Writes an event that a workflow reacts to. While a workflow task is started the event
    /// is buffered and written after that task's completion; otherwise it is written now and a
    /// workflow task is scheduled if none is pending.
    pub fn append_for_workflow(&mut self, attributes: impl Into<Attributes>) {
        let now = self.now;
        self.append_all_for_workflow(vec![(attributes.into(), now)]);
    }

    /// Like [`Tx::append_for_workflow`] for events that belong together (an activity's
    /// started and closed events), each with the time it happened: all are buffered or all
    /// written before any new task.
    pub fn append_all_for_workflow(&mut self, batch: Vec<(Attributes, Nanos)>) {
        if self.state.has_started_workflow_task() {
            for (attributes, event_time) in batch {
                let event = HistoryEvent {
                    event_time: Some(time::timestamp(event_time)),
                    event_type: event_type(&attributes) as i32,
                    attributes: Some(attributes),
                    ..Default::default()
                };
                event
                    .encode_length_delimited(&mut self.state.buffered_events)
                    .expect("a Vec grows to hold any event");
            }
        } else {
            for (attributes, event_time) in batch {
                self.write_at(attributes, event_time);
            }
            self.schedule_workflow_task_if_none();
        }
    }

    fn write(&mut self, attributes: Attributes) -> i64 {
        self.write_at(attributes, self.now)
    }

    /// Writes an event that happened at `event_time`: a transient workflow task's scheduled
    /// and started events keep the times the worker was shown.
    pub(crate) fn write_at(&mut self, attributes: Attributes, event_time: Nanos) -> i64 {
        let event_id = self.state.next_event_id;
        self.state.next_event_id += 1;
        let event = HistoryEvent {
            event_id,
            event_time: Some(time::timestamp(event_time)),
            event_type: event_type(&attributes) as i32,
            task_id: event_id,
            attributes: Some(attributes),
            user_metadata: self.user_metadata.take(),
            ..Default::default()
        };
        self.state.history_size_bytes += event.encoded_len() as i64;
        self.changes.events.push(event);
        event_id
    }

    /// Writes the buffered events with fresh IDs. Returns how many.
    ///
    /// Like Temporal's history builder (`reorderBuffer`), events keep their arrival order
    /// except that activity closing events move behind all others; an activity's started
    /// event stays in place, so it still precedes its closing event.
    pub fn flush_buffered(&mut self) -> usize {
        let buffered = std::mem::take(&mut self.state.buffered_events);
        let (mut events, closings): (Vec<_>, Vec<_>) = decode_buffered(&buffered)
            .into_iter()
            .partition(|e| !closes_activity(e));
        events.extend(closings);
        let count = events.len();
        // Activity started events written in this flush, by scheduled event ID.
        let mut started_ids = std::collections::HashMap::new();
        // Child started events written in this flush, by initiated event ID.
        let mut child_started_ids = std::collections::HashMap::new();
        for event in events {
            // A buffered event keeps the time it happened at; only its ID is assigned now.
            let event_time = event
                .event_time
                .as_ref()
                .map_or(self.now, time::from_timestamp);
            let mut attributes = event.attributes.expect("buffered events carry attributes");
            fix_started_event_id(&mut attributes, &started_ids, &child_started_ids);
            let scheduled = match &attributes {
                Attributes::ActivityTaskStartedEventAttributes(a) => Some(a.scheduled_event_id),
                _ => None,
            };
            let child_initiated = match &attributes {
                Attributes::ChildWorkflowExecutionStartedEventAttributes(a) => {
                    Some(a.initiated_event_id)
                }
                _ => None,
            };
            let id = self.write_at(attributes, event_time);
            if let Some(scheduled) = scheduled {
                started_ids.insert(scheduled, id);
            }
            if let Some(initiated) = child_initiated {
                child_started_ids.insert(initiated, id);
                self.set_child_started_event(initiated, id);
            }
        }
        count
    }

    /// Removes the buffered `TimerFired` event of `timer_id`, if there is one, and returns
    /// the timer's started event ID: a timer that fired while the workflow task that cancels
    /// it ran counts as canceled, as in Temporal.
    pub fn take_buffered_timer_fired(&mut self, timer_id: &str) -> Option<i64> {
        let mut events = decode_buffered(&self.state.buffered_events);
        let index = events
            .iter()
            .position(|e| buffered_timer_fired(e) == Some(timer_id))?;
        let started_event_id = match events.remove(index).attributes {
            Some(Attributes::TimerFiredEventAttributes(a)) => a.started_event_id,
            _ => unreachable!("matched a TimerFired event above"),
        };
        self.state.buffered_events.clear();
        for event in events {
            event
                .encode_length_delimited(&mut self.state.buffered_events)
                .expect("a Vec grows to hold any event");
        }
        Some(started_event_id)
    }

    /// Schedules a workflow task unless one is already scheduled or started, or the first
    /// one still waits out its backoff.
    pub fn schedule_workflow_task_if_none(&mut self) {
        if self.state.workflow_task.is_none()
            && self.state.is_open()
            && self.state.first_workflow_task_due.is_none()
        {
            self.schedule_workflow_task(1);
        }
    }

    /// Schedules a workflow task that carries updates: written only if it completes with
    /// more than rejections.
    pub fn schedule_speculative_workflow_task(&mut self) {
        self.schedule_task(1, true);
    }

    /// Schedules a workflow task. Attempt 1 writes its scheduled event; later attempts are
    /// transient and only written when they complete.
    pub fn schedule_workflow_task(&mut self, attempt: i32) {
        self.schedule_task(attempt, false);
    }

    fn schedule_task(&mut self, attempt: i32, speculative: bool) {
        let sticky = !self.state.sticky_task_queue.is_empty();
        let task = WorkflowTaskInfo {
            scheduled_event_id: self.state.next_event_id,
            started_event_id: 0,
            attempt,
            task_queue: if sticky {
                self.state.sticky_task_queue.clone()
            } else {
                self.state.task_queue.clone()
            },
            timeout: attempt_timeout(self.state.workflow_task_timeout, attempt, &self.state.run),
            scheduled_time: self.now,
            started_time: 0,
            request_id: String::new(),
            identity: String::new(),
            transient: attempt > 1 || speculative,
            speculative,
            normal_task_queue: if sticky {
                self.state.task_queue.clone()
            } else {
                String::new()
            },
        };
        if !task.transient {
            self.write(workflow_task_scheduled(&task).into());
        }
        self.changes
            .tasks
            .push(TaskRef::workflow(&self.state.run, &task));
        self.state.workflow_task = Some(task);
    }
}

/// Attempts of a workflow task up to this one get the run's task timeout unchanged.
const ATTEMPTS_AT_DEFAULT_TIMEOUT: i32 = 3;
/// What the fourth attempt adds to the timeout; each later attempt doubles it.
const RETRY_TIMEOUT_INITIAL: Nanos = 5 * crate::time::NANOS_PER_SEC;
/// The most a retry adds (Temporal's `history.workflowTaskRetryMaxInterval`).
const RETRY_TIMEOUT_MAX: Nanos = 600 * crate::time::NANOS_PER_SEC;

/// The start-to-close timeout of a workflow task's `attempt`. As in Temporal, a task that
/// keeps failing is given more time from its fourth attempt on (5 s more, doubling up to
/// 10 min, less up to a fifth as jitter), so a worker too slow for the run's timeout gets
/// through eventually. The jitter comes from the run and the attempt, not from chance.
pub fn attempt_timeout(default: Nanos, attempt: i32, run: &RunKey) -> Nanos {
    if attempt <= ATTEMPTS_AT_DEFAULT_TIMEOUT {
        return default;
    }
    let doublings = u32::try_from(attempt - ATTEMPTS_AT_DEFAULT_TIMEOUT - 1).unwrap_or(0);
    let interval = RETRY_TIMEOUT_INITIAL
        .saturating_mul(1_i64.checked_shl(doublings.min(32)).unwrap_or(i64::MAX))
        .min(RETRY_TIMEOUT_MAX);
    let seed = format!("{}/{}/{attempt}", run.workflow_id, run.run_id);
    let spread = u64::try_from(interval / 5).unwrap_or(1).max(1);
    let jitter = (xxhash_rust::xxh3::xxh3_64(seed.as_bytes()) % spread) as Nanos;
    default + interval / 5 * 4 + jitter
}

/// The buffered events of a run, in arrival order (they carry no IDs yet).
pub fn decode_buffered(mut buffered: &[u8]) -> Vec<HistoryEvent> {
    let mut events = Vec::new();
    while !buffered.is_empty() {
        events.push(
            HistoryEvent::decode_length_delimited(&mut buffered)
                .expect("buffered events were encoded by this engine"),
        );
    }
    events
}

/// The timer ID of a buffered `TimerFired` event.
pub fn buffered_timer_fired(event: &HistoryEvent) -> Option<&str> {
    match &event.attributes {
        Some(Attributes::TimerFiredEventAttributes(a)) => Some(a.timer_id.as_str()),
        _ => None,
    }
}

/// The scheduled event ID of a buffered event that closes an activity.
pub fn buffered_activity_close(event: &HistoryEvent) -> Option<i64> {
    match &event.attributes {
        Some(Attributes::ActivityTaskCompletedEventAttributes(a)) => Some(a.scheduled_event_id),
        Some(Attributes::ActivityTaskFailedEventAttributes(a)) => Some(a.scheduled_event_id),
        Some(Attributes::ActivityTaskTimedOutEventAttributes(a)) => Some(a.scheduled_event_id),
        Some(Attributes::ActivityTaskCanceledEventAttributes(a)) => Some(a.scheduled_event_id),
        _ => None,
    }
}

fn closes_activity(event: &HistoryEvent) -> bool {
    buffered_activity_close(event).is_some()
}

fn fix_started_event_id(
    attributes: &mut Attributes,
    started_ids: &std::collections::HashMap<i64, i64>,
    child_started_ids: &std::collections::HashMap<i64, i64>,
) {
    let child = match attributes {
        Attributes::ChildWorkflowExecutionCompletedEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionFailedEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionCanceledEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionTimedOutEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionTerminatedEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        _ => None,
    };
    if let Some((initiated, started)) = child {
        if *started == crate::BUFFERED_EVENT_ID {
            *started = child_started_ids.get(&initiated).copied().unwrap_or(0);
        }
        return;
    }
    let (scheduled, started) = match attributes {
        Attributes::ActivityTaskCompletedEventAttributes(a) => {
            (a.scheduled_event_id, &mut a.started_event_id)
        }
        Attributes::ActivityTaskFailedEventAttributes(a) => {
            (a.scheduled_event_id, &mut a.started_event_id)
        }
        Attributes::ActivityTaskTimedOutEventAttributes(a) => {
            (a.scheduled_event_id, &mut a.started_event_id)
        }
        Attributes::ActivityTaskCanceledEventAttributes(a) => {
            (a.scheduled_event_id, &mut a.started_event_id)
        }
        _ => return,
    };
    if *started == crate::BUFFERED_EVENT_ID {
        *started = started_ids.get(&scheduled).copied().unwrap_or(0);
    }
}

pub fn workflow_task_scheduled(
    task: &WorkflowTaskInfo,
) -> history::WorkflowTaskScheduledEventAttributes {
    let queue = if task.is_sticky() {
        taskqueue::TaskQueue {
            name: task.task_queue.clone(),
            kind: taskqueue_kind_sticky(),
            normal_name: task.normal_task_queue.clone(),
        }
    } else {
        task_queue(&task.task_queue)
    };
    history::WorkflowTaskScheduledEventAttributes {
        task_queue: Some(queue),
        start_to_close_timeout: Some(time::duration(task.timeout)),
        attempt: task.attempt,
    }
}

fn taskqueue_kind_sticky() -> i32 {
    crate::proto::enums::TaskQueueKind::Sticky as i32
}

pub fn task_queue(name: &str) -> taskqueue::TaskQueue {
    taskqueue::TaskQueue {
        name: name.to_string(),
        kind: 1,
        normal_name: String::new(),
    }
}

/// The event type that belongs to an attributes variant.
pub fn event_type(attributes: &Attributes) -> EventType {
    use Attributes as A;
    match attributes {
        A::WorkflowExecutionStartedEventAttributes(_) => EventType::WorkflowExecutionStarted,
        A::WorkflowExecutionCompletedEventAttributes(_) => EventType::WorkflowExecutionCompleted,
        A::WorkflowExecutionFailedEventAttributes(_) => EventType::WorkflowExecutionFailed,
        A::WorkflowExecutionTimedOutEventAttributes(_) => EventType::WorkflowExecutionTimedOut,
        A::WorkflowExecutionContinuedAsNewEventAttributes(_) => {
            EventType::WorkflowExecutionContinuedAsNew
        }
        A::WorkflowTaskScheduledEventAttributes(_) => EventType::WorkflowTaskScheduled,
        A::WorkflowTaskStartedEventAttributes(_) => EventType::WorkflowTaskStarted,
        A::WorkflowTaskCompletedEventAttributes(_) => EventType::WorkflowTaskCompleted,
        A::WorkflowTaskTimedOutEventAttributes(_) => EventType::WorkflowTaskTimedOut,
        A::WorkflowTaskFailedEventAttributes(_) => EventType::WorkflowTaskFailed,
        A::ActivityTaskScheduledEventAttributes(_) => EventType::ActivityTaskScheduled,
        A::ActivityTaskStartedEventAttributes(_) => EventType::ActivityTaskStarted,
        A::ActivityTaskCompletedEventAttributes(_) => EventType::ActivityTaskCompleted,
        A::ActivityTaskFailedEventAttributes(_) => EventType::ActivityTaskFailed,
        A::ActivityTaskTimedOutEventAttributes(_) => EventType::ActivityTaskTimedOut,
        A::ActivityTaskCancelRequestedEventAttributes(_) => EventType::ActivityTaskCancelRequested,
        A::ActivityTaskCanceledEventAttributes(_) => EventType::ActivityTaskCanceled,
        A::TimerStartedEventAttributes(_) => EventType::TimerStarted,
        A::TimerFiredEventAttributes(_) => EventType::TimerFired,
        A::TimerCanceledEventAttributes(_) => EventType::TimerCanceled,
        A::MarkerRecordedEventAttributes(_) => EventType::MarkerRecorded,
        A::WorkflowExecutionSignaledEventAttributes(_) => EventType::WorkflowExecutionSignaled,
        A::WorkflowExecutionTerminatedEventAttributes(_) => EventType::WorkflowExecutionTerminated,
        A::WorkflowExecutionCancelRequestedEventAttributes(_) => {
            EventType::WorkflowExecutionCancelRequested
        }
        A::WorkflowExecutionCanceledEventAttributes(_) => EventType::WorkflowExecutionCanceled,
        A::UpsertWorkflowSearchAttributesEventAttributes(_) => {
            EventType::UpsertWorkflowSearchAttributes
        }
        A::WorkflowPropertiesModifiedEventAttributes(_) => EventType::WorkflowPropertiesModified,
        A::StartChildWorkflowExecutionInitiatedEventAttributes(_) => {
            EventType::StartChildWorkflowExecutionInitiated
        }
        A::StartChildWorkflowExecutionFailedEventAttributes(_) => {
            EventType::StartChildWorkflowExecutionFailed
        }
        A::ChildWorkflowExecutionStartedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionStarted
        }
        A::ChildWorkflowExecutionCompletedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionCompleted
        }
        A::ChildWorkflowExecutionFailedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionFailed
        }
        A::ChildWorkflowExecutionCanceledEventAttributes(_) => {
            EventType::ChildWorkflowExecutionCanceled
        }
        A::ChildWorkflowExecutionTimedOutEventAttributes(_) => {
            EventType::ChildWorkflowExecutionTimedOut
        }
        A::ChildWorkflowExecutionTerminatedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionTerminated
        }
        A::SignalExternalWorkflowExecutionInitiatedEventAttributes(_) => {
            EventType::SignalExternalWorkflowExecutionInitiated
        }
        A::SignalExternalWorkflowExecutionFailedEventAttributes(_) => {
            EventType::SignalExternalWorkflowExecutionFailed
        }
        A::ExternalWorkflowExecutionSignaledEventAttributes(_) => {
            EventType::ExternalWorkflowExecutionSignaled
        }
        A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(_) => {
            EventType::RequestCancelExternalWorkflowExecutionInitiated
        }
        A::RequestCancelExternalWorkflowExecutionFailedEventAttributes(_) => {
            EventType::RequestCancelExternalWorkflowExecutionFailed
        }
        A::ExternalWorkflowExecutionCancelRequestedEventAttributes(_) => {
            EventType::ExternalWorkflowExecutionCancelRequested
        }
        A::WorkflowExecutionUpdateAdmittedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateAdmitted
        }
        A::WorkflowExecutionUpdateAcceptedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateAccepted
        }
        A::WorkflowExecutionUpdateCompletedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateCompleted
        }
        _ => EventType::Unspecified,
    }
}
