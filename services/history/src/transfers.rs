//! Carrying transfers between workflows (see `cairn_engine::transfer`): once a record that
//! makes a transfer pending is durable, the owner of its run delivers it to the owner of the
//! other workflow (here or on a peer) and records the outcome in the run, retrying until
//! both are done or the partition moves away (its new owner sends what is still pending).

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use cairn_engine::{
    RunKey,
    children::child_run_start,
    proto::{
        HistoryEvent,
        command::StartChildWorkflowExecutionCommandAttributes,
        command::{
            RequestCancelExternalWorkflowExecutionCommandAttributes as CancelCommand,
            SignalExternalWorkflowExecutionCommandAttributes as SignalCommand,
        },
        enums::WorkflowIdConflictPolicy,
        workflowservice::StartWorkflowExecutionRequest,
    },
    signal::Signal,
    start::{RunStart, StartDecision, decide_start},
    transfer::{Transfer, TransferOutcome},
};
use prost::Message;
use tracing::debug;

use crate::{History, HistoryError, handle::Inner, partition::not_found};

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
                .ok_or_else(|| HistoryError::Engine(not_found(child)))?;
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
        let request_id = transfer.request_id();
        let now_run = transfer.target();
        self.submit(partition, "deliver_transfer", move |work| {
            let outcome = match &transfer {
                Transfer::StartChild {
                    parent,
                    namespace,
                    initiated_event_id,
                    command,
                    root,
                } => {
                    let command =
                        StartChildWorkflowExecutionCommandAttributes::decode(command.as_slice())
                            .unwrap_or_default();
                    let current = work.current_state(&now_run.workflow())?;
                    let decision = decide_start(
                        current.as_ref(),
                        &request_id,
                        command.workflow_id_reuse_policy(),
                        WorkflowIdConflictPolicy::Fail,
                    );
                    match decision {
                        Ok(StartDecision::Existing { run_id, .. }) => {
                            TransferOutcome::ChildStarted { run_id }
                        }
                        Ok(decision) => {
                            if decision == StartDecision::TerminateThenNew
                                && let Some(current) = &current
                            {
                                work.update(&current.run, |tx| {
                                    tx.terminate(
                                        "TerminateIfRunning WorkflowIdReusePolicy",
                                        None,
                                        "history-service",
                                    )
                                })?;
                            }
                            let start = child_run_start(
                                parent,
                                root.as_ref(),
                                namespace,
                                *initiated_event_id,
                                &command,
                                request_id.clone(),
                                work.now(),
                            );
                            let run_id = start.run.run_id.clone();
                            let (state, changes) = cairn_engine::start::begin(start, work.now());
                            work.stage(state, changes);
                            TransferOutcome::ChildStarted { run_id }
                        }
                        Err(_already_started) => TransferOutcome::ChildAlreadyExists,
                    }
                }
                Transfer::External {
                    from,
                    initiated_event_id,
                    cancel,
                    command,
                    ..
                } => {
                    let target = match work.resolve(&now_run) {
                        Ok(run) => run,
                        Err(_) => return Ok(TransferOutcome::TargetNotFound),
                    };
                    let Some(state) = work.state(&target)? else {
                        return Ok(TransferOutcome::TargetNotFound);
                    };
                    let child_only = if *cancel {
                        CancelCommand::decode(command.as_slice())
                            .unwrap_or_default()
                            .child_workflow_only
                    } else {
                        SignalCommand::decode(command.as_slice())
                            .unwrap_or_default()
                            .child_workflow_only
                    };
                    if !state.is_open()
                        || (child_only
                            && state
                                .parent
                                .as_ref()
                                .is_none_or(|p| p.run.workflow() != from.workflow()))
                    {
                        return Ok(TransferOutcome::TargetNotFound);
                    }
                    if *cancel {
                        let a = CancelCommand::decode(command.as_slice()).unwrap_or_default();
                        work.update(&target, |tx| {
                            tx.request_cancel_from_workflow(from, *initiated_event_id, &a.reason)
                        })?;
                    } else {
                        let a = SignalCommand::decode(command.as_slice()).unwrap_or_default();
                        work.update(&target, |tx| {
                            tx.signal(Signal {
                                name: a.signal_name,
                                input: a.input,
                                identity: String::new(),
                                header: a.header,
                                request_id: request_id.clone(),
                            })
                        })?;
                    }
                    TransferOutcome::Delivered
                }
                Transfer::ChildClosed {
                    parent,
                    initiated_event_id,
                    close_event,
                    ..
                } => {
                    let event = HistoryEvent::decode(close_event.as_slice()).unwrap_or_default();
                    // A parent that is gone or closed has nothing left to learn.
                    if work.state(parent)?.is_some() {
                        work.update(parent, |tx| {
                            tx.record_child_closed(*initiated_event_id, &event);
                            Ok(())
                        })?;
                    }
                    TransferOutcome::Delivered
                }
                Transfer::ParentClosed {
                    child, terminate, ..
                } => {
                    let open = work.state(child)?.is_some_and(|state| state.is_open());
                    if open {
                        if *terminate {
                            work.update(child, |tx| {
                                tx.terminate("by parent close policy", None, "history-service")
                            })?;
                        } else {
                            work.update(child, |tx| {
                                tx.request_cancel("history-service", "by parent close policy")
                            })?;
                        }
                    }
                    TransferOutcome::Delivered
                }
                Transfer::StartScheduled {
                    schedule,
                    namespace,
                    request,
                    ..
                } => {
                    let request = StartWorkflowExecutionRequest::decode(request.as_slice())
                        .unwrap_or_default();
                    let current = work.current_state(&now_run.workflow())?;
                    match decide_start(
                        current.as_ref(),
                        &request.request_id,
                        request.workflow_id_reuse_policy(),
                        WorkflowIdConflictPolicy::Fail,
                    ) {
                        Ok(StartDecision::Existing { run_id, .. }) => {
                            TransferOutcome::ChildStarted { run_id }
                        }
                        Ok(_) => {
                            let run = RunKey {
                                run_id: scheduled_run_id(&request.request_id, work.now()),
                                ..now_run.clone()
                            };
                            let start = RunStart {
                                scheduled_by: Some(schedule.clone()),
                                ..RunStart::from_request(run, namespace, &request, work.now())
                            };
                            let run_id = start.run.run_id.clone();
                            let (state, changes) = cairn_engine::start::begin(start, work.now());
                            work.stage(state, changes);
                            TransferOutcome::ChildStarted { run_id }
                        }
                        Err(_already_started) => TransferOutcome::ChildAlreadyExists,
                    }
                }
                Transfer::StopScheduled {
                    workflow,
                    terminate,
                    ..
                } => {
                    let Ok(current) = work.resolve(&now_run) else {
                        return Ok(TransferOutcome::TargetNotFound);
                    };
                    let open = work.state(&current)?.is_some_and(|state| {
                        state.is_open() && state.first_run_id == workflow.run_id
                    });
                    if open {
                        if *terminate {
                            work.update(&current, |tx| {
                                tx.terminate(
                                    "terminated by schedule overlap policy",
                                    None,
                                    "temporal-scheduler",
                                )
                            })?;
                        } else {
                            work.update(&current, |tx| {
                                tx.request_cancel(
                                    "temporal-scheduler",
                                    "cancelled by schedule overlap policy",
                                )
                            })?;
                        }
                    }
                    TransferOutcome::Delivered
                }
                Transfer::ScheduledClosed {
                    workflow,
                    first_run_id,
                    close_event,
                    ..
                } => {
                    let event = HistoryEvent::decode(close_event.as_slice()).unwrap_or_default();
                    if let Ok(schedule) = work.resolve(&now_run)
                        && work.state(&schedule)?.is_some()
                    {
                        work.update(&schedule, |tx| {
                            tx.record_scheduled_close(&workflow.workflow_id, first_run_id, &event);
                            Ok(())
                        })?;
                    }
                    TransferOutcome::Delivered
                }
            };
            Ok(outcome)
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
            if work.state(&origin)?.is_none() {
                return Ok(());
            }
            work.update(&origin, |tx| {
                match (&transfer, &outcome) {
                    (
                        Transfer::StartChild {
                            initiated_event_id, ..
                        },
                        TransferOutcome::ChildStarted { run_id },
                    ) => tx.record_child_started(*initiated_event_id, run_id),
                    (
                        Transfer::StartChild {
                            initiated_event_id, ..
                        },
                        _,
                    ) => tx.fail_child_start(*initiated_event_id),
                    (
                        Transfer::External {
                            initiated_event_id, ..
                        },
                        outcome,
                    ) => tx.record_external_outcome(
                        *initiated_event_id,
                        *outcome == TransferOutcome::Delivered,
                    ),
                    (Transfer::ChildClosed { .. } | Transfer::ScheduledClosed { .. }, _) => {
                        tx.parent_notified()
                    }
                    (
                        Transfer::StartScheduled { sequence, .. },
                        TransferOutcome::ChildStarted { run_id },
                    ) => tx.record_scheduled_start(*sequence, Some(run_id)),
                    (Transfer::StartScheduled { sequence, .. }, _) => {
                        tx.record_scheduled_start(*sequence, None)
                    }
                    (Transfer::StopScheduled { sequence, .. }, _) => {
                        tx.record_scheduled_stop(*sequence)
                    }
                    (
                        Transfer::ParentClosed {
                            initiated_event_id, ..
                        },
                        _,
                    ) => tx.forget_child(*initiated_event_id),
                }
                Ok(())
            })
        })
        .await
    }
}

/// The run ID of a workflow a schedule starts at `now`: derived from its start's request ID
/// (a start carried twice is found by that request ID and makes one run).
fn scheduled_run_id(request_id: &str, now: i64) -> String {
    cairn_engine::ids::derived_run_id(request_id, now)
}
