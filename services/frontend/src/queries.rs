//! Queries: routed as Temporal routes them, answered by a worker.

use cairn_engine::proto::enums::{QueryRejectCondition, QueryResultType};
use cairn_history::{QueryAnswer, QueryTask};
use temporalio_protos::protos::temporal::api::{
    query::v1::QueryRejected,
    workflowservice::v1::{self as ws},
};
use tonic::{Request, Response, Status};

use crate::{error::status, namespaces::Namespace, validate};

use crate::{long_poll::*, service::*};

pub(crate) async fn query_workflow(
    frontend: &Frontend,
    request: Request<ws::QueryWorkflowRequest>,
) -> Reply<ws::QueryWorkflowResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let run = frontend.run(&namespace, r.execution.as_ref())?;
    let reject_condition = r.query_reject_condition();
    let query = r
        .query
        .ok_or_else(|| Status::invalid_argument("Query is not set on request."))?;
    validate::required(&query.query_type, "QueryType")?;
    // Subscribed before reading the state, so no change after that read goes unseen (a
    // pending task may start and complete before the query attaches to it).
    let changes = frontend.history.subscribe();
    let state = frontend.history.describe(run).await.map_err(status)?;
    let rejected = match reject_condition {
        QueryRejectCondition::NotOpen => !state.is_open(),
        QueryRejectCondition::NotCompletedCleanly => {
            !state.is_open() && state.status != cairn_engine::ExecutionStatus::Completed
        }
        QueryRejectCondition::None | QueryRejectCondition::Unspecified => false,
    };
    if rejected {
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
    let answer = frontend
        .route_query(&namespace, state, changes, task, deadline)
        .await?;
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

pub(crate) fn respond_query_task_completed(
    frontend: &Frontend,
    request: Request<ws::RespondQueryTaskCompletedRequest>,
) -> Reply<ws::RespondQueryTaskCompletedResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let token = frontend.token(&namespace, &r.task_token)?;
    if token.query_id.is_empty() {
        return Err(Status::invalid_argument(
            "task token is not a query task token",
        ));
    }
    let answer = query_answer(r.completed_type, r.query_result, &r.error_message);
    if !frontend.history.queries().answer(&token.query_id, answer) {
        return Err(Status::not_found(
            "query task not found, or already expired",
        ));
    }
    Ok(Response::new(
        ws::RespondQueryTaskCompletedResponse::default(),
    ))
}

pub(crate) fn query_answer(
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

impl Frontend {
    /// Delivers a query as Temporal does: with the run's pending workflow task when there is
    /// one (so the answer reflects every event that task carries), after the started task
    /// completes when one is running, and as a query task of its own otherwise. `changes` was
    /// subscribed before `state` was read.
    pub(crate) async fn route_query(
        &self,
        namespace: &Namespace,
        mut state: cairn_engine::MutableState,
        mut changes: tokio::sync::broadcast::Receiver<
            std::sync::Arc<Vec<cairn_engine::WorkflowKey>>,
        >,
        task: QueryTask,
        deadline: tokio::time::Instant,
    ) -> Result<Option<QueryAnswer>, Status> {
        let queries = self.history.queries();
        let mut waiter = queries.expect_answer(&task.query_id);
        let workflow = state.run.workflow();
        loop {
            match &state.workflow_task {
                None if !state.sticky_task_queue.is_empty() => {
                    // As Temporal does: the worker that has the run cached answers at once;
                    // if it does not within the sticky queue's schedule-to-start timeout,
                    // any worker of the normal queue does.
                    tracing::debug!(query_id = %task.query_id, run = %state.run.run_id, "query dispatched to the sticky queue");
                    self.tasks.dispatch_query(
                        &namespace.id,
                        &state.sticky_task_queue,
                        task.clone(),
                    );
                    let sticky_deadline = tokio::time::Instant::now()
                        + sticky_timeout(state.sticky_schedule_to_start_timeout);
                    if let Ok(answer) =
                        tokio::time::timeout_at(sticky_deadline.min(deadline), waiter.answered())
                            .await
                    {
                        return Ok(answer);
                    }
                    tracing::debug!(query_id = %task.query_id, run = %state.run.run_id, "query dispatched to the normal queue after the sticky worker did not answer");
                    self.tasks
                        .dispatch_query(&namespace.id, &state.task_queue, task);
                    break;
                }
                None => {
                    tracing::debug!(query_id = %task.query_id, run = %state.run.run_id, "query dispatched to the normal queue");
                    self.tasks
                        .dispatch_query(&namespace.id, &state.task_queue, task);
                    break;
                }
                Some(pending) if !pending.is_started() => {
                    tracing::debug!(query_id = %task.query_id, run = %state.run.run_id, scheduled = pending.scheduled_event_id, "query attached to the pending workflow task");
                    queries.attach(task.clone());
                    loop {
                        tokio::select! {
                            answer = waiter.answered() => return Ok(answer),
                            changed = wait_for_change(&mut changes, &workflow, deadline) => {
                                if !changed {
                                    queries.withdraw(&state.run, &task.query_id);
                                    return Ok(None);
                                }
                                // The task started without taking it: look again.
                                if queries.withdraw(&state.run, &task.query_id) {
                                    break;
                                }
                            }
                        }
                    }
                }
                Some(started) => {
                    tracing::debug!(query_id = %task.query_id, run = %state.run.run_id, scheduled = started.scheduled_event_id, "query waits for the started workflow task");
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
}

/// How long a query waits for the sticky worker before it goes to the normal queue: the
/// sticky queue's schedule-to-start timeout, Temporal's 5 s when the worker set none.
fn sticky_timeout(timeout: cairn_engine::time::Nanos) -> std::time::Duration {
    u64::try_from(timeout)
        .ok()
        .filter(|nanos| *nanos > 0)
        .map_or(
            std::time::Duration::from_secs(5),
            std::time::Duration::from_nanos,
        )
}
