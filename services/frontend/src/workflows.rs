//! Workflow-scoped calls from clients: start, signal, cancel, terminate, describe.

use cairn_engine::signal::Signal;
use cairn_history::HistoryError;
use prost::Message;
use temporalio_protos::protos::temporal::api::workflowservice::v1::{self as ws};
use tonic::{Request, Response, Status};

use crate::{
    convert,
    error::{self, status},
    validate,
};

use crate::service::*;

pub(crate) async fn start_workflow_execution(
    frontend: &Frontend,
    request: Request<ws::StartWorkflowExecutionRequest>,
) -> Reply<ws::StartWorkflowExecutionResponse> {
    let mut request = request.into_inner();
    let namespace = frontend.namespace(&request.namespace)?;
    validate_start(&request)?;
    crate::search_attributes::validate(&namespace, request.search_attributes.as_ref())?;
    if request.request_id.is_empty() {
        request.request_id = uuid::Uuid::new_v4().to_string();
    }
    let workflow_id = request.workflow_id.clone();
    let eager = request.request_eager_execution;
    let (started, eager_task) = frontend
        .history
        .start_eagerly_if(
            eager,
            namespace.id.clone(),
            namespace.name.clone(),
            request,
            new_run_id(),
        )
        .await
        .map_err(|e| match e {
            HistoryError::Engine(engine) => error::already_started(&workflow_id, engine),
            other => status(other),
        })?;
    Ok(Response::new(ws::StartWorkflowExecutionResponse {
        run_id: started.run_id,
        started: started.started,
        eager_workflow_task: eager_task
            .map(|task| crate::workflow_tasks::workflow_task_response(&namespace.id, task)),
        ..Default::default()
    }))
}

pub(crate) async fn signal_with_start_workflow_execution(
    frontend: &Frontend,
    request: Request<ws::SignalWithStartWorkflowExecutionRequest>,
) -> Reply<ws::SignalWithStartWorkflowExecutionResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
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
        workflow_start_delay: r.workflow_start_delay,
        priority: r.priority.clone(),
        ..Default::default()
    };
    validate_start(&start)?;
    validate::payload_size(r.signal_input.as_ref().map_or(0, Message::encoded_len))?;
    crate::search_attributes::validate(&namespace, start.search_attributes.as_ref())?;
    let signal = Signal {
        name: r.signal_name,
        input: r.signal_input,
        identity: r.identity,
        header: r.header,
        request_id: String::new(),
    };
    let workflow_id = start.workflow_id.clone();
    let started = frontend
        .history
        .signal_with_start(
            namespace.id.clone(),
            namespace.name.clone(),
            start,
            new_run_id(),
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

pub(crate) async fn signal_workflow_execution(
    frontend: &Frontend,
    request: Request<ws::SignalWorkflowExecutionRequest>,
) -> Reply<ws::SignalWorkflowExecutionResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let run = frontend.run(&namespace, r.workflow_execution.as_ref())?;
    validate::required(&r.signal_name, "SignalName")?;
    validate::payload_size(r.input.as_ref().map_or(0, Message::encoded_len))?;
    let signal = Signal {
        name: r.signal_name,
        input: r.input,
        identity: r.identity,
        header: r.header,
        request_id: r.request_id,
    };
    frontend.history.signal(run, signal).await.map_err(status)?;
    Ok(Response::new(ws::SignalWorkflowExecutionResponse::default()))
}

pub(crate) async fn request_cancel_workflow_execution(
    frontend: &Frontend,
    request: Request<ws::RequestCancelWorkflowExecutionRequest>,
) -> Reply<ws::RequestCancelWorkflowExecutionResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let run = frontend.run(&namespace, r.workflow_execution.as_ref())?;
    frontend
        .history
        .request_cancel(run, r.identity, r.reason)
        .await
        .map_err(status)?;
    Ok(Response::new(
        ws::RequestCancelWorkflowExecutionResponse::default(),
    ))
}

pub(crate) async fn terminate_workflow_execution(
    frontend: &Frontend,
    request: Request<ws::TerminateWorkflowExecutionRequest>,
) -> Reply<ws::TerminateWorkflowExecutionResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let run = frontend.run(&namespace, r.workflow_execution.as_ref())?;
    let reason = if r.reason.is_empty() {
        "terminated by user via frontend".to_string()
    } else {
        r.reason
    };
    frontend
        .history
        .terminate(run, reason, r.details, r.identity)
        .await
        .map_err(status)?;
    Ok(Response::new(
        ws::TerminateWorkflowExecutionResponse::default(),
    ))
}

pub(crate) async fn reset_workflow_execution(
    frontend: &Frontend,
    request: Request<ws::ResetWorkflowExecutionRequest>,
) -> Reply<ws::ResetWorkflowExecutionResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let run = frontend.run(&namespace, r.workflow_execution.as_ref())?;
    if r.workflow_task_finish_event_id <= 0 {
        return Err(Status::invalid_argument(
            "Invalid WorkflowTaskFinishEventId.",
        ));
    }
    if r.request_id.len() > validate::MAX_ID_LENGTH {
        return Err(Status::invalid_argument("RequestId exceeds length limit."));
    }
    if !r.post_reset_operations.is_empty() {
        return Err(Status::unimplemented(
            "post-reset operations are not supported yet",
        ));
    }
    // The deprecated reapply type is still what the CLI sends.
    #[allow(deprecated)]
    let reapply_type = r.reset_reapply_type;
    let request = cairn_engine::reset::ResetRequest {
        workflow_task_finish_event_id: r.workflow_task_finish_event_id,
        reason: r.reason,
        identity: r.identity,
        request_id: if r.request_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            r.request_id
        },
        reapply: cairn_engine::reset::Reapply::from_request(
            reapply_type,
            &r.reset_reapply_exclude_types,
        ),
    };
    let run_id = frontend
        .history
        .reset_workflow(run, request)
        .await
        .map_err(status)?;
    Ok(Response::new(ws::ResetWorkflowExecutionResponse { run_id }))
}

pub(crate) async fn describe_workflow_execution(
    frontend: &Frontend,
    request: Request<ws::DescribeWorkflowExecutionRequest>,
) -> Reply<ws::DescribeWorkflowExecutionResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let run = frontend.run(&namespace, r.execution.as_ref())?;
    let state = frontend.history.describe(run).await.map_err(status)?;
    let mut described = convert::describe(&state);
    // The starter's summary and details live on the started event, where Temporal reads them.
    let started = frontend
        .history
        .events(&state.run, 1, 2)
        .await
        .map_err(status)?;
    if let (Some(config), Some(event)) = (described.execution_config.as_mut(), started.first()) {
        config.user_metadata = event.user_metadata.clone();
    }
    Ok(Response::new(described))
}

pub(crate) fn validate_start(r: &ws::StartWorkflowExecutionRequest) -> Result<(), Status> {
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
    if let Some(policy) = &r.retry_policy {
        validate::retry_policy(policy)?;
    }
    if !r.cron_schedule.is_empty() {
        cairn_engine::cron::validate(&r.cron_schedule)
            .map_err(|invalid| Status::invalid_argument(invalid.to_string()))?;
        if r.workflow_start_delay.is_some() {
            return Err(Status::invalid_argument(
                "CronSchedule and WorkflowStartDelay may not be used together.",
            ));
        }
    }
    if r.workflow_start_delay
        .as_ref()
        .is_some_and(|d| d.seconds < 0 || d.nanos < 0)
    {
        return Err(Status::invalid_argument(
            "An invalid WorkflowStartDelaySeconds is set on request. cause: negative duration",
        ));
    }
    Ok(())
}

/// The ID of a run a client starts: a version 7 UUID, ordered by creation time, as
/// Temporal's.
pub(crate) fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
