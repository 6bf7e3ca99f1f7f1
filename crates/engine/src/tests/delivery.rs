//! The receiving side of transfers over a store: what a signal, a cancel request, a child
//! start or a parent close policy does to the workflow it acts on, and the outcomes the
//! sender is told. No Kafka: the store is a map in memory.

use prost::Message;

use super::{
    builders::{T0, start_request},
    store::MemoryStore,
};
use crate::{
    ExecutionStatus, RunKey,
    delivery::{deliver, settle},
    proto::{
        command::{
            SignalExternalWorkflowExecutionCommandAttributes as SignalCommand,
            StartChildWorkflowExecutionCommandAttributes,
        },
        common::WorkflowType,
        enums::EventType,
    },
    start::start,
    store::RunStore,
    transfer::{Transfer, TransferOutcome},
};

fn run(workflow_id: &str, run_id: &str) -> RunKey {
    RunKey {
        namespace_id: "ns-1".into(),
        workflow_id: workflow_id.into(),
        run_id: run_id.into(),
    }
}

/// A store with one running workflow, `target`.
fn with_target() -> MemoryStore {
    let mut store = MemoryStore::default();
    let request = crate::proto::workflowservice::StartWorkflowExecutionRequest {
        workflow_id: "target".into(),
        ..start_request()
    };
    let (state, changes) = start(run("target", "run-t"), "default", &request, T0);
    store.stage(state, changes);
    store
}

fn signal_from(sender: &str, child_workflow_only: bool) -> Transfer {
    Transfer::External {
        from: run(sender, "run-s"),
        namespace: "default".into(),
        initiated_event_id: 5,
        cancel: false,
        command: SignalCommand {
            execution: Some(crate::proto::common::WorkflowExecution {
                workflow_id: "target".into(),
                run_id: String::new(),
            }),
            signal_name: "poke".into(),
            child_workflow_only,
            ..Default::default()
        }
        .encode_to_vec(),
    }
}

#[test]
fn a_signal_from_another_workflow_reaches_its_current_run() {
    let mut store = with_target();
    let outcome = deliver(&mut store, &signal_from("sender", false)).unwrap();
    assert_eq!(outcome, TransferOutcome::Delivered);
    assert!(
        store
            .history("run-t")
            .contains(&EventType::WorkflowExecutionSignaled)
    );
}

#[test]
fn a_child_only_signal_to_a_workflow_that_is_not_the_senders_child_finds_no_target() {
    let mut store = with_target();
    let outcome = deliver(&mut store, &signal_from("sender", true)).unwrap();
    assert_eq!(outcome, TransferOutcome::TargetNotFound);
    assert!(
        !store
            .history("run-t")
            .contains(&EventType::WorkflowExecutionSignaled)
    );
}

#[test]
fn a_signal_to_a_workflow_that_never_ran_finds_no_target() {
    let mut store = MemoryStore::default();
    let outcome = deliver(&mut store, &signal_from("sender", false)).unwrap();
    assert_eq!(outcome, TransferOutcome::TargetNotFound);
}

#[test]
fn a_parent_close_policy_terminates_an_open_child() {
    let mut store = with_target();
    let transfer = Transfer::ParentClosed {
        parent: run("parent", "run-p"),
        initiated_event_id: 5,
        child: run("target", "run-t"),
        terminate: true,
    };
    assert_eq!(
        deliver(&mut store, &transfer).unwrap(),
        TransferOutcome::Delivered
    );
    assert_eq!(store.status("run-t"), ExecutionStatus::Terminated);
}

#[test]
fn a_child_whose_id_already_runs_is_not_started_and_the_parent_hears_so() {
    let mut store = with_target();
    let transfer = Transfer::StartChild {
        parent: run("parent", "run-p"),
        namespace: "default".into(),
        initiated_event_id: 5,
        command: StartChildWorkflowExecutionCommandAttributes {
            workflow_id: "target".into(),
            workflow_type: Some(WorkflowType {
                name: "Child".into(),
            }),
            ..Default::default()
        }
        .encode_to_vec(),
        root: None,
    };
    let outcome = deliver(&mut store, &transfer).unwrap();
    assert_eq!(outcome, TransferOutcome::ChildAlreadyExists);
    assert_eq!(store.runs.len(), 1, "no second run of the child's ID");
    // The parent is gone: settling the outcome records nothing and fails nothing.
    settle(&mut store, &transfer, &outcome).unwrap();
}
