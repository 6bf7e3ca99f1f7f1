//! What a partition round made durable, and the one task that acts on it outside the loop:
//! ready tasks go to matching, transfers to their carrier, and the workflows that changed
//! to whoever waits on them (history long polls, queries). A partition loop only appends,
//! applies and answers; it hands one [`Committed`] per round here, in order.

use std::sync::Arc;

use cairn_engine::{TaskRef, WorkflowKey, transfer::Transfer};
use tokio::sync::mpsc;

use crate::{Changed, SharedTaskSink, transfers::Transfers};

/// The effects of what one round (or a partition's load) made durable.
#[derive(Debug, Default)]
pub(crate) struct Committed {
    /// Tasks that became ready for a worker.
    pub tasks: Vec<TaskRef>,
    /// Tasks handed earlier that no longer wait: matching drops its copies.
    pub withdrawn: Vec<TaskRef>,
    /// What runs now owe other workflows (sent again until settled).
    pub transfers: Vec<Transfer>,
    /// Workflows whose runs changed.
    pub changed: Vec<WorkflowKey>,
}

/// Where partition loops hand what they committed.
pub(crate) type Effects = mpsc::UnboundedSender<Committed>;

/// Acts on committed values, in the order the loops handed them, until every loop and the
/// history handle are gone.
pub(crate) async fn carry_out(
    mut committed: mpsc::UnboundedReceiver<Committed>,
    sink: SharedTaskSink,
    transfers: Arc<Transfers>,
    changed: Changed,
) {
    while let Some(first) = committed.recv().await {
        // Whatever else is already waiting goes out with it: one dispatch, one wake-up.
        let Committed {
            mut tasks,
            mut withdrawn,
            transfers: mut owed,
            changed: mut workflows,
        } = first;
        while let Ok(more) = committed.try_recv() {
            if !more.withdrawn.is_empty() {
                // Handed earlier in these rounds and withdrawn since: not handed at all.
                let gone: std::collections::HashSet<&TaskRef> = more.withdrawn.iter().collect();
                tasks.retain(|task| !gone.contains(task));
            }
            tasks.extend(more.tasks);
            withdrawn.extend(more.withdrawn);
            owed.extend(more.transfers);
            workflows.extend(more.changed);
        }
        if !workflows.is_empty() {
            // Nobody listening is fine: long polls subscribe only while they wait.
            let _listeners = changed.send(Arc::new(workflows));
        }
        // Withdrawn before added: what is added is what waits after these rounds.
        if !withdrawn.is_empty() {
            sink.withdraw(withdrawn);
        }
        if !tasks.is_empty() {
            sink.dispatch(tasks);
        }
        if !owed.is_empty() {
            transfers.send(owed);
        }
    }
}
