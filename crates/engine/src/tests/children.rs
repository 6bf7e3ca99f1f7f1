//! Child workflows and requests to other workflows, from the engine's side: what the
//! initiating run writes, what it owes (its pending transfers), and how outcomes land.

use super::builders::{Run, attrs, command, complete_workflow, payloads, types};
use crate::{
    BUFFERED_EVENT_ID, ExecutionStatus, RunKey,
    children::{child_run_id, child_run_start},
    proto::{
        HistoryEvent,
        command::{
            SignalExternalWorkflowExecutionCommandAttributes,
            StartChildWorkflowExecutionCommandAttributes, command::Attributes as C,
        },
        common::{WorkflowExecution, WorkflowType},
        enums::{EventType, ParentClosePolicy, WorkflowTaskFailedCause as Cause},
        history,
    },
    transfer::{Transfer, pending},
    workflow_task::CompletionOutcome,
};

use EventType as E;

fn start_child(workflow_id: &str, policy: ParentClosePolicy) -> crate::proto::command::Command {
    command(C::StartChildWorkflowExecutionCommandAttributes(
        StartChildWorkflowExecutionCommandAttributes {
            workflow_id: workflow_id.into(),
            workflow_type: Some(WorkflowType {
                name: "ShipWorkflow".into(),
            }),
            input: Some(payloads("box")),
            parent_close_policy: policy as i32,
            ..Default::default()
        },
    ))
}

fn signal_external(workflow_id: &str) -> crate::proto::command::Command {
    command(C::SignalExternalWorkflowExecutionCommandAttributes(
        SignalExternalWorkflowExecutionCommandAttributes {
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: String::new(),
            }),
            signal_name: "nudge".into(),
            ..Default::default()
        },
    ))
}

fn completed(result: &str) -> HistoryEvent {
    HistoryEvent {
        event_id: 5,
        attributes: Some(
            history::WorkflowExecutionCompletedEventAttributes {
                result: Some(payloads(result)),
                ..Default::default()
            }
            .into(),
        ),
        ..Default::default()
    }
}

#[test]
fn starting_a_child_writes_initiated_and_owes_the_start_until_it_is_recorded() {
    let mut run = Run::start();
    let changes = run.workflow_task(vec![start_child("ship-1", ParentClosePolicy::Terminate)]);
    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowTaskCompleted,
            E::StartChildWorkflowExecutionInitiated
        ]
    );
    let owed = pending(&run.state);
    assert!(
        matches!(
            &owed[..],
            [Transfer::StartChild {
                initiated_event_id: 5,
                ..
            }]
        ),
        "{owed:?}"
    );
    assert_eq!(owed[0].target().workflow_id, "ship-1");

    let child_run = child_run_id(&run.state.run, 5, run.now);
    let (_, changes) = run.op(|tx| tx.record_child_started(5, &child_run));
    assert_eq!(
        types(&changes.events),
        [E::ChildWorkflowExecutionStarted, E::WorkflowTaskScheduled]
    );
    assert!(
        pending(&run.state).is_empty(),
        "the start is no longer owed"
    );
    // A repeated report changes nothing.
    let (_, again) = run.op(|tx| tx.record_child_started(5, &child_run));
    assert!(again.events.is_empty());

    run.start_workflow_task();
    run.complete_workflow_task(vec![]);
    let (_, changes) = run.op(|tx| tx.record_child_closed(5, &completed("shipped")));
    let closed = attrs!(
        changes.events[0],
        ChildWorkflowExecutionCompletedEventAttributes
    );
    assert_eq!(closed.started_event_id, 6);
    assert_eq!(closed.initiated_event_id, 5);
    assert_eq!(closed.result, Some(payloads("shipped")));
    assert!(run.state.children.is_empty());
}

#[test]
fn a_child_that_starts_and_closes_while_a_task_runs_gets_its_ids_when_the_buffer_is_written() {
    let mut run = Run::start();
    run.workflow_task(vec![start_child("ship-1", ParentClosePolicy::Abandon)]);
    run.signal("poke", "signal-1");
    run.start_workflow_task();
    let child_run = child_run_id(&run.state.run, 5, run.now);
    run.op(|tx| tx.record_child_started(5, &child_run));
    run.op(|tx| tx.record_child_closed(5, &completed("fast")));
    assert_eq!(run.state.children.len(), 0);

    let (_, changes) = run.complete_workflow_task(vec![]);
    assert_eq!(changes.events[0].event_id, 9, "after the signal's task");
    let events = &changes.events;
    assert_eq!(
        types(events),
        [
            E::WorkflowTaskCompleted,
            E::ChildWorkflowExecutionStarted,
            E::ChildWorkflowExecutionCompleted,
            E::WorkflowTaskScheduled
        ]
    );
    let closed = attrs!(events[2], ChildWorkflowExecutionCompletedEventAttributes);
    assert_ne!(closed.started_event_id, BUFFERED_EVENT_ID);
    assert_eq!(closed.started_event_id, events[1].event_id);
}

#[test]
fn a_child_whose_id_is_taken_fails_to_start() {
    let mut run = Run::start();
    run.workflow_task(vec![start_child("ship-1", ParentClosePolicy::Terminate)]);
    let (_, changes) = run.op(|tx| tx.fail_child_start(5));
    let failed = attrs!(
        changes.events[0],
        StartChildWorkflowExecutionFailedEventAttributes
    );
    assert_eq!(failed.initiated_event_id, 5);
    assert_eq!(failed.workflow_task_completed_event_id, 4);
    assert_eq!(failed.workflow_id, "ship-1");
    assert!(pending(&run.state).is_empty());
}

#[test]
fn a_closing_parent_owes_its_close_policy_to_started_children_it_does_not_abandon() {
    let mut run = Run::start();
    run.workflow_task(vec![
        start_child("terminate-me", ParentClosePolicy::Terminate),
        start_child("cancel-me", ParentClosePolicy::RequestCancel),
        start_child("leave-me", ParentClosePolicy::Abandon),
        start_child("never-started", ParentClosePolicy::Terminate),
    ]);
    for (initiated, id) in [(5, "a"), (6, "b"), (7, "c")] {
        run.op(|tx| tx.record_child_started(initiated, id));
    }
    run.start_workflow_task();
    run.complete_workflow_task(vec![complete_workflow("done")]);
    assert_eq!(run.state.status, ExecutionStatus::Completed);

    let owed = pending(&run.state);
    let actions: Vec<_> = owed
        .iter()
        .map(|t| match t {
            Transfer::ParentClosed {
                child, terminate, ..
            } => (child.workflow_id.as_str(), *terminate),
            other => panic!("unexpected transfer {other:?}"),
        })
        .collect();
    assert_eq!(actions, [("terminate-me", true), ("cancel-me", false)]);
    run.op(|tx| tx.forget_child(5));
    run.op(|tx| tx.forget_child(6));
    assert!(pending(&run.state).is_empty());
}

#[test]
fn a_child_run_names_its_parent_and_owes_it_the_close_unless_it_continues() {
    let parent = super::builders::run_key();
    let command = StartChildWorkflowExecutionCommandAttributes {
        workflow_id: "ship-1".into(),
        workflow_type: Some(WorkflowType {
            name: "ShipWorkflow".into(),
        }),
        task_queue: Some(crate::events::task_queue("orders")),
        ..Default::default()
    };
    let start = child_run_start(&parent, None, "default", 5, &command, "request".into(), 0);
    let mut child = Run::begun(start, 0);
    let started = attrs!(child.history[0], WorkflowExecutionStartedEventAttributes);
    assert_eq!(started.parent_initiated_event_id, 5);
    assert_eq!(
        started.parent_workflow_execution.as_ref().unwrap().run_id,
        parent.run_id
    );
    assert_eq!(
        started.root_workflow_execution.as_ref().unwrap().run_id,
        parent.run_id,
        "a parent without one of its own is the root"
    );
    assert_eq!(child.state.root.as_ref(), Some(&parent));
    // The child's own children share its root.
    let grandchild = child_run_start(
        &child.state.run,
        child.state.root.as_ref(),
        "default",
        5,
        &command,
        "request-2".into(),
        0,
    );
    assert_eq!(grandchild.root.as_ref(), Some(&parent));
    assert!(
        pending(&child.state).is_empty(),
        "an open child owes nothing"
    );

    child.workflow_task(vec![complete_workflow("shipped")]);
    let owed = pending(&child.state);
    assert!(
        matches!(&owed[..], [Transfer::ChildClosed { parent: p, initiated_event_id: 5, .. }] if *p == parent),
        "{owed:?}"
    );
    child.op(|tx| {
        tx.parent_notified();
    });
    assert!(pending(&child.state).is_empty());
}

#[test]
fn signalling_another_workflow_is_owed_until_delivered_or_found_missing() {
    let mut run = Run::start();
    let changes = run.workflow_task(vec![signal_external("other")]);
    assert_eq!(
        types(&changes.events)[1],
        E::SignalExternalWorkflowExecutionInitiated
    );
    let owed = pending(&run.state);
    assert_eq!(
        owed[0].target(),
        RunKey {
            namespace_id: run.state.run.namespace_id.clone(),
            workflow_id: "other".into(),
            run_id: String::new(),
        }
    );
    let (_, changes) = run.op(|tx| tx.record_external_outcome(5, false));
    let failed = attrs!(
        changes.events[0],
        SignalExternalWorkflowExecutionFailedEventAttributes
    );
    assert_eq!(failed.initiated_event_id, 5);
    assert!(pending(&run.state).is_empty());
}

#[test]
fn a_child_without_workflow_id_is_refused_with_temporals_cause() {
    let mut run = Run::start();
    run.start_workflow_task();
    let (outcome, _) =
        run.complete_workflow_task(vec![start_child("", ParentClosePolicy::Terminate)]);
    assert!(
        matches!(
            outcome,
            CompletionOutcome::CommandRejected {
                cause: Cause::BadStartChildExecutionAttributes,
                ..
            }
        ),
        "{outcome:?}"
    );
}
