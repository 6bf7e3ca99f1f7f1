//! A lean worker on the raw API for the scenarios' workflows, so that the worker is never
//! what limits a run: it polls workflow and activity tasks with many pollers, decides each
//! workflow task from its history in one pass (no replay, no sandbox) and answers at once.
//!
//! `SingleNoopActivity`: schedules one activity `noop` with the workflow's input; completes
//! with the activity's result once it has one, fails if the activity failed or timed out.
//! The `noop` activity returns its input.

use std::sync::Arc;

use cairn_api::proto::{
    command::v1::{
        Command, CompleteWorkflowExecutionCommandAttributes,
        FailWorkflowExecutionCommandAttributes, ScheduleActivityTaskCommandAttributes, command,
    },
    common::v1::{ActivityType, Payloads},
    enums::v1::{CommandType, TaskQueueKind},
    failure::v1::Failure,
    history::v1::{HistoryEvent, history_event::Attributes},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{
        PollActivityTaskQueueRequest, PollWorkflowTaskQueueRequest,
        RespondActivityTaskCompletedRequest, RespondWorkflowTaskCompletedRequest,
    },
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{
    connection::{Client, call, is_throttled, long_poll, retrying},
    stats::{Recorder, TaskKind},
};

pub const WORKFLOW_TYPE: &str = "SingleNoopActivity";
pub const ACTIVITY_TYPE: &str = "noop";
/// How long a poller waits after a poll failed.
const POLL_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

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

fn task_queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.to_string(),
        kind: TaskQueueKind::Normal as i32,
        ..Default::default()
    })
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
            task_queue: task_queue(&config.task_queue),
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
        let events = task.history.map(|h| h.events).unwrap_or_default();
        let answer = RespondWorkflowTaskCompletedRequest {
            task_token: task.task_token,
            commands: decide(&events, &config.task_queue),
            identity: config.identity.clone(),
            namespace: config.namespace.clone(),
            ..Default::default()
        };
        let answered = retrying(
            || {
                let mut client = client.clone();
                let answer = answer.clone();
                async move { client.respond_workflow_task_completed(call(answer)).await }
            },
            |code| recorder.retried("workflow task completion", code),
        )
        .await;
        if let Err(status) = answered {
            recorder.worker_error(&status);
        }
    }
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

/// The commands of `SingleNoopActivity`'s next workflow task, from its history so far.
pub fn decide(events: &[HistoryEvent], task_queue_name: &str) -> Vec<Command> {
    let mut input = None;
    let mut scheduled = false;
    for event in events {
        match &event.attributes {
            Some(Attributes::WorkflowExecutionStartedEventAttributes(started)) => {
                input.clone_from(&started.input);
            }
            Some(Attributes::ActivityTaskScheduledEventAttributes(_)) => scheduled = true,
            Some(Attributes::ActivityTaskCompletedEventAttributes(completed)) => {
                return vec![Command {
                    command_type: CommandType::CompleteWorkflowExecution as i32,
                    attributes: Some(
                        command::Attributes::CompleteWorkflowExecutionCommandAttributes(
                            CompleteWorkflowExecutionCommandAttributes {
                                result: completed.result.clone(),
                            },
                        ),
                    ),
                    ..Default::default()
                }];
            }
            Some(
                Attributes::ActivityTaskFailedEventAttributes(_)
                | Attributes::ActivityTaskTimedOutEventAttributes(_),
            ) => {
                return vec![fail("the noop activity did not complete")];
            }
            _ => {}
        }
    }
    if scheduled {
        return Vec::new();
    }
    vec![Command {
        command_type: CommandType::ScheduleActivityTask as i32,
        attributes: Some(command::Attributes::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
                activity_id: "noop".into(),
                activity_type: Some(ActivityType {
                    name: ACTIVITY_TYPE.into(),
                }),
                task_queue: task_queue(task_queue_name),
                input: input.or_else(|| Some(Payloads::default())),
                start_to_close_timeout: Some(prost_wkt_types::Duration {
                    seconds: 10,
                    nanos: 0,
                }),
                ..Default::default()
            },
        )),
        ..Default::default()
    }]
}

fn fail(message: &str) -> Command {
    Command {
        command_type: CommandType::FailWorkflowExecution as i32,
        attributes: Some(command::Attributes::FailWorkflowExecutionCommandAttributes(
            FailWorkflowExecutionCommandAttributes {
                failure: Some(Failure {
                    message: message.into(),
                    ..Default::default()
                }),
            },
        )),
        ..Default::default()
    }
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
            task_queue: task_queue(&config.task_queue),
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
        let answered = retrying(
            || {
                let mut client = client.clone();
                let answer = answer.clone();
                async move { client.respond_activity_task_completed(call(answer)).await }
            },
            |code| recorder.retried("activity task completion", code),
        )
        .await;
        if let Err(status) = answered {
            recorder.worker_error(&status);
        }
    }
}
