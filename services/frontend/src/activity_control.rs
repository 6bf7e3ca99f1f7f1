//! Operators' RPCs on a run's pending activities: PauseActivity, UnpauseActivity,
//! ResetActivity and UpdateActivityOptions. The engine decides; this checks the request and
//! names the activities.

use cairn_engine::{
    EngineError, RunKey,
    activity_control::{ActivitySelector, OptionsChange, Pause, Reset, Unpause},
    events::Tx,
    time,
};
use temporalio_protos::protos::temporal::api::{
    common::v1::WorkflowExecution,
    workflowservice::v1::{
        self as ws, pause_activity_request, reset_activity_request, unpause_activity_request,
        update_activity_options_request,
    },
};
use tonic::{Request, Response, Status};

use crate::{error::status, service::*, validate};

/// The run a request names, checked in Temporal's order: the workflow ID, then the activity.
fn target<A>(
    frontend: &Frontend,
    namespace: &str,
    execution: Option<&WorkflowExecution>,
    activity: Option<A>,
    select: impl FnOnce(A) -> ActivitySelector,
) -> Result<(RunKey, ActivitySelector), Status> {
    validate::required(
        execution.map_or("", |e| e.workflow_id.as_str()),
        "WorkflowId",
    )?;
    let activity = activity.ok_or_else(|| {
        Status::invalid_argument("Either Activity.Id or Activity.Type should be set on request.")
    })?;
    let namespace = frontend.namespace(namespace)?;
    let run = frontend.run(&namespace, execution)?;
    Ok((run, select(activity)))
}

fn jitter(duration: Option<&prost_wkt_types::Duration>) -> time::Nanos {
    time::from_duration(duration).max(0)
}

/// Applies an operator's action to a run's activities on the run's history owner.
async fn act<T: Send + 'static>(
    frontend: &Frontend,
    run: RunKey,
    action: impl FnOnce(&mut Tx<'_>) -> Result<T, EngineError> + Send + 'static,
) -> Result<T, Status> {
    frontend
        .history
        .control_activities(run, action)
        .await
        .map_err(status)
}

pub(crate) async fn pause_activity(
    frontend: &Frontend,
    request: Request<ws::PauseActivityRequest>,
) -> Reply<ws::PauseActivityResponse> {
    let r = request.into_inner();
    let (run, selector) = target(
        frontend,
        &r.namespace,
        r.execution.as_ref(),
        r.activity,
        |a| match a {
            pause_activity_request::Activity::Id(id) => ActivitySelector::Id(id),
            pause_activity_request::Activity::Type(name) => ActivitySelector::Type(name),
        },
    )?;
    let pause_request = Pause {
        identity: r.identity,
        reason: r.reason,
        request_id: r.request_id,
    };
    act(frontend, run, move |tx| {
        tx.pause_activities(&selector, &pause_request)
    })
    .await?;
    Ok(Response::new(ws::PauseActivityResponse::default()))
}

pub(crate) async fn unpause_activity(
    frontend: &Frontend,
    request: Request<ws::UnpauseActivityRequest>,
) -> Reply<ws::UnpauseActivityResponse> {
    let r = request.into_inner();
    let (run, selector) = target(
        frontend,
        &r.namespace,
        r.execution.as_ref(),
        r.activity,
        |a| match a {
            unpause_activity_request::Activity::Id(id) => ActivitySelector::Id(id),
            unpause_activity_request::Activity::Type(name) => ActivitySelector::Type(name),
            unpause_activity_request::Activity::UnpauseAll(_) => ActivitySelector::All,
        },
    )?;
    let unpause_request = Unpause {
        reset_attempts: r.reset_attempts,
        reset_heartbeat: r.reset_heartbeat,
        jitter: jitter(r.jitter.as_ref()),
    };
    act(frontend, run, move |tx| {
        tx.unpause_activities(&selector, &unpause_request)
    })
    .await?;
    Ok(Response::new(ws::UnpauseActivityResponse::default()))
}

pub(crate) async fn reset_activity(
    frontend: &Frontend,
    request: Request<ws::ResetActivityRequest>,
) -> Reply<ws::ResetActivityResponse> {
    let r = request.into_inner();
    let (run, selector) = target(
        frontend,
        &r.namespace,
        r.execution.as_ref(),
        r.activity,
        |a| match a {
            reset_activity_request::Activity::Id(id) => ActivitySelector::Id(id),
            reset_activity_request::Activity::Type(name) => ActivitySelector::Type(name),
            reset_activity_request::Activity::MatchAll(_) => ActivitySelector::All,
        },
    )?;
    let reset_request = Reset {
        reset_heartbeat: r.reset_heartbeat,
        keep_paused: r.keep_paused,
        jitter: jitter(r.jitter.as_ref()),
        restore_original_options: r.restore_original_options,
    };
    act(frontend, run, move |tx| {
        tx.reset_activities(&selector, &reset_request)
    })
    .await?;
    Ok(Response::new(ws::ResetActivityResponse::default()))
}

pub(crate) async fn update_activity_options(
    frontend: &Frontend,
    request: Request<ws::UpdateActivityOptionsRequest>,
) -> Reply<ws::UpdateActivityOptionsResponse> {
    let r = request.into_inner();
    let (run, selector) = target(
        frontend,
        &r.namespace,
        r.execution.as_ref(),
        r.activity,
        |a| match a {
            update_activity_options_request::Activity::Id(id) => ActivitySelector::Id(id),
            update_activity_options_request::Activity::Type(name) => ActivitySelector::Type(name),
            update_activity_options_request::Activity::MatchAll(_) => ActivitySelector::All,
        },
    )?;
    let change = OptionsChange {
        options: r.activity_options,
        paths: r.update_mask.map(|mask| mask.paths),
        restore_original: r.restore_original,
    };
    let options = act(frontend, run, move |tx| {
        tx.update_activity_options(&selector, &change)
    })
    .await?;
    Ok(Response::new(ws::UpdateActivityOptionsResponse {
        activity_options: Some(options),
    }))
}

// --- the same actions named by workflow and activity ID (the `…ActivityExecution` RPCs the
// CLI uses); without a workflow ID they address standalone activities, which Cairn lacks.

/// The run and activity an `…ActivityExecution` request names.
fn execution_target(
    frontend: &Frontend,
    namespace: &str,
    workflow_id: &str,
    run_id: &str,
    activity_id: &str,
) -> Result<(RunKey, ActivitySelector), Status> {
    if workflow_id.is_empty() {
        return Err(Status::unimplemented(
            "standalone activities are not supported; name the activity's workflow ID",
        ));
    }
    validate::required(activity_id, "ActivityId")?;
    let namespace = frontend.namespace(namespace)?;
    let execution = WorkflowExecution {
        workflow_id: workflow_id.to_string(),
        run_id: run_id.to_string(),
    };
    let run = frontend.run(&namespace, Some(&execution))?;
    Ok((run, ActivitySelector::Id(activity_id.to_string())))
}

pub(crate) async fn pause_activity_execution(
    frontend: &Frontend,
    request: Request<ws::PauseActivityExecutionRequest>,
) -> Reply<ws::PauseActivityExecutionResponse> {
    let r = request.into_inner();
    let (run, selector) = execution_target(
        frontend,
        &r.namespace,
        &r.workflow_id,
        &r.run_id,
        &r.activity_id,
    )?;
    let pause_request = Pause {
        identity: r.identity,
        reason: r.reason,
        request_id: r.request_id,
    };
    act(frontend, run, move |tx| {
        tx.pause_activities(&selector, &pause_request)
    })
    .await?;
    Ok(Response::new(ws::PauseActivityExecutionResponse::default()))
}

pub(crate) async fn unpause_activity_execution(
    frontend: &Frontend,
    request: Request<ws::UnpauseActivityExecutionRequest>,
) -> Reply<ws::UnpauseActivityExecutionResponse> {
    let r = request.into_inner();
    let (run, selector) = execution_target(
        frontend,
        &r.namespace,
        &r.workflow_id,
        &r.run_id,
        &r.activity_id,
    )?;
    let unpause_request = Unpause {
        jitter: jitter(r.jitter.as_ref()),
        ..Unpause::default()
    };
    act(frontend, run, move |tx| {
        tx.unpause_activities(&selector, &unpause_request)
    })
    .await?;
    Ok(Response::new(
        ws::UnpauseActivityExecutionResponse::default(),
    ))
}

pub(crate) async fn reset_activity_execution(
    frontend: &Frontend,
    request: Request<ws::ResetActivityExecutionRequest>,
) -> Reply<ws::ResetActivityExecutionResponse> {
    let r = request.into_inner();
    let (run, selector) = execution_target(
        frontend,
        &r.namespace,
        &r.workflow_id,
        &r.run_id,
        &r.activity_id,
    )?;
    let reset_request = Reset {
        reset_heartbeat: r.reset_heartbeat,
        keep_paused: r.keep_paused,
        jitter: jitter(r.jitter.as_ref()),
        restore_original_options: r.restore_original_options,
    };
    act(frontend, run, move |tx| {
        tx.reset_activities(&selector, &reset_request)
    })
    .await?;
    Ok(Response::new(ws::ResetActivityExecutionResponse::default()))
}

pub(crate) async fn update_activity_execution_options(
    frontend: &Frontend,
    request: Request<ws::UpdateActivityExecutionOptionsRequest>,
) -> Reply<ws::UpdateActivityExecutionOptionsResponse> {
    let r = request.into_inner();
    let (run, selector) = execution_target(
        frontend,
        &r.namespace,
        &r.workflow_id,
        &r.run_id,
        &r.activity_id,
    )?;
    let change = OptionsChange {
        options: r.activity_options,
        paths: r.update_mask.map(|mask| mask.paths),
        restore_original: r.restore_original,
    };
    let options = act(frontend, run, move |tx| {
        tx.update_activity_options(&selector, &change)
    })
    .await?;
    Ok(Response::new(ws::UpdateActivityExecutionOptionsResponse {
        activity_options: Some(options),
    }))
}
