//! The workers that poll each task queue, as DescribeTaskQueue reports them: who, when they
//! last polled, and what they asked for. A poller not seen for five minutes is forgotten, as
//! in Temporal.

use std::{collections::HashMap, sync::Mutex};

use cairn_engine::TaskKind;

/// How long a poller is remembered after its last poll (Temporal's poller history TTL).
pub const POLLER_TTL: i64 = 5 * 60 * 1_000_000_000;

/// A worker seen polling one task queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Poller {
    pub identity: String,
    /// Unix nanoseconds of its last poll.
    pub last_access_time: i64,
    /// The task rate it asked for (`max_tasks_per_second`), Temporal's 100,000 when unset.
    pub rate_per_second: f64,
    pub build_id: String,
}

type Key = (String, String, TaskKind);

#[derive(Default)]
pub(crate) struct Pollers {
    by_queue: Mutex<HashMap<Key, HashMap<String, Poller>>>,
}

impl Pollers {
    pub(crate) fn record(
        &self,
        namespace_id: &str,
        task_queue: &str,
        kind: TaskKind,
        poller: Poller,
    ) {
        let mut by_queue = self.by_queue.lock().expect("pollers lock is not poisoned");
        let pollers = by_queue
            .entry((namespace_id.to_string(), task_queue.to_string(), kind))
            .or_default();
        pollers.retain(|_, seen| seen.last_access_time + POLLER_TTL > poller.last_access_time);
        pollers.insert(poller.identity.clone(), poller);
    }

    pub(crate) fn list(
        &self,
        namespace_id: &str,
        task_queue: &str,
        kind: TaskKind,
        now: i64,
    ) -> Vec<Poller> {
        let by_queue = self.by_queue.lock().expect("pollers lock is not poisoned");
        let mut pollers: Vec<Poller> = by_queue
            .get(&(namespace_id.to_string(), task_queue.to_string(), kind))
            .map(|pollers| {
                pollers
                    .values()
                    .filter(|seen| seen.last_access_time + POLLER_TTL > now)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        pollers.sort_by(|a, b| a.identity.cmp(&b.identity));
        pollers
    }
}
