//! Schedules: a spec of times, an action (start a workflow) and policies for overlaps and
//! missed times. As in Temporal, a schedule lives in a run of its own, workflow ID
//! `temporal-sys-scheduler:<schedule ID>`, whose state is the schedule. That run never has a
//! workflow task: the history owner fires its deadline when the next time comes due, and the
//! engine decides what to start, skip, buffer, cancel or terminate.
//!
//! Starts, cancels and terminations of the workflows it runs are transfers (see
//! [`crate::transfer`]), pending in the schedule's state until the other workflow's owner
//! took them. A workflow a schedule started tells the schedule when it closes, the way a
//! child tells its parent, so the overlap policy sees what still runs.

pub mod calendar;
pub mod create;
pub mod spec;

use apache_avro::AvroSchema;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::{
    EngineError, RunKey,
    events::Tx,
    proto::{
        HistoryEvent,
        common::{Payload, Payloads, SearchAttributes, WorkflowExecution},
        enums::{ScheduleOverlapPolicy, WorkflowExecutionStatus, WorkflowIdReusePolicy},
        failure::Failure,
        history::history_event::Attributes,
        schedule::{
            BackfillRequest, Schedule, ScheduleActionResult, ScheduleInfo, SchedulePatch,
            SchedulePolicies, schedule_action,
        },
        workflowservice::StartWorkflowExecutionRequest,
    },
    time::{self, NANOS_PER_SEC, Nanos},
};

pub use spec::{InvalidSpec, Spec, Tick};

/// The workflow ID of a schedule's run is this prefix and the schedule ID.
pub const WORKFLOW_ID_PREFIX: &str = "temporal-sys-scheduler:";
pub const WORKFLOW_TYPE: &str = "temporal-sys-scheduler-workflow";
pub const TASK_QUEUE: &str = "temporal-sys-per-ns-tq";
/// How many of the latest actions a schedule reports.
const RECENT_ACTIONS: usize = 10;
/// How many coming times DescribeSchedule reports (ListSchedules reports fewer).
pub const FUTURE_ACTION_TIMES: usize = 10;
/// Starts waiting for their turn beyond this many are dropped.
const MAX_BUFFER: usize = 1000;
const DEFAULT_CATCHUP_WINDOW: Nanos = 365 * 24 * 3600 * NANOS_PER_SEC;
const MIN_CATCHUP_WINDOW: Nanos = 10 * NANOS_PER_SEC;

/// The workflow ID of the run that holds schedule `schedule_id`.
pub fn workflow_id(schedule_id: &str) -> String {
    format!("{WORKFLOW_ID_PREFIX}{schedule_id}")
}

/// A schedule's state, kept in its run's mutable state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct ScheduleState {
    pub schedule_id: String,
    /// What the jitter of each time depends on besides the time: the namespace ID and the
    /// schedule ID.
    pub jitter_seed: String,
    /// The encoded `temporal.api.schedule.v1.Schedule`: its spec in canonical form, its
    /// policies with their defaults filled in.
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub schedule: Vec<u8>,
    /// Bumped by every update and pause or unpause; an update naming another is ignored.
    pub conflict_token: i64,
    pub create_time: Nanos,
    pub update_time: Option<Nanos>,
    /// The spec's times up to this one were taken, skipped or missed.
    pub processed_until: Nanos,
    pub action_count: i64,
    pub missed_catchup_window: i64,
    pub overlap_skipped: i64,
    pub buffer_dropped: i64,
    /// Starts waiting for the running workflow to close, in order.
    pub buffer: Vec<BufferedStart>,
    /// The workflows started (or being started) that still run, and the latest actions.
    pub actions: Vec<ScheduledAction>,
    pub next_sequence: i64,
    /// The encoded `Payloads` of the last workflow that completed and `Failure` of the last
    /// that failed: the next start carries them.
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub last_completion_result: Vec<u8>,
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub last_failure: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct BufferedStart {
    /// The spec's time (or the time a trigger or backfill names): the started workflow's ID
    /// carries it.
    pub nominal_time: Nanos,
    /// The nominal time with its jitter.
    pub due_time: Nanos,
    /// `ScheduleOverlapPolicy` of this start; 0 follows the schedule's.
    pub overlap_policy: i32,
    /// Asked for by a trigger or backfill rather than the spec.
    pub manual: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct ScheduledAction {
    /// Identifies the action among the schedule's (transfers name it).
    pub sequence: i64,
    pub due_time: Nanos,
    /// When the schedule took the action.
    pub actual_time: Nanos,
    pub workflow_id: String,
    /// The first run of the started workflow; empty while it is being started.
    pub run_id: String,
    /// `WorkflowExecutionStatus` as last heard; 0 while being started.
    pub status: i32,
    /// Whether it counts as running for the overlap policy (every start but `ALLOW_ALL`).
    pub tracked: bool,
    /// The encoded `StartWorkflowExecutionRequest`, until the start was made.
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub start_request: Vec<u8>,
    /// A cancel (1) or termination (2) the overlap policy asked for and not yet delivered.
    pub stop: i32,
}

impl ScheduledAction {
    pub fn is_starting(&self) -> bool {
        self.run_id.is_empty() && !self.start_request.is_empty()
    }

    fn is_running(&self) -> bool {
        self.is_starting() || self.status == WorkflowExecutionStatus::Running as i32
    }
}

pub const STOP_CANCEL: i32 = 1;
pub const STOP_TERMINATE: i32 = 2;

impl ScheduleState {
    pub fn schedule(&self) -> Schedule {
        Schedule::decode(self.schedule.as_slice()).unwrap_or_default()
    }

    pub fn spec(&self) -> Spec {
        Spec::new(&self.schedule().spec.unwrap_or_default())
    }

    /// What jitter depends on besides the time.
    pub fn seed(&self) -> &str {
        &self.jitter_seed
    }

    /// When the next time of the spec is due.
    pub fn wake_time(&self) -> Option<Nanos> {
        self.spec()
            .next(self.seed(), self.processed_until)
            .map(|t| t.due)
    }

    /// The workflows started by the schedule that still run, as their first runs.
    pub fn running_workflows(&self) -> Vec<WorkflowExecution> {
        self.actions
            .iter()
            .filter(|a| a.tracked && a.is_running() && !a.run_id.is_empty())
            .map(|a| WorkflowExecution {
                workflow_id: a.workflow_id.clone(),
                run_id: a.run_id.clone(),
            })
            .collect()
    }

    fn recent(&self) -> impl Iterator<Item = &ScheduledAction> {
        let started = self.actions.iter().filter(|a| !a.is_starting());
        let count = started.clone().count();
        started.skip(count.saturating_sub(RECENT_ACTIONS))
    }

    /// The latest actions, oldest first.
    pub fn recent_actions(&self, limit: usize) -> Vec<ScheduleActionResult> {
        let recent: Vec<_> = self.recent().collect();
        recent[recent.len().saturating_sub(limit)..]
            .iter()
            .map(|a| ScheduleActionResult {
                schedule_time: Some(time::timestamp(a.due_time)),
                actual_time: Some(time::timestamp(a.actual_time)),
                start_workflow_result: Some(WorkflowExecution {
                    workflow_id: a.workflow_id.clone(),
                    run_id: a.run_id.clone(),
                }),
                start_workflow_status: a.status,
            })
            .collect()
    }

    /// The next `limit` times the spec will take an action after `now`.
    pub fn future_action_times(&self, now: Nanos, limit: usize) -> Vec<Nanos> {
        let schedule = self.schedule();
        let state = schedule.state.unwrap_or_default();
        let limit = if state.limited_actions {
            limit.min(state.remaining_actions.max(0) as usize)
        } else {
            limit
        };
        let spec = self.spec();
        let mut out = Vec::new();
        let mut after = self.processed_until.max(now);
        while out.len() < limit {
            let Some(tick) = spec.next(self.seed(), after) else {
                break;
            };
            out.push(tick.due);
            after = tick.nominal;
        }
        out
    }

    /// Describe's view of the schedule's progress.
    pub fn info(&self, now: Nanos) -> ScheduleInfo {
        ScheduleInfo {
            action_count: self.action_count,
            missed_catchup_window: self.missed_catchup_window,
            overlap_skipped: self.overlap_skipped,
            buffer_dropped: self.buffer_dropped,
            buffer_size: self.buffer.len() as i64,
            running_workflows: self.running_workflows(),
            recent_actions: self.recent_actions(RECENT_ACTIONS),
            future_action_times: self
                .future_action_times(now, FUTURE_ACTION_TIMES)
                .into_iter()
                .map(time::timestamp)
                .collect(),
            create_time: Some(time::timestamp(self.create_time)),
            update_time: self.update_time.map(time::timestamp),
            ..Default::default()
        }
    }

    /// The conflict token as the API carries it: eight bytes, big-endian.
    pub fn conflict_token_bytes(&self) -> Vec<u8> {
        self.conflict_token.to_be_bytes().to_vec()
    }
}

/// Checks a schedule given to Create or Update and returns it as it is stored: the spec in
/// canonical form and the policies' defaults filled in.
pub fn prepare(mut schedule: Schedule) -> Result<Schedule, EngineError> {
    let spec = schedule.spec.take().unwrap_or_default();
    let spec = spec::canonical(&spec)
        .map_err(|e| EngineError::InvalidArgument(format!("Invalid schedule spec: {}", e.0)))?;
    schedule.spec = Some(spec);
    let policies = schedule
        .policies
        .get_or_insert_with(SchedulePolicies::default);
    if policies.overlap_policy == ScheduleOverlapPolicy::Unspecified as i32 {
        policies.overlap_policy = ScheduleOverlapPolicy::Skip as i32;
    }
    let window = time::from_duration(policies.catchup_window.as_ref());
    policies.catchup_window = Some(time::duration(if window <= 0 {
        DEFAULT_CATCHUP_WINDOW
    } else {
        window.max(MIN_CATCHUP_WINDOW)
    }));
    schedule.state.get_or_insert_with(Default::default);
    Ok(schedule)
}

/// A new schedule's state; `schedule` was [`prepare`]d.
pub fn new_state(
    namespace_id: &str,
    schedule_id: &str,
    schedule: &Schedule,
    now: Nanos,
) -> ScheduleState {
    ScheduleState {
        schedule_id: schedule_id.to_string(),
        jitter_seed: format!("{namespace_id}-{schedule_id}"),
        schedule: schedule.encode_to_vec(),
        conflict_token: 1,
        create_time: now,
        update_time: None,
        processed_until: now,
        action_count: 0,
        missed_catchup_window: 0,
        overlap_skipped: 0,
        buffer_dropped: 0,
        buffer: Vec::new(),
        actions: Vec::new(),
        next_sequence: 1,
        last_completion_result: Vec::new(),
        last_failure: Vec::new(),
    }
}

/// The workflow ID an encoded start request names.
pub fn started_workflow_id(request: &[u8]) -> String {
    StartWorkflowExecutionRequest::decode(request)
        .map(|r| r.workflow_id)
        .unwrap_or_default()
}

/// The request ID of a schedule's start: fixed by the schedule's run and the action, so a
/// start sent twice starts once.
fn start_request_id(run: &RunKey, sequence: i64) -> String {
    let name = format!(
        "{}/{}/{}/schedule/{sequence}",
        run.namespace_id, run.workflow_id, run.run_id
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

/// RFC 3339 in UTC, whole seconds, as scheduled workflow IDs carry it.
fn rfc3339_seconds(nanos: Nanos) -> String {
    chrono::DateTime::from_timestamp(nanos.div_euclid(NANOS_PER_SEC), 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn json_payload(json: String, value_type: &str) -> Payload {
    Payload {
        metadata: [
            ("encoding".to_string(), b"json/plain".to_vec()),
            ("type".to_string(), value_type.as_bytes().to_vec()),
        ]
        .into(),
        data: json.into_bytes(),
        ..Default::default()
    }
}

impl Tx<'_> {
    fn schedule_state(&mut self) -> Result<&mut ScheduleState, EngineError> {
        let id = self.state.run.workflow_id.clone();
        if !self.state.is_open() {
            return Err(EngineError::workflow_completed());
        }
        self.state
            .schedule
            .as_mut()
            .ok_or_else(|| EngineError::NotFound(format!("workflow not found for ID: {id}")))
    }

    /// Takes the spec's times that came due, then starts what the buffer allows.
    pub fn run_schedule(&mut self) {
        let now = self.now;
        let Ok(state) = self.schedule_state() else {
            return;
        };
        let schedule = state.schedule();
        let spec = state.spec();
        let policies = schedule.policies.unwrap_or_default();
        let sched_state = schedule.state.unwrap_or_default();
        let window = time::from_duration(policies.catchup_window.as_ref());
        let out_of_actions = sched_state.limited_actions && sched_state.remaining_actions <= 0;
        while let Some(tick) = spec.next(&state.jitter_seed, state.processed_until) {
            if tick.due > now {
                break;
            }
            state.processed_until = tick.nominal;
            // Times pass unused while paused or out of actions.
            if sched_state.paused || out_of_actions {
                continue;
            }
            if now - tick.due > window {
                state.missed_catchup_window += 1;
                continue;
            }
            push_buffered(
                state,
                BufferedStart {
                    nominal_time: tick.nominal,
                    due_time: tick.due,
                    overlap_policy: 0,
                    manual: false,
                },
            );
        }
        self.process_schedule_buffer();
    }

    /// Starts buffered starts the overlap policies allow, and asks running workflows to stop
    /// where they say so.
    fn process_schedule_buffer(&mut self) {
        let now = self.now;
        let run = self.state.run.clone();
        let namespace = self.state.namespace.clone();
        let Ok(state) = self.schedule_state() else {
            return;
        };
        let mut schedule = state.schedule();
        let default_policy = schedule
            .policies
            .as_ref()
            .map_or(ScheduleOverlapPolicy::Skip as i32, |p| p.overlap_policy);
        // Only a start that overlaps a workflow already running counts as skipped; one that
        // only meets a start picked in this same pass goes unrecorded, as in Temporal.
        let was_running = state.actions.iter().any(|a| a.tracked && a.is_running());
        let mut running = was_running;
        let skipped = u64::from(was_running) as i64;
        let mut keep = Vec::new();
        let mut starts = Vec::new();
        let mut stop = 0;
        for start in std::mem::take(&mut state.buffer) {
            let policy = if start.overlap_policy == 0 {
                default_policy
            } else {
                start.overlap_policy
            };
            let policy =
                ScheduleOverlapPolicy::try_from(policy).unwrap_or(ScheduleOverlapPolicy::Skip);
            if policy == ScheduleOverlapPolicy::AllowAll {
                starts.push((start, false));
                continue;
            }
            if !running {
                running = true;
                starts.push((start, true));
                continue;
            }
            match policy {
                ScheduleOverlapPolicy::BufferOne => {
                    if keep.is_empty() {
                        keep.push(start);
                    } else {
                        state.overlap_skipped += skipped;
                    }
                }
                ScheduleOverlapPolicy::BufferAll => keep.push(start),
                ScheduleOverlapPolicy::CancelOther => {
                    stop = stop.max(STOP_CANCEL);
                    keep = vec![start];
                }
                ScheduleOverlapPolicy::TerminateOther => {
                    stop = STOP_TERMINATE;
                    keep = vec![start];
                }
                _ => state.overlap_skipped += skipped,
            }
        }
        state.buffer = keep;
        if stop > 0 {
            for action in state.actions.iter_mut() {
                if action.tracked && action.is_running() && !action.run_id.is_empty() {
                    action.stop = action.stop.max(stop);
                }
            }
        }
        let Some(schedule_action::Action::StartWorkflow(info)) =
            schedule.action.as_ref().and_then(|a| a.action.clone())
        else {
            // Nothing to start: the starts are spent.
            return;
        };
        let limits = schedule.state.clone().unwrap_or_default();
        let mut remaining = limits.remaining_actions;
        let mut spent_scheduled = 0;
        for (start, tracked) in starts {
            // A time of the spec uses up one of a limited schedule's actions; once they are
            // spent, such starts are dropped.
            if !start.manual && limits.limited_actions {
                if remaining <= 0 {
                    continue;
                }
                remaining -= 1;
            }
            let sequence = state.next_sequence;
            state.next_sequence += 1;
            // As in Temporal, the nominal time is always appended
            // (`keep_original_workflow_id` is not honoured there either).
            let workflow_id = format!(
                "{}-{}",
                info.workflow_id,
                rfc3339_seconds(start.nominal_time)
            );
            // A time of the spec is never started twice; a trigger or backfill may repeat one.
            let reuse = if start.manual {
                WorkflowIdReusePolicy::AllowDuplicate
            } else {
                WorkflowIdReusePolicy::RejectDuplicate
            };
            let mut search_attributes = info.search_attributes.clone().unwrap_or_default();
            search_attributes.indexed_fields.insert(
                "TemporalScheduledStartTime".into(),
                json_payload(
                    format!("\"{}\"", rfc3339_seconds(start.nominal_time)),
                    "Datetime",
                ),
            );
            search_attributes.indexed_fields.insert(
                "TemporalScheduledById".into(),
                json_payload(format!("{:?}", state.schedule_id), "Keyword"),
            );
            let carries_results = tracked;
            let request = StartWorkflowExecutionRequest {
                namespace: namespace.clone(),
                workflow_id: workflow_id.clone(),
                workflow_type: info.workflow_type.clone(),
                task_queue: info.task_queue.clone(),
                input: info.input.clone(),
                workflow_execution_timeout: info.workflow_execution_timeout,
                workflow_run_timeout: info.workflow_run_timeout,
                workflow_task_timeout: info.workflow_task_timeout,
                identity: format!("temporal-scheduler-{namespace}-{}", state.schedule_id),
                request_id: start_request_id(&run, sequence),
                workflow_id_reuse_policy: reuse as i32,
                retry_policy: info.retry_policy.clone(),
                memo: info.memo.clone(),
                search_attributes: Some(SearchAttributes {
                    indexed_fields: search_attributes.indexed_fields,
                }),
                header: info.header.clone(),
                last_completion_result: if carries_results {
                    Payloads::decode(state.last_completion_result.as_slice()).ok()
                } else {
                    None
                }
                .filter(|p| !p.payloads.is_empty()),
                continued_failure: if carries_results && !state.last_failure.is_empty() {
                    Failure::decode(state.last_failure.as_slice()).ok()
                } else {
                    None
                },
                user_metadata: info.user_metadata.clone(),
                priority: info.priority.clone(),
                ..Default::default()
            };
            if !start.manual {
                spent_scheduled += 1;
            }
            state.actions.push(ScheduledAction {
                sequence,
                due_time: start.due_time,
                actual_time: now,
                workflow_id,
                run_id: String::new(),
                status: 0,
                tracked,
                start_request: request.encode_to_vec(),
                stop: 0,
            });
        }
        if spent_scheduled > 0
            && let Some(sched_state) = schedule.state.as_mut()
            && sched_state.limited_actions
        {
            sched_state.remaining_actions =
                (sched_state.remaining_actions - spent_scheduled).max(0);
            state.schedule = schedule.encode_to_vec();
            state.conflict_token += 1;
        }
        prune_actions(state);
    }

    /// Applies a patch: trigger now, backfill, pause or unpause.
    pub fn patch_schedule(&mut self, patch: &SchedulePatch) -> Result<(), EngineError> {
        let now = self.now;
        let state = self.schedule_state()?;
        let spec = state.spec();
        if let Some(trigger) = &patch.trigger_immediately {
            let at = trigger
                .scheduled_time
                .as_ref()
                .map_or(now, time::from_timestamp);
            push_buffered(
                state,
                BufferedStart {
                    nominal_time: at,
                    due_time: at,
                    overlap_policy: trigger.overlap_policy,
                    manual: true,
                },
            );
        }
        for backfill in &patch.backfill_request {
            for tick in backfill_ticks(&spec, state.seed(), backfill) {
                push_buffered(
                    state,
                    BufferedStart {
                        nominal_time: tick.nominal,
                        due_time: tick.due,
                        overlap_policy: backfill.overlap_policy,
                        manual: true,
                    },
                );
            }
        }
        // Unpause wins when both are given.
        let pause = match (patch.pause.is_empty(), patch.unpause.is_empty()) {
            (_, false) => Some((false, patch.unpause.clone())),
            (false, true) => Some((true, patch.pause.clone())),
            (true, true) => None,
        };
        if let Some((paused, notes)) = pause {
            let mut schedule = state.schedule();
            let sched_state = schedule.state.get_or_insert_with(Default::default);
            sched_state.paused = paused;
            sched_state.notes = notes;
            state.schedule = schedule.encode_to_vec();
            state.conflict_token += 1;
        }
        self.process_schedule_buffer();
        Ok(())
    }

    /// Replaces the schedule (already [`prepare`]d) unless `conflict_token` names another
    /// version, in which case the update is ignored, as Temporal ignores it.
    pub fn update_schedule(
        &mut self,
        schedule: &Schedule,
        conflict_token: &[u8],
        search_attributes: Option<SearchAttributes>,
    ) -> Result<(), EngineError> {
        let now = self.now;
        let state = self.schedule_state()?;
        if !conflict_token.is_empty() && conflict_token != state.conflict_token_bytes() {
            return Ok(());
        }
        state.schedule = schedule.encode_to_vec();
        state.conflict_token += 1;
        state.update_time = Some(now);
        // Times before the update are not taken under the new spec.
        state.processed_until = state.processed_until.max(now);
        if let Some(search_attributes) = search_attributes {
            self.state.search_attributes = search_attributes.encode_to_vec();
        }
        self.run_schedule();
        Ok(())
    }

    /// A start the schedule asked for was made (`run_id`), or found the ID taken (`None`).
    pub fn record_scheduled_start(&mut self, sequence: i64, run_id: Option<&str>) {
        let Ok(state) = self.schedule_state() else {
            return;
        };
        let Some(index) = state
            .actions
            .iter()
            .position(|a| a.sequence == sequence && a.is_starting())
        else {
            return;
        };
        match run_id {
            Some(run_id) => {
                let action = &mut state.actions[index];
                action.run_id = run_id.to_string();
                action.status = WorkflowExecutionStatus::Running as i32;
                action.start_request.clear();
                state.action_count += 1;
            }
            None => {
                // The ID is taken: nothing started, nothing counts.
                state.actions.remove(index);
            }
        }
        self.process_schedule_buffer();
    }

    /// The overlap policy's cancel or termination of a workflow was delivered.
    pub fn record_scheduled_stop(&mut self, sequence: i64) {
        if let Ok(state) = self.schedule_state()
            && let Some(action) = state.actions.iter_mut().find(|a| a.sequence == sequence)
        {
            action.stop = 0;
        }
    }

    /// A workflow the schedule started closed (its whole chain of runs): `first_run_id`
    /// names it, `close_event` says how.
    pub fn record_scheduled_close(
        &mut self,
        workflow_id: &str,
        first_run_id: &str,
        close_event: &HistoryEvent,
    ) {
        let Ok(state) = self.schedule_state() else {
            return;
        };
        let Some(action) = state
            .actions
            .iter_mut()
            .find(|a| a.workflow_id == workflow_id && a.run_id == first_run_id)
        else {
            return;
        };
        let (status, result, failure) = match &close_event.attributes {
            Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
                (WorkflowExecutionStatus::Completed, a.result.clone(), None)
            }
            Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => {
                (WorkflowExecutionStatus::Failed, None, a.failure.clone())
            }
            Some(Attributes::WorkflowExecutionTimedOutEventAttributes(_)) => {
                (WorkflowExecutionStatus::TimedOut, None, None)
            }
            Some(Attributes::WorkflowExecutionCanceledEventAttributes(_)) => {
                (WorkflowExecutionStatus::Canceled, None, None)
            }
            Some(Attributes::WorkflowExecutionTerminatedEventAttributes(_)) => {
                (WorkflowExecutionStatus::Terminated, None, None)
            }
            _ => (WorkflowExecutionStatus::Completed, None, None),
        };
        action.status = status as i32;
        action.stop = 0;
        let tracked = action.tracked;
        if tracked {
            match status {
                WorkflowExecutionStatus::Completed => {
                    state.last_completion_result =
                        result.map(|r| r.encode_to_vec()).unwrap_or_default();
                    state.last_failure.clear();
                }
                WorkflowExecutionStatus::Failed => {
                    state.last_failure = failure
                        .as_ref()
                        .map(|f| f.encode_to_vec())
                        .unwrap_or_default();
                }
                _ => {}
            }
        }
        let mut schedule = state.schedule();
        let pause_on_failure = schedule
            .policies
            .as_ref()
            .is_some_and(|p| p.pause_on_failure);
        let already_paused = schedule.state.as_ref().is_some_and(|s| s.paused);
        if pause_on_failure
            && !already_paused
            && matches!(
                status,
                WorkflowExecutionStatus::Failed | WorkflowExecutionStatus::TimedOut
            )
        {
            let sched_state = schedule.state.get_or_insert_with(Default::default);
            sched_state.paused = true;
            sched_state.notes = match &failure {
                Some(failure) if status == WorkflowExecutionStatus::Failed => format!(
                    "paused due to workflow failure: {workflow_id}: {}",
                    failure.message
                ),
                _ if status == WorkflowExecutionStatus::Failed => {
                    format!("paused due to workflow failure: {workflow_id}: ")
                }
                _ => format!("paused due to workflow timeout: {workflow_id}"),
            };
            state.schedule = schedule.encode_to_vec();
            state.conflict_token += 1;
        }
        prune_actions(state);
        self.process_schedule_buffer();
    }
}

fn push_buffered(state: &mut ScheduleState, start: BufferedStart) {
    if state.buffer.len() >= MAX_BUFFER {
        state.buffer_dropped += 1;
    } else {
        state.buffer.push(start);
    }
}

/// A backfill's times: every time of the spec from its start to its end, both included.
fn backfill_ticks(spec: &Spec, seed: &str, backfill: &BackfillRequest) -> Vec<Tick> {
    let (Some(from), Some(to)) = (&backfill.start_time, &backfill.end_time) else {
        return Vec::new();
    };
    let from = time::from_timestamp(from);
    let to = time::from_timestamp(to);
    spec.between(seed, from - 1_000_000, to, MAX_BUFFER)
}

/// Keeps the actions still starting, running or stopping, and the latest ones.
fn prune_actions(state: &mut ScheduleState) {
    let started: Vec<i64> = state
        .actions
        .iter()
        .filter(|a| !a.is_starting())
        .map(|a| a.sequence)
        .collect();
    let recent_from = started
        .len()
        .checked_sub(RECENT_ACTIONS)
        .map_or(i64::MIN, |skip| started[skip]);
    state
        .actions
        .retain(|a| a.is_running() || a.stop > 0 || a.sequence >= recent_from);
}
