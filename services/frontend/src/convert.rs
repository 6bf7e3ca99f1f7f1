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
    row_info(&cairn_visibility::Row::of(state))
}

/// A run's visibility row as List returns it.
pub fn row_info(row: &cairn_visibility::Row) -> WorkflowExecutionInfo {
    let execution = WorkflowExecution {
        workflow_id: row.workflow_id.clone(),
        run_id: row.run_id.clone(),
    };
    WorkflowExecutionInfo {
        execution: Some(execution.clone()),
        r#type: Some(WorkflowType {
            name: row.workflow_type.clone(),
        }),
        start_time: Some(time::timestamp(row.start_time)),
        close_time: row.close_time.map(time::timestamp),
        status: row.status,
        history_length: row.history_length,
        execution_time: Some(time::timestamp(row.execution_time)),
        memo: decode_opt(&row.memo),
        search_attributes: decode_opt(&row.search_attributes),
        task_queue: row.task_queue.clone(),
        history_size_bytes: row.history_size_bytes,
        first_run_id: row.first_run_id.clone(),
        parent_namespace_id: row.parent_namespace_id.clone(),
        parent_execution: (!row.parent_workflow_id.is_empty()).then(|| WorkflowExecution {
            workflow_id: row.parent_workflow_id.clone(),
            run_id: row.parent_run_id.clone(),
        }),
        // A run without a parent is its own root, as Temporal reports it.
        root_execution: Some(if row.root_workflow_id.is_empty() {
            execution
        } else {
            WorkflowExecution {
                workflow_id: row.root_workflow_id.clone(),
                run_id: row.root_run_id.clone(),
            }
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
