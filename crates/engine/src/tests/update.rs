//! Updates: admission, speculative workflow tasks, and the worker's answers.

use prost::Message as _;

use super::builders::{Run, WORKER, command, types};
use crate::{
    EngineError,
    proto::{
        command::{ProtocolMessageCommandAttributes, command::Attributes as C},
        enums::EventType,
        protocol::Message,
        update::{Acceptance, Input, Meta, Outcome, Rejection, Request, Response, outcome::Value},
    },
    update::{Admission, MAX_IN_FLIGHT_UPDATES, UpdateEnding, UpdateStage, request_messages},
    workflow_task::{Completion, CompletionOutcome},
};

use EventType as E;

pub(super) fn request(update_id: &str) -> Request {
    Request {
        meta: Some(Meta {
            update_id: update_id.into(),
            identity: "client-1".into(),
        }),
        input: Some(Input {
            name: "add".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn answer(update_id: &str, type_name: &str, body: Vec<u8>) -> Message {
    Message {
        id: format!("{update_id}/{type_name}"),
        protocol_instance_id: update_id.into(),
        body: Some(prost_wkt_types::Any {
            type_url: format!("type.googleapis.com/temporal.api.update.v1.{type_name}"),
            value: body,
        }),
        sequencing_id: None,
    }
}

pub(super) fn place(message: &Message) -> crate::proto::command::Command {
    command(C::ProtocolMessageCommandAttributes(
        ProtocolMessageCommandAttributes {
            message_id: message.id.clone(),
        },
    ))
}

pub(super) fn complete(
    run: &mut Run,
    commands: Vec<crate::proto::command::Command>,
    messages: Vec<Message>,
) -> (CompletionOutcome, crate::Changes) {
    let task = run.workflow_task_info().clone();
    let completion = Completion {
        identity: WORKER.into(),
        commands,
        messages,
        ..Default::default()
    };
    run.ok(|tx| {
        tx.complete_workflow_task(task.scheduled_event_id, task.started_event_id, &completion)
    })
}

fn after_first_task() -> Run {
    Run::after_first_task(vec![])
}

#[test]
fn an_update_without_a_pending_task_gets_a_speculative_one_that_writes_nothing_yet() {
    let mut run = after_first_task();
    let (admission, changes) = run.ok(|tx| tx.admit_update(&request("u1")));
    assert_eq!(admission, Admission::Admitted);
    assert!(
        changes.events.is_empty(),
        "a speculative task is not in history"
    );
    assert_eq!(changes.tasks.len(), 1);
    let (started, changes) = run.start_workflow_task();
    assert!(changes.events.is_empty());
    assert_eq!(
        types(&started.transient_events),
        [E::WorkflowTaskScheduled, E::WorkflowTaskStarted]
    );
    let messages = request_messages(&run.state, started.started_event_id);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].protocol_instance_id, "u1");
    assert_eq!(
        Request::decode(messages[0].body.as_ref().unwrap().value.as_slice()).unwrap(),
        request("u1")
    );
}

#[test]
fn a_speculative_task_that_only_rejects_leaves_no_trace() {
    let mut run = after_first_task();
    let next_event_id = run.state.next_event_id;
    run.ok(|tx| tx.admit_update(&request("u1")));
    run.start_workflow_task();
    let rejection = answer(
        "u1",
        "Rejection",
        Rejection {
            rejected_request_message_id: "u1/request".into(),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let (outcome, changes) = complete(&mut run, vec![place(&rejection)], vec![rejection]);
    assert_eq!(
        outcome,
        CompletionOutcome::Discarded {
            reset_history_event_id: next_event_id - 1
        }
    );
    assert!(changes.events.is_empty());
    assert_eq!(changes.ended_updates.len(), 1);
    assert_eq!(run.state.next_event_id, next_event_id);
    assert!(run.state.workflow_task.is_none());
    assert!(
        run.state.update("u1").is_none(),
        "a rejected update may be sent again"
    );
}

#[test]
fn an_accepted_and_answered_update_is_written_where_the_worker_placed_it() {
    let mut run = after_first_task();
    run.ok(|tx| tx.admit_update(&request("u1")));
    run.start_workflow_task();
    let acceptance = answer(
        "u1",
        "Acceptance",
        Acceptance {
            accepted_request_message_id: "u1/request".into(),
            accepted_request_sequencing_event_id: 4,
            accepted_request: None,
        }
        .encode_to_vec(),
    );
    let response = answer(
        "u1",
        "Response",
        Response {
            meta: Some(Meta {
                update_id: "u1".into(),
                identity: WORKER.into(),
            }),
            outcome: Some(Outcome {
                value: Some(Value::Success(super::builders::payloads("done"))),
            }),
        }
        .encode_to_vec(),
    );
    let (outcome, changes) = complete(
        &mut run,
        vec![place(&acceptance), place(&response)],
        vec![acceptance, response],
    );
    assert!(matches!(outcome, CompletionOutcome::Accepted { .. }));
    assert_eq!(
        types(&changes.events),
        [
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::WorkflowExecutionUpdateAccepted,
            E::WorkflowExecutionUpdateCompleted
        ]
    );
    let update = run.state.update("u1").unwrap();
    assert_eq!(update.stage, UpdateStage::Completed);
    assert_eq!(update.accepted_event_id, 8);
    assert_eq!(update.completed_event_id, 9);
    // The same update ID again is the same update.
    let (admission, _) = run.ok(|tx| tx.admit_update(&request("u1")));
    assert_eq!(admission, Admission::Existing(UpdateStage::Completed));
}

#[test]
fn updates_are_limited_and_refused_on_a_closed_run() {
    let mut run = after_first_task();
    for n in 0..MAX_IN_FLIGHT_UPDATES {
        run.ok(|tx| tx.admit_update(&request(&format!("u{n}"))));
    }
    let refused = run.refused(|tx| tx.admit_update(&request("one-too-many")));
    assert!(
        matches!(refused, EngineError::ResourceExhausted(_)),
        "{refused:?}"
    );

    let mut closed = Run::after_first_task(vec![super::builders::complete_workflow("done")]);
    let refused = closed.refused(|tx| tx.admit_update(&request("late")));
    assert_eq!(refused, EngineError::workflow_completed());
}

#[test]
fn an_update_the_worker_received_and_left_unanswered_is_rejected() {
    let mut run = after_first_task();
    run.ok(|tx| tx.admit_update(&request("u1")));
    run.start_workflow_task();
    // Admitted while the task ran: it did not go out with it.
    run.ok(|tx| tx.admit_update(&request("u2")));
    let (_, changes) = complete(&mut run, vec![super::builders::start_timer("t", 5)], vec![]);
    assert_eq!(changes.ended_updates.len(), 1);
    assert_eq!(changes.ended_updates[0].update_id, "u1");
    let UpdateEnding::Failed(failure) = &changes.ended_updates[0].ending else {
        panic!("{:?}", changes.ended_updates[0]);
    };
    assert!(failure.message.starts_with("Workflow Update is rejected"));
    assert!(run.state.update("u1").is_none());
    assert!(
        run.state.update("u2").unwrap().awaits_request_message(),
        "an update that did not go out waits for the next task"
    );
}

#[test]
fn a_closing_run_fails_accepted_updates_and_aborts_the_others() {
    let mut run = after_first_task();
    run.ok(|tx| tx.admit_update(&request("u1")));
    run.start_workflow_task();
    run.ok(|tx| tx.admit_update(&request("u2")));
    let acceptance = answer(
        "u1",
        "Acceptance",
        Acceptance {
            accepted_request_message_id: "u1/request".into(),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let (_, changes) = complete(
        &mut run,
        vec![
            place(&acceptance),
            super::builders::complete_workflow("done"),
        ],
        vec![acceptance],
    );
    let endings: Vec<_> = changes
        .ended_updates
        .iter()
        .map(|e| (e.update_id.as_str(), &e.ending))
        .collect();
    assert!(matches!(
        endings[..],
        [
            ("u1", UpdateEnding::Failed(_)),
            ("u2", UpdateEnding::Aborted { continuing: false })
        ]
    ));
}

#[test]
fn updates_a_continuing_run_aborts_are_retried_on_the_next_run() {
    let mut run = after_first_task();
    run.signal("s", "r1");
    run.start_workflow_task();
    run.ok(|tx| tx.admit_update(&request("u1")));
    let (_, changes) = complete(
        &mut run,
        vec![command(C::ContinueAsNewWorkflowExecutionCommandAttributes(
            Default::default(),
        ))],
        vec![],
    );
    assert!(changes.next_run.is_some());
    assert_eq!(changes.ended_updates.len(), 1);
    assert_eq!(
        changes.ended_updates[0].ending,
        UpdateEnding::Aborted { continuing: true }
    );
}
