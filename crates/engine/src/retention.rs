//! Retention: a closed run is kept for its namespace's retention period after it closed,
//! then deleted as DeleteWorkflowExecution deletes it.

use crate::{MutableState, RunKey, store::RunStore, time::Nanos};

/// Whether a run is closed, and closed longer ago than `retention` (its namespace's, `None`
/// when the namespace keeps its runs).
pub fn expired(state: &MutableState, retention: Option<Nanos>, now: Nanos) -> bool {
    match (state.close_time, retention) {
        (Some(closed), Some(kept)) => !state.is_open() && closed.saturating_add(kept) <= now,
        _ => false,
    }
}

/// Deletes those of `candidates` that are still expired now; returns how many.
pub fn delete_expired<S: RunStore>(
    store: &mut S,
    candidates: &[RunKey],
    retention_of: impl Fn(&str) -> Option<Nanos>,
) -> Result<usize, S::Error> {
    let now = store.now();
    let mut deleted = 0;
    for run in candidates {
        let expired_now = store
            .state(run)?
            .is_some_and(|state| expired(&state, retention_of(&run.namespace_id), now));
        if expired_now {
            store.update(run, |tx| tx.delete())?;
            deleted += 1;
        }
    }
    Ok(deleted)
}
