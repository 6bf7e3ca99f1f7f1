//! The start operation over a store, as the history service runs it: ID policies against the
//! current run, terminate-then-start, signal-with-start and update-with-start, each in one
//! staged set of transitions. The store here is a map in memory; no Kafka.

use super::{builders::start_request, store::MemoryStore};
use crate::{
    EngineError, ExecutionStatus,
    proto::{enums::EventType, enums::WorkflowIdConflictPolicy as Conflict},
    signal::Signal,
    start::{StartWorkflow, Started, WithStart, start_workflow},
};

fn start(run_id: &str, request_id: &str, with: Option<WithStart>) -> StartWorkflow {
    StartWorkflow {
        namespace_id: "ns-1".into(),
        namespace: "default".into(),
        request: crate::proto::workflowservice::StartWorkflowExecutionRequest {
            request_id: request_id.into(),
            ..start_request()
        },
        run_id: run_id.into(),
        with,
    }
}

fn signal() -> WithStart {
    WithStart::Signal(Signal {
        name: "poke".into(),
        input: None,
        identity: "client-1".into(),
        header: None,
        request_id: "signal-1".into(),
    })
}

#[test]
fn a_start_retried_with_its_request_id_answers_with_the_run_it_created() {
    let mut store = MemoryStore::default();
    let (first, created) = start_workflow(&mut store, start("run-1", "req-1", None)).unwrap();
    assert!(created.is_some());
    let (again, created) = start_workflow(&mut store, start("run-2", "req-1", None)).unwrap();
    assert_eq!(again, first);
    assert_eq!(created, None);
    assert_eq!(store.runs.len(), 1);
}

#[test]
fn a_second_start_of_a_running_workflow_is_refused_by_default() {
    let mut store = MemoryStore::default();
    start_workflow(&mut store, start("run-1", "req-1", None)).unwrap();
    let refused = start_workflow(&mut store, start("run-2", "req-2", None)).unwrap_err();
    assert!(
        matches!(&refused, EngineError::AlreadyStarted { run_id, .. } if run_id == "run-1"),
        "{refused:?}"
    );
    assert_eq!(store.runs.len(), 1);
}

#[test]
fn terminate_existing_closes_the_running_run_before_the_new_one_starts() {
    let mut store = MemoryStore::default();
    start_workflow(&mut store, start("run-1", "req-1", None)).unwrap();
    let mut again = start("run-2", "req-2", None);
    again.request.workflow_id_conflict_policy = Conflict::TerminateExisting as i32;
    let (started, created) = start_workflow(&mut store, again).unwrap();
    assert_eq!(
        started,
        Started {
            run_id: "run-2".into(),
            started: true
        }
    );
    assert_eq!(created.map(|run| run.run_id), Some("run-2".into()));
    assert_eq!(store.status("run-1"), ExecutionStatus::Terminated);
    assert_eq!(store.status("run-2"), ExecutionStatus::Running);
    assert_eq!(
        store.history("run-1").last(),
        Some(&EventType::WorkflowExecutionTerminated)
    );
}

#[test]
fn signal_with_start_signals_the_running_workflow_instead_of_starting_another() {
    let mut store = MemoryStore::default();
    start_workflow(&mut store, start("run-1", "req-1", None)).unwrap();
    let (started, created) =
        start_workflow(&mut store, start("run-2", "req-2", Some(signal()))).unwrap();
    assert_eq!(
        started,
        Started {
            run_id: "run-1".into(),
            started: false
        }
    );
    assert_eq!(created, None);
    assert!(
        store
            .history("run-1")
            .contains(&EventType::WorkflowExecutionSignaled)
    );
}

#[test]
fn signal_with_start_of_a_new_workflow_writes_the_signal_after_the_started_event() {
    let mut store = MemoryStore::default();
    start_workflow(&mut store, start("run-1", "req-1", Some(signal()))).unwrap();
    assert_eq!(
        store.history("run-1"),
        [
            EventType::WorkflowExecutionStarted,
            EventType::WorkflowExecutionSignaled,
            EventType::WorkflowTaskScheduled
        ]
    );
}

#[test]
fn update_with_start_attaches_to_the_update_the_running_workflow_already_has() {
    let update = crate::proto::update::Request {
        meta: Some(crate::proto::update::Meta {
            update_id: "update-1".into(),
            identity: "client-1".into(),
        }),
        input: Some(crate::proto::update::Input {
            name: "add".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut store = MemoryStore::default();
    let (first, _) = start_workflow(
        &mut store,
        start("run-1", "req-1", Some(WithStart::Update(update.clone()))),
    )
    .unwrap();
    assert!(first.started);
    let mut again = start("run-2", "req-2", Some(WithStart::Update(update)));
    again.request.workflow_id_conflict_policy = Conflict::TerminateExisting as i32;
    let (attached, created) = start_workflow(&mut store, again).unwrap();
    assert_eq!(
        attached,
        Started {
            run_id: "run-1".into(),
            started: false
        }
    );
    assert_eq!(created, None);
    assert_eq!(store.status("run-1"), ExecutionStatus::Running);
}
