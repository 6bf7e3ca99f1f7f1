//! From engine state to Temporal API messages.

use cairn_engine::{
    ActivityInfo, MutableState,
    activity::decode_opt,
    activity_control::options_proto,
    events::task_queue,
    proto::common::{WorkflowExecution, WorkflowType},
    time,
};
use temporalio_protos::protos::temporal::api::{
    common::v1::ActivityType,
    enums::v1::PendingActivityState,
    workflow::v1::{
        PendingActivityInfo, PendingWorkflowTaskInfo, ResetPointInfo, ResetPoints,
        WorkflowExecutionConfig, WorkflowExecutionInfo,
        pending_activity_info::{
            PauseInfo,
            pause_info::{self, PausedBy},
        },
    },
    workflowservice::v1::DescribeWorkflowExecutionResponse,
};

pub fn execution(state: &MutableState) -> WorkflowExecution {
    WorkflowExecution {
        workflow_id: state.run.workflow_id.clone(),
        run_id: state.run.run_id.clone(),
    }
}

pub fn execution_info(state: &MutableState) -> WorkflowExecutionInfo {
    WorkflowExecutionInfo {
        execution: Some(execution(state)),
        r#type: Some(WorkflowType {
            name: state.workflow_type.clone(),
        }),
        start_time: Some(time::timestamp(state.start_time)),
        close_time: state.close_time.map(time::timestamp),
        status: state.status.to_proto(),
        history_length: state.next_event_id - 1,
        execution_time: Some(time::timestamp(state.execution_time)),
        memo: decode_opt(&state.memo),
        search_attributes: decode_opt(&state.search_attributes),
        task_queue: state.task_queue.clone(),
        history_size_bytes: state.history_size_bytes,
        first_run_id: state.first_run_id.clone(),
        parent_namespace_id: state
            .parent
            .as_ref()
            .map(|p| p.run.namespace_id.clone())
            .unwrap_or_default(),
        parent_execution: state.parent.as_ref().map(|p| WorkflowExecution {
            workflow_id: p.run.workflow_id.clone(),
            run_id: p.run.run_id.clone(),
        }),
        // A run without a parent is its own root, as Temporal reports it.
        root_execution: Some(match &state.root {
            Some(root) => WorkflowExecution {
                workflow_id: root.workflow_id.clone(),
                run_id: root.run_id.clone(),
            },
            None => execution(state),
        }),
        ..Default::default()
    }
}

/// Where the workflow can be reset to, as DescribeWorkflowExecution lists it.
fn reset_points(state: &MutableState) -> ResetPoints {
    ResetPoints {
        points: state
            .reset_points
            .iter()
            .map(|p| ResetPointInfo {
                build_id: p.build_id.clone(),
                run_id: p.run_id.clone(),
                first_workflow_task_completed_id: p.first_workflow_task_completed_id,
                create_time: Some(time::timestamp(p.create_time)),
                resettable: true,
                ..Default::default()
            })
            .collect(),
    }
}

/// A pending activity as a description shows it, with Temporal's states for paused ones:
/// PAUSED when no attempt runs, PAUSE_REQUESTED while one still does.
fn pending_activity(a: &ActivityInfo) -> PendingActivityInfo {
    let state = if a.cancel_requested {
        PendingActivityState::CancelRequested
    } else if a.is_started() && a.is_paused() {
        PendingActivityState::PauseRequested
    } else if a.is_started() {
        PendingActivityState::Started
    } else if a.is_paused() {
        PendingActivityState::Paused
    } else {
        PendingActivityState::Scheduled
    };
    PendingActivityInfo {
        activity_id: a.activity_id.clone(),
        activity_type: Some(ActivityType {
            name: a.activity_type.clone(),
        }),
        state: state as i32,
        heartbeat_details: decode_opt(&a.heartbeat_details),
        last_heartbeat_time: a.last_heartbeat_time.map(time::timestamp),
        last_started_time: a.started_time.map(time::timestamp),
        attempt: a.attempt,
        maximum_attempts: a.retry_policy.maximum_attempts,
        scheduled_time: Some(time::timestamp(a.attempt_scheduled_time)),
        last_failure: decode_opt(&a.last_failure),
        last_worker_identity: a.started_identity.clone(),
        paused: a.is_paused(),
        pause_info: a.pause.as_ref().map(|pause| PauseInfo {
            pause_time: Some(time::timestamp(pause.time)),
            paused_by: Some(PausedBy::Manual(pause_info::Manual {
                identity: pause.identity.clone(),
                reason: pause.reason.clone(),
            })),
        }),
        activity_options: Some(options_proto(&a.options())),
        ..Default::default()
    }
}

pub fn describe(state: &MutableState) -> DescribeWorkflowExecutionResponse {
    let now_pending = state.activities.iter().map(pending_activity);
    DescribeWorkflowExecutionResponse {
        execution_config: Some(WorkflowExecutionConfig {
            task_queue: Some(task_queue(&state.task_queue)),
            workflow_execution_timeout: Some(time::duration(state.execution_timeout)),
            workflow_run_timeout: Some(time::duration(state.run_timeout)),
            default_workflow_task_timeout: Some(time::duration(state.workflow_task_timeout)),
            ..Default::default()
        }),
        workflow_execution_info: Some(WorkflowExecutionInfo {
            auto_reset_points: Some(reset_points(state)),
            ..execution_info(state)
        }),
        pending_activities: now_pending.collect(),
        pending_workflow_task: state
            .workflow_task
            .as_ref()
            .map(|t| PendingWorkflowTaskInfo {
                state: if t.is_started() { 2 } else { 1 },
                scheduled_time: Some(time::timestamp(t.scheduled_time)),
                original_scheduled_time: Some(time::timestamp(t.scheduled_time)),
                started_time: t.is_started().then(|| time::timestamp(t.started_time)),
                attempt: t.attempt,
            }),
        ..Default::default()
    }
}
