//! Starting a run: the ID-reuse and ID-conflict policies against the workflow's current run,
//! and the first events of a new run.

use prost::Message;

use crate::{
    Changes, EngineError, ExecutionStatus, RunKey, cron,
    events::{Tx, task_queue},
    proto::{
        common::{
            Header, Memo, Payloads, Priority, SearchAttributes, WorkflowExecution, WorkflowType,
        },
        enums::{
            ContinueAsNewInitiator as Initiator, WorkflowIdConflictPolicy as Conflict,
            WorkflowIdReusePolicy as Reuse,
        },
        failure::Failure,
        history,
        workflowservice::StartWorkflowExecutionRequest,
    },
    retry::RetryPolicy,
    signal::Signal,
    state::{MutableState, ParentInfo, ResetPoint},
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

/// Everything that defines a new run: from a client's start request, or from the run it
/// continues (continue-as-new, a retry, the next cron run).
#[derive(Debug, Clone, PartialEq)]
pub struct RunStart {
    pub run: RunKey,
    pub namespace: String,
    pub workflow_type: String,
    pub task_queue: String,
    pub input: Option<Payloads>,
    pub header: Option<Header>,
    pub memo: Option<Memo>,
    pub search_attributes: Option<SearchAttributes>,
    pub priority: Option<Priority>,
    /// The whole execution's timeout and expiry (shared by every run of the chain).
    pub execution_timeout: Nanos,
    pub execution_expiration: Option<Nanos>,
    pub run_timeout: Nanos,
    pub task_timeout: Nanos,
    pub request_id: String,
    pub identity: String,
    pub first_run_id: String,
    pub attempt: i32,
    pub retry_policy: Option<RetryPolicy>,
    pub cron_schedule: String,
    /// How long the first workflow task waits.
    pub backoff: Nanos,
    pub initiator: Initiator,
    pub continued_run_id: String,
    pub continued_failure: Option<Failure>,
    pub last_completion_result: Option<Payloads>,
    /// The parent, when the run is a child workflow's.
    pub parent: Option<ParentInfo>,
    /// The schedule that started the workflow, if one did.
    pub scheduled_by: Option<RunKey>,
    /// The schedule the run holds, for a schedule's run: it never has a workflow task.
    pub schedule: Option<crate::schedule::ScheduleState>,
    /// The reset points of the runs this one continues.
    pub reset_points: Vec<ResetPoint>,
    /// The summary and details the starter gave the workflow, kept on its started event.
    pub user_metadata: Option<crate::proto::sdk::UserMetadata>,
    /// The top of the chain of parents, for a child workflow's run.
    pub root: Option<RunKey>,
}

impl RunStart {
    /// The first run of a workflow, as a client's request asks for it. The request was
    /// validated (its cron schedule parses).
    pub fn from_request(
        run: RunKey,
        namespace: &str,
        request: &StartWorkflowExecutionRequest,
        now: Nanos,
    ) -> Self {
        let execution_timeout = time::from_duration(request.workflow_execution_timeout.as_ref());
        let (run_timeout, task_timeout) = timeouts(
            execution_timeout,
            time::from_duration(request.workflow_run_timeout.as_ref()),
            time::from_duration(request.workflow_task_timeout.as_ref()),
        );
        let backoff = match first_cron_backoff(&request.cron_schedule, now) {
            Some(backoff) => backoff,
            None => time::from_duration(request.workflow_start_delay.as_ref()),
        };
        Self {
            first_run_id: run.run_id.clone(),
            run,
            namespace: namespace.to_string(),
            workflow_type: request
                .workflow_type
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            task_queue: request
                .task_queue
                .as_ref()
                .map(|q| q.name.clone())
                .unwrap_or_default(),
            input: request.input.clone(),
            header: request.header.clone(),
            memo: request.memo.clone(),
            search_attributes: request.search_attributes.clone(),
            priority: request.priority.clone(),
            execution_timeout,
            execution_expiration: (execution_timeout > 0).then(|| now + execution_timeout),
            run_timeout,
            task_timeout,
            request_id: request.request_id.clone(),
            identity: request.identity.clone(),
            attempt: 1,
            retry_policy: request
                .retry_policy
                .as_ref()
                .map(|policy| RetryPolicy::for_activity(Some(policy))),
            cron_schedule: request.cron_schedule.clone(),
            backoff,
            initiator: if request.cron_schedule.is_empty() {
                Initiator::Unspecified
            } else {
                Initiator::CronSchedule
            },
            continued_run_id: String::new(),
            continued_failure: request.continued_failure.clone(),
            last_completion_result: request.last_completion_result.clone(),
            parent: None,
            scheduled_by: None,
            schedule: None,
            reset_points: Vec::new(),
            user_metadata: request.user_metadata.clone(),
            root: None,
        }
    }
}

/// How long the first run of a cron workflow started at `now` waits for its schedule; `None`
/// without a (valid) schedule.
fn first_cron_backoff(cron_schedule: &str, now: Nanos) -> Option<Nanos> {
    if cron_schedule.is_empty() {
        return None;
    }
    cron::Schedule::parse(cron_schedule).ok()?.backoff(now, now)
}

/// A run's effective timeouts: the run timeout is at most the execution timeout (and is
/// the execution timeout when unset); the workflow-task timeout defaults to 10 s and is at
/// most 120 s and the run timeout.
pub fn timeouts(execution: Nanos, run: Nanos, task: Nanos) -> (Nanos, Nanos) {
    let mut run = run;
    if run <= 0 || (execution > 0 && run > execution) {
        run = execution;
    }
    let mut task = if task <= 0 {
        DEFAULT_WORKFLOW_TASK_TIMEOUT
    } else {
        task
    };
    task = task.min(MAX_WORKFLOW_TASK_TIMEOUT);
    if run > 0 {
        task = task.min(run);
    }
    (run, task)
}

/// Creates a new run from a client's start request and writes its first events.
pub fn start(
    run: RunKey,
    namespace: &str,
    request: &StartWorkflowExecutionRequest,
    now: Nanos,
) -> (MutableState, Changes) {
    begin(RunStart::from_request(run, namespace, request, now), now)
}

/// Signal-with-start creating a run: the signal is written right after the started event and
/// before the first workflow task, as Temporal writes it.
pub fn start_with_signal(
    run: RunKey,
    namespace: &str,
    request: &StartWorkflowExecutionRequest,
    signal: Signal,
    now: Nanos,
) -> Result<(MutableState, Changes), EngineError> {
    let start = RunStart::from_request(run, namespace, request, now);
    begin_with(start, now, |tx| tx.signal(signal))
}

/// Creates a new run and writes its first events: `WorkflowExecutionStarted` and, unless it
/// waits out a backoff first, the first workflow task.
pub fn begin(start: RunStart, now: Nanos) -> (MutableState, Changes) {
    begin_with(start, now, |_| Ok(())).expect("nothing between the start and its task fails")
}

/// Like [`begin`], with `first` applied between the started event and the first workflow
/// task.
fn begin_with(
    start: RunStart,
    now: Nanos,
    first: impl FnOnce(&mut Tx<'_>) -> Result<(), EngineError>,
) -> Result<(MutableState, Changes), EngineError> {
    let execution_time = now + start.backoff;
    // Retries and cron runs start again from the same input, so those keep it.
    let keeps_input = start.retry_policy.is_some() || !start.cron_schedule.is_empty();
    let mut state = MutableState {
        run: start.run.clone(),
        namespace: start.namespace.clone(),
        workflow_type: start.workflow_type.clone(),
        task_queue: start.task_queue.clone(),
        status: ExecutionStatus::Running,
        start_time: now,
        execution_time,
        close_time: None,
        start_request_id: start.request_id.clone(),
        first_run_id: start.first_run_id.clone(),
        identity: start.identity.clone(),
        execution_timeout: start.execution_timeout,
        run_timeout: start.run_timeout,
        workflow_task_timeout: start.task_timeout,
        sticky_task_queue: String::new(),
        sticky_schedule_to_start_timeout: 0,
        execution_expiration: start.execution_expiration,
        run_expiration: (start.run_timeout > 0).then(|| execution_time + start.run_timeout),
        next_event_id: 1,
        last_completed_started_event_id: 0,
        workflow_task: None,
        activities: Vec::new(),
        timers: Vec::new(),
        buffered_events: Vec::new(),
        cancel_requested: false,
        signal_request_ids: Vec::new(),
        signal_count: 0,
        memo: encoded(start.memo.as_ref()),
        search_attributes: encoded(start.search_attributes.as_ref()),
        completion_event_id: 0,
        history_size_bytes: 0,
        attempt: start.attempt,
        retry_policy: start.retry_policy.clone(),
        cron_schedule: start.cron_schedule.clone(),
        first_workflow_task_due: (start.backoff > 0).then_some(execution_time),
        start_input: if keeps_input {
            encoded(start.input.as_ref())
        } else {
            Vec::new()
        },
        start_header: if keeps_input {
            encoded(start.header.as_ref())
        } else {
            Vec::new()
        },
        children: Vec::new(),
        external_requests: Vec::new(),
        parent: start.parent.clone(),
        notify_parent: false,
        updates: Vec::new(),
        update_count: 0,
        schedule: start.schedule.clone(),
        scheduled_by: start.scheduled_by.clone(),
        reset_points: start.reset_points.clone(),
        root: start.root.clone(),
    };
    let parent = start.parent.as_ref();
    let mut tx = Tx::new(&mut state, now);
    tx.user_metadata = start.user_metadata.clone();
    tx.append(history::WorkflowExecutionStartedEventAttributes {
        workflow_type: Some(WorkflowType {
            name: start.workflow_type,
        }),
        task_queue: Some(task_queue(&start.task_queue)),
        input: start.input,
        // Unlimited timeouts are left out, as Temporal leaves them (the SDKs read an absent
        // timeout as none, a zero one as zero).
        workflow_execution_timeout: (start.execution_timeout > 0)
            .then(|| time::duration(start.execution_timeout)),
        workflow_run_timeout: (start.run_timeout > 0).then(|| time::duration(start.run_timeout)),
        workflow_task_timeout: Some(time::duration(start.task_timeout)),
        continued_execution_run_id: start.continued_run_id,
        initiator: start.initiator as i32,
        continued_failure: start.continued_failure,
        last_completion_result: start.last_completion_result,
        original_execution_run_id: start.run.run_id.clone(),
        identity: start.identity,
        first_execution_run_id: start.first_run_id,
        retry_policy: start.retry_policy.as_ref().map(RetryPolicy::to_proto),
        attempt: start.attempt,
        workflow_execution_expiration_time: start.execution_expiration.map(time::timestamp),
        cron_schedule: start.cron_schedule,
        first_workflow_task_backoff: Some(time::duration(start.backoff)),
        memo: start.memo,
        search_attributes: start.search_attributes,
        header: start.header,
        workflow_id: start.run.workflow_id,
        priority: start.priority,
        parent_workflow_namespace: parent.map(|p| p.namespace.clone()).unwrap_or_default(),
        parent_workflow_namespace_id: parent
            .map(|p| p.run.namespace_id.clone())
            .unwrap_or_default(),
        parent_workflow_execution: parent.map(|p| WorkflowExecution {
            workflow_id: p.run.workflow_id.clone(),
            run_id: p.run.run_id.clone(),
        }),
        parent_initiated_event_id: parent.map_or(0, |p| p.initiated_event_id),
        root_workflow_execution: start.root.as_ref().map(|root| WorkflowExecution {
            workflow_id: root.workflow_id.clone(),
            run_id: root.run_id.clone(),
        }),
        ..Default::default()
    });
    first(&mut tx)?;
    // A schedule's run never has a workflow task; a run with a backoff has its first one
    // when the backoff ends.
    if start.schedule.is_none() {
        tx.schedule_workflow_task_if_none();
    }
    let changes = tx.finish();
    Ok((state, changes))
}

/// An optional message as the state keeps it: encoded, or empty when absent.
fn encoded<M: Message>(message: Option<&M>) -> Vec<u8> {
    message.map(Message::encode_to_vec).unwrap_or_default()
}

/// What a start request does beside starting, to the run that answers it, in the same
/// record.
#[derive(Debug, Clone)]
pub enum WithStart {
    /// Signal-with-start: the signal goes to the run that answers.
    Signal(Signal),
    /// Update-with-start: the update is admitted to the run that answers.
    Update(crate::proto::update::Request),
}

/// A start request as the engine takes it: the request, its namespace, the run ID a new run
/// gets, and what else to do to the run that answers.
#[derive(Debug, Clone)]
pub struct StartWorkflow {
    pub namespace_id: String,
    pub namespace: String,
    pub request: StartWorkflowExecutionRequest,
    pub run_id: String,
    pub with: Option<WithStart>,
}

/// The result of a start: the run that answers it and whether this request created it.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub run_id: String,
    pub started: bool,
}

impl StartWorkflow {
    pub fn workflow(&self) -> crate::WorkflowKey {
        crate::WorkflowKey {
            namespace_id: self.namespace_id.clone(),
            workflow_id: self.request.workflow_id.clone(),
        }
    }
}

/// Starts a workflow as Temporal does, against its current run in `store`: the ID reuse
/// and conflict policies (terminating the current run first when they say so), then
/// whatever the request does beside starting. Returns the answer and, when this request
/// created the run, its key.
pub fn start_workflow<S: crate::store::RunStore>(
    store: &mut S,
    start: StartWorkflow,
) -> Result<(Started, Option<RunKey>), S::Error> {
    let workflow = start.workflow();
    let StartWorkflow {
        namespace_id,
        namespace,
        request,
        run_id,
        with,
    } = start;
    let current = store.current_state(&workflow)?;
    if let (Some(WithStart::Update(update)), Some(current)) = (&with, &current)
        && let Some(existing) = current.update(&crate::update::update_id(update))
        && (existing.stage == crate::update::UpdateStage::Completed || current.is_open())
    {
        // An update-with-start whose update the current run already has (completed, or on a
        // running workflow) attaches to it, whatever the ID policies would say of the start.
        let started = Started {
            run_id: current.run.run_id.clone(),
            started: false,
        };
        return Ok((started, None));
    }
    let conflict = if matches!(with, Some(WithStart::Signal(_)))
        && request.workflow_id_conflict_policy == Conflict::Unspecified as i32
    {
        // Signal-with-start signals a running workflow instead of failing.
        Conflict::UseExisting
    } else {
        request.workflow_id_conflict_policy()
    };
    let decision = decide_start(
        current.as_ref(),
        &request.request_id,
        request.workflow_id_reuse_policy(),
        conflict,
    )?;
    let run_id = match decision {
        StartDecision::Existing { run_id, started } => {
            if let Some(with) = with {
                let run = RunKey {
                    namespace_id,
                    workflow_id: workflow.workflow_id,
                    run_id: run_id.clone(),
                };
                apply_with_start(store, &run, with)?;
            }
            return Ok((Started { run_id, started }, None));
        }
        StartDecision::TerminateThenNew => {
            if let Some(current) = &current {
                store.update(&current.run, |tx| {
                    tx.terminate(
                        "TerminateExisting WorkflowIdConflictPolicy",
                        None,
                        &request.identity,
                    )
                })?;
            }
            run_id
        }
        StartDecision::New => run_id,
    };
    let run = RunKey {
        namespace_id,
        workflow_id: workflow.workflow_id,
        run_id: run_id.clone(),
    };
    let now = store.now();
    match with {
        // Temporal writes a signal right after the started event, before the first workflow
        // task is scheduled.
        Some(WithStart::Signal(signal)) => {
            let (state, changes) =
                start_with_signal(run.clone(), &namespace, &request, signal, now)?;
            store.stage(state, changes);
        }
        with => {
            let (state, changes) = self::start(run.clone(), &namespace, &request, now);
            store.stage(state, changes);
            // An update rides on the first workflow task.
            if let Some(with) = with {
                apply_with_start(store, &run, with)?;
            }
        }
    }
    Ok((
        Started {
            run_id,
            started: true,
        },
        Some(run),
    ))
}

fn apply_with_start<S: crate::store::RunStore>(
    store: &mut S,
    run: &RunKey,
    with: WithStart,
) -> Result<(), S::Error> {
    match with {
        WithStart::Signal(signal) => store.update(run, |tx| tx.signal(signal)),
        WithStart::Update(request) => store.update(run, |tx| tx.admit_update(&request).map(drop)),
    }
}
