//! The WorkflowService and OperatorService implementations.

use std::time::Duration;

use cairn_api::{
    operatorservice::operator_service_server::OperatorService,
    workflowservice::workflow_service_server::WorkflowService,
};
use cairn_engine::{
    RunKey, TaskKind,
    activity::{ActivityOutcome, decode_opt},
    proto::{
        common::{ActivityType, WorkflowExecution, WorkflowType},
        enums::{HistoryEventFilterType, QueryResultType, WorkflowTaskFailedCause},
        history::History as HistoryPage,
    },
    signal::Signal,
    time,
    token::TaskToken,
    workflow_task::{Completion, CompletionOutcome, Sticky},
};
use cairn_history::{ActivityTarget, History, HistoryError};
use cairn_matching::{Item, Matching, QueryAnswer, QueryTask};
use prost::Message;
use temporalio_protos::protos::temporal::api::operatorservice::v1 as opsvc;
use temporalio_protos::protos::temporal::api::{
    query::v1::QueryRejected,
    workflowservice::v1::{self as ws, get_system_info_response::Capabilities},
};
use tonic::{Request, Response, Status};

use crate::{
    convert,
    error::{self, status},
    namespaces::{Namespace, Namespaces, namespace_id},
    validate, visibility,
};

/// Temporal answers an idle long poll empty after about a minute.
const LONG_POLL: Duration = Duration::from_secs(60);
/// Answer this much before the client's own deadline.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);
/// A query waits this long for a worker to answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_PAGE_SIZE: usize = 1000;

#[derive(Clone)]
pub struct Frontend {
    history: History,
    matching: Matching,
    namespaces: Namespaces,
}

type Reply<T> = Result<Response<T>, Status>;

impl Frontend {
    pub fn new(history: History, matching: Matching, namespaces: Namespaces) -> Self {
        Self {
            history,
            matching,
            namespaces,
        }
    }

    fn namespace(&self, name: &str) -> Result<Namespace, Status> {
        if name.is_empty() {
            return Err(Status::invalid_argument("Namespace not set on request."));
        }
        self.namespaces
            .get(name)
            .ok_or_else(|| error::namespace_not_found(name))
    }

    fn run(
        &self,
        namespace: &Namespace,
        execution: Option<&WorkflowExecution>,
    ) -> Result<RunKey, Status> {
        let execution = execution
            .ok_or_else(|| Status::invalid_argument("Execution is not set on request."))?;
        validate::required(&execution.workflow_id, "WorkflowId")?;
        Ok(RunKey {
            namespace_id: namespace.id.clone(),
            workflow_id: execution.workflow_id.clone(),
            run_id: execution.run_id.clone(),
        })
    }

    fn token(&self, namespace: &Namespace, bytes: &[u8]) -> Result<TaskToken, Status> {
        let token = TaskToken::decode_from(bytes).map_err(error::engine_status)?;
        if token.namespace_id != namespace.id {
            return Err(Status::invalid_argument(
                "Operation is not allowed: task token belongs to another namespace.",
            ));
        }
        Ok(token)
    }
}

/// How long a long poll may wait given the client's deadline (`grpc-timeout`).
fn poll_wait<T>(request: &Request<T>) -> Duration {
    let client = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    match client {
        Some(deadline) => deadline.saturating_sub(DEADLINE_MARGIN).min(LONG_POLL),
        None => LONG_POLL,
    }
}

fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn is_stale(error: &HistoryError) -> bool {
    matches!(
        error,
        HistoryError::Engine(
            cairn_engine::EngineError::NotFound(_)
                | cairn_engine::EngineError::FailedPrecondition(_)
        )
    )
}

#[tonic::async_trait]
impl WorkflowService for Frontend {
    async fn get_system_info(
        &self,
        _: Request<ws::GetSystemInfoRequest>,
    ) -> Reply<ws::GetSystemInfoResponse> {
        Ok(Response::new(ws::GetSystemInfoResponse {
            server_version: "1.32.0".into(),
            capabilities: Some(Capabilities {
                signal_and_query_header: true,
                internal_error_differentiation: true,
                activity_failure_include_heartbeat: true,
                encoded_failure_attributes: true,
                upsert_memo: true,
                sdk_metadata: true,
                ..Default::default()
            }),
        }))
    }

    async fn describe_namespace(
        &self,
        request: Request<ws::DescribeNamespaceRequest>,
    ) -> Reply<ws::DescribeNamespaceResponse> {
        let request = request.into_inner();
        let namespace = if !request.id.is_empty() {
            self.namespaces
                .all()
                .into_iter()
                .find(|n| n.id == request.id)
                .ok_or_else(|| error::namespace_not_found(&request.id))?
        } else {
            self.namespace(&request.namespace)?
        };
        Ok(Response::new(namespace.describe()))
    }

    async fn list_namespaces(
        &self,
        _: Request<ws::ListNamespacesRequest>,
    ) -> Reply<ws::ListNamespacesResponse> {
        Ok(Response::new(ws::ListNamespacesResponse {
            namespaces: self
                .namespaces
                .all()
                .iter()
                .map(Namespace::describe)
                .collect(),
            next_page_token: Vec::new(),
        }))
    }

    async fn register_namespace(
        &self,
        request: Request<ws::RegisterNamespaceRequest>,
    ) -> Reply<ws::RegisterNamespaceResponse> {
        let request = request.into_inner();
        validate::required(&request.namespace, "Namespace")?;
        let retention = request
            .workflow_execution_retention_period
            .as_ref()
            .map(|d| time::from_duration(Some(d)) / time::NANOS_PER_SEC);
        let namespace = Namespace {
            id: namespace_id(&request.namespace),
            name: request.namespace.clone(),
            description: request.description,
            owner_email: request.owner_email,
            retention_seconds: retention
                .filter(|r| *r > 0)
                .unwrap_or(crate::namespaces::DEFAULT_RETENTION_SECONDS),
            data: request.data,
        };
        let registered = self
            .namespaces
            .register(namespace, self.history.now())
            .await
            .map_err(|e| Status::unavailable(cairn_runtime::report(&e).to_string()))?;
        if !registered {
            let detail = temporalio_protos::protos::temporal::api::errordetails::v1::NamespaceAlreadyExistsFailure {};
            return Err(error::with_detail(
                tonic::Code::AlreadyExists,
                "Namespace already exists.".into(),
                "NamespaceAlreadyExistsFailure",
                detail.encode_to_vec(),
            ));
        }
        Ok(Response::new(ws::RegisterNamespaceResponse {}))
    }

    async fn start_workflow_execution(
        &self,
        request: Request<ws::StartWorkflowExecutionRequest>,
    ) -> Reply<ws::StartWorkflowExecutionResponse> {
        let mut request = request.into_inner();
        let namespace = self.namespace(&request.namespace)?;
        validate_start(&request)?;
        if request.request_id.is_empty() {
            request.request_id = uuid::Uuid::new_v4().to_string();
        }
        let workflow_id = request.workflow_id.clone();
        let started = self
            .history
            .start_workflow(
                namespace.id.clone(),
                namespace.name.clone(),
                request,
                uuid::Uuid::new_v4().to_string(),
            )
            .await
            .map_err(|e| match e {
                HistoryError::Engine(engine) => error::already_started(&workflow_id, engine),
                other => status(other),
            })?;
        Ok(Response::new(ws::StartWorkflowExecutionResponse {
            run_id: started.run_id,
            started: started.started,
            ..Default::default()
        }))
    }

    async fn signal_with_start_workflow_execution(
        &self,
        request: Request<ws::SignalWithStartWorkflowExecutionRequest>,
    ) -> Reply<ws::SignalWithStartWorkflowExecutionResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        validate::required(&r.signal_name, "SignalName")?;
        let start = ws::StartWorkflowExecutionRequest {
            namespace: r.namespace.clone(),
            workflow_id: r.workflow_id.clone(),
            workflow_type: r.workflow_type.clone(),
            task_queue: r.task_queue.clone(),
            input: r.input.clone(),
            workflow_execution_timeout: r.workflow_execution_timeout,
            workflow_run_timeout: r.workflow_run_timeout,
            workflow_task_timeout: r.workflow_task_timeout,
            identity: r.identity.clone(),
            request_id: if r.request_id.is_empty() {
                uuid::Uuid::new_v4().to_string()
            } else {
                r.request_id.clone()
            },
            workflow_id_reuse_policy: r.workflow_id_reuse_policy,
            workflow_id_conflict_policy: r.workflow_id_conflict_policy,
            retry_policy: r.retry_policy.clone(),
            cron_schedule: r.cron_schedule.clone(),
            memo: r.memo.clone(),
            search_attributes: r.search_attributes.clone(),
            header: r.header.clone(),
            ..Default::default()
        };
        validate_start(&start)?;
        let signal = Signal {
            name: r.signal_name,
            input: r.signal_input,
            identity: r.identity,
            header: r.header,
            request_id: String::new(),
        };
        let workflow_id = start.workflow_id.clone();
        let started = self
            .history
            .signal_with_start(
                namespace.id.clone(),
                namespace.name.clone(),
                start,
                uuid::Uuid::new_v4().to_string(),
                Some(signal),
            )
            .await
            .map_err(|e| match e {
                HistoryError::Engine(engine) => error::already_started(&workflow_id, engine),
                other => status(other),
            })?;
        Ok(Response::new(
            ws::SignalWithStartWorkflowExecutionResponse {
                run_id: started.run_id,
                started: started.started,
                ..Default::default()
            },
        ))
    }

    async fn poll_workflow_task_queue(
        &self,
        request: Request<ws::PollWorkflowTaskQueueRequest>,
    ) -> Reply<ws::PollWorkflowTaskQueueResponse> {
        let wait = poll_wait(&request);
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let queue = r
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .unwrap_or_default();
        validate::required(&queue, "TaskQueue")?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(item) = self
                .matching
                .poll(&namespace.id, &queue, TaskKind::Workflow, remaining)
                .await
            else {
                return Ok(Response::new(ws::PollWorkflowTaskQueueResponse::default()));
            };
            match item {
                Item::Task(task) => {
                    let started = match self
                        .history
                        .record_workflow_task_started(
                            &task,
                            uuid::Uuid::new_v4().to_string(),
                            r.identity.clone(),
                        )
                        .await
                    {
                        Ok(started) => started,
                        Err(e) if is_stale(&e) => continue,
                        Err(e) => return Err(status(e)),
                    };
                    let state = &started.state;
                    let token = TaskToken {
                        namespace_id: namespace.id.clone(),
                        workflow_id: state.run.workflow_id.clone(),
                        run_id: state.run.run_id.clone(),
                        scheduled_event_id: started.task.scheduled_event_id,
                        started_event_id: started.task.started_event_id,
                        attempt: started.task.attempt,
                        ..Default::default()
                    };
                    let wft = state.workflow_task.as_ref();
                    return Ok(Response::new(ws::PollWorkflowTaskQueueResponse {
                        task_token: token.encode_to_vec(),
                        workflow_execution: Some(convert::execution(state)),
                        workflow_type: Some(WorkflowType {
                            name: state.workflow_type.clone(),
                        }),
                        previous_started_event_id: state.last_completed_started_event_id,
                        started_event_id: started.task.started_event_id,
                        attempt: started.task.attempt,
                        backlog_count_hint: self.matching.backlog(
                            &namespace.id,
                            &queue,
                            TaskKind::Workflow,
                        ) as i64,
                        history: Some(HistoryPage {
                            events: started.history,
                        }),
                        queries: self
                            .matching
                            .take_attached(&state.run)
                            .into_iter()
                            .map(|q| (q.query_id, q.query))
                            .collect(),
                        workflow_execution_task_queue: Some(cairn_engine::events::task_queue(
                            &state.task_queue,
                        )),
                        scheduled_time: wft.map(|t| time::timestamp(t.scheduled_time)),
                        started_time: wft.map(|t| time::timestamp(t.started_time)),
                        ..Default::default()
                    }));
                }
                Item::Query(query) => {
                    let history = self
                        .history
                        .events(&query.run, 1, i64::MAX)
                        .await
                        .map_err(status)?;
                    let state = self
                        .history
                        .describe(query.run.clone())
                        .await
                        .map_err(status)?;
                    let token = TaskToken {
                        namespace_id: namespace.id.clone(),
                        query_id: query.query_id.clone(),
                        ..Default::default()
                    };
                    return Ok(Response::new(ws::PollWorkflowTaskQueueResponse {
                        task_token: token.encode_to_vec(),
                        workflow_execution: Some(convert::execution(&state)),
                        workflow_type: Some(WorkflowType {
                            name: state.workflow_type.clone(),
                        }),
                        previous_started_event_id: state.last_completed_started_event_id,
                        started_event_id: state.last_completed_started_event_id,
                        attempt: 1,
                        history: Some(HistoryPage { events: history }),
                        query: Some(query.query),
                        workflow_execution_task_queue: Some(cairn_engine::events::task_queue(
                            &state.task_queue,
                        )),
                        ..Default::default()
                    }));
                }
            }
        }
    }

    async fn respond_workflow_task_completed(
        &self,
        request: Request<ws::RespondWorkflowTaskCompletedRequest>,
    ) -> Reply<ws::RespondWorkflowTaskCompletedResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let token = self.token(&namespace, &r.task_token)?;
        let query_results = r.query_results;
        let completion = Completion {
            identity: r.identity.clone(),
            commands: r.commands,
            completed_attributes: Some(
                cairn_engine::proto::history::WorkflowTaskCompletedEventAttributes {
                    sdk_metadata: r.sdk_metadata,
                    metering_metadata: r.metering_metadata,
                    ..Default::default()
                },
            ),
            force_create_new_workflow_task: r.force_create_new_workflow_task,
            sticky: r.sticky_attributes.as_ref().map(|attributes| Sticky {
                task_queue: attributes
                    .worker_task_queue
                    .as_ref()
                    .map(|q| q.name.clone())
                    .unwrap_or_default(),
                schedule_to_start_timeout: time::from_duration(
                    attributes.schedule_to_start_timeout.as_ref(),
                ),
            }),
        };
        let completed = self.history.complete_workflow_task(token, completion).await;
        // Answers reflect the state after this task, so they go out once it is durable.
        for (query_id, result) in query_results {
            let answer = if completed.is_ok() {
                query_answer(result.result_type, result.answer, &result.error_message)
            } else {
                QueryAnswer::Failed("the workflow task that carried the query failed".into())
            };
            self.matching.answer_query(&query_id, answer);
        }
        let (outcome, state) = completed.map_err(status)?;
        match outcome {
            CompletionOutcome::Accepted { eager_activities } => {
                Ok(Response::new(ws::RespondWorkflowTaskCompletedResponse {
                    activity_tasks: eager_activities
                        .iter()
                        .map(|activity| activity_task(&namespace, &state, activity))
                        .collect(),
                    ..Default::default()
                }))
            }
            CompletionOutcome::CommandRejected { message, .. } => {
                Err(Status::invalid_argument(message))
            }
        }
    }

    async fn respond_workflow_task_failed(
        &self,
        request: Request<ws::RespondWorkflowTaskFailedRequest>,
    ) -> Reply<ws::RespondWorkflowTaskFailedResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let token = self.token(&namespace, &r.task_token)?;
        let cause = WorkflowTaskFailedCause::try_from(r.cause)
            .unwrap_or(WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure);
        self.history
            .fail_workflow_task(token, cause, r.failure, r.identity)
            .await
            .map_err(status)?;
        Ok(Response::new(
            ws::RespondWorkflowTaskFailedResponse::default(),
        ))
    }

    async fn poll_activity_task_queue(
        &self,
        request: Request<ws::PollActivityTaskQueueRequest>,
    ) -> Reply<ws::PollActivityTaskQueueResponse> {
        let wait = poll_wait(&request);
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let queue = r
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .unwrap_or_default();
        validate::required(&queue, "TaskQueue")?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(Item::Task(task)) = self
                .matching
                .poll(&namespace.id, &queue, TaskKind::Activity, remaining)
                .await
            else {
                return Ok(Response::new(ws::PollActivityTaskQueueResponse::default()));
            };
            let started = match self
                .history
                .record_activity_task_started(
                    &task,
                    uuid::Uuid::new_v4().to_string(),
                    r.identity.clone(),
                )
                .await
            {
                Ok(started) => started,
                Err(e) if is_stale(&e) => continue,
                Err(e) => return Err(status(e)),
            };
            return Ok(Response::new(activity_task(
                &namespace,
                &started.state,
                &started.info,
            )));
        }
    }

    async fn respond_activity_task_completed(
        &self,
        request: Request<ws::RespondActivityTaskCompletedRequest>,
    ) -> Reply<ws::RespondActivityTaskCompletedResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let token = self.token(&namespace, &r.task_token)?;
        validate::payload_size(r.result.as_ref().map_or(0, Message::encoded_len))?;
        self.history
            .close_activity(
                ActivityTarget::from_token(&token),
                r.identity,
                ActivityOutcome::Completed { result: r.result },
            )
            .await
            .map_err(status)?;
        Ok(Response::new(
            ws::RespondActivityTaskCompletedResponse::default(),
        ))
    }

    async fn respond_activity_task_completed_by_id(
        &self,
        request: Request<ws::RespondActivityTaskCompletedByIdRequest>,
    ) -> Reply<ws::RespondActivityTaskCompletedByIdResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let target = by_id(&namespace, &r.workflow_id, &r.run_id, &r.activity_id)?;
        self.history
            .close_activity(
                target,
                r.identity,
                ActivityOutcome::Completed { result: r.result },
            )
            .await
            .map_err(status)?;
        Ok(Response::new(
            ws::RespondActivityTaskCompletedByIdResponse::default(),
        ))
    }

    async fn respond_activity_task_failed(
        &self,
        request: Request<ws::RespondActivityTaskFailedRequest>,
    ) -> Reply<ws::RespondActivityTaskFailedResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let token = self.token(&namespace, &r.task_token)?;
        let failure = r
            .failure
            .ok_or_else(|| Status::invalid_argument("Failure is not set on request."))?;
        let outcome = ActivityOutcome::Failed {
            failure,
            last_heartbeat_details: r.last_heartbeat_details,
        };
        self.history
            .close_activity(ActivityTarget::from_token(&token), r.identity, outcome)
            .await
            .map_err(status)?;
        Ok(Response::new(
            ws::RespondActivityTaskFailedResponse::default(),
        ))
    }

    async fn respond_activity_task_failed_by_id(
        &self,
        request: Request<ws::RespondActivityTaskFailedByIdRequest>,
    ) -> Reply<ws::RespondActivityTaskFailedByIdResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let target = by_id(&namespace, &r.workflow_id, &r.run_id, &r.activity_id)?;
        let failure = r
            .failure
            .ok_or_else(|| Status::invalid_argument("Failure is not set on request."))?;
        let outcome = ActivityOutcome::Failed {
            failure,
            last_heartbeat_details: r.last_heartbeat_details,
        };
        self.history
            .close_activity(target, r.identity, outcome)
            .await
            .map_err(status)?;
        Ok(Response::new(
            ws::RespondActivityTaskFailedByIdResponse::default(),
        ))
    }

    async fn respond_activity_task_canceled(
        &self,
        request: Request<ws::RespondActivityTaskCanceledRequest>,
    ) -> Reply<ws::RespondActivityTaskCanceledResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let token = self.token(&namespace, &r.task_token)?;
        self.history
            .close_activity(
                ActivityTarget::from_token(&token),
                r.identity,
                ActivityOutcome::Canceled { details: r.details },
            )
            .await
            .map_err(status)?;
        Ok(Response::new(
            ws::RespondActivityTaskCanceledResponse::default(),
        ))
    }

    async fn respond_activity_task_canceled_by_id(
        &self,
        request: Request<ws::RespondActivityTaskCanceledByIdRequest>,
    ) -> Reply<ws::RespondActivityTaskCanceledByIdResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let target = by_id(&namespace, &r.workflow_id, &r.run_id, &r.activity_id)?;
        self.history
            .close_activity(
                target,
                r.identity,
                ActivityOutcome::Canceled { details: r.details },
            )
            .await
            .map_err(status)?;
        Ok(Response::new(
            ws::RespondActivityTaskCanceledByIdResponse::default(),
        ))
    }

    async fn record_activity_task_heartbeat(
        &self,
        request: Request<ws::RecordActivityTaskHeartbeatRequest>,
    ) -> Reply<ws::RecordActivityTaskHeartbeatResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let token = self.token(&namespace, &r.task_token)?;
        let cancel_requested = self
            .history
            .heartbeat_activity(ActivityTarget::from_token(&token), r.details)
            .await
            .map_err(status)?;
        Ok(Response::new(ws::RecordActivityTaskHeartbeatResponse {
            cancel_requested,
            ..Default::default()
        }))
    }

    async fn record_activity_task_heartbeat_by_id(
        &self,
        request: Request<ws::RecordActivityTaskHeartbeatByIdRequest>,
    ) -> Reply<ws::RecordActivityTaskHeartbeatByIdResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let target = by_id(&namespace, &r.workflow_id, &r.run_id, &r.activity_id)?;
        let cancel_requested = self
            .history
            .heartbeat_activity(target, r.details)
            .await
            .map_err(status)?;
        Ok(Response::new(ws::RecordActivityTaskHeartbeatByIdResponse {
            cancel_requested,
            ..Default::default()
        }))
    }

    async fn get_workflow_execution_history(
        &self,
        request: Request<ws::GetWorkflowExecutionHistoryRequest>,
    ) -> Reply<ws::GetWorkflowExecutionHistoryResponse> {
        let wait = poll_wait(&request);
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let run = self.run(&namespace, r.execution.as_ref())?;
        let close_only = r.history_event_filter_type == HistoryEventFilterType::CloseEvent as i32;
        let from: i64 = if r.next_page_token.is_empty() {
            1
        } else {
            let bytes: [u8; 8] = r
                .next_page_token
                .as_slice()
                .try_into()
                .map_err(|_| Status::invalid_argument("Invalid NextPageToken."))?;
            i64::from_be_bytes(bytes)
        };
        let page_size = if r.maximum_page_size > 0 {
            r.maximum_page_size as usize
        } else {
            DEFAULT_PAGE_SIZE
        };
        let deadline = tokio::time::Instant::now() + wait;
        let mut changes = self.history.subscribe();
        let workflow = run.workflow();
        loop {
            let state = self.history.describe(run.clone()).await.map_err(status)?;
            let run = state.run.clone();
            if close_only {
                if state.completion_event_id > 0 {
                    let events = self
                        .history
                        .events(
                            &run,
                            state.completion_event_id,
                            state.completion_event_id + 1,
                        )
                        .await
                        .map_err(status)?;
                    return Ok(Response::new(ws::GetWorkflowExecutionHistoryResponse {
                        history: Some(HistoryPage { events }),
                        ..Default::default()
                    }));
                }
            } else {
                let end = state.next_event_id;
                if from < end || !r.wait_new_event || !state.is_open() {
                    let to = end.min(from + page_size as i64);
                    let events = self.history.events(&run, from, to).await.map_err(status)?;
                    let more = to < end || (r.wait_new_event && state.is_open());
                    let next_page_token = if more {
                        to.to_be_bytes().to_vec()
                    } else {
                        Vec::new()
                    };
                    return Ok(Response::new(ws::GetWorkflowExecutionHistoryResponse {
                        history: Some(HistoryPage { events }),
                        next_page_token,
                        ..Default::default()
                    }));
                }
            }
            if !r.wait_new_event && close_only {
                return Ok(Response::new(ws::GetWorkflowExecutionHistoryResponse {
                    history: Some(HistoryPage::default()),
                    ..Default::default()
                }));
            }
            // Long poll: wait for a durable change of this workflow, or answer empty at the
            // deadline. Subscribed before the first look, so no change slips between.
            if !wait_for_change(&mut changes, &workflow, deadline).await {
                let next_page_token = if close_only {
                    Vec::new()
                } else {
                    from.to_be_bytes().to_vec()
                };
                return Ok(Response::new(ws::GetWorkflowExecutionHistoryResponse {
                    history: Some(HistoryPage::default()),
                    next_page_token,
                    ..Default::default()
                }));
            }
        }
    }

    async fn signal_workflow_execution(
        &self,
        request: Request<ws::SignalWorkflowExecutionRequest>,
    ) -> Reply<ws::SignalWorkflowExecutionResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let run = self.run(&namespace, r.workflow_execution.as_ref())?;
        validate::required(&r.signal_name, "SignalName")?;
        validate::payload_size(r.input.as_ref().map_or(0, Message::encoded_len))?;
        let signal = Signal {
            name: r.signal_name,
            input: r.input,
            identity: r.identity,
            header: r.header,
            request_id: r.request_id,
        };
        self.history.signal(run, signal).await.map_err(status)?;
        Ok(Response::new(ws::SignalWorkflowExecutionResponse::default()))
    }

    async fn request_cancel_workflow_execution(
        &self,
        request: Request<ws::RequestCancelWorkflowExecutionRequest>,
    ) -> Reply<ws::RequestCancelWorkflowExecutionResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let run = self.run(&namespace, r.workflow_execution.as_ref())?;
        self.history
            .request_cancel(run, r.identity, r.reason)
            .await
            .map_err(status)?;
        Ok(Response::new(
            ws::RequestCancelWorkflowExecutionResponse::default(),
        ))
    }

    async fn terminate_workflow_execution(
        &self,
        request: Request<ws::TerminateWorkflowExecutionRequest>,
    ) -> Reply<ws::TerminateWorkflowExecutionResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let run = self.run(&namespace, r.workflow_execution.as_ref())?;
        let reason = if r.reason.is_empty() {
            "terminated by user via frontend".to_string()
        } else {
            r.reason
        };
        self.history
            .terminate(run, reason, r.details, r.identity)
            .await
            .map_err(status)?;
        Ok(Response::new(
            ws::TerminateWorkflowExecutionResponse::default(),
        ))
    }

    async fn describe_workflow_execution(
        &self,
        request: Request<ws::DescribeWorkflowExecutionRequest>,
    ) -> Reply<ws::DescribeWorkflowExecutionResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let run = self.run(&namespace, r.execution.as_ref())?;
        let state = self.history.describe(run).await.map_err(status)?;
        Ok(Response::new(convert::describe(&state)))
    }

    async fn query_workflow(
        &self,
        request: Request<ws::QueryWorkflowRequest>,
    ) -> Reply<ws::QueryWorkflowResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let run = self.run(&namespace, r.execution.as_ref())?;
        let query = r
            .query
            .ok_or_else(|| Status::invalid_argument("Query is not set on request."))?;
        validate::required(&query.query_type, "QueryType")?;
        let state = self.history.describe(run).await.map_err(status)?;
        if r.query_reject_condition == 1 && !state.is_open()
            || r.query_reject_condition == 2
                && state.status != cairn_engine::ExecutionStatus::Completed
                && !state.is_open()
        {
            return Ok(Response::new(ws::QueryWorkflowResponse {
                query_rejected: Some(QueryRejected {
                    status: state.status.to_proto(),
                }),
                ..Default::default()
            }));
        }
        let query_id = uuid::Uuid::new_v4().to_string();
        let task = QueryTask {
            query_id: query_id.clone(),
            run: state.run.clone(),
            query,
        };
        let deadline = tokio::time::Instant::now() + QUERY_TIMEOUT;
        let answer = self.route_query(&namespace, state, task, deadline).await?;
        match answer {
            Some(QueryAnswer::Answered(result)) => Ok(Response::new(ws::QueryWorkflowResponse {
                query_result: result,
                ..Default::default()
            })),
            Some(QueryAnswer::Failed(message)) => Err(Status::invalid_argument(message)),
            None => Err(Status::deadline_exceeded(
                "query timed out before a worker answered",
            )),
        }
    }

    async fn respond_query_task_completed(
        &self,
        request: Request<ws::RespondQueryTaskCompletedRequest>,
    ) -> Reply<ws::RespondQueryTaskCompletedResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let token = self.token(&namespace, &r.task_token)?;
        if token.query_id.is_empty() {
            return Err(Status::invalid_argument(
                "task token is not a query task token",
            ));
        }
        let answer = query_answer(r.completed_type, r.query_result, &r.error_message);
        if !self.matching.answer_query(&token.query_id, answer) {
            return Err(Status::not_found(
                "query task not found, or already expired",
            ));
        }
        Ok(Response::new(
            ws::RespondQueryTaskCompletedResponse::default(),
        ))
    }

    async fn list_workflow_executions(
        &self,
        request: Request<ws::ListWorkflowExecutionsRequest>,
    ) -> Reply<ws::ListWorkflowExecutionsResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let query =
            cairn_query::parse(&r.query).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let runs = self.all_runs().await?;
        let selected = visibility::select(&query, &namespace.id, runs);
        let offset: usize = if r.next_page_token.is_empty() {
            0
        } else {
            std::str::from_utf8(&r.next_page_token)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| Status::invalid_argument("Invalid NextPageToken."))?
        };
        let page_size = if r.page_size > 0 {
            r.page_size as usize
        } else {
            DEFAULT_PAGE_SIZE
        };
        let end = (offset + page_size).min(selected.len());
        let executions = selected
            .get(offset..end)
            .unwrap_or_default()
            .iter()
            .map(convert::execution_info)
            .collect();
        let next_page_token = if end < selected.len() {
            end.to_string().into_bytes()
        } else {
            Vec::new()
        };
        Ok(Response::new(ws::ListWorkflowExecutionsResponse {
            executions,
            next_page_token,
        }))
    }

    async fn count_workflow_executions(
        &self,
        request: Request<ws::CountWorkflowExecutionsRequest>,
    ) -> Reply<ws::CountWorkflowExecutionsResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let query =
            cairn_query::parse(&r.query).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if !query.group_by.is_empty() {
            return Err(Status::unimplemented(
                "GROUP BY in CountWorkflowExecutions is not supported yet",
            ));
        }
        let runs = self.all_runs().await?;
        let count = visibility::select(&query, &namespace.id, runs).len() as i64;
        Ok(Response::new(ws::CountWorkflowExecutionsResponse {
            count,
            groups: Vec::new(),
        }))
    }

    async fn shutdown_worker(
        &self,
        request: Request<ws::ShutdownWorkerRequest>,
    ) -> Reply<ws::ShutdownWorkerResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        if !r.sticky_task_queue.is_empty() {
            // The worker's cache is gone: its waiting tasks go back to their normal queues now
            // instead of after the sticky schedule-to-start timeout.
            for task in self
                .matching
                .drain(&namespace.id, &r.sticky_task_queue, TaskKind::Workflow)
            {
                self.history.reset_sticky(task.run).await.map_err(status)?;
            }
        }
        Ok(Response::new(ws::ShutdownWorkerResponse::default()))
    }

    async fn reset_sticky_task_queue(
        &self,
        request: Request<ws::ResetStickyTaskQueueRequest>,
    ) -> Reply<ws::ResetStickyTaskQueueResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let run = self.run(&namespace, r.execution.as_ref())?;
        self.history.reset_sticky(run).await.map_err(status)?;
        Ok(Response::new(ws::ResetStickyTaskQueueResponse::default()))
    }

    async fn record_worker_heartbeat(
        &self,
        request: Request<ws::RecordWorkerHeartbeatRequest>,
    ) -> Reply<ws::RecordWorkerHeartbeatResponse> {
        self.namespace(&request.get_ref().namespace)?;
        Ok(Response::new(ws::RecordWorkerHeartbeatResponse::default()))
    }
}

impl Frontend {
    /// Delivers a query as Temporal does: with the run's pending workflow task when there is
    /// one (so the answer reflects every event that task carries), after the started task
    /// completes when one is running, and as a query task of its own otherwise.
    async fn route_query(
        &self,
        namespace: &Namespace,
        mut state: cairn_engine::MutableState,
        task: QueryTask,
        deadline: tokio::time::Instant,
    ) -> Result<Option<QueryAnswer>, Status> {
        let mut waiter = self.matching.expect_answer(&task.query_id);
        let mut changes = self.history.subscribe();
        let workflow = state.run.workflow();
        loop {
            match &state.workflow_task {
                None => {
                    self.matching
                        .dispatch_query(&namespace.id, &state.task_queue, task);
                    break;
                }
                Some(pending) if !pending.is_started() => {
                    self.matching.attach_query(task.clone());
                    loop {
                        tokio::select! {
                            answer = waiter.answered() => return Ok(answer),
                            changed = wait_for_change(&mut changes, &workflow, deadline) => {
                                if !changed {
                                    self.matching.withdraw(&state.run, &task.query_id);
                                    return Ok(None);
                                }
                                // The task started without taking it: look again.
                                if self.matching.withdraw(&state.run, &task.query_id) {
                                    break;
                                }
                            }
                        }
                    }
                }
                Some(_) => {
                    if !wait_for_change(&mut changes, &workflow, deadline).await {
                        return Ok(None);
                    }
                }
            }
            state = self
                .history
                .describe(state.run.clone())
                .await
                .map_err(status)?;
        }
        Ok(tokio::time::timeout_at(deadline, waiter.answered())
            .await
            .ok()
            .flatten())
    }

    async fn all_runs(&self) -> Result<Vec<cairn_engine::MutableState>, Status> {
        let mut runs = Vec::new();
        for partition in 0..self.history.partitions() {
            runs.extend(self.history.runs(partition).await.map_err(status)?);
        }
        Ok(runs)
    }
}

fn by_id(
    namespace: &Namespace,
    workflow_id: &str,
    run_id: &str,
    activity_id: &str,
) -> Result<ActivityTarget, Status> {
    validate::required(workflow_id, "WorkflowId")?;
    validate::required(activity_id, "ActivityId")?;
    let run = RunKey {
        namespace_id: namespace.id.clone(),
        workflow_id: workflow_id.to_string(),
        run_id: run_id.to_string(),
    };
    Ok(ActivityTarget::by_id(run, activity_id.to_string()))
}

/// Waits until a batch that changed `workflow` is durable: true, or the deadline passed:
/// false. A receiver that fell behind cannot tell, so it answers true and the caller looks.
async fn wait_for_change(
    changes: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<Vec<cairn_engine::WorkflowKey>>>,
    workflow: &cairn_engine::WorkflowKey,
    deadline: tokio::time::Instant,
) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match tokio::time::timeout_at(deadline, changes.recv()).await {
            Ok(Ok(workflows)) if workflows.contains(workflow) => return true,
            Ok(Ok(_)) => {}
            Ok(Err(RecvError::Lagged(_))) => return true,
            Ok(Err(RecvError::Closed)) | Err(_) => return false,
        }
    }
}

/// What a worker needs to run an activity attempt that history recorded as started.
fn activity_task(
    namespace: &Namespace,
    state: &cairn_engine::MutableState,
    a: &cairn_engine::ActivityInfo,
) -> ws::PollActivityTaskQueueResponse {
    let token = TaskToken {
        namespace_id: namespace.id.clone(),
        workflow_id: state.run.workflow_id.clone(),
        run_id: state.run.run_id.clone(),
        scheduled_event_id: a.scheduled_event_id,
        attempt: a.attempt,
        activity: true,
        activity_id: a.activity_id.clone(),
        ..Default::default()
    };
    ws::PollActivityTaskQueueResponse {
        task_token: token.encode_to_vec(),
        workflow_namespace: namespace.name.clone(),
        workflow_type: Some(WorkflowType {
            name: state.workflow_type.clone(),
        }),
        workflow_execution: Some(convert::execution(state)),
        activity_type: Some(ActivityType {
            name: a.activity_type.clone(),
        }),
        activity_id: a.activity_id.clone(),
        header: decode_opt(&a.header),
        input: decode_opt(&a.input),
        heartbeat_details: decode_opt(&a.heartbeat_details),
        scheduled_time: Some(time::timestamp(a.scheduled_time)),
        current_attempt_scheduled_time: Some(time::timestamp(a.attempt_scheduled_time)),
        started_time: a.started_time.map(time::timestamp),
        attempt: a.attempt,
        schedule_to_close_timeout: Some(time::duration(a.schedule_to_close_timeout)),
        start_to_close_timeout: Some(time::duration(a.start_to_close_timeout)),
        heartbeat_timeout: Some(time::duration(a.heartbeat_timeout)),
        retry_policy: Some(a.retry_policy.to_proto()),
        ..Default::default()
    }
}

fn query_answer(
    result_type: i32,
    result: Option<cairn_engine::proto::common::Payloads>,
    error: &str,
) -> QueryAnswer {
    if result_type == QueryResultType::Answered as i32 {
        QueryAnswer::Answered(result)
    } else {
        QueryAnswer::Failed(error.to_string())
    }
}

fn validate_start(r: &ws::StartWorkflowExecutionRequest) -> Result<(), Status> {
    validate::required(&r.workflow_id, "WorkflowId")?;
    validate::required(
        r.workflow_type.as_ref().map_or("", |t| t.name.as_str()),
        "WorkflowType",
    )?;
    validate::required(
        r.task_queue.as_ref().map_or("", |q| q.name.as_str()),
        "TaskQueue",
    )?;
    validate::non_negative(
        r.workflow_execution_timeout.as_ref(),
        "WorkflowExecutionTimeout",
    )?;
    validate::non_negative(r.workflow_run_timeout.as_ref(), "WorkflowRunTimeout")?;
    validate::non_negative(r.workflow_task_timeout.as_ref(), "WorkflowTaskTimeout")?;
    validate::payload_size(r.input.as_ref().map_or(0, Message::encoded_len))?;
    if r.request_id.len() > validate::MAX_ID_LENGTH {
        return Err(Status::invalid_argument("RequestId exceeds length limit."));
    }
    if !r.cron_schedule.is_empty() {
        return Err(Status::unimplemented(
            "cron schedules are not supported yet",
        ));
    }
    if r.workflow_start_delay.is_some() {
        return Err(Status::unimplemented(
            "workflow start delay is not supported yet",
        ));
    }
    Ok(())
}

#[tonic::async_trait]
impl OperatorService for Frontend {
    async fn list_search_attributes(
        &self,
        request: Request<opsvc::ListSearchAttributesRequest>,
    ) -> Result<Response<opsvc::ListSearchAttributesResponse>, Status> {
        let namespace = request.get_ref().namespace.clone();
        if !namespace.is_empty() {
            self.namespace(&namespace)?;
        }
        // Indexed type numbers of temporal.api.enums.v1.IndexedValueType.
        let system = [
            ("WorkflowId", 2),
            ("WorkflowType", 2),
            ("RunId", 2),
            ("ExecutionStatus", 2),
            ("TaskQueue", 2),
            ("StartTime", 6),
            ("CloseTime", 6),
            ("ExecutionTime", 6),
            ("HistoryLength", 3),
        ];
        Ok(Response::new(opsvc::ListSearchAttributesResponse {
            custom_attributes: Default::default(),
            system_attributes: system
                .iter()
                .map(|(name, kind)| ((*name).to_string(), *kind))
                .collect(),
            storage_schema: Default::default(),
        }))
    }
}
