//! Workflow tasks for workers: long polls, completions and failures, sticky queues.

use cairn_engine::{
    TaskKind,
    proto::{
        common::WorkflowType, enums::WorkflowTaskFailedCause, history::History as HistoryPage,
    },
    time,
    token::TaskToken,
    workflow_task::{Completion, CompletionOutcome, Sticky},
};
use cairn_history::QueryAnswer;
use cairn_matching::Item;
use prost::Message;
use temporalio_protos::protos::temporal::api::workflowservice::v1::{self as ws};
use tonic::{Request, Response, Status};

use crate::{convert, error::status, validate};

use crate::{activity_tasks::*, long_poll::*, queries::*, service::*};

pub(crate) async fn poll_workflow_task_queue(
    frontend: &Frontend,
    request: Request<ws::PollWorkflowTaskQueueRequest>,
) -> Reply<ws::PollWorkflowTaskQueueResponse> {
    let wait = poll_wait(&request);
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let queue = r
        .task_queue
        .as_ref()
        .map(|q| q.name.clone())
        .unwrap_or_default();
    validate::required(&queue, "TaskQueue")?;
    frontend.check_queue(&namespace.id, &queue)?;
    #[allow(deprecated)] // the SDKs still report their build ID here
    let build_id = r
        .worker_version_capabilities
        .as_ref()
        .map(|c| c.build_id.clone())
        .filter(|id| !id.is_empty())
        .or_else(|| r.deployment_options.as_ref().map(|d| d.build_id.clone()))
        .unwrap_or_default();
    frontend.note_poller(
        &namespace.id,
        &queue,
        TaskKind::Workflow,
        &r.identity,
        None,
        build_id,
    );
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(item) = frontend
            .matching
            .poll(&namespace.id, &queue, TaskKind::Workflow, remaining)
            .await
        else {
            return Ok(Response::new(ws::PollWorkflowTaskQueueResponse::default()));
        };
        match item {
            Item::Task(task) => {
                let started = match frontend
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
                let backlog = frontend
                    .matching
                    .backlog(&namespace.id, &queue, TaskKind::Workflow)
                    as i64;
                return Ok(Response::new(ws::PollWorkflowTaskQueueResponse {
                    backlog_count_hint: backlog,
                    ..workflow_task_response(&namespace.id, started)
                }));
            }
            Item::Query(query) => {
                tracing::debug!(query_id = %query.query_id, task_queue = %queue, "query task polled");
                let state = frontend
                    .history
                    .describe(query.run.clone())
                    .await
                    .map_err(status)?;
                // A query on the sticky queue goes to the worker that has the run cached:
                // it gets no events, as from Temporal; any other worker gets them all.
                let history = if queue == state.sticky_task_queue {
                    Vec::new()
                } else {
                    frontend
                        .history
                        .events(&query.run, 1, i64::MAX)
                        .await
                        .map_err(status)?
                };
                let token = TaskToken {
                    namespace_id: namespace.id.clone(),
                    // The run names the history owner that waits for the answer.
                    workflow_id: query.run.workflow_id.clone(),
                    run_id: query.run.run_id.clone(),
                    query_id: query.query_id.clone(),
                    ..Default::default()
                };
                return Ok(Response::new(ws::PollWorkflowTaskQueueResponse {
                    task_token: token.encode_to_vec(),
                    started_event_id: state.last_completed_started_event_id,
                    attempt: 1,
                    history: Some(HistoryPage { events: history }),
                    query: Some(query.query),
                    ..run_fields(&state)
                }));
            }
        }
    }
}

/// What a worker gets for a workflow task recorded as started: from a poll, or in the
/// response to an eager start.
pub(crate) fn workflow_task_response(
    namespace_id: &str,
    started: cairn_history::StartedWorkflowTask,
) -> ws::PollWorkflowTaskQueueResponse {
    let state = &started.state;
    let token = TaskToken {
        namespace_id: namespace_id.to_string(),
        workflow_id: state.run.workflow_id.clone(),
        run_id: state.run.run_id.clone(),
        scheduled_event_id: started.task.scheduled_event_id,
        started_event_id: started.task.started_event_id,
        attempt: started.task.attempt,
        ..Default::default()
    };
    let wft = state.workflow_task.as_ref();
    ws::PollWorkflowTaskQueueResponse {
        task_token: token.encode_to_vec(),
        started_event_id: started.task.started_event_id,
        attempt: started.task.attempt,
        history: Some(HistoryPage {
            events: started.history,
        }),
        queries: started
            .queries
            .into_iter()
            .map(|q| (q.query_id, q.query))
            .collect(),
        scheduled_time: wft.map(|t| time::timestamp(t.scheduled_time)),
        started_time: wft.map(|t| time::timestamp(t.started_time)),
        messages: cairn_engine::update::request_messages(state, started.task.started_event_id),
        ..run_fields(state)
    }
}

/// The fields of a workflow-task poll response that describe the run, for a workflow task
/// and a query task alike.
fn run_fields(state: &cairn_engine::MutableState) -> ws::PollWorkflowTaskQueueResponse {
    ws::PollWorkflowTaskQueueResponse {
        workflow_execution: Some(convert::execution(state)),
        workflow_type: Some(WorkflowType {
            name: state.workflow_type.clone(),
        }),
        previous_started_event_id: state.last_completed_started_event_id,
        workflow_execution_task_queue: Some(cairn_engine::events::task_queue(&state.task_queue)),
        ..Default::default()
    }
}

/// The largest workflow-task completion Temporal's frontend accepts: gRPC's default 4 MiB.
const GRPC_MESSAGE_LIMIT: usize = 4 * 1024 * 1024;

pub(crate) async fn respond_workflow_task_completed(
    frontend: &Frontend,
    request: Request<ws::RespondWorkflowTaskCompletedRequest>,
) -> Reply<ws::RespondWorkflowTaskCompletedResponse> {
    let r = request.into_inner();
    let size = r.encoded_len();
    if size > GRPC_MESSAGE_LIMIT {
        // Temporal's frontend takes at most 4 MiB in a message, and answers in gRPC-Go's
        // words: the SDKs recognise them, fail the task with GrpcMessageTooLarge, and the
        // workflow is terminated rather than retried forever.
        return Err(Status::resource_exhausted(format!(
            "grpc: received message larger than max ({size} vs. {GRPC_MESSAGE_LIMIT})"
        )));
    }
    let namespace = frontend.namespace(&r.namespace)?;
    let token = frontend.token(&namespace, &r.task_token)?;
    if let Err(invalid) = check_search_attributes(&namespace, &r.commands) {
        // As Temporal: the task fails with BadSearchAttributes and the worker is told why.
        let message = format!("BadSearchAttributes: {}", invalid.message());
        frontend
            .history
            .fail_workflow_task(
                token,
                cairn_engine::proto::enums::WorkflowTaskFailedCause::BadSearchAttributes,
                Some(cairn_engine::proto::failure::Failure {
                    message: message.clone(),
                    failure_info: Some(
                        cairn_engine::proto::failure::failure::FailureInfo::ServerFailureInfo(
                            Default::default(),
                        ),
                    ),
                    ..Default::default()
                }),
                r.identity.clone(),
            )
            .await
            .map_err(status)?;
        return Err(Status::invalid_argument(message));
    }
    let completed_attributes = Some(completed_attributes(&r));
    let query_results = r.query_results;
    let completion = Completion {
        messages: r.messages,
        identity: r.identity.clone(),
        commands: r.commands,
        completed_attributes,
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
    let completed = frontend
        .history
        .complete_workflow_task(token, completion, r.return_new_workflow_task)
        .await;
    // Answers reflect the state after this task, so they go out once it is durable.
    for (query_id, result) in query_results {
        let answer = if completed.is_ok() {
            query_answer(result.result_type, result.answer, &result.error_message)
        } else {
            QueryAnswer::Failed("the workflow task that carried the query failed".into())
        };
        frontend.history.queries().answer(&query_id, answer);
    }
    let (outcome, next_task) = completed.map_err(status)?;
    match outcome {
        CompletionOutcome::Accepted { eager_activities } => {
            Ok(Response::new(ws::RespondWorkflowTaskCompletedResponse {
                workflow_task: next_task.map(|task| workflow_task_response(&namespace.id, task)),
                activity_tasks: eager_activities
                    .iter()
                    .map(|activity| activity_task(&namespace, activity))
                    .collect(),
                ..Default::default()
            }))
        }
        CompletionOutcome::CommandRejected { message, .. } => {
            Err(Status::invalid_argument(message))
        }
        CompletionOutcome::Discarded {
            reset_history_event_id,
        } => Ok(Response::new(ws::RespondWorkflowTaskCompletedResponse {
            reset_history_event_id,
            ..Default::default()
        })),
    }
}

pub(crate) async fn respond_workflow_task_failed(
    frontend: &Frontend,
    request: Request<ws::RespondWorkflowTaskFailedRequest>,
) -> Reply<ws::RespondWorkflowTaskFailedResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let token = frontend.token(&namespace, &r.task_token)?;
    let cause = WorkflowTaskFailedCause::try_from(r.cause)
        .unwrap_or(WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure);
    frontend
        .history
        .fail_workflow_task(token, cause, r.failure, r.identity)
        .await
        .map_err(status)?;
    Ok(Response::new(
        ws::RespondWorkflowTaskFailedResponse::default(),
    ))
}

pub(crate) async fn shutdown_worker(
    frontend: &Frontend,
    request: Request<ws::ShutdownWorkerRequest>,
) -> Reply<ws::ShutdownWorkerResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    if !r.sticky_task_queue.is_empty() {
        // The worker's cache is gone: its waiting tasks go back to their normal queues now
        // instead of after the sticky schedule-to-start timeout.
        for task in frontend
            .matching
            .drain(&namespace.id, &r.sticky_task_queue, TaskKind::Workflow)
        {
            frontend
                .history
                .reset_sticky(task.run)
                .await
                .map_err(status)?;
        }
    }
    Ok(Response::new(ws::ShutdownWorkerResponse::default()))
}

pub(crate) async fn reset_sticky_task_queue(
    frontend: &Frontend,
    request: Request<ws::ResetStickyTaskQueueRequest>,
) -> Reply<ws::ResetStickyTaskQueueResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let run = frontend.run(&namespace, r.execution.as_ref())?;
    frontend.history.reset_sticky(run).await.map_err(status)?;
    Ok(Response::new(ws::ResetStickyTaskQueueResponse::default()))
}

/// Checks the search attributes that commands set against the namespace's.
fn check_search_attributes(
    namespace: &crate::namespaces::Namespace,
    commands: &[cairn_engine::proto::command::Command],
) -> Result<(), Status> {
    use cairn_engine::proto::command::command::Attributes as C;
    for command in commands {
        let attributes = match &command.attributes {
            Some(C::UpsertWorkflowSearchAttributesCommandAttributes(a)) => {
                if a.search_attributes
                    .as_ref()
                    .is_none_or(|attributes| attributes.indexed_fields.is_empty())
                {
                    return Err(Status::invalid_argument(
                        "IndexedFields is not set on UpsertWorkflowSearchAttributesCommand.",
                    ));
                }
                a.search_attributes.as_ref()
            }
            Some(C::ContinueAsNewWorkflowExecutionCommandAttributes(a)) => {
                a.search_attributes.as_ref()
            }
            Some(C::StartChildWorkflowExecutionCommandAttributes(a)) => {
                a.search_attributes.as_ref()
            }
            _ => None,
        };
        crate::search_attributes::validate(namespace, attributes)?;
    }
    Ok(())
}

/// What Temporal copies from a completion into its `WorkflowTaskCompleted` event. The worker
/// version stamp and binary checksum are deprecated for versioned workers; Temporal still
/// records them for the others, and takes reset points from them.
#[allow(deprecated)]
fn completed_attributes(
    r: &ws::RespondWorkflowTaskCompletedRequest,
) -> cairn_engine::proto::history::WorkflowTaskCompletedEventAttributes {
    cairn_engine::proto::history::WorkflowTaskCompletedEventAttributes {
        sdk_metadata: r.sdk_metadata.clone(),
        metering_metadata: r.metering_metadata,
        worker_version: r.worker_version_stamp.clone(),
        binary_checksum: r.binary_checksum.clone(),
        ..Default::default()
    }
}
