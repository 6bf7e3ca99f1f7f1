//! The schedule RPCs: Create, Describe, Update, Patch, Delete, List, Count and
//! ListScheduleMatchingTimes, with Temporal's validation and messages. Each schedule is a run
//! of its own (`cairn_engine::schedule`), reached through its workflow ID.

use cairn_engine::{
    EngineError, MutableState, RunKey,
    proto::{
        common::{Memo, SearchAttributes},
        schedule::{Schedule, ScheduleListEntry, ScheduleListInfo, ScheduleSpec, schedule_action},
    },
    schedule::{self, calendar},
    time,
};
use cairn_history::{HistoryError, NewSchedule};
use cairn_query::{Field, Query, Record, Value, ValueType};
use prost::Message;
use temporalio_protos::protos::temporal::api::{
    enums::v1::TaskQueueKind, workflowservice::v1 as ws,
};
use tonic::{Request, Response, Status};

use crate::{
    error::{self, status},
    namespaces::Namespace,
    validate,
};

use crate::service::*;

/// How many recent actions and coming times ListSchedules reports per schedule.
const LIST_ACTIONS: usize = 5;
/// ListScheduleMatchingTimes answers at most this many times.
const MAX_MATCHING_TIMES: usize = 1000;
/// Longest pause or unpause note.
const MAX_NOTES: usize = 1000;
/// What a scheduled workflow's ID gets appended: `-` and a time like `2009-11-10T23:00:00Z`.
const ID_SUFFIX: usize = 21;

impl Frontend {
    fn schedule_run(&self, namespace: &Namespace, schedule_id: &str) -> RunKey {
        RunKey {
            namespace_id: namespace.id.clone(),
            workflow_id: schedule::workflow_id(schedule_id),
            run_id: String::new(),
        }
    }

    /// The open run holding the schedule. A schedule that never existed is not found as its
    /// workflow; one that was deleted as a schedule.
    async fn schedule_state(
        &self,
        namespace: &Namespace,
        schedule_id: &str,
    ) -> Result<MutableState, Status> {
        let state = self
            .history
            .describe(self.schedule_run(namespace, schedule_id))
            .await
            .map_err(status)?;
        if !state.is_open() || state.schedule.is_none() {
            return Err(error::engine_status(EngineError::NotFound(
                "schedule not found".into(),
            )));
        }
        Ok(state)
    }

    /// The schedule's state once the starts it has asked for are made. Temporal answers a
    /// describe from its scheduler workflow after that workflow's pending task, so a caller
    /// sees the actions a trigger or a due time just took; here a start is a transfer to
    /// the started workflow's partition, waited for a few seconds at most.
    async fn settled_schedule_state(
        &self,
        namespace: &Namespace,
        schedule_id: &str,
    ) -> Result<MutableState, Status> {
        let mut changes = self.history.subscribe();
        let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
        loop {
            let state = self.schedule_state(namespace, schedule_id).await?;
            let starting = state
                .schedule
                .as_ref()
                .is_some_and(|held| held.actions.iter().any(|action| action.is_starting()));
            if !starting
                || !crate::long_poll::wait_for_change(&mut changes, &state.run.workflow(), deadline)
                    .await
            {
                return Ok(state);
            }
        }
    }
}

/// How long a describe waits for the starts a schedule asked for.
const SETTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Checks the schedule's ID as Temporal checks its workflow's.
fn validate_schedule_id(schedule_id: &str) -> Result<(), Status> {
    let length = schedule::WORKFLOW_ID_PREFIX.len() + schedule_id.len();
    if length > validate::MAX_ID_LENGTH {
        return Err(Status::invalid_argument(format!(
            "WorkflowId exceeds maximum allowed length ({length}/{})",
            validate::MAX_ID_LENGTH
        )));
    }
    Ok(())
}

/// Checks the workflow a schedule starts and returns the schedule as it is stored.
fn prepare(namespace: &Namespace, mut schedule: Schedule) -> Result<Schedule, Status> {
    if let Some(schedule_action::Action::StartWorkflow(start)) = schedule
        .action
        .as_mut()
        .and_then(|action| action.action.as_mut())
    {
        let length = start.workflow_id.len() + ID_SUFFIX;
        if length > validate::MAX_ID_LENGTH {
            return Err(Status::invalid_argument(format!(
                "WorkflowId exceeds maximum allowed length ({length}/{})",
                validate::MAX_ID_LENGTH
            )));
        }
        validate::required(
            start.workflow_type.as_ref().map_or("", |t| t.name.as_str()),
            "WorkflowType",
        )?;
        let Some(queue) = start.task_queue.as_mut() else {
            return Err(Status::invalid_argument("taskQueue is not set"));
        };
        if queue.name.is_empty() {
            return Err(Status::invalid_argument("missing task queue name"));
        }
        if queue.name.len() > validate::MAX_ID_LENGTH {
            return Err(Status::invalid_argument("taskQueue length exceeds limit"));
        }
        if queue.kind == TaskQueueKind::Unspecified as i32 {
            queue.kind = TaskQueueKind::Normal as i32;
        }
        validate::non_negative(
            start.workflow_execution_timeout.as_ref(),
            "WorkflowExecutionTimeout",
        )?;
        validate::non_negative(start.workflow_run_timeout.as_ref(), "WorkflowRunTimeout")?;
        validate::non_negative(start.workflow_task_timeout.as_ref(), "WorkflowTaskTimeout")?;
        validate::payload_size(start.input.as_ref().map_or(0, Message::encoded_len))?;
        if let Some(policy) = &start.retry_policy {
            validate::retry_policy(policy)?;
        }
        if !start.cron_schedule.is_empty() {
            return Err(Status::invalid_argument(
                "Scheduled workflow must not contain CronSchedule",
            ));
        }
        if start.workflow_id_reuse_policy > 1 {
            return Err(Status::invalid_argument(
                "Scheduled workflow must not contain WorkflowIDReusePolicy",
            ));
        }
        crate::search_attributes::validate(namespace, start.search_attributes.as_ref())?;
        crate::search_attributes::typed(namespace, &mut start.search_attributes);
    }
    schedule.action.get_or_insert_with(Default::default);
    schedule::prepare(schedule).map_err(error::engine_status)
}

pub(crate) async fn create_schedule(
    frontend: &Frontend,
    request: Request<ws::CreateScheduleRequest>,
) -> Reply<ws::CreateScheduleResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    if r.schedule_id.is_empty() {
        return Err(Status::invalid_argument(
            "Can't load workflow execution.  WorkflowId not set.",
        ));
    }
    validate_schedule_id(&r.schedule_id)?;
    if r.request_id.is_empty() {
        return Err(Status::invalid_argument("RequestId is not set on request."));
    }
    if r.request_id.len() > validate::MAX_ID_LENGTH {
        return Err(Status::invalid_argument("RequestId length exceeds limit."));
    }
    let schedule = prepare(&namespace, r.schedule.unwrap_or_default())?;
    crate::search_attributes::validate(&namespace, r.search_attributes.as_ref())?;
    let mut search_attributes = r.search_attributes;
    crate::search_attributes::typed(&namespace, &mut search_attributes);
    let new = NewSchedule {
        schedule_id: r.schedule_id.clone(),
        schedule,
        initial_patch: r.initial_patch.map(|mut patch| {
            fill_trigger_time(&mut patch, frontend.history.now());
            patch
        }),
        memo: r.memo,
        search_attributes,
        identity: r.identity,
        request_id: r.request_id,
    };
    frontend
        .history
        .create_schedule(
            namespace.id.clone(),
            namespace.name.clone(),
            new,
            crate::workflows::new_run_id(),
        )
        .await
        .map_err(|e| match e {
            HistoryError::Engine(EngineError::AlreadyStarted {
                start_request_id,
                run_id,
            }) => error::already_started_with_message(
                format!("schedule {:?} is already registered", r.schedule_id),
                start_request_id,
                run_id,
            ),
            other => status(other),
        })?;
    Ok(Response::new(ws::CreateScheduleResponse {
        conflict_token: 1_i64.to_be_bytes().to_vec(),
    }))
}

/// A trigger without a time is for now, by the frontend's clock, as in Temporal.
fn fill_trigger_time(patch: &mut cairn_engine::proto::schedule::SchedulePatch, now: i64) {
    if let Some(trigger) = patch.trigger_immediately.as_mut()
        && trigger.scheduled_time.is_none()
    {
        trigger.scheduled_time = Some(time::timestamp(now));
    }
}

/// A spec as Describe and List show it: every range's end and step filled in.
fn shown_spec(spec: Option<ScheduleSpec>) -> Option<ScheduleSpec> {
    spec.map(|mut spec| {
        spec.structured_calendar = spec
            .structured_calendar
            .iter()
            .map(calendar::cleaned)
            .collect();
        spec.exclude_structured_calendar = spec
            .exclude_structured_calendar
            .iter()
            .map(calendar::cleaned)
            .collect();
        spec
    })
}

fn decoded_memo(bytes: &[u8]) -> Option<Memo> {
    Memo::decode(bytes).ok().filter(|m| !m.fields.is_empty())
}

fn decoded_search_attributes(bytes: &[u8]) -> Option<SearchAttributes> {
    SearchAttributes::decode(bytes)
        .ok()
        .filter(|s| !s.indexed_fields.is_empty())
}

pub(crate) async fn describe_schedule(
    frontend: &Frontend,
    request: Request<ws::DescribeScheduleRequest>,
) -> Reply<ws::DescribeScheduleResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    validate_schedule_id(&r.schedule_id)?;
    let state = frontend
        .settled_schedule_state(&namespace, &r.schedule_id)
        .await?;
    let held = state.schedule.as_ref().expect("checked above");
    let mut schedule = held.schedule();
    schedule.spec = shown_spec(schedule.spec);
    Ok(Response::new(ws::DescribeScheduleResponse {
        schedule: Some(schedule),
        info: Some(held.info(frontend.history.now())),
        memo: decoded_memo(&state.memo),
        search_attributes: decoded_search_attributes(&state.search_attributes),
        conflict_token: held.conflict_token_bytes(),
    }))
}

pub(crate) async fn update_schedule(
    frontend: &Frontend,
    request: Request<ws::UpdateScheduleRequest>,
) -> Reply<ws::UpdateScheduleResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    validate_schedule_id(&r.schedule_id)?;
    if r.request_id.len() > validate::MAX_ID_LENGTH {
        return Err(Status::invalid_argument("RequestId length exceeds limit."));
    }
    let schedule = r.schedule.unwrap_or_default();
    let starts_workflow = matches!(
        schedule.action.as_ref().and_then(|a| a.action.as_ref()),
        Some(schedule_action::Action::StartWorkflow(_))
    );
    let schedule = prepare(&namespace, schedule)?;
    crate::search_attributes::validate(&namespace, r.search_attributes.as_ref())?;
    let mut search_attributes = r.search_attributes;
    crate::search_attributes::typed(&namespace, &mut search_attributes);
    if !starts_workflow {
        return Err(Status::invalid_argument(
            "Only StartWorkflow action is supported for schedules",
        ));
    }
    if r.memo.is_some() {
        return Err(Status::failed_precondition(
            "memo updates are not supported on workflow-backed schedules",
        ));
    }
    frontend
        .history
        .update_schedule(
            frontend.schedule_run(&namespace, &r.schedule_id),
            schedule,
            r.conflict_token,
            search_attributes,
        )
        .await
        .map_err(status)?;
    Ok(Response::new(ws::UpdateScheduleResponse {}))
}

pub(crate) async fn patch_schedule(
    frontend: &Frontend,
    request: Request<ws::PatchScheduleRequest>,
) -> Reply<ws::PatchScheduleResponse> {
    let r = request.into_inner();
    let Some(mut patch) = r.patch else {
        return Err(Status::invalid_argument("Patch is not set on request."));
    };
    let namespace = frontend.namespace(&r.namespace)?;
    validate_schedule_id(&r.schedule_id)?;
    if r.request_id.len() > validate::MAX_ID_LENGTH {
        return Err(Status::invalid_argument("RequestId length exceeds limit."));
    }
    if patch.pause.len() > MAX_NOTES || patch.unpause.len() > MAX_NOTES {
        return Err(Status::invalid_argument("Schedule notes exceeds limit."));
    }
    fill_trigger_time(&mut patch, frontend.history.now());
    frontend
        .history
        .patch_schedule(frontend.schedule_run(&namespace, &r.schedule_id), patch)
        .await
        .map_err(status)?;
    Ok(Response::new(ws::PatchScheduleResponse {}))
}

pub(crate) async fn delete_schedule(
    frontend: &Frontend,
    request: Request<ws::DeleteScheduleRequest>,
) -> Reply<ws::DeleteScheduleResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    validate_schedule_id(&r.schedule_id)?;
    // The schedule's run ends; the workflows it started go on. Its ID is free again.
    frontend
        .history
        .terminate(
            frontend.schedule_run(&namespace, &r.schedule_id),
            "terminated by DeleteSchedule".into(),
            None,
            r.identity,
        )
        .await
        .map_err(status)?;
    Ok(Response::new(ws::DeleteScheduleResponse {}))
}

pub(crate) async fn list_schedule_matching_times(
    frontend: &Frontend,
    request: Request<ws::ListScheduleMatchingTimesRequest>,
) -> Reply<ws::ListScheduleMatchingTimesResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    validate_schedule_id(&r.schedule_id)?;
    let state = frontend.schedule_state(&namespace, &r.schedule_id).await?;
    let (Some(start), Some(end)) = (r.start_time.as_ref(), r.end_time.as_ref()) else {
        return Err(error::with_detail(
            tonic::Code::InvalidArgument,
            "missing or invalid query".into(),
            "QueryFailedFailure",
            Vec::new(),
        ));
    };
    let held = state.schedule.as_ref().expect("checked above");
    let times = held
        .spec()
        .between(
            held.seed(),
            time::from_timestamp(start),
            time::from_timestamp(end),
            MAX_MATCHING_TIMES,
        )
        .into_iter()
        .map(|tick| time::timestamp(tick.due))
        .collect();
    Ok(Response::new(ws::ListScheduleMatchingTimesResponse {
        start_time: times,
    }))
}

/// One schedule as its List query sees it.
struct ScheduleRecord<'a>(&'a MutableState);

impl Record for ScheduleRecord<'_> {
    fn field(&self, field: &Field) -> Value {
        let state = self.0;
        match field {
            Field::Custom { name, .. } if name == "ScheduleId" => Value::String(
                state
                    .schedule
                    .as_ref()
                    .map(|s| s.schedule_id.clone())
                    .unwrap_or_default(),
            ),
            Field::Custom { name, .. } if name == "TemporalSchedulePaused" => Value::Bool(
                state
                    .schedule
                    .as_ref()
                    .and_then(|s| s.schedule().state)
                    .is_some_and(|s| s.paused),
            ),
            Field::Custom { name, value_type } => {
                crate::search_attributes::value_of(&state.search_attributes, name, *value_type)
            }
            _ => Value::Null,
        }
    }
}

/// Parses a ListSchedules or CountSchedules query: schedule IDs, whether paused, and the
/// namespace's custom search attributes.
fn parse_query(namespace: &Namespace, query: &str) -> Result<Query, Status> {
    let custom = crate::search_attributes::custom(namespace);
    let parsed = cairn_query::parse_with(query, &|name| match name {
        "ScheduleId" => Some(ValueType::Keyword),
        "TemporalSchedulePaused" => Some(ValueType::Bool),
        _ => custom.get(name).copied(),
    })
    .map_err(|e| Status::invalid_argument(e.to_string()))?;
    let mentioned = parsed
        .filter
        .iter()
        .flat_map(|f| f.fields())
        .chain(parsed.order_by.iter().map(|o| o.field.clone()));
    for field in mentioned {
        if !matches!(field, Field::Custom { .. }) {
            return Err(Status::invalid_argument(format!(
                "invalid query filter for schedules: cannot filter on {:?}",
                field.name()
            )));
        }
    }
    Ok(parsed)
}

impl Frontend {
    /// The namespace's schedules that match, newest first.
    async fn schedules(
        &self,
        namespace: &Namespace,
        query: &str,
    ) -> Result<Vec<MutableState>, Status> {
        let query = parse_query(namespace, query)?;
        // The runs holding schedules are the scheduler division of the visibility index.
        let open = cairn_query::parse("ExecutionStatus = 'Running'").expect("a valid query");
        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = self
                .list_rows(
                    &namespace.id,
                    &open,
                    vec![cairn_visibility::keys::Division::Schedulers],
                    after,
                    DEFAULT_PAGE_SIZE,
                )
                .await?;
            rows.extend(page);
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            // Deleted since it was listed: not a schedule any more.
            let state = match self.history.describe(row.run()).await {
                Ok(state) => state,
                Err(cairn_history::HistoryError::Engine(cairn_engine::EngineError::NotFound(
                    _,
                ))) => {
                    continue;
                }
                Err(error) => return Err(crate::error::status(error)),
            };
            if state.is_open() && state.schedule.is_some() && query.matches(&ScheduleRecord(&state))
            {
                found.push(state);
            }
        }
        found.sort_by(|a, b| {
            b.start_time
                .cmp(&a.start_time)
                .then_with(|| a.run.cmp(&b.run))
        });
        Ok(found)
    }
}

pub(crate) async fn list_schedules(
    frontend: &Frontend,
    request: Request<ws::ListSchedulesRequest>,
) -> Reply<ws::ListSchedulesResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let found = frontend.schedules(&namespace, &r.query).await?;
    let offset: usize = if r.next_page_token.is_empty() {
        0
    } else {
        std::str::from_utf8(&r.next_page_token)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Status::invalid_argument("Invalid NextPageToken."))?
    };
    let page_size = match usize::try_from(r.maximum_page_size) {
        Ok(size) if size > 0 && size <= DEFAULT_PAGE_SIZE => size,
        _ => DEFAULT_PAGE_SIZE,
    };
    let end = (offset + page_size).min(found.len());
    let now = frontend.history.now();
    let schedules = found
        .get(offset..end)
        .unwrap_or_default()
        .iter()
        .map(|state| list_entry(state, now))
        .collect();
    let next_page_token = if end < found.len() {
        end.to_string().into_bytes()
    } else {
        Vec::new()
    };
    Ok(Response::new(ws::ListSchedulesResponse {
        schedules,
        next_page_token,
    }))
}

fn list_entry(state: &MutableState, now: i64) -> ScheduleListEntry {
    let held = state.schedule.as_ref().expect("only schedules are listed");
    let schedule = held.schedule();
    let sched_state = schedule.state.clone().unwrap_or_default();
    let mut spec = shown_spec(schedule.spec.clone()).unwrap_or_default();
    spec.timezone_data.clear();
    let workflow_type = match schedule.action.and_then(|a| a.action) {
        Some(schedule_action::Action::StartWorkflow(start)) => start.workflow_type,
        _ => None,
    };
    ScheduleListEntry {
        schedule_id: held.schedule_id.clone(),
        memo: Some(Memo::decode(state.memo.as_slice()).unwrap_or_default()),
        search_attributes: decoded_search_attributes(&state.search_attributes),
        info: Some(ScheduleListInfo {
            spec: Some(spec),
            workflow_type,
            notes: sched_state.notes,
            paused: sched_state.paused,
            recent_actions: held.recent_actions(LIST_ACTIONS),
            future_action_times: held
                .future_action_times(now, LIST_ACTIONS)
                .into_iter()
                .map(time::timestamp)
                .collect(),
            state_size_bytes: 0,
        }),
    }
}

pub(crate) async fn count_schedules(
    frontend: &Frontend,
    request: Request<ws::CountSchedulesRequest>,
) -> Reply<ws::CountSchedulesResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let found = frontend.schedules(&namespace, &r.query).await?;
    Ok(Response::new(ws::CountSchedulesResponse {
        count: found.len() as i64,
        groups: Vec::new(),
    }))
}
