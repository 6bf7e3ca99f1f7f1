//! Every deadline of each partition's open runs, by due time: user timers, activity and
//! workflow-task timeouts, retry backoffs, run and execution timeouts, schedule wake-ups.
//! Kept section by section (a run's own fields, each timer, each activity, its schedule),
//! in the batch that changes them, so an owner reads the deadlines coming due, not every
//! open run, and holds in memory only those of the next while.
//!
//! ```text
//! deadline: p | 11 | due | ns | wf | run | deadline (JSON)  -> nothing
//! timed:    p | 12 | ns | wf | run | kind | section ID BE   -> the section's deadline keys
//! ```
//!
//! `due` is the Unix nanosecond it comes due, as a u64 that sorts like the signed time. A
//! `timed` value is each key of the section's deadlines as `len (u32 BE) | key`.

use std::collections::{BTreeMap, HashMap};

use cairn_engine::{
    PartitionId, RunKey,
    sections::{Section, SectionKind},
    time::Nanos,
    timer::{Deadline, section_deadlines},
};
use cairn_schemas::Transition;
use rocksdb::WriteBatch;

use crate::{
    StateDb, StateError,
    keys::{self, ordered_time, time_of},
};

/// A deadline of a run, as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDeadline {
    pub due: Nanos,
    pub run: RunKey,
    pub deadline: Deadline,
}

/// What a batch did to the deadline index so far: each run's section marks as it left them.
#[derive(Default)]
pub(crate) struct Staged {
    timed: HashMap<RunKey, BTreeMap<Vec<u8>, Vec<Vec<u8>>>>,
}

impl StateDb {
    /// Adds to `batch` what the transition changes in the partition's deadlines. `open` is
    /// whether the run is open after it.
    pub(crate) fn stage_deadlines(
        &self,
        batch: &mut WriteBatch,
        staged: &mut Staged,
        partition: PartitionId,
        transition: &Transition,
        sections: &[Option<Section>],
        open: bool,
    ) -> Result<(), StateError> {
        let run = &transition.run;
        if !open {
            // A closed or deleted run has no deadlines.
            for mark in self.timed_marks(staged, partition, run)? {
                self.set_timed(batch, staged, partition, run, mark, Vec::new())?;
            }
            return Ok(());
        }
        for (change, section) in transition.changes.iter().zip(sections) {
            if !matches!(
                change.kind,
                SectionKind::Run
                    | SectionKind::Timer
                    | SectionKind::Activity
                    | SectionKind::Schedule
            ) {
                continue;
            }
            let mut mark = vec![change.kind as u8];
            mark.extend_from_slice(&change.id.to_be_bytes());
            let wanted = match section {
                Some(section) => section_deadlines(section)
                    .into_iter()
                    .map(|(due, deadline)| deadline_key(due, run, &deadline))
                    .collect(),
                None => Vec::new(),
            };
            self.set_timed(batch, staged, partition, run, mark, wanted)?;
        }
        Ok(())
    }

    fn set_timed(
        &self,
        batch: &mut WriteBatch,
        staged: &mut Staged,
        partition: PartitionId,
        run: &RunKey,
        mark: Vec<u8>,
        mut wanted: Vec<Vec<u8>>,
    ) -> Result<(), StateError> {
        wanted.sort();
        wanted.dedup();
        let current = match staged.timed.get(run).and_then(|marks| marks.get(&mark)) {
            Some(current) => current.clone(),
            None => self
                .db
                .get(keys::timed(partition, run, &mark))?
                .map(|value| split_keys(&value))
                .transpose()?
                .unwrap_or_default(),
        };
        if current == wanted {
            return Ok(());
        }
        for old in current.iter().filter(|key| !wanted.contains(key)) {
            batch.delete(keys::deadline(partition, old));
        }
        for new in wanted.iter().filter(|key| !current.contains(key)) {
            batch.put(keys::deadline(partition, new), []);
        }
        if wanted.is_empty() {
            batch.delete(keys::timed(partition, run, &mark));
        } else {
            batch.put(keys::timed(partition, run, &mark), join_keys(&wanted));
        }
        staged
            .timed
            .entry(run.clone())
            .or_default()
            .insert(mark, wanted);
        Ok(())
    }

    /// A run's section marks, as the batch so far leaves them.
    fn timed_marks(
        &self,
        staged: &Staged,
        partition: PartitionId,
        run: &RunKey,
    ) -> Result<Vec<Vec<u8>>, StateError> {
        let mut marks: BTreeMap<Vec<u8>, bool> = self
            .under(&keys::timed(partition, run, &[]))?
            .into_iter()
            .map(|(mark, _)| (mark, true))
            .collect();
        if let Some(staged) = staged.timed.get(run) {
            for (mark, keys) in staged {
                marks.insert(mark.clone(), !keys.is_empty());
            }
        }
        Ok(marks
            .into_iter()
            .filter_map(|(mark, held)| held.then_some(mark))
            .collect())
    }

    /// The deadlines of the partition due before `until`, from `from` on (inclusive), in
    /// the order they come due.
    pub fn deadlines_between(
        &self,
        partition: PartitionId,
        from: Nanos,
        until: Nanos,
    ) -> Result<Vec<DueDeadline>, StateError> {
        let table = keys::deadline(partition, &[]);
        let start = keys::deadline(partition, &ordered_time(from).to_be_bytes());
        let mut iter = self.db.raw_iterator();
        iter.seek(&start);
        let mut out = Vec::new();
        while let Some(key) = iter.key() {
            if !key.starts_with(&table) {
                break;
            }
            let due = parse_deadline(&key[table.len()..])
                .ok_or(StateError::Malformed { table: "deadlines" })?;
            if due.due >= until {
                break;
            }
            out.push(due);
            iter.next();
        }
        iter.status()?;
        Ok(out)
    }
}

fn deadline_key(due: Nanos, run: &RunKey, deadline: &Deadline) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    key.extend_from_slice(&ordered_time(due).to_be_bytes());
    for part in [&run.namespace_id, &run.workflow_id, &run.run_id] {
        let len =
            u16::try_from(part.len()).expect("identifiers are validated to be shorter than 64 KiB");
        key.extend_from_slice(&len.to_be_bytes());
        key.extend_from_slice(part.as_bytes());
    }
    key.extend_from_slice(&serde_json::to_vec(deadline).expect("a deadline serializes"));
    key
}

fn parse_deadline(key: &[u8]) -> Option<DueDeadline> {
    let due = time_of(u64::from_be_bytes(key.get(..8)?.try_into().ok()?));
    let run = keys::parse_run(&key[8..])?;
    let run_len = 6 + run.namespace_id.len() + run.workflow_id.len() + run.run_id.len();
    let deadline = serde_json::from_slice(key.get(8 + run_len..)?).ok()?;
    Some(DueDeadline { due, run, deadline })
}

fn join_keys(keys: &[Vec<u8>]) -> Vec<u8> {
    let mut value = Vec::new();
    for key in keys {
        value.extend_from_slice(&(key.len() as u32).to_be_bytes());
        value.extend_from_slice(key);
    }
    value
}

fn split_keys(mut value: &[u8]) -> Result<Vec<Vec<u8>>, StateError> {
    let mut out = Vec::new();
    while !value.is_empty() {
        let malformed = || StateError::Malformed { table: "timed" };
        let len = value
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(malformed)? as usize;
        out.push(value.get(4..4 + len).ok_or_else(malformed)?.to_vec());
        value = &value[4 + len..];
    }
    Ok(out)
}
