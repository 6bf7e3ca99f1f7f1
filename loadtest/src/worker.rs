//! A lean worker on the raw API for the scenarios' workflows (see `workflows`), so that the
//! worker is never what limits a run: it polls workflow and activity tasks with many pollers,
//! decides each workflow task from its history in one pass and answers at once. It answers
//! queries (both as query tasks and as queries riding a workflow task) and accepts updates.
//! The one activity, `noop`, returns its input.

use std::{collections::HashMap, sync::Arc};

use cairn_api::proto::{
    command::v1::{Command, ProtocolMessageCommandAttributes, command},
    enums::v1::{CommandType, QueryResultType, WorkflowTaskFailedCause},
    protocol::v1::{Message, message::SequencingId},
    query::v1::WorkflowQueryResult,
    update::v1::{Acceptance, Outcome, Request, Response, outcome},
    workflowservice::v1::{
        GetWorkflowExecutionHistoryRequest, PollActivityTaskQueueRequest,
        PollWorkflowTaskQueueRequest, PollWorkflowTaskQueueResponse,
        RespondActivityTaskCompletedRequest, RespondQueryTaskCompletedRequest,
        RespondWorkflowTaskCompletedRequest, RespondWorkflowTaskFailedRequest,
    },
};
use prost::Message as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{
    connection::{Client, call, is_throttled, long_poll, send_retrying},
    stats::{Recorder, TaskKind},
    workflows::{self, Seen, task_queue_of},
};

/// How long a poller waits after a poll failed.
const POLL_RETRY: std::time::Duration = std::time::Duration::from_millis(500);
const UPDATE_REQUEST: &str = "type.googleapis.com/temporal.api.update.v1.Request";
const UPDATE_ACCEPTANCE: &str = "type.googleapis.com/temporal.api.update.v1.Acceptance";
const UPDATE_RESPONSE: &str = "type.googleapis.com/temporal.api.update.v1.Response";

/// What the worker serves.
#[derive(Clone)]
pub struct WorkerConfig {
    pub namespace: String,
    pub task_queue: String,
    pub identity: String,
    /// Concurrent long polls for each kind of task.
    pub pollers: usize,
}

/// Runs pollers until `stop` is cancelled; each records the schedule-to-start of the tasks it
/// takes.
pub async fn run(
    client: Client,
    config: WorkerConfig,
    recorder: Arc<Recorder>,
    stop: CancellationToken,
) {
    let mut pollers = JoinSet::new();
    for _ in 0..config.pollers {
        pollers.spawn(workflow_poller(
            client.clone(),
            config.clone(),
            Arc::clone(&recorder),
            stop.clone(),
        ));
        pollers.spawn(activity_poller(
            client.clone(),
            config.clone(),
            Arc::clone(&recorder),
            stop.clone(),
        ));
    }
    while pollers.join_next().await.is_some() {}
}

async fn workflow_poller(
    mut client: Client,
    config: WorkerConfig,
    recorder: Arc<Recorder>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let poll = PollWorkflowTaskQueueRequest {
            namespace: config.namespace.clone(),
            task_queue: task_queue_of(&config.task_queue),
            identity: config.identity.clone(),
            ..Default::default()
        };
        let task = match stop
            .run_until_cancelled(client.poll_workflow_task_queue(long_poll(poll)))
            .await
        {
            None => return,
            Some(Ok(task)) => task.into_inner(),
            Some(Err(status)) => {
                poll_failed(&recorder, &status).await;
                continue;
            }
        };
        if task.task_token.is_empty() {
            continue; // the long poll ended without a task
        }
        recorder.task_started(
            TaskKind::Workflow,
            task.scheduled_time.as_ref(),
            task.started_time.as_ref(),
        );
        if let Err(status) = answer_workflow_task(&client, &config, &recorder, task).await {
            recorder.worker_error(&status);
        }
    }
}

/// Answers one workflow task: a query task with the query's answer; any other with the
/// workflow's commands, the answers to the queries it carries, and acceptance and completion
/// of the updates it carries.
async fn answer_workflow_task(
    client: &Client,
    config: &WorkerConfig,
    recorder: &Recorder,
    mut task: PollWorkflowTaskQueueResponse,
) -> Result<(), tonic::Status> {
    let mut events = task.history.take().map(|h| h.events).unwrap_or_default();
    let mut page = std::mem::take(&mut task.next_page_token);
    while !page.is_empty() {
        let more = GetWorkflowExecutionHistoryRequest {
            namespace: config.namespace.clone(),
            execution: task.workflow_execution.clone(),
            next_page_token: page,
            ..Default::default()
        };
        let answer = send_retrying(
            client,
            more,
            |mut c, r| async move { c.get_workflow_execution_history(call(r)).await },
            |code| recorder.retried("history page", code),
        )
        .await?;
        events.extend(answer.history.map(|h| h.events).unwrap_or_default());
        page = answer.next_page_token;
    }
    let mut seen = Seen::of(&events);
    if let Some(query) = task.query {
        let result = answer_query(&seen, &query.query_type);
        let answer = RespondQueryTaskCompletedRequest {
            task_token: task.task_token,
            completed_type: result.result_type,
            query_result: result.answer,
            error_message: result.error_message,
            namespace: config.namespace.clone(),
            ..Default::default()
        };
        return send_retrying(
            client,
            answer,
            |mut c, r| async move { c.respond_query_task_completed(call(r)).await },
            |code| recorder.retried("query task completion", code),
        )
        .await
        .map(drop);
    }
    let (mut commands, messages) = match accept_updates(&task.messages) {
        Ok(accepted) => accepted,
        Err(why) => {
            let failed = RespondWorkflowTaskFailedRequest {
                task_token: task.task_token,
                cause: WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure as i32,
                identity: config.identity.clone(),
                namespace: config.namespace.clone(),
                failure: Some(cairn_api::proto::failure::v1::Failure {
                    message: why,
                    ..Default::default()
                }),
                ..Default::default()
            };
            recorder.error("worker: an update request it could not read");
            let mut client = client.clone();
            return client
                .respond_workflow_task_failed(call(failed))
                .await
                .map(drop);
        }
    };
    seen.updates += messages.len() / 2;
    commands.extend(workflows::decide(&seen, &config.task_queue));
    let query_results: HashMap<String, WorkflowQueryResult> = task
        .queries
        .into_iter()
        .map(|(id, query)| (id, answer_query(&seen, &query.query_type)))
        .collect();
    let answer = RespondWorkflowTaskCompletedRequest {
        task_token: task.task_token,
        commands,
        messages,
        query_results,
        identity: config.identity.clone(),
        namespace: config.namespace.clone(),
        ..Default::default()
    };
    send_retrying(
        client,
        answer,
        |mut c, r| async move { c.respond_workflow_task_completed(call(r)).await },
        |code| recorder.retried("workflow task completion", code),
    )
    .await
    .map(drop)
}

/// The answer to a query: the workflows answer `state`, and fail any other.
fn answer_query(seen: &Seen, query_type: &str) -> WorkflowQueryResult {
    if query_type == workflows::QUERY {
        WorkflowQueryResult {
            result_type: QueryResultType::Answered as i32,
            answer: Some(seen.query_answer()),
            ..Default::default()
        }
    } else {
        WorkflowQueryResult {
            result_type: QueryResultType::Failed as i32,
            error_message: format!("unknown query type {query_type}"),
            ..Default::default()
        }
    }
}

/// Accepts every update request among a task's messages and completes it at once with its
/// arguments: for each, an acceptance and a response message, each placed by a command.
fn accept_updates(messages: &[Message]) -> Result<(Vec<Command>, Vec<Message>), String> {
    let mut commands = Vec::new();
    let mut answers = Vec::new();
    for message in messages {
        let Some(body) = message
            .body
            .as_ref()
            .filter(|b| b.type_url == UPDATE_REQUEST)
        else {
            continue;
        };
        let request = Request::decode(body.value.as_slice())
            .map_err(|e| format!("update request {}: {e}", message.id))?;
        let update_id = message.protocol_instance_id.clone();
        let sequencing_event_id = match message.sequencing_id {
            Some(SequencingId::EventId(id)) => id,
            _ => 0,
        };
        let outcome = Outcome {
            value: Some(outcome::Value::Success(
                request
                    .input
                    .as_ref()
                    .and_then(|i| i.args.clone())
                    .unwrap_or_default(),
            )),
        };
        let response = Response {
            meta: request.meta.clone(),
            outcome: Some(outcome),
        };
        let acceptance = Acceptance {
            accepted_request_message_id: message.id.clone(),
            accepted_request_sequencing_event_id: sequencing_event_id,
            accepted_request: Some(request),
        };
        for (suffix, type_url, value) in [
            ("accept", UPDATE_ACCEPTANCE, acceptance.encode_to_vec()),
            ("complete", UPDATE_RESPONSE, response.encode_to_vec()),
        ] {
            let id = format!("{update_id}/{suffix}");
            commands.push(Command {
                command_type: CommandType::ProtocolMessage as i32,
                attributes: Some(command::Attributes::ProtocolMessageCommandAttributes(
                    ProtocolMessageCommandAttributes {
                        message_id: id.clone(),
                    },
                )),
                ..Default::default()
            });
            answers.push(Message {
                id,
                protocol_instance_id: update_id.clone(),
                body: Some(prost_wkt_types::Any {
                    type_url: type_url.into(),
                    value,
                }),
                sequencing_id: None,
            });
        }
    }
    Ok((commands, answers))
}

/// Counts a failed poll (a retry when the server pushed back, an error otherwise) and waits
/// before the next: a refused poll is refused again at once.
async fn poll_failed(recorder: &Recorder, status: &tonic::Status) {
    if is_throttled(status.code()) {
        recorder.retried("poll", status.code());
    } else {
        recorder.worker_error(status);
    }
    tokio::time::sleep(POLL_RETRY).await;
}

async fn activity_poller(
    mut client: Client,
    config: WorkerConfig,
    recorder: Arc<Recorder>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let poll = PollActivityTaskQueueRequest {
            namespace: config.namespace.clone(),
            task_queue: task_queue_of(&config.task_queue),
            identity: config.identity.clone(),
            ..Default::default()
        };
        let task = match stop
            .run_until_cancelled(client.poll_activity_task_queue(long_poll(poll)))
            .await
        {
            None => return,
            Some(Ok(task)) => task.into_inner(),
            Some(Err(status)) => {
                poll_failed(&recorder, &status).await;
                continue;
            }
        };
        if task.task_token.is_empty() {
            continue;
        }
        recorder.task_started(
            TaskKind::Activity,
            task.current_attempt_scheduled_time.as_ref(),
            task.started_time.as_ref(),
        );
        let answer = RespondActivityTaskCompletedRequest {
            task_token: task.task_token,
            result: task.input,
            identity: config.identity.clone(),
            namespace: config.namespace.clone(),
            ..Default::default()
        };
        let answered = send_retrying(
            &client,
            answer,
            |mut c, r| async move { c.respond_activity_task_completed(call(r)).await },
            |code| recorder.retried("activity task completion", code),
        )
        .await;
        if let Err(status) = answered {
            recorder.worker_error(&status);
        }
    }
}
