//! Matching: task queues held in memory. A task that becomes ready goes straight to a poller
//! that is waiting (sync match) or waits in its queue's backlog. A backlog here is a window:
//! each history partition hands at most so many tasks of a queue at a time and keeps the
//! rest in its task index, handing more as workers start these. Backlogs are rebuildable:
//! history hands its windows again when it loads a partition or matching moves, withdraws
//! tasks that stopped waiting, and refuses stale or duplicate tasks when a poller asks to
//! start them.
//!
//! A poll that times out or whose client goes away gives any task it was handed back to the
//! queue, so a task is never lost between a match and a poller that vanished.

mod metrics;
mod pollers;
mod queue;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use cairn_engine::{TaskKind, TaskRef};
use cairn_history::{QueryTask, TaskSink};
use tokio::sync::oneshot;

pub use metrics::MatchMetrics;
pub use pollers::{POLLER_TTL, Poller};
pub use queue::Item;
use queue::{Placed, Queue, QueueKey};

#[derive(Clone, Default)]
pub struct Matching {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    queues: Mutex<HashMap<QueueKey, Queue>>,
    pollers: pollers::Pollers,
    metrics: MatchMetrics,
}

impl TaskSink for Matching {
    fn dispatch(&self, tasks: Vec<TaskRef>) {
        for task in tasks {
            let key = QueueKey::new(&task.run.namespace_id, &task.task_queue, task.kind);
            self.offer(key, Item::Task(task));
        }
    }

    fn withdraw(&self, tasks: Vec<TaskRef>) {
        let mut queues = self
            .inner
            .queues
            .lock()
            .expect("matching lock is not poisoned");
        for task in tasks {
            let key = QueueKey::new(&task.run.namespace_id, &task.task_queue, task.kind);
            if let Some(queue) = queues.get_mut(&key) {
                queue.withdraw(&task);
            }
        }
    }

    fn dispatch_query(&self, namespace_id: &str, task_queue: &str, task: QueryTask) {
        self.offer(
            QueueKey::new(namespace_id, task_queue, TaskKind::Workflow),
            Item::Query(task),
        );
    }
}

impl Matching {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a worker's poll of a task queue.
    pub fn record_poller(
        &self,
        namespace_id: &str,
        task_queue: &str,
        kind: TaskKind,
        poller: Poller,
    ) {
        self.inner
            .pollers
            .record(namespace_id, task_queue, kind, poller);
    }

    /// The workers that polled a task queue in the last five minutes, by identity.
    pub fn pollers(
        &self,
        namespace_id: &str,
        task_queue: &str,
        kind: TaskKind,
        now: i64,
    ) -> Vec<Poller> {
        self.inner.pollers.list(namespace_id, task_queue, kind, now)
    }

    /// How tasks met their pollers, for `/metrics`.
    pub fn metrics(&self) -> &MatchMetrics {
        &self.inner.metrics
    }

    fn offer(&self, key: QueueKey, item: Item) {
        let is_task = matches!(item, Item::Task(_));
        let placed = {
            let mut queues = self
                .inner
                .queues
                .lock()
                .expect("matching lock is not poisoned");
            queues.entry(key.clone()).or_default().offer(item)
        };
        if is_task && placed == Placed::Sync {
            let (namespace_id, name, kind) = key.parts();
            self.inner.metrics.count(namespace_id, name, kind, "sync");
            self.inner.metrics.wait(namespace_id, name, kind, 0.0);
        }
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
            if let Some((item, waited)) = queue.take() {
                if matches!(item, Item::Task(_)) {
                    self.inner
                        .metrics
                        .count(namespace_id, task_queue, kind, "backlog");
                    self.inner
                        .metrics
                        .wait(namespace_id, task_queue, kind, waited.as_secs_f64());
                }
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
        while let Some((item, _)) = queue.take() {
            if let Item::Task(task) = item {
                tasks.push(task);
            }
        }
        tasks
    }

    /// Drops every queue `keep` refuses (namespace ID, queue name): their backlogs go, and
    /// their waiting polls end empty so the workers poll again, where the queue moved.
    pub fn release_queues(&self, keep: impl Fn(&str, &str) -> bool) {
        let mut queues = self
            .inner
            .queues
            .lock()
            .expect("matching lock is not poisoned");
        queues.retain(|key, _| {
            let (namespace_id, name, _) = key.parts();
            keep(namespace_id, name)
        });
    }

    /// Every queue with tasks waiting: namespace ID, queue name, kind and backlog length.
    pub fn backlogs(&self) -> Vec<(String, String, TaskKind, usize)> {
        let queues = self
            .inner
            .queues
            .lock()
            .expect("matching lock is not poisoned");
        queues
            .iter()
            .filter(|(_, queue)| queue.len() > 0)
            .map(|(key, queue)| {
                let (namespace_id, name, kind) = key.parts();
                (
                    namespace_id.to_string(),
                    name.to_string(),
                    kind,
                    queue.len(),
                )
            })
            .collect()
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
