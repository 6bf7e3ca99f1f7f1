//! A [`RunStore`] in memory, for the engine's multi-run operations: every transition
//! applies at once, and each run's events are kept to be looked at.

use std::collections::HashMap;

use super::builders::{T0, types};
use crate::{
    Changes, EngineError, ExecutionStatus, MutableState, RunKey, WorkflowKey,
    events::Tx,
    proto::{HistoryEvent, enums::EventType},
    store::RunStore,
};

/// Runs in memory; every transition applies at once.
#[derive(Default)]
pub struct MemoryStore {
    pub runs: HashMap<RunKey, MutableState>,
    current: HashMap<WorkflowKey, String>,
    events: HashMap<RunKey, Vec<HistoryEvent>>,
}

impl MemoryStore {
    pub fn put(&mut self, state: MutableState, changes: Changes) {
        if changes.deleted {
            self.runs.remove(&state.run);
            return;
        }
        self.current
            .insert(state.run.workflow(), state.run.run_id.clone());
        self.events
            .entry(state.run.clone())
            .or_default()
            .extend(changes.events);
        self.runs.insert(state.run.clone(), state);
    }

    pub fn history(&self, run_id: &str) -> Vec<EventType> {
        let (_, events) = self
            .events
            .iter()
            .find(|(run, _)| run.run_id == run_id)
            .expect("the run has events");
        types(events)
    }

    pub fn status(&self, run_id: &str) -> ExecutionStatus {
        self.runs
            .values()
            .find(|state| state.run.run_id == run_id)
            .expect("the run exists")
            .status
    }
}

impl RunStore for MemoryStore {
    type Error = EngineError;

    fn now(&self) -> i64 {
        T0
    }

    fn state(&self, run: &RunKey) -> Result<Option<MutableState>, EngineError> {
        Ok(self.runs.get(run).cloned())
    }

    fn current_state(&self, workflow: &WorkflowKey) -> Result<Option<MutableState>, EngineError> {
        Ok(self.current.get(workflow).and_then(|run_id| {
            self.runs
                .get(&RunKey {
                    namespace_id: workflow.namespace_id.clone(),
                    workflow_id: workflow.workflow_id.clone(),
                    run_id: run_id.clone(),
                })
                .cloned()
        }))
    }

    fn update<T>(
        &mut self,
        run: &RunKey,
        operation: impl FnOnce(&mut Tx<'_>) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let mut state = self
            .runs
            .get(run)
            .cloned()
            .ok_or_else(|| EngineError::NotFound("no such run".into()))?;
        let mut tx = Tx::new(&mut state, T0);
        let value = operation(&mut tx)?;
        let changes = tx.finish();
        self.put(state, changes);
        Ok(value)
    }

    fn stage(&mut self, state: MutableState, changes: Changes) {
        self.put(state, changes);
    }
}
