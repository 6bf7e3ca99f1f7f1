//! Which of a partition's waiting tasks matching holds. Every waiting task is in the
//! partition's task index (RocksDB, written with the state); matching holds, per queue, at
//! most a window of them: the first to have become ready. As workers start tasks the window
//! moves on through the index, so a queue with a million tasks and no worker costs matching
//! a window, not a million, and a new owner or a new matching node gets windows, not every
//! task at once.
//!
//! A task handed to matching that stops waiting without a worker starting it (its run closed,
//! it timed out or moved to another queue) is withdrawn from matching, so stale copies do not
//! take the window's room.

use std::collections::{BTreeSet, HashMap, HashSet};

use cairn_engine::{PartitionId, TaskRef, time::Nanos};
use cairn_state::{QueueKey, StateDb, StateError, TaskChange, TaskChangeKind, TaskKey};

/// Tasks of one queue a partition hands matching at most, unless configured.
pub const DEFAULT_TASK_WINDOW: usize = 1000;

pub(crate) struct Windows {
    partition: PartitionId,
    limit: usize,
    queues: HashMap<QueueKey, Window>,
}

#[derive(Default)]
struct Window {
    /// The entries handed to matching that still wait, in the index's order.
    handed: BTreeSet<TaskKey>,
    /// Whether tasks that are ready may wait in the index past the window.
    behind: bool,
}

/// What to tell matching.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    /// Tasks to add to its queues.
    pub handed: Vec<TaskRef>,
    /// Tasks it may hold that no longer wait.
    pub withdrawn: Vec<TaskRef>,
}

impl Windows {
    pub(crate) fn new(partition: PartitionId, limit: usize) -> Self {
        Self {
            partition,
            limit: limit.max(1),
            queues: HashMap::new(),
        }
    }

    /// Forgets what matching holds (a new owner, or a matching node that went away) and
    /// hands each queue's first window again.
    pub(crate) fn reset(&mut self, db: &StateDb, now: Nanos) -> Result<Vec<TaskRef>, StateError> {
        self.queues.clear();
        let mut handed = Vec::new();
        for (queue, _) in db.task_queues(self.partition)? {
            self.queues.insert(
                queue.clone(),
                Window {
                    handed: BTreeSet::new(),
                    behind: true,
                },
            );
            self.refill(db, &queue, now, &mut handed)?;
        }
        self.queues
            .retain(|_, window| window.behind || !window.handed.is_empty());
        Ok(handed)
    }

    /// Takes what a round did to the index, and the tasks the round made ready (some of
    /// them only by time, an activity's retry backoff ending): moves the windows and says
    /// what matching must add and drop.
    pub(crate) fn settle(
        &mut self,
        db: &StateDb,
        changes: Vec<TaskChange>,
        ready: &[TaskRef],
        now: Nanos,
    ) -> Result<Settled, StateError> {
        let mut settled = Settled::default();
        let mut touched: HashSet<QueueKey> = HashSet::new();
        let mut added: HashSet<TaskRef> = HashSet::new();
        for change in changes {
            let queue = cairn_state::queue_of(&change.key).to_vec();
            let Some((task, ready_at)) = cairn_state::parse_task(&change.key) else {
                return Err(StateError::Malformed { table: "tasks" });
            };
            match change.kind {
                TaskChangeKind::Started | TaskChangeKind::Withdrawn => {
                    if let Some(window) = self.queues.get_mut(&queue)
                        && window.handed.remove(&change.key)
                    {
                        if change.kind == TaskChangeKind::Withdrawn {
                            settled.withdrawn.push(task);
                        }
                        touched.insert(queue);
                    }
                }
                TaskChangeKind::Added => {
                    added.insert(task.clone());
                    if ready_at > now {
                        // Its backoff's deadline makes it ready, and names it then.
                        continue;
                    }
                    let window = self.queues.entry(queue.clone()).or_default();
                    let earlier = window.handed.last().is_some_and(|last| change.key < *last);
                    if earlier || (!window.behind && window.handed.len() < self.limit) {
                        window.handed.insert(change.key);
                        settled.handed.push(task);
                    } else {
                        window.behind = true;
                        touched.insert(queue);
                    }
                }
            }
        }
        // A task ready by time alone is in the index already; its window reads it.
        for task in ready.iter().filter(|task| !added.contains(*task)) {
            let queue = cairn_state::queue_key(&task.run.namespace_id, &task.task_queue, task.kind);
            self.queues.entry(queue.clone()).or_default().behind = true;
            touched.insert(queue);
        }
        for queue in &touched {
            self.refill(db, queue, now, &mut settled.handed)?;
        }
        for queue in touched {
            if let Some(window) = self.queues.get(&queue)
                && !window.behind
                && window.handed.is_empty()
            {
                self.queues.remove(&queue);
            }
        }
        Ok(settled)
    }

    /// Hands the queue's next ready tasks, up to the window, when some may be waiting.
    fn refill(
        &mut self,
        db: &StateDb,
        queue: &[u8],
        now: Nanos,
        handed: &mut Vec<TaskRef>,
    ) -> Result<(), StateError> {
        let Some(window) = self.queues.get_mut(queue) else {
            return Ok(());
        };
        if !window.behind || window.handed.len() >= self.limit {
            return Ok(());
        }
        let room = self.limit - window.handed.len();
        let next = db.ready_tasks(
            self.partition,
            queue,
            window.handed.last().map(Vec::as_slice),
            now,
            room,
        )?;
        if next.len() < room {
            window.behind = false;
        }
        for (key, task) in next {
            window.handed.insert(key);
            handed.push(task);
        }
        Ok(())
    }
}
