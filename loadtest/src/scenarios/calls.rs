//! The calls the scenarios make, each retried as the SDKs retry it (on `ResourceExhausted`
//! and `Unavailable`) and failing with an error kind that names the call and the code.

use std::time::{Duration, Instant};

use cairn_api::proto::{
    common::v1::{WorkflowExecution, WorkflowType},
    enums::v1::{HistoryEventFilterType, UpdateWorkflowExecutionLifecycleStage},
    history::v1::history_event::Attributes,
    query::v1::WorkflowQuery,
    update::v1::{Input, Meta, Request, UpdateRef, WaitPolicy, outcome},
    workflowservice::v1::{
        GetWorkflowExecutionHistoryRequest, PollWorkflowExecutionUpdateRequest,
        QueryWorkflowRequest, SignalWorkflowExecutionRequest, StartWorkflowExecutionRequest,
        UpdateWorkflowExecutionRequest,
    },
};
use serde_json::Value;
use tonic::{Response, Status};

use super::Iteration;
use crate::{
    connection::{Client, call, long_poll, send_retrying},
    stats::Recorder,
    workflows::{self, payload, task_queue_of, value},
};

/// [`send_retrying`], failing with the error kind `WHAT: CODE`.
pub async fn unary<Req, Resp, Send, Fut>(
    client: &Client,
    recorder: &Recorder,
    what: &str,
    request: Req,
    send: Send,
) -> Result<Resp, String>
where
    Req: Clone,
    Send: Fn(Client, Req) -> Fut,
    Fut: Future<Output = Result<Response<Resp>, Status>>,
{
    send_retrying(client, request, send, |code| recorder.retried(what, code))
        .await
        .map_err(|status| format!("{what}: {:?}", status.code()))
}

impl Iteration {
    /// Starts workflow `workflow_id` of `workflow_type` with `input`: its execution and how
    /// long the start took.
    pub async fn start(
        &self,
        client: &Client,
        recorder: &Recorder,
        workflow_id: &str,
        workflow_type: &str,
        input: &Value,
    ) -> Result<(WorkflowExecution, Duration), String> {
        let began = Instant::now();
        let start = StartWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            workflow_id: workflow_id.to_string(),
            workflow_type: Some(WorkflowType {
                name: workflow_type.into(),
            }),
            task_queue: task_queue_of(&self.task_queue),
            input: Some(payload(input)),
            identity: self.identity.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        let started = unary(client, recorder, "start", start, |mut c, r| async move {
            c.start_workflow_execution(call(r)).await
        })
        .await?;
        let execution = WorkflowExecution {
            workflow_id: workflow_id.to_string(),
            run_id: started.run_id,
        };
        Ok((execution, began.elapsed()))
    }

    /// Waits for `execution` to close: its close event's attributes.
    pub async fn closed(
        &self,
        client: &Client,
        recorder: &Recorder,
        execution: &WorkflowExecution,
    ) -> Result<Attributes, String> {
        let wait = GetWorkflowExecutionHistoryRequest {
            namespace: self.namespace.clone(),
            execution: Some(execution.clone()),
            wait_new_event: true,
            history_event_filter_type: HistoryEventFilterType::CloseEvent as i32,
            ..Default::default()
        };
        loop {
            let history = unary(
                client,
                recorder,
                "wait",
                wait.clone(),
                |mut c, r| async move { c.get_workflow_execution_history(long_poll(r)).await },
            )
            .await?;
            let close = history
                .history
                .and_then(|h| h.events.into_iter().last())
                .and_then(|event| event.attributes);
            if let Some(close) = close {
                return Ok(close);
            }
            // The long poll ended before the workflow closed.
        }
    }

    /// Waits for `execution` to close and checks it completed with `expected`.
    pub async fn completed_with(
        &self,
        client: &Client,
        recorder: &Recorder,
        execution: &WorkflowExecution,
        expected: &Value,
    ) -> Result<(), String> {
        match self.closed(client, recorder, execution).await? {
            Attributes::WorkflowExecutionCompletedEventAttributes(completed) => {
                if value(completed.result.as_ref()).as_ref() == Some(expected) {
                    Ok(())
                } else {
                    Err("wrong result".into())
                }
            }
            Attributes::WorkflowExecutionFailedEventAttributes(_) => Err("workflow failed".into()),
            Attributes::WorkflowExecutionTimedOutEventAttributes(_) => {
                Err("workflow timed out".into())
            }
            _ => Err("workflow closed otherwise".into()),
        }
    }

    /// Sends signal `storm` with `input` to `execution`.
    pub async fn signal(
        &self,
        client: &Client,
        recorder: &Recorder,
        execution: &WorkflowExecution,
        input: &Value,
    ) -> Result<(), String> {
        let signal = SignalWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            workflow_execution: Some(execution.clone()),
            signal_name: workflows::SIGNAL.into(),
            input: Some(payload(input)),
            identity: self.identity.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        unary(client, recorder, "signal", signal, |mut c, r| async move {
            c.signal_workflow_execution(call(r)).await
        })
        .await
        .map(drop)
    }

    /// Asks `execution` the query `state`: its answer.
    pub async fn query(
        &self,
        client: &Client,
        recorder: &Recorder,
        execution: &WorkflowExecution,
    ) -> Result<Option<Value>, String> {
        let query = QueryWorkflowRequest {
            namespace: self.namespace.clone(),
            execution: Some(execution.clone()),
            query: Some(WorkflowQuery {
                query_type: workflows::QUERY.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let answer = unary(client, recorder, "query", query, |mut c, r| async move {
            c.query_workflow(call(r)).await
        })
        .await?;
        Ok(value(answer.query_result.as_ref()))
    }

    /// Updates `execution` with `args` and waits for the update to complete: its result.
    pub async fn update(
        &self,
        client: &Client,
        recorder: &Recorder,
        execution: &WorkflowExecution,
        args: &Value,
    ) -> Result<Option<Value>, String> {
        let update_id = uuid::Uuid::new_v4().to_string();
        let wait_policy = Some(WaitPolicy {
            lifecycle_stage: UpdateWorkflowExecutionLifecycleStage::Completed as i32,
        });
        let update = UpdateWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            workflow_execution: Some(execution.clone()),
            wait_policy,
            request: Some(Request {
                meta: Some(Meta {
                    update_id: update_id.clone(),
                    identity: self.identity.clone(),
                }),
                input: Some(Input {
                    name: "bump".into(),
                    args: Some(payload(args)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut outcome = unary(client, recorder, "update", update, |mut c, r| async move {
            c.update_workflow_execution(long_poll(r)).await
        })
        .await?
        .outcome;
        // The server may answer before the update completed: ask until it has.
        while outcome.is_none() {
            let poll = PollWorkflowExecutionUpdateRequest {
                namespace: self.namespace.clone(),
                update_ref: Some(UpdateRef {
                    workflow_execution: Some(execution.clone()),
                    update_id: update_id.clone(),
                }),
                identity: self.identity.clone(),
                wait_policy,
            };
            outcome = unary(
                client,
                recorder,
                "update poll",
                poll,
                |mut c, r| async move { c.poll_workflow_execution_update(long_poll(r)).await },
            )
            .await?
            .outcome;
        }
        match outcome.and_then(|o| o.value) {
            Some(outcome::Value::Success(result)) => Ok(value(Some(&result))),
            _ => Err("update failed".into()),
        }
    }
}
