//! From engine state to Temporal API messages.

use cairn_engine::{
    MutableState,
    activity::decode_opt,
    events::task_queue,
    proto::common::{WorkflowExecution, WorkflowType},
    time,
};
use temporalio_protos::protos::temporal::api::{
    common::v1::ActivityType,
    workflow::v1::{
        PendingActivityInfo, PendingWorkflowTaskInfo, ResetPointInfo, ResetPoints,
        WorkflowExecutionConfig, WorkflowExecutionInfo,
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

pub fn describe(state: &MutableState) -> DescribeWorkflowExecutionResponse {
    let now_pending = state.activities.iter().map(|a| PendingActivityInfo {
        activity_id: a.activity_id.clone(),
        activity_type: Some(ActivityType {
            name: a.activity_type.clone(),
        }),
        state: if a.cancel_requested {
            3
        } else if a.is_started() {
            2
        } else {
            1
        },
        heartbeat_details: decode_opt(&a.heartbeat_details),
        last_heartbeat_time: a.last_heartbeat_time.map(time::timestamp),
        last_started_time: a.started_time.map(time::timestamp),
        attempt: a.attempt,
        maximum_attempts: a.retry_policy.maximum_attempts,
        scheduled_time: Some(time::timestamp(a.attempt_scheduled_time)),
        last_failure: decode_opt(&a.last_failure),
        last_worker_identity: a.started_identity.clone(),
        ..Default::default()
    });
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
