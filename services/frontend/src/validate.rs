//! Request validation with Temporal's limits and messages.

use tonic::Status;

/// Longest workflow ID, type, task queue, activity ID... Temporal accepts (bytes).
pub const MAX_ID_LENGTH: usize = 1000;
/// Payloads larger than this are refused (Temporal's blob size error limit).
pub const MAX_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;

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
