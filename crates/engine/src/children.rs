//! Child workflows: the parent's side (initiating, recording the start or its failure, and
//! the close) and the child's first run.

// The SDKs still send and read fields Temporal marks deprecated (`namespace`, `control`,
// `inherit_build_id`).
#![allow(deprecated)]

use prost::Message;

use crate::{
    BUFFERED_EVENT_ID, RunKey,
    commands::Rejection,
    events::Tx,
    proto::{
        Attributes, HistoryEvent,
        command::StartChildWorkflowExecutionCommandAttributes,
        common::{WorkflowExecution, WorkflowType},
        enums::{
            ParentClosePolicy, StartChildWorkflowExecutionFailedCause,
            WorkflowTaskFailedCause as Cause,
        },
        history,
        workflowservice::StartWorkflowExecutionRequest,
    },
    start::RunStart,
    state::{ChildInfo, MutableState, ParentInfo},
    time::Nanos,
};

/// The workflow ID an encoded start-child command names.
pub fn child_workflow_id(command: &[u8]) -> String {
    StartChildWorkflowExecutionCommandAttributes::decode(command)
        .map(|a| a.workflow_id)
        .unwrap_or_default()
}

/// The run ID of the child a parent's initiated event starts at `now`.
pub fn child_run_id(parent: &RunKey, initiated_event_id: i64, now: Nanos) -> String {
    let name = format!(
        "{}/{}/{}/child/{initiated_event_id}",
        parent.namespace_id, parent.workflow_id, parent.run_id
    );
    crate::ids::derived_run_id(&name, now)
}

/// Checks a start-child command as Temporal does.
pub(crate) fn validate_start(
    state: &MutableState,
    a: &StartChildWorkflowExecutionCommandAttributes,
) -> Result<(), Rejection> {
    let bad = |detail: &str| Rejection::new(Cause::BadStartChildExecutionAttributes, detail);
    if a.workflow_id.is_empty() {
        return Err(bad("Required field WorkflowId is not set."));
    }
    if a.workflow_type.as_ref().is_none_or(|t| t.name.is_empty()) {
        return Err(bad("Required field WorkflowType is not set."));
    }
    if !a.namespace.is_empty() && a.namespace != state.namespace {
        return Err(bad(
            "Starting a child in another namespace is not supported by this server.",
        ));
    }
    for timeout in [
        &a.workflow_execution_timeout,
        &a.workflow_run_timeout,
        &a.workflow_task_timeout,
    ] {
        if timeout
            .as_ref()
            .is_some_and(|d| d.seconds < 0 || d.nanos < 0)
        {
            return Err(bad(
                "Invalid timeout on StartChildWorkflowExecutionCommand.",
            ));
        }
    }
    if !a.cron_schedule.is_empty() && crate::cron::validate(&a.cron_schedule).is_err() {
        return Err(bad("invalid CronSchedule."));
    }
    Ok(())
}

impl Tx<'_> {
    /// The workflow asked to start a child.
    pub(crate) fn initiate_child(
        &mut self,
        a: &StartChildWorkflowExecutionCommandAttributes,
        completed_id: i64,
    ) {
        let task_queue = match a.task_queue.as_ref().filter(|q| !q.name.is_empty()) {
            Some(queue) => queue.clone(),
            None => crate::events::task_queue(&self.state.task_queue),
        };
        let mut command = a.clone();
        command.namespace = self.state.namespace.clone();
        command.task_queue = Some(task_queue.clone());
        let initiated_event_id = self.append(
            history::StartChildWorkflowExecutionInitiatedEventAttributes {
                namespace: self.state.namespace.clone(),
                namespace_id: self.state.run.namespace_id.clone(),
                workflow_id: a.workflow_id.clone(),
                workflow_type: a.workflow_type.clone(),
                task_queue: Some(task_queue),
                input: a.input.clone(),
                workflow_execution_timeout: a.workflow_execution_timeout,
                workflow_run_timeout: a.workflow_run_timeout,
                workflow_task_timeout: a.workflow_task_timeout,
                parent_close_policy: a.parent_close_policy,
                control: a.control.clone(),
                workflow_task_completed_event_id: completed_id,
                workflow_id_reuse_policy: a.workflow_id_reuse_policy,
                retry_policy: a.retry_policy.clone(),
                cron_schedule: a.cron_schedule.clone(),
                header: a.header.clone(),
                memo: a.memo.clone(),
                search_attributes: a.search_attributes.clone(),
                inherit_build_id: a.inherit_build_id,
                priority: a.priority.clone(),
                ..Default::default()
            },
        );
        self.state.children.push(ChildInfo {
            initiated_event_id,
            started_event_id: 0,
            started: false,
            workflow_id: a.workflow_id.clone(),
            run_id: String::new(),
            workflow_type: a
                .workflow_type
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            parent_close_policy: a.parent_close_policy,
            workflow_task_completed_event_id: completed_id,
            command: command.encode_to_vec(),
        });
    }

    /// The child started as `run_id`. A repeated report changes nothing.
    pub fn record_child_started(&mut self, initiated_event_id: i64, run_id: &str) {
        if !self.state.is_open() {
            return;
        }
        let Some(child) = self
            .state
            .children
            .iter_mut()
            .find(|c| c.initiated_event_id == initiated_event_id && !c.started)
        else {
            return;
        };
        child.started = true;
        child.run_id = run_id.to_string();
        child.command.clear();
        let attributes = history::ChildWorkflowExecutionStartedEventAttributes {
            namespace: self.state.namespace.clone(),
            namespace_id: self.state.run.namespace_id.clone(),
            initiated_event_id,
            workflow_execution: Some(WorkflowExecution {
                workflow_id: child.workflow_id.clone(),
                run_id: run_id.to_string(),
            }),
            workflow_type: Some(WorkflowType {
                name: child.workflow_type.clone(),
            }),
            header: None,
        };
        if self.state.has_started_workflow_task() {
            // Its ID is set when the buffer is written.
            self.append_for_workflow(attributes);
        } else {
            let id = self.append(attributes);
            self.set_child_started_event(initiated_event_id, id);
            self.schedule_workflow_task_if_none();
        }
    }

    /// The child could not start: its workflow ID is taken.
    pub fn fail_child_start(&mut self, initiated_event_id: i64) {
        if !self.state.is_open() {
            return;
        }
        let Some(index) = self
            .state
            .children
            .iter()
            .position(|c| c.initiated_event_id == initiated_event_id && !c.started)
        else {
            return;
        };
        let child = self.state.children.remove(index);
        let command =
            StartChildWorkflowExecutionCommandAttributes::decode(child.command.as_slice())
                .unwrap_or_default();
        self.append_for_workflow(history::StartChildWorkflowExecutionFailedEventAttributes {
            namespace: self.state.namespace.clone(),
            namespace_id: self.state.run.namespace_id.clone(),
            workflow_id: child.workflow_id,
            workflow_type: command.workflow_type,
            cause: StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists as i32,
            control: command.control,
            initiated_event_id,
            workflow_task_completed_event_id: child.workflow_task_completed_event_id,
        });
    }

    /// The child closed with `close_event` (its own close event). A repeated report, or one
    /// for a child this run no longer waits for, changes nothing.
    pub fn record_child_closed(&mut self, initiated_event_id: i64, close_event: &HistoryEvent) {
        if !self.state.is_open() {
            return;
        }
        let Some(index) = self
            .state
            .children
            .iter()
            .position(|c| c.initiated_event_id == initiated_event_id && c.started)
        else {
            return;
        };
        let child = self.state.children.remove(index);
        let namespace = self.state.namespace.clone();
        let namespace_id = self.state.run.namespace_id.clone();
        let workflow_execution = Some(WorkflowExecution {
            workflow_id: child.workflow_id.clone(),
            run_id: child.run_id.clone(),
        });
        let workflow_type = Some(WorkflowType {
            name: child.workflow_type.clone(),
        });
        // While its started event waits in the buffer, its ID is set when both are written.
        let started_event_id = match child.started_event_id {
            0 => BUFFERED_EVENT_ID,
            id => id,
        };
        let attributes: Attributes = match &close_event.attributes {
            Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
                history::ChildWorkflowExecutionCompletedEventAttributes {
                    result: a.result.clone(),
                    namespace,
                    namespace_id,
                    workflow_execution,
                    workflow_type,
                    initiated_event_id,
                    started_event_id,
                }
                .into()
            }
            Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => {
                history::ChildWorkflowExecutionFailedEventAttributes {
                    failure: a.failure.clone(),
                    namespace,
                    namespace_id,
                    workflow_execution,
                    workflow_type,
                    initiated_event_id,
                    started_event_id,
                    retry_state: a.retry_state,
                }
                .into()
            }
            Some(Attributes::WorkflowExecutionCanceledEventAttributes(a)) => {
                history::ChildWorkflowExecutionCanceledEventAttributes {
                    details: a.details.clone(),
                    namespace,
                    namespace_id,
                    workflow_execution,
                    workflow_type,
                    initiated_event_id,
                    started_event_id,
                }
                .into()
            }
            Some(Attributes::WorkflowExecutionTimedOutEventAttributes(a)) => {
                history::ChildWorkflowExecutionTimedOutEventAttributes {
                    namespace,
                    namespace_id,
                    workflow_execution,
                    workflow_type,
                    initiated_event_id,
                    started_event_id,
                    retry_state: a.retry_state,
                }
                .into()
            }
            _ => history::ChildWorkflowExecutionTerminatedEventAttributes {
                namespace,
                namespace_id,
                workflow_execution,
                workflow_type,
                initiated_event_id,
                started_event_id,
            }
            .into(),
        };
        self.append_for_workflow(attributes);
    }

    /// A closed parent applied its close policy to a child.
    pub fn forget_child(&mut self, initiated_event_id: i64) {
        self.state
            .children
            .retain(|c| c.initiated_event_id != initiated_event_id);
    }

    /// The parent recorded this closed run's end.
    pub fn parent_notified(&mut self) {
        self.state.notify_parent = false;
    }

    /// Keeps the children the parent close policy must still act on when the run closes.
    pub(crate) fn children_at_close(&mut self) {
        self.state.children.retain(|child| {
            child.started && child.parent_close_policy != ParentClosePolicy::Abandon as i32
        });
        self.state.external_requests.clear();
        self.state.notify_parent = self.state.parent.is_some() || self.state.scheduled_by.is_some();
    }

    pub(crate) fn set_child_started_event(&mut self, initiated_event_id: i64, event_id: i64) {
        if let Some(child) = self
            .state
            .children
            .iter_mut()
            .find(|c| c.initiated_event_id == initiated_event_id)
        {
            child.started_event_id = event_id;
        }
    }
}

/// The first run of a child, from its parent's command: the run a client's start with the
/// same settings would create, with its parent named.
pub fn child_run_start(
    parent: &RunKey,
    root: Option<&RunKey>,
    namespace: &str,
    initiated_event_id: i64,
    command: &StartChildWorkflowExecutionCommandAttributes,
    request_id: String,
    now: Nanos,
) -> RunStart {
    let request = StartWorkflowExecutionRequest {
        namespace: namespace.to_string(),
        workflow_id: command.workflow_id.clone(),
        workflow_type: command.workflow_type.clone(),
        task_queue: command.task_queue.clone(),
        input: command.input.clone(),
        workflow_execution_timeout: command.workflow_execution_timeout,
        workflow_run_timeout: command.workflow_run_timeout,
        workflow_task_timeout: command.workflow_task_timeout,
        request_id,
        retry_policy: command.retry_policy.clone(),
        cron_schedule: command.cron_schedule.clone(),
        memo: command.memo.clone(),
        search_attributes: command.search_attributes.clone(),
        header: command.header.clone(),
        priority: command.priority.clone(),
        ..Default::default()
    };
    let run = RunKey {
        namespace_id: parent.namespace_id.clone(),
        workflow_id: command.workflow_id.clone(),
        run_id: child_run_id(parent, initiated_event_id, now),
    };
    RunStart {
        parent: Some(ParentInfo {
            namespace: namespace.to_string(),
            run: parent.clone(),
            initiated_event_id,
        }),
        root: Some(root.unwrap_or(parent).clone()),
        ..RunStart::from_request(run, namespace, &request, now)
    }
}
