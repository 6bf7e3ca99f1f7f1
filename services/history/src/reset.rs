//! ResetWorkflowExecution on the partition that owns the workflow: the new run (see
//! `cairn_engine::reset`) and the end of the current run, in one record.

use cairn_engine::{
    EngineError, RunKey,
    reset::{ResetRequest, new_run_id, reset},
};

use crate::{History, HistoryError, partition::not_found};

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
                    let current = work
                        .current_state(&base.run.workflow())?
                        .ok_or_else(|| not_found(&base.run))?;
                    let new_run = RunKey {
                        run_id: new_run_id(&base.run, &request.request_id),
                        ..base.run.clone()
                    };
                    if work.state(&new_run)?.is_some() {
                        return Ok(Some(new_run.run_id));
                    }
                    let latest = work.state(&base.run)?.ok_or_else(|| not_found(&base.run))?;
                    if latest.next_event_id != read_through {
                        // Events were written since the history was read: read it again.
                        return Ok(None);
                    }
                    let (state, changes) = reset(&latest, &history, &request, work.now())?;
                    if current.is_open() {
                        work.update(&current.run, |tx| {
                            tx.terminate(&request.reason, None, "history-resetter")
                        })?;
                    }
                    let new_run_id = state.run.run_id.clone();
                    work.stage(state, changes);
                    Ok(Some(new_run_id))
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
