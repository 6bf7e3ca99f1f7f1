//! Starting a run: the ID-reuse and ID-conflict policies against the workflow's current run,
//! and the first events of a new run.

use prost::Message;

use crate::{
    Changes, EngineError, ExecutionStatus, RunKey,
    events::{Tx, task_queue},
    proto::{
        common::WorkflowType,
        enums::{WorkflowIdConflictPolicy as Conflict, WorkflowIdReusePolicy as Reuse},
        history,
        workflowservice::StartWorkflowExecutionRequest,
    },
    state::MutableState,
    time::{self, Nanos},
};

/// Temporal's default and maximum workflow task timeouts.
pub const DEFAULT_WORKFLOW_TASK_TIMEOUT: Nanos = 10 * time::NANOS_PER_SEC;
pub const MAX_WORKFLOW_TASK_TIMEOUT: Nanos = 120 * time::NANOS_PER_SEC;

/// What a start request does given the workflow's current run.
#[derive(Debug, Clone, PartialEq)]
pub enum StartDecision {
    /// Create a new run.
    New,
    /// Answer with an existing run: the same request retried, or `USE_EXISTING`.
    Existing { run_id: String, started: bool },
    /// Terminate the running run, then create a new one.
    TerminateThenNew,
}

/// Applies the request's ID policies to the current run of its workflow ID, if any.
pub fn decide_start(
    current: Option<&MutableState>,
    request_id: &str,
    reuse: Reuse,
    conflict: Conflict,
) -> Result<StartDecision, EngineError> {
    let Some(current) = current else {
        return Ok(StartDecision::New);
    };
    if !request_id.is_empty() && current.start_request_id == request_id {
        return Ok(StartDecision::Existing {
            run_id: current.run.run_id.clone(),
            started: true,
        });
    }
    let already_started = || EngineError::AlreadyStarted {
        start_request_id: current.start_request_id.clone(),
        run_id: current.run.run_id.clone(),
    };
    if current.is_open() {
        return match conflict {
            Conflict::UseExisting => Ok(StartDecision::Existing {
                run_id: current.run.run_id.clone(),
                started: false,
            }),
            Conflict::TerminateExisting => Ok(StartDecision::TerminateThenNew),
            #[allow(deprecated)] // still sent by older clients
            Conflict::Fail | Conflict::Unspecified if reuse == Reuse::TerminateIfRunning => {
                Ok(StartDecision::TerminateThenNew)
            }
            Conflict::Fail | Conflict::Unspecified => Err(already_started()),
        };
    }
    match reuse {
        Reuse::RejectDuplicate => Err(already_started()),
        Reuse::AllowDuplicateFailedOnly
            if matches!(
                current.status,
                ExecutionStatus::Completed | ExecutionStatus::ContinuedAsNew
            ) =>
        {
            Err(already_started())
        }
        _ => Ok(StartDecision::New),
    }
}

/// Creates a new run and writes its first events: `WorkflowExecutionStarted` and the first
/// workflow task.
pub fn start(
    run: RunKey,
    namespace: &str,
    request: &StartWorkflowExecutionRequest,
    now: Nanos,
) -> (MutableState, Changes) {
    let execution_timeout = time::from_duration(request.workflow_execution_timeout.as_ref());
    let mut run_timeout = time::from_duration(request.workflow_run_timeout.as_ref());
    if run_timeout <= 0 || (execution_timeout > 0 && run_timeout > execution_timeout) {
        run_timeout = execution_timeout;
    }
    let mut task_timeout = time::from_duration(request.workflow_task_timeout.as_ref());
    if task_timeout <= 0 {
        task_timeout = DEFAULT_WORKFLOW_TASK_TIMEOUT;
    }
    task_timeout = task_timeout.min(MAX_WORKFLOW_TASK_TIMEOUT);
    if run_timeout > 0 {
        task_timeout = task_timeout.min(run_timeout);
    }
    let task_queue_name = request
        .task_queue
        .as_ref()
        .map(|q| q.name.clone())
        .unwrap_or_default();
    let mut state = MutableState {
        run: run.clone(),
        namespace: namespace.to_string(),
        workflow_type: request
            .workflow_type
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        task_queue: task_queue_name.clone(),
        status: ExecutionStatus::Running,
        start_time: now,
        execution_time: now,
        close_time: None,
        start_request_id: request.request_id.clone(),
        first_run_id: run.run_id.clone(),
        identity: request.identity.clone(),
        execution_timeout,
        run_timeout,
        workflow_task_timeout: task_timeout,
        sticky_task_queue: String::new(),
        sticky_schedule_to_start_timeout: 0,
        execution_expiration: (execution_timeout > 0).then(|| now + execution_timeout),
        run_expiration: (run_timeout > 0).then(|| now + run_timeout),
        next_event_id: 1,
        last_completed_started_event_id: 0,
        workflow_task: None,
        activities: Vec::new(),
        timers: Vec::new(),
        buffered_events: Vec::new(),
        cancel_requested: false,
        signal_request_ids: Vec::new(),
        signal_count: 0,
        memo: request
            .memo
            .as_ref()
            .map(Message::encode_to_vec)
            .unwrap_or_default(),
        search_attributes: request
            .search_attributes
            .as_ref()
            .map(Message::encode_to_vec)
            .unwrap_or_default(),
        completion_event_id: 0,
        history_size_bytes: 0,
    };
    let mut tx = Tx::new(&mut state, now);
    tx.append(history::WorkflowExecutionStartedEventAttributes {
        workflow_type: Some(WorkflowType {
            name: tx.state.workflow_type.clone(),
        }),
        task_queue: Some(task_queue(&task_queue_name)),
        input: request.input.clone(),
        workflow_execution_timeout: Some(time::duration(execution_timeout)),
        workflow_run_timeout: Some(time::duration(run_timeout)),
        workflow_task_timeout: Some(time::duration(task_timeout)),
        original_execution_run_id: run.run_id.clone(),
        identity: request.identity.clone(),
        first_execution_run_id: run.run_id.clone(),
        attempt: 1,
        workflow_execution_expiration_time: tx.state.execution_expiration.map(time::timestamp),
        memo: request.memo.clone(),
        search_attributes: request.search_attributes.clone(),
        header: request.header.clone(),
        workflow_id: run.workflow_id,
        priority: request.priority.clone(),
        ..Default::default()
    });
    tx.schedule_workflow_task(1);
    let changes = tx.finish();
    (state, changes)
}
