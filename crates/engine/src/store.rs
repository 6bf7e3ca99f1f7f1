//! The storage the engine's multi-run operations work on. An operation that touches more
//! than one run (a start that terminates the current run first, a signal-with-start) reads
//! the runs it needs and stages their transitions here; the history service implements the
//! trait over a partition's cache and RocksDB and makes what was staged durable in one
//! record, all of it or none. Unit tests implement it in memory.

use crate::{Changes, EngineError, MutableState, RunKey, WorkflowKey, events::Tx, time::Nanos};

pub trait RunStore {
    /// Storage failures, and the engine's refusals.
    type Error: From<EngineError>;

    /// The operation's clock.
    fn now(&self) -> Nanos;

    /// A run's state as the operation sees it (its own staged transitions included).
    fn state(&self, run: &RunKey) -> Result<Option<MutableState>, Self::Error>;

    /// The run a key names: itself, or the workflow's current run for an empty run ID.
    fn resolve(&self, run: &RunKey) -> Result<Option<RunKey>, Self::Error> {
        if !run.run_id.is_empty() {
            return Ok(Some(run.clone()));
        }
        Ok(self.current_state(&run.workflow())?.map(|state| state.run))
    }

    /// The current (latest started) run of a workflow ID, as the operation sees it (its own
    /// staged transitions included).
    fn current_state(&self, workflow: &WorkflowKey) -> Result<Option<MutableState>, Self::Error>;

    /// Runs a single-run operation on the run's state and stages its transition when it
    /// succeeds; a refused one changes nothing.
    fn update<T>(
        &mut self,
        run: &RunKey,
        operation: impl FnOnce(&mut Tx<'_>) -> Result<T, EngineError>,
    ) -> Result<T, Self::Error>;

    /// Stages a new run's first transition.
    fn stage(&mut self, state: MutableState, changes: Changes);
}
