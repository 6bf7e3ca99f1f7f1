//! The receiving side of transfers (see [`crate::transfer`]): what a transfer does to the
//! workflow it acts on, and how its outcome is recorded in the run that owes it. Both run
//! over a [`RunStore`], each as one operation on one partition: the target's to deliver,
//! the origin's to settle.

use prost::Message;

use crate::{
    RunKey,
    children::child_run_start,
    proto::{
        HistoryEvent,
        command::{
            RequestCancelExternalWorkflowExecutionCommandAttributes as CancelCommand,
            SignalExternalWorkflowExecutionCommandAttributes as SignalCommand,
            StartChildWorkflowExecutionCommandAttributes,
        },
        enums::WorkflowIdConflictPolicy,
        workflowservice::StartWorkflowExecutionRequest,
    },
    signal::Signal,
    start::{RunStart, StartDecision, decide_start},
    store::RunStore,
    transfer::{Transfer, TransferOutcome},
};

/// Applies a transfer to the workflow it acts on: starts the child or the scheduled
/// workflow (by its ID policies), delivers the signal or cancel request, tells the parent
/// or the schedule of a close, applies a parent close policy. A target that is gone or
/// closed is an outcome, not an error.
pub fn deliver<S: RunStore>(
    store: &mut S,
    transfer: &Transfer,
) -> Result<TransferOutcome, S::Error> {
    let request_id = transfer.request_id();
    let now_run = transfer.target();
    let outcome = match transfer {
        Transfer::StartChild {
            parent,
            namespace,
            initiated_event_id,
            command,
            root,
        } => {
            let command = StartChildWorkflowExecutionCommandAttributes::decode(command.as_slice())
                .unwrap_or_default();
            start_by_policy(
                store,
                &now_run.workflow(),
                &request_id,
                command.workflow_id_reuse_policy(),
                |now| {
                    child_run_start(
                        parent,
                        root.as_ref(),
                        namespace,
                        *initiated_event_id,
                        &command,
                        request_id.clone(),
                        now,
                    )
                },
            )?
        }
        Transfer::External {
            from,
            initiated_event_id,
            cancel,
            command,
            ..
        } => {
            let target = match store.resolve(&now_run)? {
                Some(run) => run,
                None => return Ok(TransferOutcome::TargetNotFound),
            };
            let Some(state) = store.state(&target)? else {
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
                store.update(&target, |tx| {
                    tx.request_cancel_from_workflow(from, *initiated_event_id, &a.reason)
                })?;
            } else {
                let a = SignalCommand::decode(command.as_slice()).unwrap_or_default();
                store.update(&target, |tx| {
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
            if store.state(parent)?.is_some() {
                store.update(parent, |tx| {
                    tx.record_child_closed(*initiated_event_id, &event);
                    Ok(())
                })?;
            }
            TransferOutcome::Delivered
        }
        Transfer::ParentClosed {
            child, terminate, ..
        } => {
            let open = store.state(child)?.is_some_and(|state| state.is_open());
            if open {
                if *terminate {
                    store.update(child, |tx| {
                        tx.terminate("by parent close policy", None, "history-service")
                    })?;
                } else {
                    store.update(child, |tx| {
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
            let request =
                StartWorkflowExecutionRequest::decode(request.as_slice()).unwrap_or_default();
            // The scheduler asks for AllowDuplicate or RejectDuplicate only, but a start is
            // a start: the same rule as a child's.
            start_by_policy(
                store,
                &now_run.workflow(),
                &request.request_id,
                request.workflow_id_reuse_policy(),
                |now| {
                    let run = RunKey {
                        run_id: crate::ids::derived_run_id(&request.request_id, now),
                        ..now_run.clone()
                    };
                    RunStart {
                        scheduled_by: Some(schedule.clone()),
                        ..RunStart::from_request(run, namespace, &request, now)
                    }
                },
            )?
        }
        Transfer::StopScheduled {
            workflow,
            terminate,
            ..
        } => {
            let Some(current) = store.resolve(&now_run)? else {
                return Ok(TransferOutcome::TargetNotFound);
            };
            let open = store
                .state(&current)?
                .is_some_and(|state| state.is_open() && state.first_run_id == workflow.run_id);
            if open {
                if *terminate {
                    store.update(&current, |tx| {
                        tx.terminate(
                            "terminated by schedule overlap policy",
                            None,
                            "temporal-scheduler",
                        )
                    })?;
                } else {
                    store.update(&current, |tx| {
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
            if let Some(schedule) = store.resolve(&now_run)?
                && store.state(&schedule)?.is_some()
            {
                store.update(&schedule, |tx| {
                    tx.record_scheduled_close(&workflow.workflow_id, first_run_id, &event);
                    Ok(())
                })?;
            }
            TransferOutcome::Delivered
        }
    };
    Ok(outcome)
}

/// Records a transfer's outcome in the run that owes it; a run that is gone has nothing to
/// record.
pub fn settle<S: RunStore>(
    store: &mut S,
    transfer: &Transfer,
    outcome: &TransferOutcome,
) -> Result<(), S::Error> {
    let origin = transfer.origin();
    if store.state(origin)?.is_none() {
        return Ok(());
    }
    store.update(origin, |tx| {
        match (transfer, outcome) {
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
            (Transfer::StopScheduled { sequence, .. }, _) => tx.record_scheduled_stop(*sequence),
            (
                Transfer::ParentClosed {
                    initiated_event_id, ..
                },
                _,
            ) => tx.forget_child(*initiated_event_id),
        }
        Ok(())
    })
}

/// Starts a new run of `workflow` as its ID reuse policy decides: the run an earlier
/// delivery of this request started is found again, a new run begins (after the current one
/// is terminated, when the policy says TerminateIfRunning), or the start is refused because
/// the workflow is running or closed in a way the policy does not allow.
fn start_by_policy<S: RunStore>(
    store: &mut S,
    workflow: &crate::WorkflowKey,
    request_id: &str,
    reuse: crate::proto::enums::WorkflowIdReusePolicy,
    new_run: impl FnOnce(crate::time::Nanos) -> RunStart,
) -> Result<TransferOutcome, S::Error> {
    let current = store.current_state(workflow)?;
    let decision = match decide_start(
        current.as_ref(),
        request_id,
        reuse,
        WorkflowIdConflictPolicy::Fail,
    ) {
        Ok(StartDecision::Existing { run_id, .. }) => {
            return Ok(TransferOutcome::ChildStarted { run_id });
        }
        Ok(decision) => decision,
        Err(_already_started) => return Ok(TransferOutcome::ChildAlreadyExists),
    };
    if decision == StartDecision::TerminateThenNew
        && let Some(current) = &current
    {
        store.update(&current.run, |tx| {
            tx.terminate(
                "TerminateIfRunning WorkflowIdReusePolicy",
                None,
                "history-service",
            )
        })?;
    }
    let start = new_run(store.now());
    let run_id = start.run.run_id.clone();
    let (state, changes) = crate::start::begin(start, store.now());
    store.stage(state, changes);
    Ok(TransferOutcome::ChildStarted { run_id })
}
