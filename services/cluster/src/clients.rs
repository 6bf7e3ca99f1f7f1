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

/// How long an internal call keeps looking for a partition's owner.
pub const OWNER_WAIT: Duration = Duration::from_secs(20);
/// Pause between attempts when nothing in the directory changed.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

#[derive(Clone, Default)]
pub struct Clients {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl Clients {
    pub fn channel(&self, address: &str) -> Channel {
        let mut channels = self.channels.lock().expect("client lock is not poisoned");
        channels
            .entry(address.to_string())
            .or_insert_with(|| {
                Endpoint::from_shared(format!("http://{address}"))
                    .expect("peer addresses are host:port")
                    .connect_timeout(Duration::from_secs(1))
                    .tcp_nodelay(true)
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
    std::error::Error::source(status).is_some()
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
