//! ResetWorkflowExecution: a new run of the workflow whose history is a copy of an old run's
//! up to a workflow task, where that task is failed with cause `RESET_WORKFLOW` and a new one
//! is scheduled, so the worker replays the copy and carries on from there. Signals and
//! updates the old run received after that point are written again in the new run.
//!
//! The new run's mutable state is rebuilt by replaying the copied events: what was pending
//! at the reset point (activities, timers, children, requests to other workflows) is pending
//! again. An activity that was running then is dispatched again.

use prost::Message;

use crate::{
    Changes, EngineError, MutableState, RunKey, TaskRef,
    events::Tx,
    proto::{
        Attributes, HistoryEvent,
        command::{
            RequestCancelExternalWorkflowExecutionCommandAttributes,
            SignalExternalWorkflowExecutionCommandAttributes,
            StartChildWorkflowExecutionCommandAttributes,
        },
        common::{Memo, SearchAttributes, WorkflowExecution},
        enums::{ResetReapplyExcludeType, ResetReapplyType, WorkflowTaskFailedCause},
        failure::{Failure, ResetWorkflowFailureInfo, failure::FailureInfo},
        history,
        update::Request,
        workflowservice::StartWorkflowExecutionRequest,
    },
    retry::RetryPolicy,
    start::{RunStart, begin},
    state::{
        ActivityInfo, ChildInfo, ExternalRequest, ParentInfo, ResetPoint, TimerInfo,
        WorkflowTaskInfo,
    },
    time::{self, Nanos},
    update::{UpdateInfo, UpdateStage, update_id},
};

/// What a reset asks for.
#[derive(Debug, Clone)]
pub struct ResetRequest {
    /// The `WorkflowTaskCompleted`, `…Failed` or `…TimedOut` event to reset to, or a
    /// `WorkflowTaskStarted` event.
    pub workflow_task_finish_event_id: i64,
    pub reason: String,
    pub identity: String,
    pub request_id: String,
    /// What the reset run received after the reset point and the new run gets again.
    pub reapply: Reapply,
}

/// The kinds of events a reset writes again in the new run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reapply {
    pub signals: bool,
    pub updates: bool,
}

impl Reapply {
    /// Everything that can be written again.
    pub const ALL: Self = Self {
        signals: true,
        updates: true,
    };

    /// What a request's (deprecated) reapply type and its exclusions leave, as Temporal
    /// reads them: SIGNAL reapplies signals only, NONE nothing, UNSPECIFIED and
    /// ALL_ELIGIBLE everything; each exclusion takes its kind away.
    pub fn from_request(reapply_type: i32, exclude: &[i32]) -> Self {
        let excluded = |kind: ResetReapplyExcludeType| exclude.contains(&(kind as i32));
        let all = reapply_type != ResetReapplyType::None as i32;
        Self {
            signals: all && !excluded(ResetReapplyExcludeType::Signal),
            updates: all
                && reapply_type != ResetReapplyType::Signal as i32
                && !excluded(ResetReapplyExcludeType::Update),
        }
    }
}

/// At most this many reset points are kept (Temporal's default); the oldest go first.
pub const MAX_RESET_POINTS: usize = 20;

/// The build a `WorkflowTaskCompleted` names: its worker version's build ID, else its
/// binary checksum. Both are deprecated in the API for versioned workers, and still what
/// Temporal writes (and reads reset points from) for the others.
#[allow(deprecated)]
pub fn build_id_of(completed: &history::WorkflowTaskCompletedEventAttributes) -> &str {
    match completed.worker_version.as_ref() {
        Some(version) if !version.build_id.is_empty() => &version.build_id,
        _ => &completed.binary_checksum,
    }
}

impl MutableState {
    /// Notes the workflow task completed as `event_id` as a reset point when it is the first
    /// one `build_id` completed.
    pub(crate) fn note_reset_point(&mut self, build_id: &str, event_id: i64, at: Nanos) {
        if build_id.is_empty() || self.reset_points.iter().any(|p| p.build_id == build_id) {
            return;
        }
        if self.reset_points.len() >= MAX_RESET_POINTS {
            self.reset_points.remove(0);
        }
        self.reset_points.push(ResetPoint {
            build_id: build_id.to_string(),
            run_id: self.run.run_id.clone(),
            first_workflow_task_completed_id: event_id,
            create_time: at,
        });
    }
}

/// The run ID of the run a reset creates: fixed by the reset run and the request, so a
/// repeated reset names the same run.
pub fn new_run_id(base: &RunKey, request_id: &str) -> String {
    let name = format!(
        "{}/{}/{}/reset/{request_id}",
        base.namespace_id, base.workflow_id, base.run_id
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

fn invalid(message: &str) -> EngineError {
    EngineError::InvalidArgument(message.to_string())
}

/// Creates the run that resets `base` (whose whole history is `history`) to the request's
/// workflow task. Returns its state and changes: every event of the new run, copied ones
/// first, and the tasks to dispatch.
pub fn reset(
    base: &MutableState,
    history: &[HistoryEvent],
    request: &ResetRequest,
    now: Nanos,
) -> Result<(MutableState, Changes), EngineError> {
    let finish = request.workflow_task_finish_event_id;
    let last = history.last().map_or(0, |e| e.event_id);
    if finish <= 1 || finish > last {
        return Err(invalid(
            "Workflow task finish ID must be > 1 && <= workflow last event ID.",
        ));
    }
    let finish_event = history
        .iter()
        .find(|e| e.event_id == finish)
        .ok_or_else(|| {
            invalid("Workflow task finish ID must be > 1 && <= workflow last event ID.")
        })?;
    let started_id = match &finish_event.attributes {
        Some(Attributes::WorkflowTaskCompletedEventAttributes(a)) => a.started_event_id,
        Some(Attributes::WorkflowTaskFailedEventAttributes(a)) => a.started_event_id,
        Some(Attributes::WorkflowTaskTimedOutEventAttributes(a)) => a.started_event_id,
        Some(Attributes::WorkflowTaskStartedEventAttributes(_)) => finish,
        // As Temporal words it: the history before the event is not a whole batch that
        // ends in a started workflow task.
        _ => {
            return Err(invalid(&format!(
                "StateRebuilder unable to Rebuild mutable state to event ID: {}, version: 0, \
                 this event must be at the boundary",
                finish - 1
            )));
        }
    };
    // The copy runs through the reset task's started event.
    let prefix: Vec<HistoryEvent> = history
        .iter()
        .filter(|e| e.event_id <= started_id)
        .cloned()
        .collect();
    let run = RunKey {
        run_id: new_run_id(&base.run, &request.request_id),
        ..base.run.clone()
    };
    let mut state = replay(&run, base, &prefix, &request.request_id)?;
    let mut tx = Tx::new(&mut state, now);
    let task = tx
        .state
        .workflow_task
        .take()
        .ok_or_else(|| invalid("The reset point has no started workflow task."))?;
    tx.append(history::WorkflowTaskFailedEventAttributes {
        scheduled_event_id: task.scheduled_event_id,
        started_event_id: task.started_event_id,
        cause: WorkflowTaskFailedCause::ResetWorkflow as i32,
        failure: Some(Failure {
            message: request.reason.clone(),
            failure_info: Some(FailureInfo::ResetWorkflowFailureInfo(
                ResetWorkflowFailureInfo::default(),
            )),
            ..Default::default()
        }),
        identity: "history-service".into(),
        base_run_id: base.run.run_id.clone(),
        new_run_id: run.run_id,
        ..Default::default()
    });
    // What came after the reset point is written again in the order it came.
    for event in history.iter().filter(|e| e.event_id > started_id) {
        match &event.attributes {
            Some(Attributes::WorkflowExecutionSignaledEventAttributes(a))
                if request.reapply.signals =>
            {
                note_signal(tx.state, a);
                tx.append(a.clone());
            }
            Some(Attributes::WorkflowExecutionUpdateAdmittedEventAttributes(a))
                if request.reapply.updates =>
            {
                tx.reapply_update(a.request.clone().unwrap_or_default());
            }
            Some(Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(a))
                if request.reapply.updates =>
            {
                tx.reapply_update(a.accepted_request.clone().unwrap_or_default());
            }
            _ => {}
        }
    }
    tx.schedule_workflow_task(1);
    for activity in &tx.state.activities {
        let dispatch = TaskRef::activity(&tx.state.run, activity);
        tx.changes.tasks.push(dispatch);
    }
    let mut changes = tx.finish();
    let written = std::mem::take(&mut changes.events);
    changes.events = prefix;
    changes.events.extend(written);
    Ok((state, changes))
}

/// The state a run had after `events`, as a run of its own (`run`): the events are replayed
/// in order.
fn replay(
    run: &RunKey,
    base: &MutableState,
    events: &[HistoryEvent],
    request_id: &str,
) -> Result<MutableState, EngineError> {
    let Some(Attributes::WorkflowExecutionStartedEventAttributes(started)) =
        events.first().and_then(|e| e.attributes.as_ref())
    else {
        return Err(invalid(
            "The history does not begin with its started event.",
        ));
    };
    let request = StartWorkflowExecutionRequest {
        workflow_id: run.workflow_id.clone(),
        workflow_type: started.workflow_type.clone(),
        task_queue: started.task_queue.clone(),
        input: started.input.clone(),
        workflow_execution_timeout: started.workflow_execution_timeout,
        workflow_run_timeout: started.workflow_run_timeout,
        workflow_task_timeout: started.workflow_task_timeout,
        identity: started.identity.clone(),
        request_id: request_id.to_string(),
        retry_policy: started.retry_policy.clone(),
        cron_schedule: started.cron_schedule.clone(),
        memo: started.memo.clone(),
        search_attributes: started.search_attributes.clone(),
        header: started.header.clone(),
        priority: started.priority.clone(),
        ..Default::default()
    };
    let start_time = event_time(&events[0]);
    let mut start = RunStart::from_request(run.clone(), &base.namespace, &request, start_time);
    start.first_run_id = started.first_execution_run_id.clone();
    start.attempt = started.attempt.max(1);
    start.execution_expiration = started
        .workflow_execution_expiration_time
        .as_ref()
        .map(time::from_timestamp);
    start.continued_run_id = started.continued_execution_run_id.clone();
    start.continued_failure = started.continued_failure.clone();
    start.last_completion_result = started.last_completion_result.clone();
    start.parent = base.parent.clone().map(|parent| ParentInfo {
        initiated_event_id: started.parent_initiated_event_id,
        ..parent
    });
    start.scheduled_by = base.scheduled_by.clone();
    // Points in the runs before the reset one stay; the copy's own are noted again below.
    start.reset_points = base
        .reset_points
        .iter()
        .filter(|p| p.run_id != base.run.run_id)
        .cloned()
        .collect();
    start.backoff = 0;
    let (mut state, _) = begin(start, start_time);
    // What `begin` scheduled and wrote is replaced by the copied events.
    state.workflow_task = None;
    state.first_workflow_task_due = None;
    state.execution_time =
        start_time + time::from_duration(started.first_workflow_task_backoff.as_ref());
    state.run_expiration =
        (state.run_timeout > 0).then(|| state.execution_time + state.run_timeout);
    state.history_size_bytes = 0;
    for event in events {
        state.history_size_bytes += event.encoded_len() as i64;
        apply(&mut state, event);
    }
    state.next_event_id = events.last().map_or(1, |e| e.event_id + 1);
    Ok(state)
}

fn event_time(event: &HistoryEvent) -> Nanos {
    event.event_time.as_ref().map_or(0, time::from_timestamp)
}

/// What one copied event does to the rebuilt state.
fn apply(state: &mut MutableState, event: &HistoryEvent) {
    let id = event.event_id;
    let at = event_time(event);
    let Some(attributes) = &event.attributes else {
        return;
    };
    match attributes {
        Attributes::WorkflowTaskScheduledEventAttributes(a) => {
            state.workflow_task = Some(WorkflowTaskInfo {
                scheduled_event_id: id,
                started_event_id: 0,
                attempt: a.attempt.max(1),
                task_queue: state.task_queue.clone(),
                timeout: time::from_duration(a.start_to_close_timeout.as_ref()),
                scheduled_time: at,
                started_time: 0,
                request_id: String::new(),
                identity: String::new(),
                transient: false,
                normal_task_queue: String::new(),
                speculative: false,
            });
        }
        Attributes::WorkflowTaskStartedEventAttributes(a) => {
            if let Some(task) = state.workflow_task.as_mut() {
                task.started_event_id = id;
                task.started_time = at;
                task.identity = a.identity.clone();
                task.request_id = a.request_id.clone();
            }
        }
        Attributes::WorkflowTaskCompletedEventAttributes(a) => {
            state.last_completed_started_event_id = a.started_event_id;
            state.workflow_task = None;
            state.note_reset_point(build_id_of(a), id, at);
        }
        Attributes::WorkflowTaskFailedEventAttributes(_)
        | Attributes::WorkflowTaskTimedOutEventAttributes(_) => state.workflow_task = None,
        Attributes::ActivityTaskScheduledEventAttributes(a) => {
            // A running attempt belonged to the old run: the activity is dispatched again.
            let retry_policy = RetryPolicy::for_activity(a.retry_policy.as_ref());
            state
                .activities
                .push(ActivityInfo::scheduled(id, a, retry_policy, at));
        }
        Attributes::ActivityTaskStartedEventAttributes(a) => {
            if let Some(activity) = state.activity_mut(a.scheduled_event_id) {
                activity.attempt = a.attempt.max(1);
            }
        }
        Attributes::ActivityTaskCompletedEventAttributes(a) => {
            state.remove_activity(a.scheduled_event_id);
        }
        Attributes::ActivityTaskFailedEventAttributes(a) => {
            state.remove_activity(a.scheduled_event_id);
        }
        Attributes::ActivityTaskTimedOutEventAttributes(a) => {
            state.remove_activity(a.scheduled_event_id);
        }
        Attributes::ActivityTaskCanceledEventAttributes(a) => {
            state.remove_activity(a.scheduled_event_id);
        }
        Attributes::ActivityTaskCancelRequestedEventAttributes(a) => {
            if let Some(activity) = state.activity_mut(a.scheduled_event_id) {
                activity.cancel_requested = true;
                activity.cancel_requested_event_id = id;
            }
        }
        Attributes::TimerStartedEventAttributes(a) => state.timers.push(TimerInfo {
            timer_id: a.timer_id.clone(),
            started_event_id: id,
            fire_time: at + time::from_duration(a.start_to_fire_timeout.as_ref()),
        }),
        Attributes::TimerFiredEventAttributes(a) => {
            state.remove_timer(&a.timer_id);
        }
        Attributes::TimerCanceledEventAttributes(a) => {
            state.remove_timer(&a.timer_id);
        }
        Attributes::WorkflowExecutionSignaledEventAttributes(a) => note_signal(state, a),
        Attributes::WorkflowExecutionCancelRequestedEventAttributes(_) => {
            state.cancel_requested = true;
        }
        Attributes::UpsertWorkflowSearchAttributesEventAttributes(a) => {
            let mut current =
                SearchAttributes::decode(state.search_attributes.as_slice()).unwrap_or_default();
            if let Some(upsert) = &a.search_attributes {
                current.indexed_fields.extend(upsert.indexed_fields.clone());
            }
            state.search_attributes = current.encode_to_vec();
        }
        Attributes::WorkflowPropertiesModifiedEventAttributes(a) => {
            let mut current = Memo::decode(state.memo.as_slice()).unwrap_or_default();
            if let Some(upsert) = &a.upserted_memo {
                current.fields.extend(upsert.fields.clone());
            }
            state.memo = current.encode_to_vec();
        }
        Attributes::WorkflowExecutionUpdateAdmittedEventAttributes(a) => {
            let request = a.request.clone().unwrap_or_default();
            let update = known_update(state, &request);
            update.request = request.encode_to_vec();
            update.admitted_event_id = id;
        }
        Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(a) => {
            let request = a.accepted_request.clone().unwrap_or_default();
            let update = known_update(state, &request);
            update.stage = UpdateStage::Accepted;
            update.request.clear();
            update.accepted_event_id = id;
        }
        Attributes::WorkflowExecutionUpdateCompletedEventAttributes(a) => {
            let update_id = a.meta.as_ref().map(|m| m.update_id.as_str()).unwrap_or("");
            if let Some(update) = state.updates.iter_mut().find(|u| u.update_id == update_id) {
                update.stage = UpdateStage::Completed;
                update.completed_event_id = id;
            }
        }
        Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(a) => {
            let command = StartChildWorkflowExecutionCommandAttributes {
                workflow_id: a.workflow_id.clone(),
                workflow_type: a.workflow_type.clone(),
                task_queue: a.task_queue.clone(),
                input: a.input.clone(),
                workflow_execution_timeout: a.workflow_execution_timeout,
                workflow_run_timeout: a.workflow_run_timeout,
                workflow_task_timeout: a.workflow_task_timeout,
                parent_close_policy: a.parent_close_policy,
                workflow_id_reuse_policy: a.workflow_id_reuse_policy,
                retry_policy: a.retry_policy.clone(),
                cron_schedule: a.cron_schedule.clone(),
                header: a.header.clone(),
                memo: a.memo.clone(),
                search_attributes: a.search_attributes.clone(),
                priority: a.priority.clone(),
                ..Default::default()
            };
            state.children.push(ChildInfo {
                initiated_event_id: id,
                started_event_id: 0,
                started: false,
                workflow_id: a.workflow_id.clone(),
                run_id: String::new(),
                workflow_type: a.workflow_type.clone().unwrap_or_default().name,
                parent_close_policy: a.parent_close_policy,
                workflow_task_completed_event_id: a.workflow_task_completed_event_id,
                command: command.encode_to_vec(),
            });
        }
        Attributes::ChildWorkflowExecutionStartedEventAttributes(a) => {
            let run_id = a
                .workflow_execution
                .as_ref()
                .map(|e: &WorkflowExecution| e.run_id.clone())
                .unwrap_or_default();
            if let Some(child) = state
                .children
                .iter_mut()
                .find(|c| c.initiated_event_id == a.initiated_event_id)
            {
                child.started = true;
                child.started_event_id = id;
                child.run_id = run_id;
            }
        }
        Attributes::StartChildWorkflowExecutionFailedEventAttributes(a) => {
            forget_child(state, a.initiated_event_id)
        }
        Attributes::ChildWorkflowExecutionCompletedEventAttributes(a) => {
            forget_child(state, a.initiated_event_id)
        }
        Attributes::ChildWorkflowExecutionFailedEventAttributes(a) => {
            forget_child(state, a.initiated_event_id)
        }
        Attributes::ChildWorkflowExecutionCanceledEventAttributes(a) => {
            forget_child(state, a.initiated_event_id)
        }
        Attributes::ChildWorkflowExecutionTimedOutEventAttributes(a) => {
            forget_child(state, a.initiated_event_id)
        }
        Attributes::ChildWorkflowExecutionTerminatedEventAttributes(a) => {
            forget_child(state, a.initiated_event_id)
        }
        Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(a) => {
            let command = SignalExternalWorkflowExecutionCommandAttributes {
                execution: a.workflow_execution.clone(),
                signal_name: a.signal_name.clone(),
                input: a.input.clone(),
                child_workflow_only: a.child_workflow_only,
                header: a.header.clone(),
                ..Default::default()
            };
            state.external_requests.push(ExternalRequest {
                initiated_event_id: id,
                cancel: false,
                command: command.encode_to_vec(),
            });
        }
        Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(a) => {
            let command = RequestCancelExternalWorkflowExecutionCommandAttributes {
                workflow_id: a
                    .workflow_execution
                    .as_ref()
                    .map(|e| e.workflow_id.clone())
                    .unwrap_or_default(),
                run_id: a
                    .workflow_execution
                    .as_ref()
                    .map(|e| e.run_id.clone())
                    .unwrap_or_default(),
                child_workflow_only: a.child_workflow_only,
                reason: a.reason.clone(),
                ..Default::default()
            };
            state.external_requests.push(ExternalRequest {
                initiated_event_id: id,
                cancel: true,
                command: command.encode_to_vec(),
            });
        }
        Attributes::ExternalWorkflowExecutionSignaledEventAttributes(a) => {
            forget_external(state, a.initiated_event_id)
        }
        Attributes::SignalExternalWorkflowExecutionFailedEventAttributes(a) => {
            forget_external(state, a.initiated_event_id)
        }
        Attributes::ExternalWorkflowExecutionCancelRequestedEventAttributes(a) => {
            forget_external(state, a.initiated_event_id)
        }
        Attributes::RequestCancelExternalWorkflowExecutionFailedEventAttributes(a) => {
            forget_external(state, a.initiated_event_id)
        }
        _ => {}
    }
}

/// Counts a signal the new run holds, and keeps its request ID so that the same signal sent
/// again is recorded once.
fn note_signal(
    state: &mut MutableState,
    signal: &history::WorkflowExecutionSignaledEventAttributes,
) {
    state.signal_count += 1;
    if !signal.request_id.is_empty() {
        state.record_signal_request(&signal.request_id);
    }
}

/// The rebuilt state's record of the update `request` names, made on its first event.
fn known_update<'a>(state: &'a mut MutableState, request: &Request) -> &'a mut UpdateInfo {
    let update_id = update_id(request);
    let index = match state.updates.iter().position(|u| u.update_id == update_id) {
        Some(index) => index,
        None => {
            state.update_count += 1;
            state.updates.push(UpdateInfo {
                update_id,
                stage: UpdateStage::Admitted,
                request: Vec::new(),
                accepted_event_id: 0,
                completed_event_id: 0,
                admitted_event_id: 0,
                sent: false,
            });
            state.updates.len() - 1
        }
    };
    &mut state.updates[index]
}

fn forget_child(state: &mut MutableState, initiated_event_id: i64) {
    state
        .children
        .retain(|c| c.initiated_event_id != initiated_event_id);
}

fn forget_external(state: &mut MutableState, initiated_event_id: i64) {
    state
        .external_requests
        .retain(|r| r.initiated_event_id != initiated_event_id);
}

/// Resets `base` as the history service read it (`history`, its events before
/// `read_through`): the new run, and the end of the workflow's current run if it is open,
/// in one operation. A repeat of the same request finds the run it made. `None` when events
/// were written to `base` since it was read: read it again and retry.
pub fn reset_workflow<S: crate::store::RunStore>(
    store: &mut S,
    base: &RunKey,
    history: &[HistoryEvent],
    request: &ResetRequest,
    read_through: i64,
) -> Result<Option<String>, S::Error> {
    let current = store
        .current_state(&base.workflow())?
        .ok_or_else(|| EngineError::run_not_found(base))?;
    let new_run = RunKey {
        run_id: new_run_id(base, &request.request_id),
        ..base.clone()
    };
    if store.state(&new_run)?.is_some() {
        return Ok(Some(new_run.run_id));
    }
    let latest = store
        .state(base)?
        .ok_or_else(|| EngineError::run_not_found(base))?;
    if latest.next_event_id != read_through {
        return Ok(None);
    }
    let (state, changes) = reset(&latest, history, request, store.now())?;
    if current.is_open() {
        store.update(&current.run, |tx| {
            tx.terminate(&request.reason, None, "history-resetter")
        })?;
    }
    let new_run_id = state.run.run_id.clone();
    store.stage(state, changes);
    Ok(Some(new_run_id))
}
