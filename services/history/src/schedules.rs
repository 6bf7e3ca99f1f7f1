//! Schedules as the history service keeps them: each in a run of its own (see
//! `cairn_engine::schedule`; its creation is `cairn_engine::schedule::create`), created,
//! patched and updated through the partition that owns its workflow ID. Describe, delete and list use the ordinary run calls.

use cairn_engine::{
    RunKey, WorkflowKey,
    proto::{
        common::SearchAttributes,
        schedule::{Schedule, SchedulePatch},
    },
    schedule::{self, create::NewSchedule},
};

use crate::{History, HistoryError, Started};

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
        let partition = WorkflowKey {
            namespace_id: namespace_id.clone(),
            workflow_id: schedule::workflow_id(&new.schedule_id),
        }
        .partition(self.partitions());
        self.submit(partition, "create_schedule", move |work| {
            schedule::create::create(work, namespace_id, namespace, new, run_id)
        })
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
