//! Queries in flight, brokered by the history owner of their run: a query waits here for
//! its answer, riding on the run's pending workflow task or as a query task of its own, and
//! the worker's answer (with a task completion or on its own) is delivered here. The owner
//! of the run is the one place every path to a query meets.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use cairn_engine::{
    RunKey,
    proto::{common::Payloads, query::WorkflowQuery},
};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// A query for a worker of the workflow's task queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryTask {
    pub query_id: String,
    pub run: RunKey,
    pub query: WorkflowQuery,
}

/// A worker's answer to a query task.
#[derive(Debug, Clone)]
pub enum QueryAnswer {
    Answered(Option<Payloads>),
    Failed(String),
}

#[derive(Clone, Default)]
pub struct Queries {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    waiting: Mutex<HashMap<String, oneshot::Sender<QueryAnswer>>>,
    /// Queries riding on a run's next workflow task.
    attached: Mutex<HashMap<RunKey, Vec<QueryTask>>>,
}

impl Queries {
    /// Registers a query whose answer a worker will deliver; the registration ends when the
    /// returned waiter is dropped.
    pub fn expect_answer(&self, query_id: &str) -> AnswerWaiter {
        let (answer, answered) = oneshot::channel();
        self.inner
            .waiting
            .lock()
            .expect("query lock is not poisoned")
            .insert(query_id.to_string(), answer);
        AnswerWaiter {
            queries: self.clone(),
            query_id: query_id.to_string(),
            answered,
        }
    }

    /// Attaches a query to the run's pending workflow task: the poller that starts the task
    /// takes it, and the worker answers with the task's completion.
    pub fn attach(&self, task: QueryTask) {
        let mut attached = self
            .inner
            .attached
            .lock()
            .expect("query lock is not poisoned");
        attached.entry(task.run.clone()).or_default().push(task);
    }

    /// The queries attached to a run's workflow task, for the poller that started it.
    pub fn take_attached(&self, run: &RunKey) -> Vec<QueryTask> {
        let taken = self
            .inner
            .attached
            .lock()
            .expect("query lock is not poisoned")
            .remove(run)
            .unwrap_or_default();
        for query in &taken {
            tracing::debug!(query_id = %query.query_id, run = %run.run_id, "query taken by a started workflow task");
        }
        taken
    }

    /// Detaches a query no poller took; false when a worker already has it.
    pub fn withdraw(&self, run: &RunKey, query_id: &str) -> bool {
        let mut attached = self
            .inner
            .attached
            .lock()
            .expect("query lock is not poisoned");
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
    pub fn answer(&self, query_id: &str, answer: QueryAnswer) -> bool {
        tracing::debug!(query_id, ?answer, "query answered");
        let waiting = self
            .inner
            .waiting
            .lock()
            .expect("query lock is not poisoned")
            .remove(query_id);
        waiting.is_some_and(|sender| sender.send(answer).is_ok())
    }
}

/// Waits for a worker's answer to one query.
pub struct AnswerWaiter {
    queries: Queries,
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
        self.queries
            .inner
            .waiting
            .lock()
            .expect("query lock is not poisoned")
            .remove(&self.query_id);
    }
}
