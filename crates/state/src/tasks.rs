//! The tasks each partition's open runs have waiting for a worker, by the queue they wait
//! on and in the order they became ready: a workflow task not yet started, an activity
//! attempt not yet started nor paused (one backing off is here with the time its backoff
//! ends). Written in the batch that changes the runs, so matching need not hold a queue's
//! whole backlog: history hands it a window from here and the rest waits on disk.
//!
//! ```text
//! task:   p | 8 | ns | queue | kind | ready | wf | run | scheduled event ID BE | attempt BE
//!                                     -> nothing
//! held:   p | 9 | ns | wf | run | 'w'                      -> the run's workflow task entry
//!         p | 9 | ns | wf | run | 'a' | scheduled event ID  -> one activity's entry
//! waiting: p | 10 | ns | queue | kind                        -> i64 BE, the queue's tasks
//! ```
//!
//! `ready` is the Unix nanosecond the task became (or becomes) ready, as a u64 that sorts
//! like the signed time. An entry's bytes after the table byte are its [`TaskKey`].

use std::collections::{BTreeMap, HashMap};

use cairn_engine::{
    MutableState, PartitionId, RunKey, TaskKind, TaskRef,
    sections::{Section, SectionKind},
    state::{ActivityInfo, WorkflowTaskInfo},
    time::Nanos,
};
use cairn_schemas::Transition;
use rocksdb::WriteBatch;

use crate::{
    StateDb, StateError,
    keys::{self, ordered_time, push_str, time_of},
    read_count,
};

const WORKFLOW_TASK: u8 = b'w';
const ACTIVITY: u8 = b'a';

/// A task entry without its partition and table: `ns | queue | kind | ready | wf | run |
/// scheduled event ID | attempt`. Entries of one queue sort in the order they became ready.
pub type TaskKey = Vec<u8>;

/// A task queue as the index names it: `ns | queue | kind`, the prefix of its entries.
pub type QueueKey = Vec<u8>;

/// What a batch did to one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskChange {
    pub key: TaskKey,
    pub kind: TaskChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskChangeKind {
    /// The task now waits for a worker (or for its backoff to end).
    Added,
    /// A worker started it.
    Started,
    /// It no longer waits and no worker has it: its run closed, it timed out, moved to
    /// another queue or gave way to a newer attempt. A copy waiting in matching is stale.
    Withdrawn,
}

/// The queue of a task, as the index's prefix.
pub fn queue_key(namespace_id: &str, task_queue: &str, kind: TaskKind) -> QueueKey {
    let mut key = Vec::with_capacity(8 + namespace_id.len() + task_queue.len());
    push_str(&mut key, namespace_id);
    push_str(&mut key, task_queue);
    key.push(kind_byte(kind));
    key
}

/// The queue an entry waits on: the entry's prefix.
pub fn queue_of(key: &[u8]) -> &[u8] {
    let mut at = 0;
    for _ in 0..2 {
        let Some(len) = read_len(key, at) else {
            return key;
        };
        at += 2 + len;
    }
    &key[..(at + 1).min(key.len())]
}

/// The namespace ID, name and kind of a queue.
pub fn parse_queue(key: &[u8]) -> Option<(String, String, TaskKind)> {
    let mut at = 0;
    let namespace_id = read_str(key, &mut at)?;
    let task_queue = read_str(key, &mut at)?;
    let kind = kind_of(*key.get(at)?)?;
    Some((namespace_id, task_queue, kind))
}

/// The task an entry stands for, and when it became (or becomes) ready.
pub fn parse_task(key: &[u8]) -> Option<(TaskRef, Nanos)> {
    let mut at = 0;
    let namespace_id = read_str(key, &mut at)?;
    let task_queue = read_str(key, &mut at)?;
    let kind = kind_of(*key.get(at)?)?;
    at += 1;
    let ready = u64::from_be_bytes(key.get(at..at + 8)?.try_into().ok()?);
    at += 8;
    let workflow_id = read_str(key, &mut at)?;
    let run_id = read_str(key, &mut at)?;
    let scheduled_event_id = i64::from_be_bytes(key.get(at..at + 8)?.try_into().ok()?);
    at += 8;
    let attempt = i32::from_be_bytes(key.get(at..at + 4)?.try_into().ok()?);
    let task = TaskRef {
        run: RunKey {
            namespace_id,
            workflow_id,
            run_id,
        },
        kind,
        task_queue,
        scheduled_event_id,
        attempt,
    };
    Some((task, time_of(ready)))
}

fn task_key(task: &TaskRef, ready: Nanos) -> TaskKey {
    let mut key = queue_key(&task.run.namespace_id, &task.task_queue, task.kind);
    key.extend_from_slice(&ordered_time(ready).to_be_bytes());
    push_str(&mut key, &task.run.workflow_id);
    push_str(&mut key, &task.run.run_id);
    key.extend_from_slice(&task.scheduled_event_id.to_be_bytes());
    key.extend_from_slice(&task.attempt.to_be_bytes());
    key
}

/// The entry of a run's workflow task, while it waits for a worker.
fn workflow_task_entry(run: &RunKey, task: &WorkflowTaskInfo) -> Option<TaskKey> {
    (!task.is_started()).then(|| task_key(&TaskRef::workflow(run, task), task.scheduled_time))
}

/// The entry of an activity's attempt, while it waits for a worker or its backoff.
fn activity_entry(run: &RunKey, activity: &ActivityInfo) -> Option<TaskKey> {
    (!activity.is_started() && !activity.is_paused()).then(|| {
        task_key(
            &TaskRef::activity(run, activity),
            activity.attempt_scheduled_time,
        )
    })
}

fn kind_byte(kind: TaskKind) -> u8 {
    match kind {
        TaskKind::Workflow => b'W',
        TaskKind::Activity => b'A',
    }
}

fn kind_of(byte: u8) -> Option<TaskKind> {
    match byte {
        b'W' => Some(TaskKind::Workflow),
        b'A' => Some(TaskKind::Activity),
        _ => None,
    }
}

fn read_len(key: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes(
        key.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn read_str(key: &[u8], at: &mut usize) -> Option<String> {
    let len = read_len(key, *at)?;
    let s = std::str::from_utf8(key.get(*at + 2..*at + 2 + len)?).ok()?;
    *at += 2 + len;
    Some(s.to_string())
}

/// What a batch of transitions does to the task index, before it is written.
#[derive(Default)]
pub(crate) struct Staged {
    /// Per run, its held marks as the batch left them (`None`: removed).
    held: HashMap<RunKey, BTreeMap<Vec<u8>, Option<TaskKey>>>,
    counts: HashMap<QueueKey, i64>,
    changes: Vec<TaskChange>,
}

impl StateDb {
    /// Adds to `batch` what the transition changes in the partition's task index. `open` is
    /// whether the run is open after it.
    pub(crate) fn stage_tasks(
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
            // A closed or deleted run waits for nothing.
            for (mark, _) in self.held_marks(staged, partition, run)? {
                self.set_held(batch, staged, partition, run, mark, None, false)?;
            }
            return Ok(());
        }
        for (change, section) in transition.changes.iter().zip(sections) {
            let (mark, wanted, started) = match (change.kind, section) {
                (SectionKind::Run, Some(Section::Run(fields))) => {
                    let fields: &MutableState = fields;
                    let task = fields.workflow_task.as_ref();
                    (
                        vec![WORKFLOW_TASK],
                        task.and_then(|t| workflow_task_entry(run, t)),
                        task.is_some_and(WorkflowTaskInfo::is_started),
                    )
                }
                (SectionKind::Activity, section) => {
                    let mut mark = vec![ACTIVITY];
                    mark.extend_from_slice(&change.id.to_be_bytes());
                    match section {
                        Some(Section::Activity(activity)) => {
                            (mark, activity_entry(run, activity), activity.is_started())
                        }
                        _ => (mark, None, false),
                    }
                }
                _ => continue,
            };
            self.set_held(batch, staged, partition, run, mark, wanted, started)?;
        }
        Ok(())
    }

    /// Points a run's mark at `wanted`, moving the index entry and the queue counts.
    #[allow(clippy::too_many_arguments)]
    fn set_held(
        &self,
        batch: &mut WriteBatch,
        staged: &mut Staged,
        partition: PartitionId,
        run: &RunKey,
        mark: Vec<u8>,
        wanted: Option<TaskKey>,
        started: bool,
    ) -> Result<(), StateError> {
        let current = match staged.held.get(run).and_then(|marks| marks.get(&mark)) {
            Some(current) => current.clone(),
            None => self.db.get(keys::held(partition, run, &mark))?,
        };
        if current == wanted {
            return Ok(());
        }
        if let Some(old) = current {
            batch.delete(keys::task(partition, &old));
            *staged.counts.entry(queue_of(&old).to_vec()).or_default() -= 1;
            staged.changes.push(TaskChange {
                key: old,
                kind: if started {
                    TaskChangeKind::Started
                } else {
                    TaskChangeKind::Withdrawn
                },
            });
        }
        match &wanted {
            Some(new) => {
                batch.put(keys::task(partition, new), []);
                batch.put(keys::held(partition, run, &mark), new);
                *staged.counts.entry(queue_of(new).to_vec()).or_default() += 1;
                staged.changes.push(TaskChange {
                    key: new.clone(),
                    kind: TaskChangeKind::Added,
                });
            }
            None => batch.delete(keys::held(partition, run, &mark)),
        }
        staged
            .held
            .entry(run.clone())
            .or_default()
            .insert(mark, wanted);
        Ok(())
    }

    /// A run's marks with what they point at, as the batch so far leaves them.
    fn held_marks(
        &self,
        staged: &Staged,
        partition: PartitionId,
        run: &RunKey,
    ) -> Result<Vec<(Vec<u8>, TaskKey)>, StateError> {
        let mut marks: BTreeMap<Vec<u8>, Option<TaskKey>> = self
            .under(&keys::held(partition, run, &[]))?
            .into_iter()
            .map(|(mark, key)| (mark, Some(key)))
            .collect();
        if let Some(staged) = staged.held.get(run) {
            for (mark, key) in staged {
                marks.insert(mark.clone(), key.clone());
            }
        }
        Ok(marks
            .into_iter()
            .filter_map(|(mark, key)| Some((mark, key?)))
            .collect())
    }

    /// Adds the queue counts a batch moved to it, and returns what it did to the entries.
    pub(crate) fn stage_task_counts(
        &self,
        batch: &mut WriteBatch,
        staged: Staged,
        partition: PartitionId,
    ) -> Result<Vec<TaskChange>, StateError> {
        for (queue, delta) in staged.counts {
            self.stage_count(batch, keys::waiting(partition, &queue), delta)?;
        }
        Ok(staged.changes)
    }

    /// Up to `limit` tasks of a queue after `after` (from its first when `None`) that are
    /// ready at `now`, in the order they became ready.
    pub fn ready_tasks(
        &self,
        partition: PartitionId,
        queue: &[u8],
        after: Option<&[u8]>,
        now: Nanos,
        limit: usize,
    ) -> Result<Vec<(TaskKey, TaskRef)>, StateError> {
        let prefix = keys::task(partition, queue);
        let mut iter = self.db.raw_iterator();
        match after {
            Some(after) => {
                let mut from = keys::task(partition, after);
                // The smallest key past `after`.
                from.push(0);
                iter.seek(&from);
            }
            None => iter.seek(&prefix),
        }
        let table = keys::task(partition, &[]).len();
        let mut out = Vec::new();
        while out.len() < limit
            && let Some(key) = iter.key()
        {
            if !key.starts_with(&prefix) {
                break;
            }
            let entry = &key[table..];
            let (task, ready) =
                parse_task(entry).ok_or(StateError::Malformed { table: "tasks" })?;
            if ready > now {
                // The rest of the queue becomes ready later still.
                break;
            }
            out.push((entry.to_vec(), task));
            iter.next();
        }
        iter.status()?;
        Ok(out)
    }

    /// Every queue that has tasks of the partition waiting, with how many.
    pub fn task_queues(&self, partition: PartitionId) -> Result<Vec<(QueueKey, i64)>, StateError> {
        let table = keys::waiting(partition, &[]);
        let mut iter = self.db.raw_iterator();
        iter.seek(&table);
        let mut out = Vec::new();
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            if !key.starts_with(&table) {
                break;
            }
            out.push((key[table.len()..].to_vec(), read_count(value)));
            iter.next();
        }
        iter.status()?;
        Ok(out)
    }

    /// How many tasks of a queue wait in the partition, started by no worker yet.
    pub fn waiting_tasks(&self, partition: PartitionId, queue: &[u8]) -> Result<i64, StateError> {
        Ok(self
            .db
            .get(keys::waiting(partition, queue))?
            .as_deref()
            .map_or(0, read_count))
    }
}
