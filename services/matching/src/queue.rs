//! One task queue: a backlog of tasks and a line of waiting pollers. At any time at most one
//! of the two is non-empty.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    time::{Duration, Instant},
};

use cairn_engine::{TaskKind, TaskRef};
use cairn_history::QueryTask;
use tokio::sync::oneshot;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueKey {
    namespace_id: String,
    name: String,
    kind: TaskKind,
}

impl QueueKey {
    pub fn new(namespace_id: &str, name: &str, kind: TaskKind) -> Self {
        Self {
            namespace_id: namespace_id.to_string(),
            name: name.to_string(),
            kind,
        }
    }

    pub fn parts(&self) -> (&str, &str, TaskKind) {
        (&self.namespace_id, &self.name, self.kind)
    }
}

#[derive(Debug, Clone)]
pub enum Item {
    Task(TaskRef),
    Query(QueryTask),
}

/// How [`Queue::offer`] placed an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Straight to a waiting poller.
    Sync,
    /// Into the backlog.
    Backlog,
    /// Nowhere: the same task already waits.
    Duplicate,
}

#[derive(Default)]
pub struct Queue {
    /// Waiting items by arrival, with the time each arrived.
    backlog: BTreeMap<u64, (Item, Instant)>,
    next: u64,
    /// Where each backlogged task waits, by identity (see [`identity`]): a task dispatched
    /// twice waits once, and a withdrawn one is found.
    queued: HashMap<u128, u64>,
    pollers: VecDeque<oneshot::Sender<Item>>,
}

/// A task's identity in 16 bytes rather than a second copy of it: a backlog of a million
/// tasks keeps each once. Two tasks meet the same identity with a chance of about 2^-128 per
/// pair.
fn identity(task: &TaskRef) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in [
        task.run.namespace_id.as_bytes(),
        task.run.workflow_id.as_bytes(),
        task.run.run_id.as_bytes(),
        task.task_queue.as_bytes(),
    ] {
        hasher.update(&(part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.update(&[task.kind as u8]);
    hasher.update(&task.scheduled_event_id.to_be_bytes());
    hasher.update(&task.attempt.to_be_bytes());
    hasher.digest128()
}

impl Queue {
    /// Hands the item to the first poller still waiting, or adds it to the backlog.
    pub fn offer(&mut self, mut item: Item) -> Placed {
        if let Item::Task(task) = &item
            && self.queued.contains_key(&identity(task))
        {
            return Placed::Duplicate;
        }
        while let Some(poller) = self.pollers.pop_front() {
            match poller.send(item) {
                Ok(()) => return Placed::Sync,
                Err(returned) => item = returned,
            }
        }
        let at = self.next;
        self.next += 1;
        if let Item::Task(task) = &item {
            self.queued.insert(identity(task), at);
        }
        self.backlog.insert(at, (item, Instant::now()));
        Placed::Backlog
    }

    /// The item that waited longest, and how long it waited.
    pub fn take(&mut self) -> Option<(Item, Duration)> {
        let (_, (item, arrived)) = self.backlog.pop_first()?;
        if let Item::Task(task) = &item {
            self.queued.remove(&identity(task));
        }
        Some((item, arrived.elapsed()))
    }

    /// Drops the task from the backlog, if it waits there.
    pub fn withdraw(&mut self, task: &TaskRef) {
        if let Some(at) = self.queued.remove(&identity(task)) {
            self.backlog.remove(&at);
        }
    }

    pub fn wait(&mut self) -> oneshot::Receiver<Item> {
        let (sender, receiver) = oneshot::channel();
        self.pollers.retain(|p| !p.is_closed());
        self.pollers.push_back(sender);
        receiver
    }

    pub fn len(&self) -> usize {
        self.backlog.len()
    }
}
