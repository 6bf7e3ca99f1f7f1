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
use tonic::{
    metadata::{AsciiMetadataValue, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::{directory::Directory, tls::InternodeConnector};

/// The header every internal call carries: the cluster's id, which only those who can
/// read the cluster's metadata topic know. The internal port answers no call without it.
pub const CLUSTER_HEADER: &str = "cairn-cluster-id";

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

/// Adds [`CLUSTER_HEADER`] to a call.
#[derive(Clone)]
pub struct ClusterToken(AsciiMetadataValue);

impl ClusterToken {
    pub fn new(cluster_id: &str) -> anyhow::Result<Self> {
        Ok(Self(MetadataValue::try_from(cluster_id)?))
    }

    /// Whether `value` is this cluster's id.
    pub fn matches(&self, value: Option<&http::HeaderValue>) -> bool {
        value.is_some_and(|value| value.as_bytes() == self.0.as_bytes())
    }
}

impl Interceptor for ClusterToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert(CLUSTER_HEADER, self.0.clone());
        Ok(request)
    }
}

/// A channel to a peer, whose calls carry the cluster's id.
pub type PeerChannel = InterceptedService<Channel, ClusterToken>;

#[derive(Clone)]
pub struct Clients {
    /// For long polls and forwarded calls, which bound each attempt themselves.
    open: Arc<Mutex<HashMap<String, Channel>>>,
    /// For the internal services, every call bounded by [`ATTEMPT_TIMEOUT`].
    bounded: Arc<Mutex<HashMap<String, Channel>>>,
    token: ClusterToken,
    /// Mutual TLS to peers, when the cluster has it.
    tls: Option<InternodeConnector>,
}

impl Clients {
    pub fn new(token: ClusterToken, tls: Option<InternodeConnector>) -> Self {
        Self {
            open: Arc::default(),
            bounded: Arc::default(),
            token,
            tls,
        }
    }

    /// A channel to `address` with no bound on a call's duration.
    pub fn channel(&self, address: &str) -> PeerChannel {
        self.get(&self.open, address, None)
    }

    /// A channel to `address` whose calls fail after [`ATTEMPT_TIMEOUT`].
    pub fn bounded_channel(&self, address: &str) -> PeerChannel {
        self.get(&self.bounded, address, Some(ATTEMPT_TIMEOUT))
    }

    fn get(
        &self,
        cache: &Mutex<HashMap<String, Channel>>,
        address: &str,
        timeout: Option<Duration>,
    ) -> PeerChannel {
        let mut channels = cache.lock().expect("client lock is not poisoned");
        let channel = channels
            .entry(address.to_string())
            .or_insert_with(|| {
                let endpoint = Endpoint::from_shared(format!("http://{address}"))
                    .expect("peer addresses are host:port")
                    .connect_timeout(Duration::from_secs(1))
                    .tcp_nodelay(true);
                let endpoint = match timeout {
                    Some(timeout) => endpoint.timeout(timeout),
                    None => endpoint,
                };
                match &self.tls {
                    Some(tls) => endpoint.connect_with_connector_lazy(tls.clone()),
                    None => endpoint.connect_lazy(),
                }
            })
            .clone();
        InterceptedService::new(channel, self.token.clone())
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
