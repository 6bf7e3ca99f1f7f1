//! Connections to peers, one lazily connected channel per address, and the retry rule every
//! internal call follows: a call that certainly had no effect (no owner known yet, the owner
//! moved, the peer refused the connection) is tried again as the directory changes, until a
//! deadline.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use crate::directory::Directory;

/// How long an internal call keeps looking for a partition's owner. Ownership can take a
/// few session timeouts to settle while nodes keep failing; a call waits that out rather
/// than fail (the SDKs give up retrying `Unavailable` after about 10 s).
pub const OWNER_WAIT: Duration = Duration::from_secs(60);
/// How long one attempt of a call that is not a long poll may take. A peer that does not
/// answer within it (frozen, or cut off) is presumed gone; whatever it does later with the
/// request is fenced if it lost its partitions meanwhile.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between attempts when nothing in the directory changed.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

#[derive(Clone, Default)]
pub struct Clients {
    /// For long polls and forwarded calls, which bound each attempt themselves.
    open: Arc<Mutex<HashMap<String, Channel>>>,
    /// For the internal services, every call bounded by [`ATTEMPT_TIMEOUT`].
    bounded: Arc<Mutex<HashMap<String, Channel>>>,
}

impl Clients {
    /// A channel to `address` with no bound on a call's duration.
    pub fn channel(&self, address: &str) -> Channel {
        Self::get(&self.open, address, None)
    }

    /// A channel to `address` whose calls fail after [`ATTEMPT_TIMEOUT`].
    pub fn bounded_channel(&self, address: &str) -> Channel {
        Self::get(&self.bounded, address, Some(ATTEMPT_TIMEOUT))
    }

    fn get(
        cache: &Mutex<HashMap<String, Channel>>,
        address: &str,
        timeout: Option<Duration>,
    ) -> Channel {
        let mut channels = cache.lock().expect("client lock is not poisoned");
        channels
            .entry(address.to_string())
            .or_insert_with(|| {
                let endpoint = Endpoint::from_shared(format!("http://{address}"))
                    .expect("peer addresses are host:port")
                    .connect_timeout(Duration::from_secs(1))
                    .tcp_nodelay(true);
                match timeout {
                    Some(timeout) => endpoint.timeout(timeout),
                    None => endpoint,
                }
                .connect_lazy()
            })
            .clone()
    }
}

/// Waits until the directory changes, a short pause passes, or `deadline` comes; false
/// when the deadline came.
pub async fn wait_for_change(directory: &Directory, deadline: Instant) -> bool {
    let mut changes = directory.changes();
    let pause = Instant::now() + RETRY_PAUSE;
    tokio::select! {
        _ = changes.changed() => {}
        () = tokio::time::sleep_until(pause.min(deadline)) => {}
    }
    Instant::now() < deadline
}

/// True when a call failed in transport (the peer went away or could not be reached) rather
/// than being answered by the peer.
pub fn transport_failed(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_some() || timed_out(status)
}

/// True when a bounded call ran out of time (the peer may still act on it later).
pub fn timed_out(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
    ) && status.message().to_ascii_lowercase().contains("timeout")
}

/// True when a call failed before reaching the peer (the connection was refused or could not
/// be made), so it had no effect and may be sent again.
pub fn never_sent(status: &tonic::Status) -> bool {
    if status.code() != tonic::Code::Unavailable {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(error) = source {
        let text = error.to_string();
        if text.contains("connect") || text.contains("Connection refused") {
            return true;
        }
        source = error.source();
    }
    status.message().contains("connect")
}
