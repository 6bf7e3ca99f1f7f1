//! The working set of one request on a partition: runs it read and the transitions it staged.
//! Staged transitions reach the partition's cache and the log only if the whole request
//! succeeds.

use std::borrow::Cow;

use cairn_engine::{
    Changes, EngineError, MutableState, PartitionId, RunKey, WorkflowKey, events::Tx,
    limits::Limits, proto::HistoryEvent, sections,
};
use cairn_state::StateDb;
use lru::LruCache;
use prost::Message;

use crate::HistoryError;

/// The open runs of an owned partition that are kept in memory, most recently written first,
/// and the current run of their workflows. It includes the effects of appends still in
/// flight, so a round may hold more than `capacity`; [`Cache::trim`] lets the least recently
/// written go once everything held is durable, and they are read from RocksDB when needed.
pub struct Cache {
    runs: LruCache<RunKey, MutableState>,
    current: LruCache<WorkflowKey, String>,
    capacity: usize,
}

impl Cache {
    pub fn new(capacity: usize) -> Self {
        Self {
            runs: LruCache::unbounded(),
            current: LruCache::unbounded(),
            capacity,
        }
    }

    pub fn get(&self, run: &RunKey) -> Option<&MutableState> {
        self.runs.peek(run)
    }

    pub fn current(&self, workflow: &WorkflowKey) -> Option<&String> {
        self.current.peek(workflow)
    }

    /// Holds a run's newest state; it becomes the most recently written.
    pub fn put(&mut self, state: MutableState) {
        self.runs.put(state.run.clone(), state);
    }

    /// Makes a run its workflow's current run.
    pub fn set_current(&mut self, run: &RunKey) {
        self.current.put(run.workflow(), run.run_id.clone());
    }

    /// Forgets a deleted run, and its workflow's current run if it was that.
    pub fn remove(&mut self, run: &RunKey) {
        let workflow = run.workflow();
        if self.current.peek(&workflow) == Some(&run.run_id) {
            self.current.pop(&workflow);
        }
        self.runs.pop(run);
    }

    /// Forgets a run's state, keeping its workflow's current run (a run that closed).
    pub fn forget_state(&mut self, run: &RunKey) {
        self.runs.pop(run);
    }

    /// The runs held, in no particular order.
    pub fn runs(&self) -> impl Iterator<Item = &MutableState> {
        self.runs.iter().map(|(_, state)| state)
    }

    /// Lets the least recently written runs go down to the capacity. Only when every run
    /// held is durable: what goes is then read back from RocksDB as it was.
    pub fn trim(&mut self) {
        while self.runs.len() > self.capacity {
            self.runs.pop_lru();
        }
        while self.current.len() > self.capacity {
            self.current.pop_lru();
        }
    }

    /// Forgets everything (before the partition is rebuilt from the log).
    pub fn clear(&mut self) {
        self.runs.clear();
        self.current.clear();
    }
}

/// A run's transition as a request staged it.
pub struct Staged {
    pub state: MutableState,
    pub changes: Changes,
    /// The changes to the run's state sections.
    pub sections: Vec<sections::Change>,
}

pub struct Work<'a> {
    partition: PartitionId,
    cache: &'a Cache,
    db: &'a StateDb,
    now: i64,
    limits: Limits,
    staged: Vec<(MutableState, Changes)>,
}

impl<'a> Work<'a> {
    pub fn new(
        partition: PartitionId,
        cache: &'a Cache,
        db: &'a StateDb,
        now: i64,
        limits: Limits,
    ) -> Self {
        Self {
            partition,
            cache,
            db,
            now,
            limits,
            staged: Vec::new(),
        }
    }

    /// What the request staged: each run's new state, what the operation changed, and the
    /// changes to the run's state sections since before the request.
    pub fn into_staged(self) -> Result<Vec<Staged>, HistoryError> {
        let mut out = Vec::with_capacity(self.staged.len());
        for (state, changes) in self.staged {
            let sections = if changes.deleted {
                Vec::new()
            } else {
                let before = match self.cache.get(&state.run) {
                    Some(before) => Some(Cow::Borrowed(before)),
                    None => self.db.run(self.partition, &state.run)?.map(Cow::Owned),
                };
                sections::diff(before.as_deref(), &state)
            };
            out.push(Staged {
                state,
                changes,
                sections,
            });
        }
        Ok(out)
    }

    /// The run's state as this request sees it (its own staged changes included).
    pub fn state(&self, run: &RunKey) -> Result<Option<MutableState>, HistoryError> {
        Ok(self.peek(run)?.map(Cow::into_owned))
    }

    /// Reads the run's state as this request sees it, without copying it.
    pub fn read<T>(
        &self,
        run: &RunKey,
        read: impl FnOnce(&MutableState) -> T,
    ) -> Result<Option<T>, HistoryError> {
        Ok(self.peek(run)?.map(|state| read(&state)))
    }

    /// Like [`Work::state`], without a copy where the state is in memory.
    fn peek(&self, run: &RunKey) -> Result<Option<Cow<'_, MutableState>>, HistoryError> {
        if let Some((state, _)) = self.staged.iter().rev().find(|(s, _)| &s.run == run) {
            return Ok(Some(Cow::Borrowed(state)));
        }
        if let Some(state) = self.cache.get(run) {
            return Ok(Some(Cow::Borrowed(state)));
        }
        Ok(self.db.run(self.partition, run)?.map(Cow::Owned))
    }

    /// The current (latest started) run of a workflow ID.
    pub fn current_state(
        &self,
        workflow: &WorkflowKey,
    ) -> Result<Option<MutableState>, HistoryError> {
        if let Some((state, _)) = self
            .staged
            .iter()
            .rev()
            .find(|(s, _)| &s.run.workflow() == workflow)
        {
            return Ok(Some(state.clone()));
        }
        let run_id = match self.cache.current(workflow) {
            Some(run_id) => Some(run_id.clone()),
            None => self.db.current_run(self.partition, workflow)?,
        };
        let Some(run_id) = run_id else {
            return Ok(None);
        };
        let run = RunKey {
            namespace_id: workflow.namespace_id.clone(),
            workflow_id: workflow.workflow_id.clone(),
            run_id,
        };
        self.state(&run)
    }

    /// An event of a run: one this request staged, or a durable one.
    pub fn event(&self, run: &RunKey, event_id: i64) -> Result<Option<HistoryEvent>, HistoryError> {
        for (state, changes) in self.staged.iter().rev() {
            if &state.run == run
                && let Some(event) = changes.events.iter().find(|e| e.event_id == event_id)
            {
                return Ok(Some(event.clone()));
            }
        }
        let stored = self
            .db
            .events(self.partition, run, event_id, event_id + 1, 1)?;
        Ok(stored
            .first()
            .and_then(|bytes| HistoryEvent::decode(bytes.as_slice()).ok()))
    }

    /// Resolves an empty run ID to the workflow's current run.
    pub fn resolve(&self, run: &RunKey) -> Result<RunKey, HistoryError> {
        if !run.run_id.is_empty() {
            return Ok(run.clone());
        }
        match self.current_state(&run.workflow())? {
            Some(state) => Ok(state.run),
            None => Err(EngineError::run_not_found(run).into()),
        }
    }

    /// Runs an engine operation on a copy of the run's state and stages the result if the
    /// operation succeeds and changed anything.
    pub fn update<T>(
        &mut self,
        run: &RunKey,
        operation: impl FnOnce(&mut Tx<'_>) -> Result<T, EngineError>,
    ) -> Result<T, HistoryError> {
        let run = self.resolve(run)?;
        let Some(before) = self.peek(&run)? else {
            return Err(EngineError::run_not_found(&run).into());
        };
        // The operation runs on a copy: a refused one changes nothing.
        let mut state = before.as_ref().clone();
        let mut tx = Tx::new(&mut state, self.now).with_limits(self.limits);
        let value = operation(&mut tx)?;
        let mut changes = tx.finish();
        let next_run = changes.next_run.take();
        let changed = state != *before;
        drop(before);
        if changed || !changes.events.is_empty() || !changes.tasks.is_empty() || changes.deleted {
            self.stage(state, changes);
        }
        // The run closed and the workflow goes on: its next run is part of the same record.
        if let Some(next_run) = next_run {
            let (state, changes) = cairn_engine::start::begin(*next_run, self.now);
            self.stage(state, changes);
        }
        Ok(value)
    }

    /// Drops the tasks staged for `run`: they were handed to a worker directly.
    pub fn withdraw_tasks(&mut self, run: &RunKey) {
        for (state, changes) in &mut self.staged {
            if &state.run == run {
                changes.tasks.clear();
            }
        }
    }

    /// Takes back the workflow task dispatch staged for `run`: the task was handed to its
    /// worker directly.
    pub fn withdraw_workflow_task(&mut self, run: &RunKey) {
        for (state, changes) in &mut self.staged {
            if &state.run == run {
                changes
                    .tasks
                    .retain(|task| task.kind != cairn_engine::TaskKind::Workflow);
            }
        }
    }

    /// Stages a transition (a new run, or a change computed outside [`Work::update`]).
    pub fn stage(&mut self, state: MutableState, changes: Changes) {
        if let Some((staged, staged_changes)) =
            self.staged.iter_mut().find(|(s, _)| s.run == state.run)
        {
            *staged = state;
            staged_changes.events.extend(changes.events);
            staged_changes.tasks.extend(changes.tasks);
        } else {
            self.staged.push((state, changes));
        }
    }
}

/// The engine's multi-run operations run on a request's working set.
impl cairn_engine::store::RunStore for Work<'_> {
    type Error = HistoryError;

    fn now(&self) -> i64 {
        self.now
    }

    fn state(&self, run: &RunKey) -> Result<Option<MutableState>, HistoryError> {
        Work::state(self, run)
    }

    fn current_state(&self, workflow: &WorkflowKey) -> Result<Option<MutableState>, HistoryError> {
        Work::current_state(self, workflow)
    }

    fn update<T>(
        &mut self,
        run: &RunKey,
        operation: impl FnOnce(&mut Tx<'_>) -> Result<T, EngineError>,
    ) -> Result<T, HistoryError> {
        Work::update(self, run, operation)
    }

    fn stage(&mut self, state: MutableState, changes: Changes) {
        Work::stage(self, state, changes);
    }
}
