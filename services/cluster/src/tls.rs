//! TLS on the gRPC ports: the public port (server TLS, and mutual TLS when client CAs are
//! given) and the internal port between nodes (always mutual, with one cluster CA).
//!
//! Certificates, keys and CAs are PEM files, read again every `refresh_interval` (as
//! Temporal's `tls.refreshInterval`): a renewed certificate or CA serves the connections
//! made after it is read, and a file that does not parse is logged and the previous
//! configuration kept. Every handshake runs in its own task, bounded in time, so a client
//! that never finishes one holds nobody else up.

use std::{
    io,
    path::{Path, PathBuf},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use anyhow::Context as _;
use rustls::{
    ClientConfig, RootCertStore, ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
    server::WebPkiClientVerifier,
};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tokio_util::sync::CancellationToken;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::{debug, info, warn};

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often certificate files are read again, unless configured.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// The `[tls]` settings of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// The public gRPC port: TLS when a certificate is given.
    pub frontend: FrontendTls,
    /// The internal port between nodes: mutual TLS when a certificate is given.
    pub internode: InternodeTls,
    /// How often the files are read again; a changed file serves new connections.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            frontend: FrontendTls::default(),
            internode: InternodeTls::default(),
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
        }
    }
}

/// The public port's certificate, and the CAs whose client certificates it requires.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendTls {
    /// PEM certificate chain the public port presents.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// PEM CAs that sign the client certificates the public port requires (mutual TLS);
    /// none: clients present no certificate.
    pub client_ca_files: Vec<PathBuf>,
}

/// A node's certificate, presented both to the peers it calls and to those that call it,
/// and the CAs that sign every node's certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InternodeTls {
    /// PEM certificate chain of this node.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// PEM CAs that sign the nodes' certificates.
    pub ca_files: Vec<PathBuf>,
    /// The name to check in peers' certificates; the host they advertise when not given.
    pub server_name: Option<String>,
}

impl FrontendTls {
    /// Whether TLS is on for the public port; an error for settings that cannot work.
    pub fn enabled(&self) -> anyhow::Result<bool> {
        Ok(self.files()?.is_some())
    }

    fn files(&self) -> anyhow::Result<Option<PemFiles>> {
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Ok(Some(PemFiles {
                cert: cert.clone(),
                key: key.clone(),
                cas: self.client_ca_files.clone(),
            })),
            (None, None) => {
                anyhow::ensure!(
                    self.client_ca_files.is_empty(),
                    "tls.frontend.client_ca_files needs tls.frontend.cert_file and key_file: \
                     clients are asked for certificates only over TLS"
                );
                Ok(None)
            }
            _ => anyhow::bail!("tls.frontend needs both cert_file and key_file"),
        }
    }
}

impl InternodeTls {
    /// Whether mutual TLS is on between nodes; an error for settings that cannot work.
    pub fn enabled(&self) -> anyhow::Result<bool> {
        Ok(self.files()?.is_some())
    }

    fn files(&self) -> anyhow::Result<Option<PemFiles>> {
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                anyhow::ensure!(
                    !self.ca_files.is_empty(),
                    "tls.internode needs ca_files: the CAs that sign the nodes' certificates"
                );
                Ok(Some(PemFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    cas: self.ca_files.clone(),
                }))
            }
            (None, None) => {
                anyhow::ensure!(
                    self.ca_files.is_empty() && self.server_name.is_none(),
                    "tls.internode needs cert_file and key_file"
                );
                Ok(None)
            }
            _ => anyhow::bail!("tls.internode needs both cert_file and key_file"),
        }
    }
}

/// A certificate chain, its key and the CAs that go with it: what a TLS configuration is
/// built from.
#[derive(Debug, Clone)]
struct PemFiles {
    cert: PathBuf,
    key: PathBuf,
    cas: Vec<PathBuf>,
}

impl PemFiles {
    /// What `build` makes of these files, made again whenever they change.
    fn reloading<T: Send + Sync + 'static>(
        self,
        what: &'static str,
        build: fn(&PemFiles) -> anyhow::Result<Arc<T>>,
        interval: Duration,
        stop: CancellationToken,
    ) -> anyhow::Result<watch::Receiver<Arc<T>>> {
        let mut files = vec![self.cert.clone(), self.key.clone()];
        files.extend(self.cas.iter().cloned());
        Reloading::start(what, files, move || build(&self), interval, stop)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
    anyhow::ensure!(
        !certificates.is_empty(),
        "{} holds no PEM certificate",
        path.display()
    );
    Ok(certificates)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("{} holds no PEM private key", path.display()))
}

fn read_roots(paths: &[PathBuf]) -> anyhow::Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    for path in paths {
        for certificate in read_certificates(path)? {
            roots
                .add(certificate)
                .with_context(|| format!("a CA certificate in {}", path.display()))?;
        }
    }
    Ok(Arc::new(roots))
}

/// A server's configuration; clients must present a certificate from `files.cas` when
/// there are any.
fn server_config(files: &PemFiles) -> anyhow::Result<Arc<ServerConfig>> {
    let (cert, key, client_cas) = (&files.cert, &files.key, &files.cas);
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = if client_cas.is_empty() {
        builder.with_no_client_auth()
    } else {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(read_roots(client_cas)?, provider())
                .build()
                .context("the client CAs")?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(read_certificates(cert)?, read_key(key)?)
        .with_context(|| format!("{} and {}", cert.display(), key.display()))?;
    // gRPC is HTTP/2, and gRPC clients (grpc-go among them) insist on ALPN saying so.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A client's configuration, presenting `files.cert` and trusting `files.cas`.
fn client_config(files: &PemFiles) -> anyhow::Result<Arc<ClientConfig>> {
    let (cert, key, cas) = (&files.cert, &files.key, &files.cas);
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(read_roots(cas)?)
        .with_client_auth_cert(read_certificates(cert)?, read_key(key)?)
        .with_context(|| format!("{} and {}", cert.display(), key.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A configuration built from files, built again whenever their contents change.
struct Reloading<T> {
    files: Vec<PathBuf>,
    contents: Vec<Vec<u8>>,
    build: Box<dyn Fn() -> anyhow::Result<Arc<T>> + Send + Sync>,
    current: watch::Sender<Arc<T>>,
}

impl<T: Send + Sync + 'static> Reloading<T> {
    fn start(
        what: &'static str,
        files: Vec<PathBuf>,
        build: impl Fn() -> anyhow::Result<Arc<T>> + Send + Sync + 'static,
        interval: Duration,
        stop: CancellationToken,
    ) -> anyhow::Result<watch::Receiver<Arc<T>>> {
        let contents = read_all(&files);
        let first = build()?;
        let (current, receiver) = watch::channel(first);
        let mut reloading = Self {
            files,
            contents,
            build: Box::new(build),
            current,
        };
        if !interval.is_zero() {
            cairn_runtime::supervise("tls-refresh", cairn_runtime::Failure::Logged, async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks.tick().await;
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        _ = ticks.tick() => reloading.refresh(what),
                    }
                }
            });
        }
        Ok(receiver)
    }

    fn refresh(&mut self, what: &str) {
        let contents = read_all(&self.files);
        if contents == self.contents {
            return;
        }
        match (self.build)() {
            Ok(config) => {
                self.contents = contents;
                self.current.send_replace(config);
                info!(what, "TLS files changed: new connections use them");
            }
            Err(error) => {
                // Files are often replaced one at a time: the pair may match on the next read.
                warn!(what, error = %format!("{error:#}"), "TLS files changed but do not load; keeping the previous ones");
            }
        }
    }
}

fn read_all(files: &[PathBuf]) -> Vec<Vec<u8>> {
    files
        .iter()
        .map(|path| std::fs::read(path).unwrap_or_default())
        .collect()
}

/// The server side of a port with TLS.
#[derive(Clone)]
pub struct ServerTls {
    config: watch::Receiver<Arc<ServerConfig>>,
}

impl ServerTls {
    /// The public port's TLS, when configured.
    pub fn frontend(
        settings: &TlsSettings,
        stop: CancellationToken,
    ) -> anyhow::Result<Option<Self>> {
        let Some(files) = settings.frontend.files()? else {
            return Ok(None);
        };
        let config = files.reloading("frontend", server_config, settings.refresh_interval, stop)?;
        Ok(Some(Self { config }))
    }

    /// The internal port's mutual TLS, when configured.
    pub fn internode(
        settings: &TlsSettings,
        stop: CancellationToken,
    ) -> anyhow::Result<Option<Self>> {
        let Some(files) = settings.internode.files()? else {
            return Ok(None);
        };
        let config = files.reloading(
            "internode server",
            server_config,
            settings.refresh_interval,
            stop,
        )?;
        Ok(Some(Self { config }))
    }
}

/// A connection a gRPC server accepted: plain TCP, or TLS over it.
pub enum Connection {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        match self {
            Self::Plain(stream) => stream.connect_info(),
            Self::Tls(stream) => stream.get_ref().0.connect_info(),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Self::Tls(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(stream) => stream.is_write_vectored(),
            Self::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Self::Tls(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

/// The connections of `listener`, with Nagle's algorithm off (a response goes out in
/// several writes, and a write held back for the client's delayed ACK costs a call about
/// 40 ms), through a TLS handshake when `tls` is given. A failed handshake (no client
/// certificate where one is required, an untrusted one, plaintext to a TLS port) closes
/// that connection only.
pub fn incoming(
    listener: TcpListener,
    tls: Option<ServerTls>,
    stop: CancellationToken,
) -> impl Stream<Item = io::Result<Connection>> {
    let (accepted, connections) = mpsc::channel(64);
    cairn_runtime::supervise("accept", cairn_runtime::Failure::Logged, async move {
        loop {
            let (stream, peer) = tokio::select! {
                () = stop.cancelled() => return,
                () = accepted.closed() => return,
                result = listener.accept() => match result {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: the next accept may succeed.
                        warn!(error = %error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            if let Err(error) = stream.set_nodelay(true) {
                debug!(%peer, error = %error, "could not turn Nagle's algorithm off");
            }
            let Some(tls) = &tls else {
                if accepted.send(Ok(Connection::Plain(stream))).await.is_err() {
                    return;
                }
                continue;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.config.borrow()));
            let accepted = accepted.clone();
            cairn_runtime::supervise(
                "tls-handshake",
                cairn_runtime::Failure::Logged,
                async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            // Fails only when the server stopped: the connection just closes.
                            if accepted
                                .send(Ok(Connection::Tls(Box::new(stream))))
                                .await
                                .is_err()
                            {
                                debug!(%peer, "server stopped during a TLS handshake");
                            }
                        }
                        Ok(Err(error)) => debug!(%peer, error = %error, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                },
            );
        }
    });
    ReceiverStream::new(connections)
}

/// The client side of the internal port's mutual TLS: connections to peers, each made with
/// the certificate and CAs read last.
#[derive(Clone)]
pub struct InternodeConnector {
    config: watch::Receiver<Arc<ClientConfig>>,
    server_name: Option<String>,
}

impl InternodeConnector {
    pub fn new(settings: &TlsSettings, stop: CancellationToken) -> anyhow::Result<Option<Self>> {
        let Some(files) = settings.internode.files()? else {
            return Ok(None);
        };
        let config = files.reloading(
            "internode client",
            client_config,
            settings.refresh_interval,
            stop,
        )?;
        Ok(Some(Self {
            config,
            server_name: settings.internode.server_name.clone(),
        }))
    }
}

impl tower::Service<http::Uri> for InternodeConnector {
    type Response = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = futures::future::BoxFuture<'static, io::Result<Self::Response>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.config.borrow()));
        let server_name = self.server_name.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(443);
            let name = ServerName::try_from(server_name.unwrap_or_else(|| host.clone()))
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
            let stream = TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, stream))
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??;
            Ok(hyper_util::rt::TokioIo::new(stream))
        })
    }
}
