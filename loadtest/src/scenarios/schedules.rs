//! `schedules`: each iteration creates a paused schedule (every hour) whose action starts a
//! `SingleNoopActivity`, triggers it at once, waits for the schedule to report the
//! workflow it started and for that workflow to complete with its input, lists the
//! namespace's schedules and deletes the schedule.

use std::time::{Duration, Instant};

use cairn_api::proto::{
    common::v1::{WorkflowExecution, WorkflowType},
    enums::v1::ScheduleOverlapPolicy,
    schedule::v1::{
        IntervalSpec, Schedule, ScheduleAction, SchedulePatch, SchedulePolicies, ScheduleSpec,
        ScheduleState, TriggerImmediatelyRequest, schedule_action,
    },
    workflow::v1::NewWorkflowExecutionInfo,
    workflowservice::v1::{
        CreateScheduleRequest, DeleteScheduleRequest, DescribeScheduleRequest,
        ListSchedulesRequest, PatchScheduleRequest,
    },
};
use serde_json::json;

use super::{Iteration, calls::unary};
use crate::{
    connection::{Client, call},
    stats::Recorder,
    workflows::{self, payload, task_queue_of},
};

/// How long a triggered schedule may take to report its workflow.
const ACTION_DEADLINE: Duration = Duration::from_secs(30);

impl Iteration {
    pub(super) async fn schedule(
        &self,
        client: &Client,
        recorder: &Recorder,
        id: &str,
    ) -> Result<Duration, String> {
        let began = Instant::now();
        let input = json!(id);
        let create = CreateScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_string(),
            schedule: Some(Schedule {
                spec: Some(ScheduleSpec {
                    interval: vec![IntervalSpec {
                        interval: Some(prost_wkt_types::Duration {
                            seconds: 3600,
                            nanos: 0,
                        }),
                        phase: None,
                    }],
                    ..Default::default()
                }),
                action: Some(ScheduleAction {
                    action: Some(schedule_action::Action::StartWorkflow(
                        NewWorkflowExecutionInfo {
                            workflow_id: format!("{id}-workflow"),
                            workflow_type: Some(WorkflowType {
                                name: workflows::SINGLE_NOOP_ACTIVITY.into(),
                            }),
                            task_queue: task_queue_of(&self.task_queue),
                            input: Some(payload(&input)),
                            ..Default::default()
                        },
                    )),
                }),
                policies: Some(SchedulePolicies {
                    overlap_policy: ScheduleOverlapPolicy::AllowAll as i32,
                    ..Default::default()
                }),
                state: Some(ScheduleState {
                    paused: true,
                    notes: "cairn-loadtest: runs only when triggered".into(),
                    ..Default::default()
                }),
            }),
            identity: self.identity.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        unary(
            client,
            recorder,
            "create schedule",
            create,
            |mut c, r| async move { c.create_schedule(call(r)).await },
        )
        .await?;
        let start = began.elapsed();
        let trigger = PatchScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_string(),
            patch: Some(SchedulePatch {
                trigger_immediately: Some(TriggerImmediatelyRequest {
                    overlap_policy: ScheduleOverlapPolicy::AllowAll as i32,
                    scheduled_time: None,
                }),
                ..Default::default()
            }),
            identity: self.identity.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
        };
        unary(
            client,
            recorder,
            "trigger schedule",
            trigger,
            |mut c, r| async move { c.patch_schedule(call(r)).await },
        )
        .await?;
        let started = self.scheduled_workflow(client, recorder, id).await?;
        self.completed_with(client, recorder, &started, &input)
            .await?;
        let list = ListSchedulesRequest {
            namespace: self.namespace.clone(),
            maximum_page_size: 10,
            ..Default::default()
        };
        unary(
            client,
            recorder,
            "list schedules",
            list,
            |mut c, r| async move { c.list_schedules(call(r)).await },
        )
        .await?;
        let delete = DeleteScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_string(),
            identity: self.identity.clone(),
        };
        unary(
            client,
            recorder,
            "delete schedule",
            delete,
            |mut c, r| async move { c.delete_schedule(call(r)).await },
        )
        .await?;
        Ok(start)
    }

    /// Asks the schedule until it reports the workflow its trigger started.
    async fn scheduled_workflow(
        &self,
        client: &Client,
        recorder: &Recorder,
        id: &str,
    ) -> Result<WorkflowExecution, String> {
        let describe = DescribeScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_string(),
        };
        let asked_since = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            let described = unary(
                client,
                recorder,
                "describe schedule",
                describe.clone(),
                |mut c, r| async move { c.describe_schedule(call(r)).await },
            )
            .await?;
            let started = described
                .info
                .and_then(|info| info.recent_actions.into_iter().next())
                .and_then(|action| action.start_workflow_result);
            if let Some(started) = started {
                return Ok(started);
            }
            if asked_since.elapsed() > ACTION_DEADLINE {
                return Err("schedule: the trigger started nothing".into());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}
