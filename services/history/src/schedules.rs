//! Schedules as the history service keeps them: each in a run of its own (see
//! `cairn_engine::schedule`), created, patched and updated through the partition that owns
//! its workflow ID. Describe, delete and list use the ordinary run calls.

use cairn_engine::{
    RunKey, WorkflowKey,
    proto::{
        common::{Memo, SearchAttributes, WorkflowType},
        enums::{WorkflowIdConflictPolicy, WorkflowIdReusePolicy},
        schedule::{Schedule, SchedulePatch},
        taskqueue::TaskQueue,
        workflowservice::StartWorkflowExecutionRequest,
    },
    schedule,
    start::{RunStart, StartDecision, begin, decide_start},
};

use crate::{History, HistoryError, Started};

/// What a new schedule is made of; its schedule was checked with
/// `cairn_engine::schedule::prepare`.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub schedule_id: String,
    pub schedule: Schedule,
    pub initial_patch: Option<SchedulePatch>,
    pub memo: Option<Memo>,
    pub search_attributes: Option<SearchAttributes>,
    pub identity: String,
    pub request_id: String,
}

impl History {
    /// Creates a schedule. A repeat of the same request finds it made (`started` false);
    /// another request for a schedule ID in use fails as already started.
    pub async fn create_schedule(
        &self,
        namespace_id: String,
        namespace: String,
        new: NewSchedule,
        run_id: String,
    ) -> Result<Started, HistoryError> {
        let workflow = WorkflowKey {
            namespace_id: namespace_id.clone(),
            workflow_id: schedule::workflow_id(&new.schedule_id),
        };
        let jitter_seed_namespace = namespace_id.clone();
        self.submit(
            workflow.partition(self.partitions()),
            "create_schedule",
            move |work| {
                let current = work.current_state(&workflow)?;
                let decision = decide_start(
                    current.as_ref(),
                    &new.request_id,
                    WorkflowIdReusePolicy::AllowDuplicate,
                    WorkflowIdConflictPolicy::Fail,
                )?;
                if let StartDecision::Existing { run_id, .. } = decision {
                    return Ok(Started {
                        run_id,
                        started: false,
                    });
                }
                let run = RunKey {
                    namespace_id,
                    workflow_id: workflow.workflow_id.clone(),
                    run_id: run_id.clone(),
                };
                let request = StartWorkflowExecutionRequest {
                    namespace: namespace.clone(),
                    workflow_id: workflow.workflow_id.clone(),
                    workflow_type: Some(WorkflowType {
                        name: schedule::WORKFLOW_TYPE.into(),
                    }),
                    task_queue: Some(TaskQueue {
                        name: schedule::TASK_QUEUE.into(),
                        ..Default::default()
                    }),
                    identity: new.identity,
                    request_id: new.request_id,
                    memo: new.memo,
                    search_attributes: new.search_attributes,
                    ..Default::default()
                };
                let now = work.now();
                let start = RunStart {
                    schedule: Some(schedule::new_state(
                        &jitter_seed_namespace,
                        &new.schedule_id,
                        &new.schedule,
                        now,
                    )),
                    ..RunStart::from_request(run.clone(), &namespace, &request, now)
                };
                let (state, changes) = begin(start, now);
                work.stage(state, changes);
                if let Some(patch) = new.initial_patch {
                    work.update(&run, |tx| tx.patch_schedule(&patch))?;
                }
                Ok(Started {
                    run_id,
                    started: true,
                })
            },
        )
        .await
    }

    /// Triggers, backfills, pauses or unpauses the schedule whose run is `run` (its current
    /// run when the run ID is empty).
    pub async fn patch_schedule(
        &self,
        run: RunKey,
        patch: SchedulePatch,
    ) -> Result<(), HistoryError> {
        self.submit(
            run.partition(self.partitions()),
            "patch_schedule",
            move |work| work.update(&run, |tx| tx.patch_schedule(&patch)),
        )
        .await
    }

    /// Replaces the schedule (checked with `cairn_engine::schedule::prepare`) unless the
    /// conflict token names another version.
    pub async fn update_schedule(
        &self,
        run: RunKey,
        schedule: Schedule,
        conflict_token: Vec<u8>,
        search_attributes: Option<SearchAttributes>,
    ) -> Result<(), HistoryError> {
        self.submit(
            run.partition(self.partitions()),
            "update_schedule",
            move |work| {
                work.update(&run, |tx| {
                    tx.update_schedule(&schedule, &conflict_token, search_attributes)
                })
            },
        )
        .await
    }
}
