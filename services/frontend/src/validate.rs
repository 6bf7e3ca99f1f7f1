//! Request validation with Temporal's limits and messages.

use tonic::Status;

/// Longest workflow ID, type, task queue, activity ID... Temporal accepts (bytes).
pub const MAX_ID_LENGTH: usize = 1000;
/// Payloads larger than this are refused (Temporal's blob size error limit).
pub const MAX_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;
/// A run's memo may be this large (Temporal's memo size error limit).
pub const MAX_MEMO_BYTES: usize = 2 * 1024 * 1024;
/// A workflow task completion may be this large (Temporal's limit, which the SDKs check).
pub const MAX_WORKFLOW_TASK_COMPLETION_BYTES: usize = 40 * 1024 * 1024;

pub fn required(value: &str, what: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!(
            "{what} is not set on request."
        )));
    }
    if value.len() > MAX_ID_LENGTH {
        return Err(Status::invalid_argument(format!(
            "{what} exceeds length limit."
        )));
    }
    Ok(())
}

pub fn payload_size(size: usize) -> Result<(), Status> {
    if size > MAX_PAYLOAD_BYTES {
        return Err(Status::invalid_argument("Blob data size exceeds limit."));
    }
    Ok(())
}

pub fn non_negative(
    duration: Option<&prost_wkt_types::Duration>,
    what: &str,
) -> Result<(), Status> {
    if let Some(d) = duration
        && (d.seconds < 0 || d.nanos < 0)
    {
        return Err(Status::invalid_argument(format!("Invalid {what}.")));
    }
    Ok(())
}

/// A retry policy as Temporal accepts it, with its messages.
pub fn retry_policy(
    policy: &temporalio_protos::protos::temporal::api::common::v1::RetryPolicy,
) -> Result<(), Status> {
    cairn_engine::retry::validate(policy).map_err(Status::invalid_argument)
}

/// A namespace's retention in seconds, as Temporal accepts it: at least a day; `None` when
/// not given (zero counts as not given).
pub fn retention(ttl: Option<&prost_wkt_types::Duration>) -> Result<Option<i64>, Status> {
    let Some(ttl) = ttl else {
        return Ok(None);
    };
    if ttl.seconds == 0 && ttl.nanos == 0 {
        return Ok(None);
    }
    if ttl.seconds < crate::namespaces::MIN_RETENTION_SECONDS || ttl.nanos < 0 {
        return Err(Status::invalid_argument(
            "A valid retention period is not set on request.",
        ));
    }
    Ok(Some(ttl.seconds))
}
