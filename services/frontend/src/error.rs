//! The one place errors become gRPC statuses, with the details Temporal's SDKs decode.

use cairn_engine::EngineError;
use cairn_history::HistoryError;
use prost::Message;
use temporalio_protos::protos::{
    google::rpc,
    temporal::api::{
        enums::v1::{ResourceExhaustedCause, ResourceExhaustedScope},
        errordetails::v1 as details,
    },
};
use tonic::{Code, Status};

/// Marks a status that means "this node does not own that partition": the request had no
/// effect, and a router may send it to the owner.
const NOT_OWNER: &str = "cairn-not-owner";

pub fn status(error: HistoryError) -> Status {
    match error {
        HistoryError::Engine(engine) => engine_status(engine),
        HistoryError::NotOwner { partition } => {
            not_owner(&format!("history partition {partition}"))
        }
        other => Status::unavailable(cairn_runtime::report(&other).to_string()),
    }
}

/// `Unavailable`, marked as refused by a node that does not own what the request needs.
pub fn not_owner(what: &str) -> Status {
    let mut status = Status::unavailable(format!("{what} is not owned by this node"));
    status
        .metadata_mut()
        .insert(NOT_OWNER, tonic::metadata::MetadataValue::from_static("1"));
    status
}

/// Whether a status says the request reached a node that does not own its partition.
pub fn is_not_owner(status: &Status) -> bool {
    status.code() == Code::Unavailable && status.metadata().contains_key(NOT_OWNER)
}

pub fn engine_status(error: EngineError) -> Status {
    match error {
        EngineError::InvalidArgument(message) => Status::invalid_argument(message),
        EngineError::NotFound(message) => with_detail(
            Code::NotFound,
            message,
            "NotFoundFailure",
            details::NotFoundFailure::default().encode_to_vec(),
        ),
        EngineError::AlreadyStarted {
            start_request_id,
            run_id,
        } => already_started_status("", start_request_id, run_id),
        EngineError::AlreadyCompleted { .. } => {
            Status::not_found("workflow execution already completed")
        }
        EngineError::FailedPrecondition(message) => Status::failed_precondition(message),
        EngineError::ResourceExhausted(message) => Status::resource_exhausted(message),
    }
}

/// A status carrying one `temporal.api.errordetails.v1` message, as Temporal sends them.
pub fn with_detail(code: Code, message: String, detail: &str, value: Vec<u8>) -> Status {
    let any = prost_wkt_types::Any {
        type_url: format!("type.googleapis.com/temporal.api.errordetails.v1.{detail}"),
        value,
    };
    let body = rpc::Status {
        code: code as i32,
        message: message.clone(),
        details: vec![any],
    };
    Status::with_details(code, message, body.encode_to_vec().into())
}

/// A call over its namespace's rate limit, as Temporal answers it (the SDKs back off and
/// retry it).
pub fn namespace_rate_limited() -> Status {
    let detail = details::ResourceExhaustedFailure {
        cause: ResourceExhaustedCause::RpsLimit as i32,
        scope: ResourceExhaustedScope::Namespace as i32,
    };
    with_detail(
        Code::ResourceExhausted,
        "namespace rate limit exceeded".into(),
        "ResourceExhaustedFailure",
        detail.encode_to_vec(),
    )
}

/// A request a closing run cannot take, as Temporal answers it: the SDKs back off and
/// retry it, and it lands on the run that continues the workflow.
pub fn workflow_closing() -> Status {
    let detail = details::ResourceExhaustedFailure {
        cause: ResourceExhaustedCause::BusyWorkflow as i32,
        scope: ResourceExhaustedScope::Namespace as i32,
    };
    with_detail(
        Code::ResourceExhausted,
        "workflow operation can not be applied because workflow is closing".into(),
        "ResourceExhaustedFailure",
        detail.encode_to_vec(),
    )
}

pub fn namespace_not_found(name: &str) -> Status {
    let detail = details::NamespaceNotFoundFailure {
        namespace: name.to_string(),
    };
    with_detail(
        Code::NotFound,
        format!("Namespace {name} is not found."),
        "NamespaceNotFoundFailure",
        detail.encode_to_vec(),
    )
}

pub fn already_started(workflow_id: &str, error: EngineError) -> Status {
    match error {
        EngineError::AlreadyStarted {
            start_request_id,
            run_id,
        } => already_started_status(workflow_id, start_request_id, run_id),
        other => engine_status(other),
    }
}

/// `AlreadyExists` with the `WorkflowExecutionAlreadyStartedFailure` the SDKs turn into
/// their "already started" errors.
fn already_started_status(workflow_id: &str, start_request_id: String, run_id: String) -> Status {
    let message = format!(
        "Workflow execution is already running. WorkflowId: {workflow_id}, RunId: {run_id}."
    );
    already_started_with_message(message, start_request_id, run_id)
}

/// `AlreadyExists` with the SDKs' "already started" detail and a message of the caller's.
pub fn already_started_with_message(
    message: String,
    start_request_id: String,
    run_id: String,
) -> Status {
    let detail = details::WorkflowExecutionAlreadyStartedFailure {
        start_request_id,
        run_id,
        ..Default::default()
    };
    with_detail(
        Code::AlreadyExists,
        message,
        "WorkflowExecutionAlreadyStartedFailure",
        detail.encode_to_vec(),
    )
}

/// The failure of an update-with-start (`ExecuteMultiOperation`): one status per operation,
/// the failing ones as they are and the others aborted, under the code of the first
/// failing one.
pub fn multi_operation_failure(outcomes: Vec<Option<Status>>) -> Status {
    let code = outcomes
        .iter()
        .flatten()
        .map(Status::code)
        .next()
        .unwrap_or(Code::Internal);
    let statuses = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Some(status) => {
                let details = rpc::Status::decode(status.details())
                    .map(|body| body.details)
                    .unwrap_or_default();
                details::multi_operation_execution_failure::OperationStatus {
                    code: status.code() as i32,
                    message: status.message().to_string(),
                    details,
                }
            }
            None => details::multi_operation_execution_failure::OperationStatus {
                code: Code::Aborted as i32,
                message: "Operation was aborted.".into(),
                details: vec![prost_wkt_types::Any {
                    type_url:
                        "type.googleapis.com/temporal.api.failure.v1.MultiOperationExecutionAborted"
                            .into(),
                    value: Vec::new(),
                }],
            },
        })
        .collect();
    let message = "Update-with-Start could not be executed.".to_string();
    let failure = details::MultiOperationExecutionFailure { statuses };
    with_detail(
        code,
        message,
        "MultiOperationExecutionFailure",
        failure.encode_to_vec(),
    )
}
