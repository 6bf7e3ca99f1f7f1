//! Workflow updates: admitting a client's update, handing it to the worker as a protocol
//! message on the next workflow task, and the worker's answer (acceptance, rejection,
//! response) coming back with the task's completion.
//!
//! An update that finds no workflow task pending gets a speculative one: like a transient
//! task it stays out of history until it completes, and if the worker only rejects updates
//! with it, it never reaches history at all (the worker is told to drop it again with
//! `reset_history_event_id`). Accepted and completed updates are written as
//! `WorkflowExecutionUpdateAccepted` and `WorkflowExecutionUpdateCompleted`; a rejection
//! writes nothing and its failure goes back to the waiting caller.

use apache_avro::AvroSchema;
use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::{
    EngineError,
    events::Tx,
    proto::{
        enums::UpdateAdmittedEventOrigin,
        failure::Failure,
        history,
        protocol::{Message, message::SequencingId},
        update::{Acceptance, Meta, Outcome, Rejection, Request, Response},
    },
    state::MutableState,
};

/// At most this many updates wait for acceptance or completion at once (Temporal's
/// default per-workflow limit).
pub const MAX_IN_FLIGHT_UPDATES: usize = 10;
/// At most this many updates reach one run (Temporal's default per-workflow limit).
pub const MAX_TOTAL_UPDATES: i64 = 2000;

const REQUEST_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Request";
const ACCEPTANCE_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Acceptance";
const REJECTION_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Rejection";
const RESPONSE_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Response";

/// How far an update got, numbered as `UpdateWorkflowExecutionLifecycleStage`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, AvroSchema,
)]
pub enum UpdateStage {
    Admitted,
    Accepted,
    Completed,
}

impl UpdateStage {
    pub fn to_proto(self) -> i32 {
        match self {
            Self::Admitted => 2,
            Self::Accepted => 3,
            Self::Completed => 4,
        }
    }
}

/// An update of this run, from admission on. Completed updates stay, so a repeated update
/// ID is answered with the first one's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct UpdateInfo {
    pub update_id: String,
    pub stage: UpdateStage,
    /// The encoded `update.v1.Request`, until the update is accepted.
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub request: Vec<u8>,
    pub accepted_event_id: i64,
    pub completed_event_id: i64,
    /// The update's `WorkflowExecutionUpdateAdmitted` event, when a reset wrote it again:
    /// the worker reads its request from history, so no protocol message carries it.
    #[serde(default)]
    #[avro(default = "0")]
    pub admitted_event_id: i64,
    /// The update's request went to the worker with the workflow task started last, so
    /// that task's completion must answer it.
    #[serde(default)]
    #[avro(default = "false")]
    pub sent: bool,
}

impl UpdateInfo {
    /// Whether the update's request still has to reach the worker as a protocol message.
    pub fn awaits_request_message(&self) -> bool {
        self.stage == UpdateStage::Admitted && self.admitted_event_id == 0
    }
}

/// What admitting an update did.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// A new update, now waiting for a workflow task.
    Admitted,
    /// An update with this ID exists already: the caller waits for that one.
    Existing(UpdateStage),
}

/// An update that ended without a completion event. Handed to whoever waits for it.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateEnded {
    pub update_id: String,
    pub ending: UpdateEnding,
}

/// How an update ended without a completion event, as Temporal ends them.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateEnding {
    /// The update's outcome is this failure: the worker rejected it, the worker left it
    /// unanswered, or the run closed after accepting it.
    Failed(Box<Failure>),
    /// The run closed before accepting the update. When the workflow goes on in a new run
    /// (`continuing`), the caller is told to retry, which lands the update on that run.
    Aborted { continuing: bool },
}

/// The outcome of an update the worker received but did not answer (Temporal's words).
fn unprocessed_update_failure() -> Failure {
    server_failure(
        "Workflow Update is rejected because it wasn't processed by worker. Probably, Workflow Update is not supported by the worker.",
        "UnprocessedUpdate",
    )
}

/// The outcome of an accepted update whose run closed before it completed (Temporal's words).
fn accepted_update_completed_workflow_failure() -> Failure {
    server_failure(
        "Workflow Update failed because the Workflow completed before the Update completed.",
        "AcceptedUpdateCompletedWorkflow",
    )
}

fn server_failure(message: &str, failure_type: &str) -> Failure {
    use crate::proto::failure::{ApplicationFailureInfo, failure::FailureInfo};
    Failure {
        message: message.into(),
        source: "Server".into(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo {
                r#type: failure_type.into(),
                non_retryable: true,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

impl Tx<'_> {
    /// Admits a client's update to the run; schedules a speculative workflow task to carry
    /// it when none is pending.
    pub fn admit_update(&mut self, request: &Request) -> Result<Admission, EngineError> {
        if !self.state.is_open() {
            return Err(EngineError::workflow_completed());
        }
        let update_id = update_id(request);
        if let Some(existing) = self.state.update(&update_id) {
            return Ok(Admission::Existing(existing.stage));
        }
        let in_flight = self
            .state
            .updates
            .iter()
            .filter(|u| u.stage != UpdateStage::Completed)
            .count();
        if in_flight >= MAX_IN_FLIGHT_UPDATES {
            return Err(EngineError::ResourceExhausted(format!(
                "limit on number of concurrent in-flight updates has been reached ({MAX_IN_FLIGHT_UPDATES})"
            )));
        }
        if self.state.update_count >= MAX_TOTAL_UPDATES {
            return Err(EngineError::ResourceExhausted(format!(
                "limit on number of total updates has been reached ({MAX_TOTAL_UPDATES})"
            )));
        }
        self.state.update_count += 1;
        self.state.updates.push(UpdateInfo {
            update_id,
            stage: UpdateStage::Admitted,
            request: request.encode_to_vec(),
            accepted_event_id: 0,
            completed_event_id: 0,
            admitted_event_id: 0,
            sent: false,
        });
        if self.state.workflow_task.is_none() && self.state.first_workflow_task_due.is_none() {
            self.schedule_speculative_workflow_task();
        }
        Ok(Admission::Admitted)
    }

    /// Writes again an update a reset run had received after its reset point, as Temporal
    /// does: a `WorkflowExecutionUpdateAdmitted` event of origin REAPPLY, from which the
    /// worker takes the request. An update the run knows already is left alone.
    pub(crate) fn reapply_update(&mut self, request: Request) {
        let update_id = update_id(&request);
        if update_id.is_empty() || self.state.update(&update_id).is_some() {
            return;
        }
        let encoded = request.encode_to_vec();
        let id = self.append(history::WorkflowExecutionUpdateAdmittedEventAttributes {
            request: Some(request),
            origin: UpdateAdmittedEventOrigin::Reapply as i32,
        });
        self.state.update_count += 1;
        self.state.updates.push(UpdateInfo {
            update_id,
            stage: UpdateStage::Admitted,
            request: encoded,
            accepted_event_id: 0,
            completed_event_id: 0,
            admitted_event_id: id,
            sent: false,
        });
    }

    /// Handles one message of a workflow task completion. Returns whether it wrote an event.
    pub(crate) fn apply_update_message(
        &mut self,
        message: &Message,
        ended: &mut Vec<UpdateEnded>,
    ) -> bool {
        let Some(body) = &message.body else {
            return false;
        };
        match body.type_url.as_str() {
            ACCEPTANCE_TYPE => {
                let acceptance = Acceptance::decode(body.value.as_slice()).unwrap_or_default();
                let Some(index) = self.update_index(&message.protocol_instance_id) else {
                    return false;
                };
                let request = Request::decode(self.state.updates[index].request.as_slice())
                    .ok()
                    .or(acceptance.accepted_request.clone());
                let id = self.append(history::WorkflowExecutionUpdateAcceptedEventAttributes {
                    protocol_instance_id: message.protocol_instance_id.clone(),
                    accepted_request_message_id: acceptance.accepted_request_message_id,
                    accepted_request_sequencing_event_id: acceptance
                        .accepted_request_sequencing_event_id,
                    accepted_request: request,
                });
                let update = &mut self.state.updates[index];
                update.stage = UpdateStage::Accepted;
                update.accepted_event_id = id;
                update.request.clear();
                true
            }
            RESPONSE_TYPE => {
                let response = Response::decode(body.value.as_slice()).unwrap_or_default();
                let Some(index) = self.update_index(&message.protocol_instance_id) else {
                    return false;
                };
                let accepted_event_id = self.state.updates[index].accepted_event_id;
                let id = self.append(history::WorkflowExecutionUpdateCompletedEventAttributes {
                    meta: response.meta.or_else(|| {
                        Some(Meta {
                            update_id: message.protocol_instance_id.clone(),
                            identity: String::new(),
                        })
                    }),
                    accepted_event_id,
                    outcome: response.outcome,
                });
                let update = &mut self.state.updates[index];
                update.stage = UpdateStage::Completed;
                update.completed_event_id = id;
                true
            }
            REJECTION_TYPE => {
                let rejection = Rejection::decode(body.value.as_slice()).unwrap_or_default();
                if let Some(index) = self.update_index(&message.protocol_instance_id)
                    && self.state.updates[index].stage == UpdateStage::Admitted
                {
                    self.state.updates.remove(index);
                    ended.push(UpdateEnded {
                        update_id: message.protocol_instance_id.clone(),
                        ending: UpdateEnding::Failed(Box::new(
                            rejection.failure.unwrap_or_default(),
                        )),
                    });
                }
                false
            }
            _ => false,
        }
    }

    /// Marks the updates whose requests go out with the workflow task starting now.
    pub(crate) fn send_updates(&mut self) {
        for update in &mut self.state.updates {
            update.sent = update.awaits_request_message();
        }
    }

    /// Rejects the updates the worker received with its workflow task and left unanswered,
    /// as Temporal does, so that no caller waits for an answer that will not come.
    pub(crate) fn reject_unprocessed_updates(&mut self) {
        let (unprocessed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.state.updates)
            .into_iter()
            .partition(|u| u.sent && u.awaits_request_message());
        self.state.updates = kept;
        self.changes
            .ended_updates
            .extend(unprocessed.into_iter().map(|u| UpdateEnded {
                update_id: u.update_id,
                ending: UpdateEnding::Failed(Box::new(unprocessed_update_failure())),
            }));
    }

    /// The run closed: an accepted update fails, one not yet accepted is aborted.
    pub(crate) fn abort_updates(&mut self) {
        let (open, completed): (Vec<_>, Vec<_>) = std::mem::take(&mut self.state.updates)
            .into_iter()
            .partition(|u| u.stage != UpdateStage::Completed);
        self.state.updates = completed;
        self.changes
            .ended_updates
            .extend(open.into_iter().map(|u| UpdateEnded {
                update_id: u.update_id,
                ending: match u.stage {
                    UpdateStage::Admitted => UpdateEnding::Aborted { continuing: false },
                    _ => {
                        UpdateEnding::Failed(Box::new(accepted_update_completed_workflow_failure()))
                    }
                },
            }));
    }

    /// The closed run goes on in a new one: updates it aborted are to be retried there.
    pub(crate) fn aborted_updates_continue(&mut self) {
        for ended in &mut self.changes.ended_updates {
            if let UpdateEnding::Aborted { continuing } = &mut ended.ending {
                *continuing = true;
            }
        }
    }

    fn update_index(&self, update_id: &str) -> Option<usize> {
        self.state
            .updates
            .iter()
            .position(|u| u.update_id == update_id)
    }
}

/// Checks the messages of a completion: each must answer an update of this run at a stage
/// where that answer fits.
pub(crate) fn validate_messages(state: &MutableState, messages: &[Message]) -> Result<(), String> {
    for message in messages {
        let Some(body) = &message.body else {
            return Err(format!("protocol message {} has no body", message.id));
        };
        let stage = state.update(&message.protocol_instance_id).map(|u| u.stage);
        let fits = match body.type_url.as_str() {
            ACCEPTANCE_TYPE | REJECTION_TYPE => stage == Some(UpdateStage::Admitted),
            // A response may follow an acceptance in the same completion.
            RESPONSE_TYPE => matches!(
                stage,
                Some(UpdateStage::Admitted) | Some(UpdateStage::Accepted)
            ),
            other => return Err(format!("unknown protocol message body {other}")),
        };
        if !fits {
            return Err(format!(
                "invalid state transition attempted for update {}: {} in stage {:?}",
                message.protocol_instance_id,
                body.type_url.rsplit('.').next().unwrap_or_default(),
                stage
            ));
        }
    }
    Ok(())
}

/// Whether a completion's messages answer only with rejections.
pub(crate) fn only_rejections(messages: &[Message]) -> bool {
    messages.iter().all(|m| {
        m.body
            .as_ref()
            .is_some_and(|b| b.type_url == REJECTION_TYPE)
    })
}

/// The requests of the updates still waiting for the worker, as the messages of a workflow
/// task started as `started_event_id`.
pub fn request_messages(state: &MutableState, started_event_id: i64) -> Vec<Message> {
    state
        .updates
        .iter()
        .filter(|u| u.awaits_request_message())
        .map(|u| Message {
            id: format!("{}/request", u.update_id),
            protocol_instance_id: u.update_id.clone(),
            body: Some(prost_wkt_types::Any {
                type_url: REQUEST_TYPE.into(),
                value: u.request.clone(),
            }),
            sequencing_id: Some(SequencingId::EventId(started_event_id - 1)),
        })
        .collect()
}

/// The outcome of a completed update, from its `WorkflowExecutionUpdateCompleted` event.
pub fn outcome_of(event: &crate::proto::HistoryEvent) -> Option<Outcome> {
    match &event.attributes {
        Some(crate::proto::Attributes::WorkflowExecutionUpdateCompletedEventAttributes(a)) => {
            a.outcome.clone()
        }
        _ => None,
    }
}

/// The update ID a request names.
pub fn update_id(request: &Request) -> String {
    request
        .meta
        .as_ref()
        .map(|m| m.update_id.clone())
        .unwrap_or_default()
}

impl MutableState {
    pub fn update(&self, update_id: &str) -> Option<&UpdateInfo> {
        self.updates.iter().find(|u| u.update_id == update_id)
    }
}
