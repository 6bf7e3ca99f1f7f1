//! A WorkflowService client for any Temporal-API endpoint: plaintext gRPC or TLS (with the
//! system's roots or a given CA, and a client certificate for mutual TLS), with an API key
//! (`authorization: Bearer …`, as the SDKs send it) when one is given.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use cairn_api::workflowservice::workflow_service_client::WorkflowServiceClient;
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};

/// How to reach a target given by address: TLS and credentials.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Security {
    /// Connects with TLS, trusting the system's roots (or `--tls-ca`).
    #[arg(long)]
    pub tls: bool,
    /// Trusts this CA (PEM) for the server's certificate; implies `--tls`.
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// Presents this client certificate (PEM) for mutual TLS; implies `--tls`.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The name the server's certificate must carry, when not the address's host.
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Sent as `authorization: Bearer KEY` on every call (Temporal's API keys, or a JWT).
    #[arg(long, env = "TEMPORAL_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

impl Security {
    fn uses_tls(&self) -> bool {
        self.tls || self.tls_ca.is_some() || self.tls_cert.is_some()
    }

    fn tls_config(&self) -> anyhow::Result<ClientTlsConfig> {
        let read = |path: &PathBuf| {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))
        };
        let mut config = ClientTlsConfig::new();
        config = match &self.tls_ca {
            Some(ca) => config.ca_certificate(Certificate::from_pem(read(ca)?)),
            None => config.with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        if let Some(name) = &self.tls_server_name {
            config = config.domain_name(name.clone());
        }
        Ok(config)
    }
}

/// Every call's metadata: the bearer token, if any.
#[derive(Clone)]
pub struct Credentials {
    bearer: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Interceptor for Credentials {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(bearer) = &self.bearer {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
        }
        Ok(request)
    }
}

pub type Client = WorkflowServiceClient<InterceptedService<Channel, Credentials>>;

/// HTTP/2 flow-control windows, large and fixed: a run keeps thousands of calls in flight on
/// one connection, and the HTTP/2 library drops a connection on which more small frames wait
/// unread than half its connection window allows (a guard against frame floods), which a
/// 64 KiB window reaches in a signal storm on a busy machine.
const CONNECTION_WINDOW: u32 = 32 << 20;
const STREAM_WINDOW: u32 = 4 << 20;

/// Connects to `address` (`host:port`, or a URL). Connections are HTTP/2: one carries the
/// driver's and the worker's calls, multiplexed.
pub async fn connect(address: &str, security: &Security) -> anyhow::Result<Client> {
    let scheme = if security.uses_tls() { "https" } else { "http" };
    let url = if address.contains("://") {
        address.to_string()
    } else {
        format!("{scheme}://{address}")
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .with_context(|| format!("{address} is not an address"))?
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .initial_stream_window_size(STREAM_WINDOW);
    if security.uses_tls() {
        endpoint = endpoint
            .tls_config(security.tls_config()?)
            .context("TLS settings")?;
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let bearer = security
        .api_key
        .as_deref()
        .map(|key| format!("Bearer {key}").parse())
        .transpose()
        .context("the API key is not valid in a header")?;
    Ok(
        WorkflowServiceClient::with_interceptor(channel, Credentials { bearer })
            .max_decoding_message_size(64 << 20),
    )
}

/// Most attempts of a call the server throttles or cannot serve for a moment.
const ATTEMPTS: u32 = 12;
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Whether the server pushed back (`ResourceExhausted`) or could not serve for a moment
/// (`Unavailable`): the answers the SDKs retry.
pub fn is_throttled(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::ResourceExhausted | tonic::Code::Unavailable
    )
}

/// Sends `request` through `send` (one of the client's calls) and again, with exponential
/// backoff, while the server answers `ResourceExhausted` or `Unavailable`, as the SDKs retry
/// them; each retry is counted by `on_retry` with the code. Other answers, and the last
/// attempt's, are returned.
pub async fn send_retrying<Req, Resp, Send, Fut>(
    client: &Client,
    request: Req,
    send: Send,
    on_retry: impl Fn(tonic::Code),
) -> Result<Resp, Status>
where
    Req: Clone,
    Send: Fn(Client, Req) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
{
    let mut backoff = FIRST_BACKOFF;
    for _ in 1..ATTEMPTS {
        // Boxed: a call's future holds its request, and the scenarios' futures nest several.
        match Box::pin(send(client.clone(), request.clone())).await {
            Err(status) if is_throttled(status.code()) => {
                on_retry(status.code());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            answer => return answer.map(tonic::Response::into_inner),
        }
    }
    Box::pin(send(client.clone(), request))
        .await
        .map(tonic::Response::into_inner)
}

/// The deadline of a long poll, as the SDKs set it: Temporal refuses a poll without one
/// ("Context timeout is not set") and answers an empty poll shortly before it.
const LONG_POLL_DEADLINE: Duration = Duration::from_secs(70);
/// The deadline of every other call.
const CALL_DEADLINE: Duration = Duration::from_secs(10);

/// A long poll's request, with its deadline.
pub fn long_poll<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(LONG_POLL_DEADLINE);
    request
}

/// A call's request, with its deadline.
pub fn call<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(CALL_DEADLINE);
    request
}
