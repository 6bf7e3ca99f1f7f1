//! `workflow_with_single_noop_activity` (named as Temporal's own load generator names it):
//! each iteration starts a workflow that runs one no-op activity and waits for it to close.
//! The workflow must complete with the activity's result, which is the iteration's input:
//! anything else is an error of its own kind.

use std::time::{Duration, Instant};

use cairn_api::proto::{
    common::v1::{Payload, Payloads, WorkflowExecution, WorkflowType},
    enums::v1::{HistoryEventFilterType, TaskQueueKind},
    history::v1::history_event::Attributes,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{GetWorkflowExecutionHistoryRequest, StartWorkflowExecutionRequest},
};

use crate::{
    connection::{Client, call, long_poll, retrying},
    stats::Recorder,
    worker,
};

pub const NAME: &str = "workflow_with_single_noop_activity";

/// How one iteration ended.
pub enum Outcome {
    /// Completed with the right result: the start call's latency.
    Completed { start: Duration },
    /// Anything else, by kind.
    Failed(String),
}

/// What every iteration shares.
#[derive(Clone)]
pub struct Iteration {
    pub namespace: String,
    pub task_queue: String,
    pub identity: String,
    /// Workflow IDs are `PREFIX-N`.
    pub prefix: String,
}

fn json_payload(text: &str) -> Payloads {
    Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
            data: serde_json::to_vec(text).unwrap_or_default(),
            ..Default::default()
        }],
    }
}

impl Iteration {
    /// Runs iteration `n` to its end.
    pub async fn run(&self, client: Client, n: u64, recorder: &Recorder) -> Outcome {
        let workflow_id = format!("{}-{n}", self.prefix);
        let input = json_payload(&workflow_id);
        let started_at = Instant::now();
        let start = StartWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            workflow_id: workflow_id.clone(),
            workflow_type: Some(WorkflowType {
                name: worker::WORKFLOW_TYPE.into(),
            }),
            task_queue: Some(TaskQueue {
                name: self.task_queue.clone(),
                kind: TaskQueueKind::Normal as i32,
                ..Default::default()
            }),
            input: Some(input.clone()),
            identity: self.identity.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        let started = retrying(
            || {
                let mut client = client.clone();
                let start = start.clone();
                async move { client.start_workflow_execution(call(start)).await }
            },
            |code| recorder.retried("start", code),
        )
        .await;
        let run_id = match started {
            Ok(started) => started.into_inner().run_id,
            Err(status) => return Outcome::Failed(format!("start: {:?}", status.code())),
        };
        let start_latency = started_at.elapsed();
        let execution = Some(WorkflowExecution {
            workflow_id,
            run_id,
        });
        loop {
            let wait = GetWorkflowExecutionHistoryRequest {
                namespace: self.namespace.clone(),
                execution: execution.clone(),
                wait_new_event: true,
                history_event_filter_type: HistoryEventFilterType::CloseEvent as i32,
                ..Default::default()
            };
            let answer = retrying(
                || {
                    let mut client = client.clone();
                    let wait = wait.clone();
                    async move { client.get_workflow_execution_history(long_poll(wait)).await }
                },
                |code| recorder.retried("wait", code),
            )
            .await;
            let history = match answer {
                Ok(answer) => answer.into_inner(),
                Err(status) => return Outcome::Failed(format!("wait: {:?}", status.code())),
            };
            let close = history
                .history
                .and_then(|h| h.events.into_iter().last())
                .and_then(|event| event.attributes);
            return match close {
                None => continue, // the long poll ended before the workflow closed
                Some(Attributes::WorkflowExecutionCompletedEventAttributes(completed))
                    if completed.result.as_ref() == Some(&input) =>
                {
                    Outcome::Completed {
                        start: start_latency,
                    }
                }
                Some(Attributes::WorkflowExecutionCompletedEventAttributes(_)) => {
                    Outcome::Failed("wrong result".into())
                }
                Some(Attributes::WorkflowExecutionFailedEventAttributes(_)) => {
                    Outcome::Failed("workflow failed".into())
                }
                Some(Attributes::WorkflowExecutionTimedOutEventAttributes(_)) => {
                    Outcome::Failed("workflow timed out".into())
                }
                Some(_) => Outcome::Failed("workflow closed otherwise".into()),
            };
        }
    }
}
