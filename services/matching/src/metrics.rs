//! How tasks meet their pollers, for `/metrics`: by queue, how many went straight to a
//! waiting poller (sync match) and how many waited in the backlog, and how long the latter
//! waited in matching before a poller took them. A task waiting beyond its queue's window,
//! in history's task index, is counted from when it is handed over.

use cairn_engine::TaskKind;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MatchLabels {
    pub namespace_id: String,
    pub task_queue: String,
    pub kind: String,
    /// `sync` or `backlog`.
    pub how: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WaitLabels {
    pub namespace_id: String,
    pub task_queue: String,
    pub kind: String,
}

type Waits = Family<WaitLabels, Histogram, fn() -> Histogram>;

fn wait_histogram() -> Histogram {
    // 1 ms to about 9 hours.
    Histogram::new(exponential_buckets(0.001, 4.0, 13))
}

/// The counts and waits, shared with the registry that serves them.
#[derive(Clone)]
pub struct MatchMetrics {
    pub matched: Family<MatchLabels, Counter>,
    pub waited: Waits,
}

impl Default for MatchMetrics {
    fn default() -> Self {
        Self {
            matched: Family::default(),
            waited: Waits::new_with_constructor(wait_histogram as fn() -> Histogram),
        }
    }
}

impl MatchMetrics {
    pub(crate) fn count(&self, namespace_id: &str, task_queue: &str, kind: TaskKind, how: &str) {
        self.matched
            .get_or_create(&MatchLabels {
                namespace_id: namespace_id.to_string(),
                task_queue: task_queue.to_string(),
                kind: kind_name(kind),
                how: how.to_string(),
            })
            .inc();
    }

    pub(crate) fn wait(&self, namespace_id: &str, task_queue: &str, kind: TaskKind, seconds: f64) {
        self.waited
            .get_or_create(&WaitLabels {
                namespace_id: namespace_id.to_string(),
                task_queue: task_queue.to_string(),
                kind: kind_name(kind),
            })
            .observe(seconds);
    }
}

fn kind_name(kind: TaskKind) -> String {
    format!("{kind:?}").to_lowercase()
}
