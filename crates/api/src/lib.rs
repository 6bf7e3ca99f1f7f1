//! tonic server (and client) traits for Temporal's `WorkflowService` and `OperatorService`,
//! generated at build time from the descriptor set of `temporalio-protos`. Every request and
//! response type is that crate's type; RPCs a service does not implement answer
//! `Unimplemented` through the generated default stubs.

// Generated code follows the generator's style, not ours.
#[allow(clippy::all, clippy::clone_on_ref_ptr, clippy::pedantic)]
pub mod workflowservice {
    tonic::include_proto!("temporal.api.workflowservice.v1");
}

#[allow(clippy::all, clippy::clone_on_ref_ptr, clippy::pedantic)]
pub mod operatorservice {
    tonic::include_proto!("temporal.api.operatorservice.v1");
}

pub use temporalio_protos::protos::temporal::api as proto;
