//! Carrying transfers between workflows (see `cairn_engine::transfer`): once a record that
//! makes a transfer pending is durable, the owner of its run delivers it to the owner of the
//! other workflow (here or on a peer) and records the outcome in the run, retrying until
//! both are done or the partition moves away (its new owner sends what is still pending).
//! What delivering and settling do to the runs is the engine's (`cairn_engine::delivery`);
//! this is the I/O around it.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use cairn_engine::{
    EngineError, RunKey,
    transfer::{Transfer, TransferOutcome},
};
use prost::Message;
use tracing::{Instrument, debug};

use crate::{History, HistoryError, handle::Inner};

/// How long a transfer waits before trying again, at first and at most.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(10);

type Key = (RunKey, i64, u8);

/// The transfers this node is carrying, each once at a time.
pub(crate) struct Transfers {
    history: Weak<Inner>,
    in_flight: Mutex<HashSet<Key>>,
}

impl Transfers {
    pub(crate) fn new(history: Weak<Inner>) -> Self {
        Self {
            history,
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    /// Starts carrying each transfer not already under way.
    pub(crate) fn send(self: &Arc<Self>, transfers: Vec<Transfer>) {
        for transfer in transfers {
            let key = transfer.key();
            let fresh = self
                .in_flight
                .lock()
                .expect("transfer lock is not poisoned")
                .insert(key.clone());
            if fresh {
                let Some(inner) = self.history.upgrade() else {
                    return;
                };
                // A transfer that died would stay marked as under way: the node stops, and
                // the partition's next owner carries it.
                cairn_runtime::supervise(
                    "transfer",
                    cairn_runtime::Failure::StopsNode(inner.failed.clone()),
                    Arc::clone(self).carry(transfer, key),
                );
            }
        }
    }

    async fn carry(self: Arc<Self>, transfer: Transfer, key: Key) {
        let mut wait = FIRST_RETRY;
        loop {
            let Some(inner) = self.history.upgrade() else {
                break;
            };
            let history = History::from_inner(inner);
            let origin = transfer.origin().partition(history.partitions());
            if !history.owns(origin) {
                break;
            }
            match history.carry(&transfer).await {
                Ok(()) => break,
                Err(error) => {
                    debug!(?key, error = %cairn_runtime::report(&error), "transfer failed, retrying");
                    drop(history);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_RETRY);
                }
            }
        }
        self.in_flight
            .lock()
            .expect("transfer lock is not poisoned")
            .remove(&key);
    }
}

impl History {
    /// Delivers a transfer and records its outcome in the run that owes it.
    async fn carry(&self, transfer: &Transfer) -> Result<(), HistoryError> {
        let span = tracing::info_span!(
            parent: None,
            "transfer",
            from = %transfer.origin().workflow_id,
            to = %transfer.target().workflow_id
        );
        self.carry_in(transfer).instrument(span).await
    }

    async fn carry_in(&self, transfer: &Transfer) -> Result<(), HistoryError> {
        let mut transfer = transfer.clone();
        if let Transfer::ChildClosed {
            child, close_event, ..
        }
        | Transfer::ScheduledClosed {
            workflow: child,
            close_event,
            ..
        } = &mut transfer
        {
            let state = self.describe(child.clone()).await?;
            let events = self
                .events(
                    child,
                    state.completion_event_id,
                    state.completion_event_id + 1,
                )
                .await?;
            *close_event = events
                .first()
                .map(Message::encode_to_vec)
                .ok_or_else(|| HistoryError::Engine(EngineError::run_not_found(child)))?;
        }
        let outcome = self.deliver(transfer.clone()).await?;
        self.settle(transfer, outcome).await
    }

    /// Applies a transfer to the workflow it acts on, wherever its partition is owned.
    pub async fn deliver(&self, transfer: Transfer) -> Result<TransferOutcome, HistoryError> {
        let partition = transfer.target().partition(self.partitions());
        if let Some(peers) = self.remote(partition) {
            return peers.deliver(transfer).await;
        }
        self.submit(partition, "deliver_transfer", move |work| {
            cairn_engine::delivery::deliver(work, &transfer)
        })
        .await
    }

    /// Records a transfer's outcome in the run that owes it. A partition no longer owned
    /// here is left to its new owner.
    async fn settle(
        &self,
        transfer: Transfer,
        outcome: TransferOutcome,
    ) -> Result<(), HistoryError> {
        let origin = transfer.origin().clone();
        let partition = origin.partition(self.partitions());
        if !self.owns(partition) {
            return Ok(());
        }
        self.submit(partition, "settle_transfer", move |work| {
            cairn_engine::delivery::settle(work, &transfer, &outcome)
        })
        .await
    }
}
