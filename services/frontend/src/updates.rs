//! UpdateWorkflowExecution and PollWorkflowExecutionUpdate: admitting an update to a run and
//! waiting until it reaches the stage the caller asked for.

use cairn_engine::{
    RunKey,
    proto::{
        common::WorkflowExecution,
        enums::UpdateWorkflowExecutionLifecycleStage as Stage,
        update::{Outcome, UpdateRef, outcome::Value},
    },
    update::{UpdateEnding, UpdateStage, outcome_of},
};
use temporalio_protos::protos::temporal::api::workflowservice::v1::{self as ws};
use tonic::{Request, Response, Status};

use crate::{
    error::{self, status, with_detail},
    long_poll::*,
    service::*,
    validate,
};

pub(crate) async fn update_workflow_execution(
    frontend: &Frontend,
    request: Request<ws::UpdateWorkflowExecutionRequest>,
) -> Reply<ws::UpdateWorkflowExecutionResponse> {
    let wait = StageWait::of(&request);
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let run = frontend.run(&namespace, r.workflow_execution.as_ref())?;
    let mut update = r
        .request
        .ok_or_else(|| Status::invalid_argument("Update request is not set on request."))?;
    let name = update
        .input
        .as_ref()
        .map_or("", |input| input.name.as_str());
    validate::required(name, "Update name")?;
    let meta = update.meta.get_or_insert_with(Default::default);
    if meta.update_id.is_empty() {
        meta.update_id = uuid::Uuid::new_v4().to_string();
    }
    validate::required(&meta.update_id, "UpdateId")?;
    let update_id = meta.update_id.clone();
    let wanted = update_stage(r.wait_policy.as_ref())?;
    if !r.first_execution_run_id.is_empty() {
        let current = frontend
            .history
            .describe(run.clone())
            .await
            .map_err(status)?;
        if current.first_run_id != r.first_execution_run_id {
            return Err(status(cairn_history::HistoryError::Engine(
                cairn_engine::EngineError::NotFound("workflow execution not found".into()),
            )));
        }
    }
    // Subscribed before admitting, so no change after admission goes unseen.
    let mut changes = frontend.history.subscribe();
    let (run, _admission) = frontend.history.update(run, update).await.map_err(status)?;
    let (stage, outcome) =
        wait_for_stage(frontend, &run, &update_id, wanted, wait, &mut changes).await?;
    Ok(Response::new(ws::UpdateWorkflowExecutionResponse {
        update_ref: Some(update_ref(&run, &update_id)),
        outcome,
        stage: stage as i32,
        ..Default::default()
    }))
}

pub(crate) async fn poll_workflow_execution_update(
    frontend: &Frontend,
    request: Request<ws::PollWorkflowExecutionUpdateRequest>,
) -> Reply<ws::PollWorkflowExecutionUpdateResponse> {
    let wait = StageWait::of(&request);
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let reference = r
        .update_ref
        .ok_or_else(|| Status::invalid_argument("UpdateRef is not set on request."))?;
    let run = frontend.run(&namespace, reference.workflow_execution.as_ref())?;
    validate::required(&reference.update_id, "UpdateId")?;
    let wanted = polled_stage(r.wait_policy.as_ref());
    let mut changes = frontend.history.subscribe();
    let state = frontend
        .history
        .describe(run.clone())
        .await
        .map_err(status)?;
    let run = state.run.clone();
    if state.update(&reference.update_id).is_none()
        && frontend
            .history
            .update_endings()
            .ended(&run, &reference.update_id)
            .is_none()
    {
        return Err(update_not_found(&reference.update_id));
    }
    let (stage, outcome) = wait_for_stage(
        frontend,
        &run,
        &reference.update_id,
        wanted,
        wait,
        &mut changes,
    )
    .await?;
    Ok(Response::new(ws::PollWorkflowExecutionUpdateResponse {
        outcome,
        stage: stage as i32,
        update_ref: Some(update_ref(&run, &reference.update_id)),
    }))
}

/// The stage an update's caller waits for: completion unless it asks for acceptance.
/// Temporal cannot wait for mere admission.
fn update_stage(
    policy: Option<&cairn_engine::proto::update::WaitPolicy>,
) -> Result<UpdateStage, Status> {
    match policy.map_or(Stage::Unspecified, |p| p.lifecycle_stage()) {
        Stage::Completed | Stage::Unspecified => Ok(UpdateStage::Completed),
        Stage::Accepted => Ok(UpdateStage::Accepted),
        Stage::Admitted => Err(Status::permission_denied(
            "UpdateWorkflowExecution issued asynchronously and waiting on update admitted is not supported.",
        )),
    }
}

/// The stage a poll waits for: without one (or for admission) it answers at once.
fn polled_stage(policy: Option<&cairn_engine::proto::update::WaitPolicy>) -> UpdateStage {
    match policy.map_or(Stage::Unspecified, |p| p.lifecycle_stage()) {
        Stage::Completed => UpdateStage::Completed,
        Stage::Accepted => UpdateStage::Accepted,
        Stage::Admitted | Stage::Unspecified => UpdateStage::Admitted,
    }
}

/// Temporal's history service answers a wait for an update's stage after this long
/// (`history.longPollExpirationInterval`), with the stage the update reached.
const UPDATE_POLL: std::time::Duration = std::time::Duration::from_secs(20);
/// A caller whose own deadline ends the wait is answered this much before it.
const UPDATE_DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(50);

/// How long a wait for an update's stage may last.
#[derive(Debug, Clone, Copy)]
struct StageWait {
    until: tokio::time::Instant,
    /// The caller's deadline comes before the server's interval: reaching it is an error
    /// (DeadlineExceeded), as from Temporal, not an answer that invites the caller to poll
    /// again at once.
    client_bound: bool,
}

impl StageWait {
    fn of<T>(request: &Request<T>) -> Self {
        let now = tokio::time::Instant::now();
        match client_timeout(request) {
            Some(timeout) if timeout < UPDATE_POLL => Self {
                until: now + timeout.saturating_sub(UPDATE_DEADLINE_MARGIN),
                client_bound: true,
            },
            _ => Self {
                until: now + UPDATE_POLL,
                client_bound: false,
            },
        }
    }
}

/// Waits until the update reaches `wanted` (or completes, or is rejected), or until the
/// deadline; answers the stage it reached and, once completed, its outcome.
async fn wait_for_stage(
    frontend: &Frontend,
    run: &RunKey,
    update_id: &str,
    wanted: UpdateStage,
    wait: StageWait,
    changes: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<Vec<cairn_engine::WorkflowKey>>>,
) -> Result<(Stage, Option<Outcome>), Status> {
    let workflow = run.workflow();
    loop {
        if frontend.history.owned_elsewhere(&workflow) {
            // The partition moved while the caller waited: its router finds the new owner.
            return Err(error::not_owner("the workflow's history partition"));
        }
        if let Some(ended) = frontend.history.update_endings().ended(run, update_id) {
            return match ended {
                UpdateEnding::Failed(failure) => Ok((
                    Stage::Completed,
                    Some(Outcome {
                        value: Some(Value::Failure(*failure)),
                    }),
                )),
                UpdateEnding::Aborted { continuing: true } => Err(error::workflow_closing()),
                UpdateEnding::Aborted { continuing: false } => Err(with_detail(
                    tonic::Code::NotFound,
                    "workflow update was aborted by closing workflow".into(),
                    "NotFoundFailure",
                    Vec::new(),
                )),
            };
        }
        let state = frontend
            .history
            .describe(run.clone())
            .await
            .map_err(status)?;
        let stage = match state.update(update_id) {
            Some(update) if update.stage == UpdateStage::Completed => {
                let events = frontend
                    .history
                    .events(
                        run,
                        update.completed_event_id,
                        update.completed_event_id + 1,
                    )
                    .await
                    .map_err(status)?;
                let outcome = events.first().and_then(outcome_of);
                return Ok((Stage::Completed, outcome));
            }
            Some(update) if update.stage >= wanted => return Ok((stage_of(update.stage), None)),
            Some(update) => stage_of(update.stage),
            // Ended without an event: the endings above tell how, once they are recorded.
            None if !state.is_open() => {
                return Err(status(cairn_history::HistoryError::Engine(
                    cairn_engine::EngineError::workflow_completed(),
                )));
            }
            None => Stage::Admitted,
        };
        if !wait_for_change(changes, &workflow, wait.until).await {
            if wait.client_bound {
                return Err(Status::deadline_exceeded("context deadline exceeded"));
            }
            return Ok((stage, None));
        }
    }
}

fn stage_of(stage: UpdateStage) -> Stage {
    match stage {
        UpdateStage::Admitted => Stage::Admitted,
        UpdateStage::Accepted => Stage::Accepted,
        UpdateStage::Completed => Stage::Completed,
    }
}

fn update_ref(run: &RunKey, update_id: &str) -> UpdateRef {
    UpdateRef {
        workflow_execution: Some(WorkflowExecution {
            workflow_id: run.workflow_id.clone(),
            run_id: run.run_id.clone(),
        }),
        update_id: update_id.to_string(),
    }
}

fn update_not_found(update_id: &str) -> Status {
    status(cairn_history::HistoryError::Engine(
        cairn_engine::EngineError::NotFound(format!("update {update_id} not found")),
    ))
}

/// Update-with-start: a start and an update of the workflow it starts (or finds), in one
/// durable record; then the wait for the update's stage.
pub(crate) async fn execute_multi_operation(
    frontend: &Frontend,
    request: Request<ws::ExecuteMultiOperationRequest>,
) -> Reply<ws::ExecuteMultiOperationResponse> {
    use ws::execute_multi_operation_request::operation::Operation as Op;
    use ws::execute_multi_operation_response::{Response as OpResponse, response::Response as R};

    let wait = StageWait::of(&request);
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let (mut start, update) = match r
        .operations
        .into_iter()
        .map(|operation| operation.operation)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [
            Some(Op::StartWorkflow(start)),
            Some(Op::UpdateWorkflow(update)),
        ] => (start.clone(), update.clone()),
        _ => {
            return Err(Status::invalid_argument(
                "Operations have to be exactly [Start, Update].",
            ));
        }
    };
    let start_error = crate::workflows::validate_start(&start)
        .and_then(|()| {
            crate::search_attributes::validate(&namespace, start.search_attributes.as_ref())
        })
        .err();
    let update_error = validate_with_start(&start, &update).err();
    if start_error.is_some() || update_error.is_some() {
        return Err(crate::error::multi_operation_failure(vec![
            start_error,
            update_error,
        ]));
    }
    if start.request_id.is_empty() {
        start.request_id = uuid::Uuid::new_v4().to_string();
    }
    let wanted = update_stage(update.wait_policy.as_ref())?;
    let mut request = update.request.unwrap_or_default();
    let meta = request.meta.get_or_insert_with(Default::default);
    if meta.update_id.is_empty() {
        meta.update_id = uuid::Uuid::new_v4().to_string();
    }
    let update_id = meta.update_id.clone();
    let workflow_id = start.workflow_id.clone();
    let mut changes = frontend.history.subscribe();
    let started = frontend
        .history
        .update_with_start(
            namespace.id.clone(),
            namespace.name.clone(),
            start,
            crate::workflows::new_run_id(),
            request,
        )
        .await
        .map_err(|error| match error {
            cairn_history::HistoryError::Engine(
                engine @ cairn_engine::EngineError::AlreadyStarted { .. },
            ) => crate::error::multi_operation_failure(vec![
                Some(crate::error::already_started(&workflow_id, engine)),
                None,
            ]),
            other => crate::error::multi_operation_failure(vec![None, Some(status(other))]),
        })?;
    let run = RunKey {
        namespace_id: namespace.id.clone(),
        workflow_id,
        run_id: started.run_id.clone(),
    };
    let (stage, outcome) =
        wait_for_stage(frontend, &run, &update_id, wanted, wait, &mut changes).await?;
    Ok(Response::new(ws::ExecuteMultiOperationResponse {
        responses: vec![
            OpResponse {
                response: Some(R::StartWorkflow(ws::StartWorkflowExecutionResponse {
                    run_id: started.run_id,
                    started: started.started,
                    ..Default::default()
                })),
            },
            OpResponse {
                response: Some(R::UpdateWorkflow(ws::UpdateWorkflowExecutionResponse {
                    update_ref: Some(update_ref(&run, &update_id)),
                    outcome,
                    stage: stage as i32,
                    ..Default::default()
                })),
            },
        ],
    }))
}

/// The update half of an update-with-start, as Temporal checks it against its start.
fn validate_with_start(
    start: &ws::StartWorkflowExecutionRequest,
    update: &ws::UpdateWorkflowExecutionRequest,
) -> Result<(), Status> {
    let execution = update
        .workflow_execution
        .as_ref()
        .ok_or_else(|| Status::invalid_argument("Execution is not set on request."))?;
    if execution.workflow_id != start.workflow_id {
        return Err(Status::invalid_argument(
            "WorkflowId is not consistent with previous operation(s).",
        ));
    }
    if !execution.run_id.is_empty() {
        return Err(Status::invalid_argument(
            "RunId is not allowed in Update-with-Start.",
        ));
    }
    if !start.cron_schedule.is_empty() {
        return Err(Status::invalid_argument(
            "CronSchedule is not allowed in Update-with-Start.",
        ));
    }
    let name = update
        .request
        .as_ref()
        .and_then(|r| r.input.as_ref())
        .map_or("", |input| input.name.as_str());
    validate::required(name, "Update name")?;
    update_stage(update.wait_policy.as_ref()).map(|_| ())
}
