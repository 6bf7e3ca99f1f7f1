//! Matching: task queues held in memory. A task that becomes ready goes straight to a poller
//! that is waiting (sync match) or waits in its queue's backlog. Backlogs are rebuildable:
//! history dispatches every pending task again when it loads a partition, and history
//! refuses stale or duplicate tasks when a poller asks to start them.
//!
//! A poll that times out or whose client goes away gives any task it was handed back to the
//! queue, so a task is never lost between a match and a poller that vanished.

mod queue;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use cairn_engine::{RunKey, TaskKind, TaskRef};
use cairn_history::TaskSink;
use tokio::sync::oneshot;

pub use queue::{Item, QueryTask};
use queue::{Queue, QueueKey};

#[derive(Clone, Default)]
pub struct Matching {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    queues: Mutex<HashMap<QueueKey, Queue>>,
    queries: Mutex<HashMap<String, oneshot::Sender<QueryAnswer>>>,
    /// Queries riding on a run's next workflow task.
    attached: Mutex<HashMap<RunKey, Vec<QueryTask>>>,
}

/// A worker's answer to a query task.
#[derive(Debug, Clone)]
pub enum QueryAnswer {
    Answered(Option<cairn_engine::proto::common::Payloads>),
    Failed(String),
}

impl TaskSink for Matching {
    fn dispatch(&self, tasks: Vec<TaskRef>) {
        for task in tasks {
            let key = QueueKey::new(&task.run.namespace_id, &task.task_queue, task.kind);
            self.offer(key, Item::Task(task));
        }
    }
}

impl Matching {
    pub fn new() -> Self {
        Self::default()
    }

    fn offer(&self, key: QueueKey, item: Item) {
        let mut queues = self
            .inner
            .queues
            .lock()
            .expect("matching lock is not poisoned");
        queues.entry(key).or_default().offer(item);
    }

    /// Waits up to `wait` for a task of the queue. Returns `None` when none came in time.
    pub async fn poll(
        &self,
        namespace_id: &str,
        task_queue: &str,
        kind: TaskKind,
        wait: Duration,
    ) -> Option<Item> {
        let key = QueueKey::new(namespace_id, task_queue, kind);
        let receiver = {
            let mut queues = self
                .inner
                .queues
                .lock()
                .expect("matching lock is not poisoned");
            let queue = queues.entry(key.clone()).or_default();
            if let Some(item) = queue.take() {
                return Some(item);
            }
            queue.wait()
        };
        let mut guard = PollGuard {
            matching: self.clone(),
            key,
            receiver: Some(receiver),
        };
        let receiver = guard.receiver.as_mut().expect("set above");
        match tokio::time::timeout(wait, receiver).await {
            Ok(Ok(item)) => {
                guard.receiver = None;
                Some(item)
            }
            // The guard returns a task that raced with the timeout to the queue.
            _ => None,
        }
    }

    /// Registers a query whose answer a worker will deliver; the registration ends when the
    /// returned waiter is dropped.
    pub fn expect_answer(&self, query_id: &str) -> AnswerWaiter {
        let (answer, answered) = oneshot::channel();
        self.inner
            .queries
            .lock()
            .expect("matching lock is not poisoned")
            .insert(query_id.to_string(), answer);
        AnswerWaiter {
            matching: self.clone(),
            query_id: query_id.to_string(),
            answered,
        }
    }

    /// Hands a query to a poller of the workflow's task queue as a query task of its own
    /// (when the run has no workflow task pending).
    pub fn dispatch_query(&self, namespace_id: &str, task_queue: &str, task: QueryTask) {
        self.offer(
            QueueKey::new(namespace_id, task_queue, TaskKind::Workflow),
            Item::Query(task),
        );
    }

    /// Attaches a query to the run's pending workflow task: the poller that starts the task
    /// takes it, and the worker answers with the task's completion.
    pub fn attach_query(&self, task: QueryTask) {
        let mut attached = self
            .inner
            .attached
            .lock()
            .expect("matching lock is not poisoned");
        attached.entry(task.run.clone()).or_default().push(task);
    }

    /// The queries attached to a run's workflow task, for the poller that started it.
    pub fn take_attached(&self, run: &RunKey) -> Vec<QueryTask> {
        self.inner
            .attached
            .lock()
            .expect("matching lock is not poisoned")
            .remove(run)
            .unwrap_or_default()
    }

    /// Detaches a query no poller took; false when a worker already has it.
    pub fn withdraw(&self, run: &RunKey, query_id: &str) -> bool {
        let mut attached = self
            .inner
            .attached
            .lock()
            .expect("matching lock is not poisoned");
        let Some(queries) = attached.get_mut(run) else {
            return false;
        };
        let before = queries.len();
        queries.retain(|q| q.query_id != query_id);
        let withdrawn = queries.len() < before;
        if queries.is_empty() {
            attached.remove(run);
        }
        withdrawn
    }

    /// Delivers a worker's answer to the waiting query; false when nobody waits for it.
    pub fn answer_query(&self, query_id: &str, answer: QueryAnswer) -> bool {
        let waiting = self
            .inner
            .queries
            .lock()
            .expect("matching lock is not poisoned")
            .remove(query_id);
        waiting.is_some_and(|sender| sender.send(answer).is_ok())
    }

    /// Removes and returns every task waiting in a queue (a sticky queue whose worker left).
    pub fn drain(&self, namespace_id: &str, task_queue: &str, kind: TaskKind) -> Vec<TaskRef> {
        let mut queues = self
            .inner
            .queues
            .lock()
            .expect("matching lock is not poisoned");
        let Some(mut queue) = queues.remove(&QueueKey::new(namespace_id, task_queue, kind)) else {
            return Vec::new();
        };
        let mut tasks = Vec::new();
        while let Some(item) = queue.take() {
            if let Item::Task(task) = item {
                tasks.push(task);
            }
        }
        tasks
    }

    /// Tasks waiting in a queue's backlog.
    pub fn backlog(&self, namespace_id: &str, task_queue: &str, kind: TaskKind) -> usize {
        let queues = self
            .inner
            .queues
            .lock()
            .expect("matching lock is not poisoned");
        queues
            .get(&QueueKey::new(namespace_id, task_queue, kind))
            .map_or(0, Queue::len)
    }
}

/// Waits for a worker's answer to one query.
pub struct AnswerWaiter {
    matching: Matching,
    query_id: String,
    answered: oneshot::Receiver<QueryAnswer>,
}

impl AnswerWaiter {
    /// The answer, or `None` when the registration ended without one.
    pub async fn answered(&mut self) -> Option<QueryAnswer> {
        (&mut self.answered).await.ok()
    }
}

impl Drop for AnswerWaiter {
    fn drop(&mut self) {
        self.matching
            .inner
            .queries
            .lock()
            .expect("matching lock is not poisoned")
            .remove(&self.query_id);
    }
}

/// Gives back a task that was matched to a poll that ended before reading it.
struct PollGuard {
    matching: Matching,
    key: QueueKey,
    receiver: Option<oneshot::Receiver<Item>>,
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.close();
            if let Ok(item) = receiver.try_recv() {
                self.matching.offer(self.key.clone(), item);
            }
        }
    }
}

#[cfg(test)]
mod tests;
