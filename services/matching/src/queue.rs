//! One task queue: a backlog of tasks and a line of waiting pollers. At any time at most one
//! of the two is non-empty.

use std::collections::{HashSet, VecDeque};

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

#[derive(Default)]
pub struct Queue {
    backlog: VecDeque<Item>,
    /// Identities of backlogged tasks, so a task dispatched twice waits once.
    queued: HashSet<TaskRef>,
    pollers: VecDeque<oneshot::Sender<Item>>,
}

impl Queue {
    /// Hands the item to the first poller still waiting, or adds it to the backlog.
    pub fn offer(&mut self, mut item: Item) {
        if let Item::Task(task) = &item
            && self.queued.contains(task)
        {
            return;
        }
        while let Some(poller) = self.pollers.pop_front() {
            match poller.send(item) {
                Ok(()) => return,
                Err(returned) => item = returned,
            }
        }
        if let Item::Task(task) = &item {
            self.queued.insert(task.clone());
        }
        self.backlog.push_back(item);
    }

    pub fn take(&mut self) -> Option<Item> {
        let item = self.backlog.pop_front()?;
        if let Item::Task(task) = &item {
            self.queued.remove(task);
        }
        Some(item)
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
