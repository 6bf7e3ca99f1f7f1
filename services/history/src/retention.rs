//! Retention: a closed run is kept for its namespace's retention period after it closed, then
//! deleted like DeleteWorkflowExecution deletes it (state, events and visibility in one
//! record). Each owner sweeps its partitions now and then; a run is deleted only if it is
//! still closed and expired when the deletion runs in its partition's loop.

use std::{sync::Arc, time::Duration};

use cairn_engine::{PartitionId, RunKey};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::{History, HistoryError};

/// Most runs one sweep of a partition deletes; the next sweep goes on.
const MAX_SWEEP: usize = 10_000;

/// A namespace's retention in nanoseconds, by namespace ID; `None` keeps its runs.
pub type RetentionOf = Arc<dyn Fn(&str) -> Option<i64> + Send + Sync>;

impl History {
    /// Deletes, every `every` until `stop`, the closed runs of this node's partitions whose
    /// retention has passed.
    pub fn enforce_retention(
        &self,
        retention: RetentionOf,
        every: Duration,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let history = self.clone();
        let failure = cairn_runtime::Failure::StopsNode(self.failure());
        cairn_runtime::supervise("retention", failure, async move {
            loop {
                for (partition, _) in history.owned() {
                    match history.delete_expired(partition, &retention).await {
                        Ok(0) => {}
                        Ok(deleted) => debug!(partition, deleted, "retention deleted closed runs"),
                        Err(error) => {
                            warn!(partition, error = %cairn_runtime::report(&error), "retention sweep failed");
                        }
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
            }
        })
    }

    /// Deletes the closed runs of `partition` (owned here) whose retention has passed; returns
    /// how many.
    pub async fn delete_expired(
        &self,
        partition: PartitionId,
        retention: &RetentionOf,
    ) -> Result<usize, HistoryError> {
        let now = self.now();
        let db = self.db().clone();
        let cutoffs = Arc::clone(retention);
        // The visibility index lists closed runs by close time: only the expired are read.
        let candidates: Vec<RunKey> = tokio::task::spawn_blocking(move || {
            db.closed_before(
                partition,
                &|namespace_id| cutoffs(namespace_id).map(|kept| now.saturating_sub(kept)),
                MAX_SWEEP,
            )
        })
        .await
        .expect("visibility reads do not panic")?;
        if candidates.is_empty() {
            return Ok(0);
        }
        let retention = Arc::clone(retention);
        self.submit(partition, "delete_expired", move |work| {
            cairn_engine::retention::delete_expired(work, &candidates, |namespace_id| {
                retention(namespace_id)
            })
        })
        .await
    }
}
