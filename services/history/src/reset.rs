//! ResetWorkflowExecution on the partition that owns the workflow: the history read, then
//! the engine's reset (`cairn_engine::reset::reset_workflow`: the new run and the end of the
//! current run) in one record, read again if the run moved on meanwhile.

use cairn_engine::{
    EngineError, RunKey,
    reset::{ResetRequest, reset_workflow},
};

use crate::{History, HistoryError};

/// How many times a reset reads the history again when the run moved on meanwhile.
const READ_ATTEMPTS: usize = 3;

impl History {
    /// Resets the run `run` (the current one for an empty run ID) and returns the new run's
    /// ID. A repeat of the same request finds the run it made.
    pub async fn reset_workflow(
        &self,
        run: RunKey,
        request: ResetRequest,
    ) -> Result<String, HistoryError> {
        let partition = run.partition(self.partitions());
        for _ in 0..READ_ATTEMPTS {
            let base = self.describe(run.clone()).await?;
            let history = self.events(&base.run, 1, base.next_event_id).await?;
            let request = request.clone();
            let read_through = base.next_event_id;
            let outcome = self
                .submit(partition, "reset", move |work| {
                    reset_workflow(work, &base.run, &history, &request, read_through)
                })
                .await?;
            if let Some(new_run_id) = outcome {
                return Ok(new_run_id);
            }
        }
        Err(HistoryError::Engine(EngineError::FailedPrecondition(
            "the workflow kept changing while it was being reset; try again".into(),
        )))
    }
}
