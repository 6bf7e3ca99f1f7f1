//! Activity tasks for workers: long polls, completions, failures, cancellations, heartbeats.

use cairn_engine::{
    RunKey, TaskKind,
    activity::{ActivityOutcome, decode_opt},
    proto::common::{ActivityType, WorkflowExecution, WorkflowType},
    time,
    token::TaskToken,
};
use cairn_history::ActivityTarget;
use cairn_matching::Item;
use prost::Message;
use temporalio_protos::protos::temporal::api::workflowservice::v1::{self as ws};
use tonic::{Request, Response, Status};

use crate::{error::status, namespaces::Namespace, validate};

use crate::{long_poll::*, service::*};

pub(crate) async fn poll_activity_task_queue(
    frontend: &Frontend,
    request: Request<ws::PollActivityTaskQueueRequest>,
) -> Reply<ws::PollActivityTaskQueueResponse> {
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
    let rate = r
        .task_queue_metadata
        .as_ref()
        .and_then(|m| m.max_tasks_per_second);
    frontend.note_poller(
        &namespace.id,
        &queue,
        TaskKind::Activity,
        &r.identity,
        rate,
        build_id,
    );
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(Item::Task(task)) = frontend
            .matching
            .poll(&namespace.id, &queue, TaskKind::Activity, remaining)
            .await
        else {
            return Ok(Response::new(ws::PollActivityTaskQueueResponse::default()));
        };
        let started = match frontend
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
        return Ok(Response::new(activity_task(&namespace, &started)));
    }
}

pub(crate) async fn respond_activity_task_completed(
    frontend: &Frontend,
    request: Request<ws::RespondActivityTaskCompletedRequest>,
) -> Reply<ws::RespondActivityTaskCompletedResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let token = frontend.token(&namespace, &r.task_token)?;
    validate::payload_size(r.result.as_ref().map_or(0, Message::encoded_len))?;
    frontend
        .history
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

pub(crate) async fn respond_activity_task_completed_by_id(
    frontend: &Frontend,
    request: Request<ws::RespondActivityTaskCompletedByIdRequest>,
) -> Reply<ws::RespondActivityTaskCompletedByIdResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let target = by_id(&namespace, &r.workflow_id, &r.run_id, &r.activity_id)?;
    frontend
        .history
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

pub(crate) async fn respond_activity_task_failed(
    frontend: &Frontend,
    request: Request<ws::RespondActivityTaskFailedRequest>,
) -> Reply<ws::RespondActivityTaskFailedResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let token = frontend.token(&namespace, &r.task_token)?;
    let failure = r
        .failure
        .ok_or_else(|| Status::invalid_argument("Failure is not set on request."))?;
    let outcome = ActivityOutcome::Failed {
        failure,
        last_heartbeat_details: r.last_heartbeat_details,
    };
    frontend
        .history
        .close_activity(ActivityTarget::from_token(&token), r.identity, outcome)
        .await
        .map_err(status)?;
    Ok(Response::new(
        ws::RespondActivityTaskFailedResponse::default(),
    ))
}

pub(crate) async fn respond_activity_task_failed_by_id(
    frontend: &Frontend,
    request: Request<ws::RespondActivityTaskFailedByIdRequest>,
) -> Reply<ws::RespondActivityTaskFailedByIdResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let target = by_id(&namespace, &r.workflow_id, &r.run_id, &r.activity_id)?;
    let failure = r
        .failure
        .ok_or_else(|| Status::invalid_argument("Failure is not set on request."))?;
    let outcome = ActivityOutcome::Failed {
        failure,
        last_heartbeat_details: r.last_heartbeat_details,
    };
    frontend
        .history
        .close_activity(target, r.identity, outcome)
        .await
        .map_err(status)?;
    Ok(Response::new(
        ws::RespondActivityTaskFailedByIdResponse::default(),
    ))
}

pub(crate) async fn respond_activity_task_canceled(
    frontend: &Frontend,
    request: Request<ws::RespondActivityTaskCanceledRequest>,
) -> Reply<ws::RespondActivityTaskCanceledResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let token = frontend.token(&namespace, &r.task_token)?;
    frontend
        .history
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

pub(crate) async fn respond_activity_task_canceled_by_id(
    frontend: &Frontend,
    request: Request<ws::RespondActivityTaskCanceledByIdRequest>,
) -> Reply<ws::RespondActivityTaskCanceledByIdResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let target = by_id(&namespace, &r.workflow_id, &r.run_id, &r.activity_id)?;
    frontend
        .history
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

pub(crate) async fn record_activity_task_heartbeat(
    frontend: &Frontend,
    request: Request<ws::RecordActivityTaskHeartbeatRequest>,
) -> Reply<ws::RecordActivityTaskHeartbeatResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let token = frontend.token(&namespace, &r.task_token)?;
    let reply = frontend
        .history
        .heartbeat_activity(ActivityTarget::from_token(&token), r.details)
        .await
        .map_err(status)?;
    Ok(Response::new(ws::RecordActivityTaskHeartbeatResponse {
        cancel_requested: reply.cancel_requested,
        activity_paused: reply.paused,
        activity_reset: reply.reset,
    }))
}

pub(crate) async fn record_activity_task_heartbeat_by_id(
    frontend: &Frontend,
    request: Request<ws::RecordActivityTaskHeartbeatByIdRequest>,
) -> Reply<ws::RecordActivityTaskHeartbeatByIdResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let target = by_id(&namespace, &r.workflow_id, &r.run_id, &r.activity_id)?;
    let reply = frontend
        .history
        .heartbeat_activity(target, r.details)
        .await
        .map_err(status)?;
    Ok(Response::new(ws::RecordActivityTaskHeartbeatByIdResponse {
        cancel_requested: reply.cancel_requested,
        activity_paused: reply.paused,
        activity_reset: reply.reset,
    }))
}

/// What a worker needs to run an activity attempt that history recorded as started.
pub(crate) fn activity_task(
    namespace: &Namespace,
    task: &cairn_engine::activity::ActivityTask,
) -> ws::PollActivityTaskQueueResponse {
    let a = &task.info;
    let token = TaskToken {
        namespace_id: namespace.id.clone(),
        workflow_id: task.run.workflow_id.clone(),
        run_id: task.run.run_id.clone(),
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
            name: task.workflow_type.clone(),
        }),
        workflow_execution: Some(WorkflowExecution {
            workflow_id: task.run.workflow_id.clone(),
            run_id: task.run.run_id.clone(),
        }),
        activity_type: Some(ActivityType {
            name: a.activity_type.clone(),
        }),
        activity_id: a.activity_id.clone(),
        header: decode_opt(&task.header),
        input: decode_opt(&task.input),
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

pub(crate) fn by_id(
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
