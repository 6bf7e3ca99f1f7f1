//! Frontend: Temporal's public gRPC API. It validates every request against Temporal's
//! limits, routes workflow-scoped calls to the history owner of the run's partition and
//! task-queue calls to matching, merges list/count over partitions, and maps every error to
//! the gRPC status and details the SDKs expect.

mod activity_control;
mod activity_tasks;
pub mod authorization;
mod convert;
mod error;
mod history_api;
mod long_poll;
mod namespaces;
mod queries;
mod schedules;
mod search_attributes;
mod service;
mod updates;
mod validate;
mod visibility;
mod visibility_api;
mod workflow_tasks;
mod workflows;

use cairn_api::{
    operatorservice::operator_service_server::OperatorServiceServer,
    workflowservice::workflow_service_server::{WorkflowService, WorkflowServiceServer},
};
use tonic::codec::CompressionEncoding;

pub use error::{is_not_owner, with_detail};
pub use history_api::idle_history_poll;
pub use long_poll::parse_grpc_timeout;
pub use namespaces::{Namespace, NamespaceError, Namespaces};
pub use service::{DEFAULT_NAMESPACE_RPS, Frontend, QueueOwnership};

/// Temporal's largest accepted gRPC message (4 MiB requests, larger responses).
const MAX_MESSAGE: usize = 128 * 1024 * 1024;

/// The WorkflowService as the SDKs call it: gzip both ways, Temporal's message sizes.
pub fn workflow_service<S: WorkflowService>(service: S) -> WorkflowServiceServer<S> {
    WorkflowServiceServer::new(service)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

/// The OperatorService, with the same encodings.
pub fn operator_service(frontend: Frontend) -> OperatorServiceServer<Frontend> {
    OperatorServiceServer::new(frontend)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
}
