//! Long polls: how long one may wait, and waiting for a workflow to change.

use std::time::Duration;

use tonic::Request;

/// Temporal answers an idle long poll empty after about a minute.
pub(crate) const LONG_POLL: Duration = Duration::from_secs(60);
/// Answer this much before the client's own deadline.
pub(crate) const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// How long a long poll may wait given the client's deadline (`grpc-timeout`).
pub(crate) fn poll_wait<T>(request: &Request<T>) -> Duration {
    match client_timeout(request) {
        Some(deadline) => deadline.saturating_sub(DEADLINE_MARGIN).min(LONG_POLL),
        None => LONG_POLL,
    }
}

/// The time the client gave the call (`grpc-timeout`), if it gave one.
pub(crate) fn client_timeout<T>(request: &Request<T>) -> Option<Duration> {
    request
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
}

pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Waits until a batch that changed `workflow` is durable: true, or the deadline passed:
/// false. A receiver that fell behind cannot tell, so it answers true and the caller looks.
pub(crate) async fn wait_for_change(
    changes: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<Vec<cairn_engine::WorkflowKey>>>,
    workflow: &cairn_engine::WorkflowKey,
    deadline: tokio::time::Instant,
) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match tokio::time::timeout_at(deadline, changes.recv()).await {
            Ok(Ok(workflows)) if workflows.contains(workflow) => return true,
            Ok(Ok(_)) => {}
            Ok(Err(RecvError::Lagged(_))) => return true,
            Ok(Err(RecvError::Closed)) | Err(_) => return false,
        }
    }
}
