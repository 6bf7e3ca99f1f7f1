//! Cairn's embedded broker: a one-node broker that speaks Kafka's protocol and keeps its
//! topics in local files, so the dev server needs no Kafka of its own yet writes histories
//! any Kafka tool can read (`kcat`, `kafka-console-consumer`, librdkafka, the Java client).
//!
//! It implements what producers, consumers, consumer groups and the Admin API use: produce
//! (idempotent producers included, retries recognised by sequence), fetch (answered as soon
//! as records arrive), offsets by time, metadata, topic creation and deletion, topic
//! configs, the classic group protocol, and committed offsets. Each partition is a log file
//! laid out as a Kafka segment, nothing is ever deleted, and a restarted broker serves
//! everything it acknowledged before. What it leaves out, because one process on one machine
//! has no use for it: replication, transactions, quotas, security, and compaction.
//!
//! It is for development and tests. Production runs on a real Kafka cluster.

mod api;
mod batch;
mod connection;
mod errors;
mod groups;
mod offsets;
mod partition;
mod topics;

use std::{
    collections::BTreeMap,
    fs, io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, atomic::AtomicI64},
    time::Duration,
};

use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

pub use topics::{CreateError, DEFAULT_MAX_MESSAGE_BYTES};

use crate::{groups::Coordinator, offsets::Offsets, topics::Topics};

/// How often silent group members and stalled rebalances are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
const CLUSTER_ID_FILE: &str = "cluster.id";

/// Where the broker listens and keeps its data.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The host clients are told to connect to; the listening IP when not given.
    pub advertised_host: Option<String>,
    /// Where topics and committed offsets are kept; a temporary directory, removed when the
    /// broker stops, when not given.
    pub dir: Option<PathBuf>,
    /// Whether a producer's metadata request for an unknown topic creates it, with one
    /// partition (Kafka's `auto.create.topics.enable`, on by default there too).
    pub auto_create_topics: bool,
}

impl BrokerConfig {
    /// A broker on a free loopback port, in a temporary directory.
    pub fn ephemeral() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertised_host: None,
            dir: None,
            auto_create_topics: true,
        }
    }
}

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub topics: Topics,
    pub groups: Coordinator,
    pub offsets: Offsets,
    /// Bumped after every append, so that waiting fetches look again.
    pub appended: watch::Sender<u64>,
    pub next_producer_id: AtomicI64,
    pub host: String,
    pub port: i32,
    pub cluster_id: String,
    pub auto_create_topics: bool,
}

/// A running broker. Dropping it stops it.
#[derive(Debug)]
pub struct Broker {
    address: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    _temporary: Option<tempfile::TempDir>,
}

impl Broker {
    /// Opens the broker's data (reading back every partition it holds) and starts listening.
    pub async fn start(config: BrokerConfig) -> io::Result<Self> {
        let (dir, temporary) = match config.dir {
            Some(dir) => (dir, None),
            None => {
                let temporary = tempfile::Builder::new().prefix("cairn-broker-").tempdir()?;
                (temporary.path().to_owned(), Some(temporary))
            }
        };
        fs::create_dir_all(&dir)?;
        let cluster_id = cluster_id(&dir)?;
        let topics = Topics::open(&dir)?;
        let largest_producer = topics
            .all()
            .iter()
            .flat_map(|topic| topic.partitions.iter().map(|p| p.largest_producer_id()))
            .max()
            .unwrap_or(-1);
        let listener = TcpListener::bind(config.listen).await?;
        let address = listener.local_addr()?;
        let host = config
            .advertised_host
            .unwrap_or_else(|| match address.ip() {
                ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
                ip => ip.to_string(),
            });
        let shared = Arc::new(Shared {
            topics,
            groups: Coordinator::default(),
            offsets: Offsets::open(&dir)?,
            appended: watch::Sender::new(0),
            next_producer_id: AtomicI64::new(largest_producer.max(0) + 1),
            host,
            port: i32::from(address.port()),
            cluster_id,
            auto_create_topics: config.auto_create_topics,
        });
        let stop = CancellationToken::new();
        let accept = cairn_runtime::supervise(
            "broker-accept",
            cairn_runtime::Failure::Logged,
            connection::accept(listener, Arc::clone(&shared), stop.clone()),
        );
        let sweep = cairn_runtime::supervise(
            "broker-groups",
            cairn_runtime::Failure::Logged,
            sweep(Arc::clone(&shared), stop.clone()),
        );
        info!(%address, dir = %dir.display(), "embedded broker listening");
        Ok(Self {
            address,
            shared,
            stop,
            tasks: vec![accept, sweep],
            _temporary: temporary,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The `bootstrap.servers` value for clients.
    pub fn bootstrap(&self) -> String {
        format!("{}:{}", self.shared.host, self.shared.port)
    }

    /// Creates a topic unless one of that name exists with as many partitions.
    pub fn ensure_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<(), CreateError> {
        if let Some(topic) = self.shared.topics.get(name) {
            if topic.partition_count() == partitions {
                return Ok(());
            }
            return Err(CreateError::Exists(name.to_owned()));
        }
        let configs: BTreeMap<String, String> = configs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        self.shared
            .topics
            .create(name, partitions, 1, configs, false)
            .map(|_| ())
    }

    /// Stops listening, closes every connection and waits for the broker's tasks.
    pub async fn stop(mut self) {
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            let _ended = task.await;
        }
        debug!("embedded broker stopped");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn sweep(shared: Arc<Shared>, stop: CancellationToken) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = interval.tick() => shared.groups.sweep(),
        }
    }
}

/// The cluster's ID, made once and kept.
fn cluster_id(dir: &Path) -> io::Result<String> {
    let path = dir.join(CLUSTER_ID_FILE);
    match fs::read_to_string(&path) {
        Ok(id) => Ok(id.trim().to_owned()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            fs::write(&path, &id)?;
            Ok(id)
        }
        Err(error) => Err(error),
    }
}
