//! One Cairn process of a cluster, put together from the roles it runs.
//!
//! Every node follows the directory, serves the internal services and announces itself.
//! A history node joins the history group and claims the partitions it is assigned; a
//! matching node joins the matching group and publishes the task-queue partitions it serves;
//! a frontend node serves the public API through the router.

use std::{
    collections::{BTreeSet, HashMap},
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use cairn_engine::{PartitionId, partition_of};
use cairn_frontend::{
    Frontend, Namespaces,
    authorization::{AuthSettings, Authorizer},
};
use cairn_history::{Clock, History, HistoryConfig, SnapshotConfig, SystemClock};
use cairn_log::KafkaConfig;
use cairn_matching::Matching;
use cairn_runtime::{Failure, supervise};
use cairn_schemas::{ClusterRecord, NodeRecord};
use cairn_state::StateDb;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{
    RETENTION_SWEEP, SNAPSHOT_EVERY,
    clients::{Clients, ClusterToken},
    directory::{Directory, Role},
    health::Health,
    internal::RequireCluster,
    internal::{
        HistoryPeer, MatchingPeer, history_server::HistoryServer, matching_server::MatchingServer,
    },
    membership::{Membership, MembershipConfig},
    metrics::{Admission, Metrics, Sources, serve_public},
    peers::{RemotePeers, RemoteTasks},
    router::Router,
    tls::{self, InternodeConnector, ServerTls, TlsSettings},
    topics::{self, TopicNames},
};

/// History partitions of a new cluster when neither `--partitions` nor an existing history
/// topic says otherwise.
pub const DEFAULT_PARTITIONS: u32 = 16;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles {
    pub frontend: bool,
    pub history: bool,
    pub matching: bool,
}

impl Roles {
    pub const ALL: Self = Self {
        frontend: true,
        history: true,
        matching: true,
    };

    /// Parses a comma-separated list such as `frontend,history`.
    pub fn parse(list: &str) -> anyhow::Result<Self> {
        let mut roles = Self::default();
        for role in list.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match role {
                "frontend" => roles.frontend = true,
                "history" => roles.history = true,
                "matching" => roles.matching = true,
                other => anyhow::bail!(
                    "unknown role {other:?}: roles are frontend, history and matching"
                ),
            }
        }
        anyhow::ensure!(
            roles != Self::default(),
            "no role given: choose from frontend, history and matching"
        );
        Ok(roles)
    }

    pub fn names(self) -> Vec<String> {
        [
            (self.frontend, "frontend"),
            (self.history, "history"),
            (self.matching, "matching"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name.to_string())
        .collect()
    }
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub roles: Roles,
    pub kafka: KafkaConfig,
    /// RocksDB directory; a temporary one when not given (the cache rebuilds from Kafka).
    pub data_dir: Option<PathBuf>,
    pub ip: IpAddr,
    /// Port of the public API (frontend role); 0 picks a free one.
    pub port: u16,
    /// Port of the internal services; 0 picks a free one.
    pub internal_port: u16,
    /// Port of `/metrics`; 0 picks a free one.
    pub metrics_port: u16,
    /// Host peers use to reach this node; the listen address when not given.
    pub advertise_host: Option<String>,
    /// History partitions: fixed when the cluster is created, checked on every later start.
    pub partitions: Option<u32>,
    /// How long a silent node keeps its partitions before they move.
    pub session_timeout: Duration,
    /// Namespaces to create at start (`default` always exists).
    pub namespaces: Vec<String>,
    /// Public API calls served per second (Temporal's `frontend.rps`).
    pub rps: u32,
    /// Calls served per second for each namespace by this node (Temporal's
    /// `frontend.namespaceRPS`).
    pub namespace_rps: u32,
    /// The per-workflow limits runs are held to.
    pub limits: cairn_engine::limits::Limits,
    /// Custom search attributes (name, `IndexedValueType` number) to register on every
    /// namespace created at start.
    pub search_attributes: HashMap<String, i32>,
    /// The cluster's topics and consumer groups (from its topic prefix).
    pub topics: TopicNames,
    /// Replicas of topics this node creates: three where the cluster has them, unless set.
    pub replication_factor: Option<i32>,
    /// The longest time between two snapshots of a history partition this node owns, when
    /// it changed; the history topic must keep three of these.
    pub snapshot_interval: Duration,
    /// Most open runs each history partition keeps in memory.
    pub cached_runs: usize,
    /// Most tasks of one queue each history partition hands matching at a time.
    pub task_window: usize,
    /// TLS on the public port and between nodes.
    pub tls: TlsSettings,
    /// Who may make which public call; off unless key sets are given.
    pub authorization: AuthSettings,
}

/// A running node.
pub struct Node {
    pub node_id: String,
    pub frontend_address: Option<SocketAddr>,
    pub internal_address: SocketAddr,
    pub metrics_address: SocketAddr,
    pub cluster: ClusterRecord,
    history: History,
    directory: Directory,
    stop: CancellationToken,
    failed: CancellationToken,
    history_member: Option<Membership>,
    matching_member: Option<Membership>,
    tasks: Vec<JoinHandle<()>>,
    servers: Vec<JoinHandle<Result<(), tonic::transport::Error>>>,
    health: Health,
    _temp_dir: Option<tempfile::TempDir>,
}

impl Node {
    pub async fn start(config: NodeConfig) -> anyhow::Result<Self> {
        let kafka = &config.kafka;
        let stop = CancellationToken::new();
        // Certificates are read before anything else: a wrong file ends the start here.
        let public_tls = ServerTls::frontend(&config.tls, stop.clone())
            .context("the public port's TLS (tls.frontend)")?;
        let internode_tls = ServerTls::internode(&config.tls, stop.clone())
            .context("TLS between nodes (tls.internode)")?;
        let internode_connector = InternodeConnector::new(&config.tls, stop.clone())
            .context("TLS between nodes (tls.internode)")?;
        let authorizer = Authorizer::start(&config.authorization, stop.clone())
            .await
            .context("authorization")?;
        // The connection check: wrong credentials or an untrusted certificate end the start
        // here, with the reason, rather than in a retry loop.
        let brokers = cairn_log::broker_count(kafka).await?;
        let replication = config
            .replication_factor
            .unwrap_or_else(|| topics::default_replication(brokers));
        topics::ensure(
            kafka,
            &[topics::metadata_plan(&config.topics, replication)],
            true,
        )
        .await
        .context("the metadata topic")?;
        // Cancelled when a task this node cannot go on without dies: the node then stops
        // (`cairn server start` exits) so that others take its partitions.
        let failed = CancellationToken::new();
        let directory = Directory::follow(kafka, &config.topics.metadata, failed.clone())
            .await
            .context("reading the metadata topic")?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let cluster = cluster_record(&config, &directory, replication, clock.now()).await?;
        let history_partitions = u32::try_from(cluster.history_partitions)?;
        let matching_partitions = u32::try_from(cluster.matching_partitions)?;
        let node_id = format!("node-{}", uuid::Uuid::new_v4());

        let (data_dir, temp_dir) = match &config.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::tempdir().context("creating a temporary data directory")?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let db = StateDb::open(&data_dir.join("state")).context("opening the state store")?;

        let internal_listener = TcpListener::bind(SocketAddr::new(config.ip, config.internal_port))
            .await
            .with_context(|| format!("binding {}:{}", config.ip, config.internal_port))?;
        let internal_address = internal_listener.local_addr()?;
        let advertise_host = config.advertise_host.clone().unwrap_or_else(|| {
            if config.ip.is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                config.ip.to_string()
            }
        });
        let frontend_listener = if config.roles.frontend {
            Some(
                TcpListener::bind(SocketAddr::new(config.ip, config.port))
                    .await
                    .with_context(|| format!("binding {}:{}", config.ip, config.port))?,
            )
        } else {
            None
        };
        let frontend_address = frontend_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;

        let token = ClusterToken::new(&cluster.cluster_id)?;
        let clients = Clients::new(token.clone(), internode_connector);
        let matching = Matching::new();
        let tasks = RemoteTasks {
            node_id: node_id.clone(),
            directory: directory.clone(),
            clients: clients.clone(),
            partitions: matching_partitions,
            local: matching.clone(),
        };
        let peers = RemotePeers {
            directory: directory.clone(),
            clients: clients.clone(),
            partitions: history_partitions,
        };
        let history = History::new(
            HistoryConfig {
                partitions: history_partitions,
                topic: config.topics.history.clone(),
                node_id: node_id.clone(),
                kafka: kafka.clone(),
                snapshots: Some(SnapshotConfig {
                    topic: config.topics.snapshots.clone(),
                    every: SNAPSHOT_EVERY,
                    interval: config.snapshot_interval,
                }),
                limits: config.limits,
                max_record_bytes: cairn_history::DEFAULT_MAX_RECORD_BYTES,
                cached_runs: config.cached_runs,
                task_window: config.task_window,
            },
            db,
            Arc::new(tasks.clone()),
            Arc::clone(&clock),
            Some(Arc::new(peers)),
        )?;
        let namespaces = Namespaces::open(
            kafka,
            &config.topics.metadata,
            &config.namespaces,
            clock.now(),
        )
        .await
        .context("loading namespaces")?;
        directory.attach_namespaces(namespaces.clone());

        let stops_node = || Failure::StopsNode(failed.clone());
        let mut background = Vec::new();
        let (history_failed, node_failed, stopping) =
            (history.failure(), failed.clone(), stop.clone());
        background.push(supervise("history-failure", Failure::Logged, async move {
            tokio::select! {
                () = history_failed.cancelled() => node_failed.cancel(),
                () = stopping.cancelled() => {}
            }
        }));
        let mut servers = Vec::new();

        let matching_member = if config.roles.matching {
            Some(Membership::join(
                kafka,
                MembershipConfig {
                    group: config.topics.matching_group(),
                    topic: config.topics.matching.clone(),
                    session_timeout: config.session_timeout,
                },
            )?)
        } else {
            None
        };
        let matching_owned = matching_member
            .as_ref()
            .map_or_else(|| watch::channel(BTreeSet::new()).1, Membership::assigned);
        let owned = matching_owned.clone();
        let matching_owned_for_metrics = matching_owned.clone();
        let frontend = Frontend::new(
            history.clone(),
            matching.clone(),
            Arc::new(tasks),
            namespaces.clone(),
        )
        .serving_queues(Arc::new(move |namespace_id: &str, queue: &str| {
            let partition = partition_of(namespace_id, queue, matching_partitions);
            i32::try_from(partition).is_ok_and(|p| owned.borrow().contains(&p))
        }))
        .in_cluster(cluster.cluster_id.clone());
        if !config.search_attributes.is_empty() {
            let created =
                std::iter::once("default").chain(config.namespaces.iter().map(String::as_str));
            for namespace in created {
                frontend
                    .register_search_attributes(namespace, config.search_attributes.clone())
                    .await
                    .with_context(|| format!("registering search attributes on {namespace}"))?;
            }
        }

        let internal = tonic::transport::Server::builder()
            .layer(RequireCluster { token })
            .add_service(cairn_frontend::workflow_service(frontend.clone()))
            .add_service(
                HistoryServer::new(HistoryPeer {
                    history: history.clone(),
                })
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX),
            )
            .add_service(
                MatchingServer::new(MatchingPeer {
                    matching: matching.clone(),
                    owned: matching_owned.clone(),
                })
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX),
            )
            .serve_with_incoming_shutdown(
                tls::incoming(internal_listener, internode_tls, stop.clone()),
                stop.clone().cancelled_owned(),
            );
        servers.push(supervise("internal-api", stops_node(), internal));

        directory
            .announce(NodeRecord {
                node_id: node_id.clone(),
                roles: config.roles.names(),
                internal_address: format!("{advertise_host}:{}", internal_address.port()),
                frontend_address: frontend_address
                    .map(|a| format!("{advertise_host}:{}", a.port()))
                    .unwrap_or_default(),
                started_at: clock.now(),
            })
            .await
            .context("announcing this node")?;

        if config.roles.matching {
            background.push(supervise(
                "matching-ownership",
                stops_node(),
                publish_matching(
                    directory.clone(),
                    node_id.clone(),
                    matching.clone(),
                    matching_partitions,
                    matching_owned,
                    stop.clone(),
                ),
            ));
        }
        let history_member = if config.roles.history {
            let member = Membership::join(
                kafka,
                MembershipConfig {
                    group: config.topics.history_group(),
                    topic: config.topics.history.clone(),
                    session_timeout: config.session_timeout,
                },
            )?;
            background.push(supervise(
                "history-ownership",
                stops_node(),
                drive_history(
                    history.clone(),
                    directory.clone(),
                    node_id.clone(),
                    member.assigned(),
                    config.session_timeout,
                    stop.clone(),
                ),
            ));
            background.push(supervise(
                "redispatch",
                stops_node(),
                redispatch_on_matching_moves(history.clone(), directory.clone(), stop.clone()),
            ));
            background.push(history.enforce_retention(
                namespaces.retention(),
                RETENTION_SWEEP,
                stop.clone(),
            ));
            Some(member)
        } else {
            None
        };

        let metrics = Metrics::new(Sources {
            history: config.roles.history.then(|| history.clone()),
            matching: config.roles.matching.then(|| matching.clone()),
            matching_owned: config
                .roles
                .matching
                .then(|| matching_owned_for_metrics.clone()),
        });
        let (health, health_service) = Health::new(failed.clone()).await;
        background.push(supervise(
            "health-failure",
            Failure::Logged,
            health.clone().follow_failure(stop.clone()),
        ));
        background.push(supervise(
            "health-kafka",
            Failure::Logged,
            health.clone().follow_kafka(kafka.clone(), stop.clone()),
        ));
        let (metrics_address, serving_metrics) = metrics
            .start(
                SocketAddr::new(config.ip, config.metrics_port),
                health.clone(),
                stop.clone(),
            )
            .await
            .with_context(|| format!("binding {}:{}", config.ip, config.metrics_port))?;
        background.push(serving_metrics);

        if let Some(listener) = frontend_listener {
            // Each public call counts against its namespace's rate once, where it enters;
            // the owner it is forwarded to (the internal services) does not count it again,
            // nor a forward repeated while ownership moves.
            let owner = frontend.clone();
            let frontend = frontend.limit_namespace_calls(config.namespace_rps);
            let router = Router {
                local: frontend.clone(),
                owner,
                node_id: node_id.clone(),
                namespaces,
                directory: directory.clone(),
                clients,
                history_partitions,
                matching_partitions,
            };
            let stop = stop.clone();
            let rps = config.rps;
            servers.push(supervise("public-api", stops_node(), async move {
                serve_public(
                    listener,
                    router,
                    frontend,
                    health_service,
                    &metrics,
                    Admission {
                        tls: public_tls,
                        authorizer,
                        rps,
                    },
                    stop,
                )
                .await
            }));
        }
        {
            let (directory, health, stop) = (directory.clone(), health.clone(), stop.clone());
            let (history, matching) = (history_partitions, matching_partitions);
            background.push(supervise("readiness", Failure::Logged, async move {
                tokio::select! {
                    () = every_partition_owned(&directory, history, matching) => {
                        health.set_ready(true).await;
                    }
                    () = stop.cancelled() => {}
                }
            }));
        }
        info!(
            node_id,
            cluster_id = %cluster.cluster_id,
            roles = ?config.roles.names(),
            internal = %internal_address,
            frontend = ?frontend_address,
            history_partitions,
            matching_partitions,
            "node started"
        );
        Ok(Self {
            node_id,
            frontend_address,
            internal_address,
            metrics_address,
            cluster,
            history,
            directory,
            stop,
            failed,
            history_member,
            matching_member,
            tasks: background,
            servers,
            health,
            _temp_dir: temp_dir,
        })
    }

    /// Waits until every history and matching partition of the cluster has an owner (this
    /// node or another), so that calls are served at once rather than wait for one.
    pub async fn wait_until_served(&self) {
        let history = u32::try_from(self.cluster.history_partitions).unwrap_or(0);
        let matching = u32::try_from(self.cluster.matching_partitions).unwrap_or(0);
        every_partition_owned(&self.directory, history, matching).await;
    }

    /// Cancelled when a task this node needs (a partition loop, the directory, the ownership
    /// drivers, a server) failed: the node must stop so that others take its partitions.
    pub fn failure(&self) -> CancellationToken {
        self.failed.clone()
    }

    /// Hands everything over: partitions are released before this node leaves their groups,
    /// so the next owner's claim comes after this owner's last write.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        // Probes and load balancers hear first, before anything is handed over.
        self.health.set_ready(false).await;
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            let _finished = task.await;
        }
        self.history.shutdown().await;
        if let Some(member) = self.history_member.take() {
            member.leave().await;
        }
        if let Some(member) = self.matching_member.take() {
            member.leave().await;
        }
        for server in self.servers.drain(..) {
            server.await?.context("serving")?;
        }
        info!(node_id = %self.node_id, "node stopped");
        Ok(())
    }
}

/// The cluster's record: created with this node's partition count when the cluster is new,
/// checked against it otherwise.
async fn cluster_record(
    config: &NodeConfig,
    directory: &Directory,
    replication: i32,
    now: i64,
) -> anyhow::Result<ClusterRecord> {
    let kafka = &config.kafka;
    let mut record = match directory.cluster() {
        Some(existing) => existing,
        None => {
            let partitions = match config.partitions {
                Some(partitions) => partitions,
                None => cairn_log::partition_count(kafka, &config.topics.history)
                    .await?
                    .map_or(Ok(DEFAULT_PARTITIONS), u32::try_from)?,
            };
            anyhow::ensure!(partitions > 0, "--partitions must be at least 1");
            let partitions = i32::try_from(partitions)?;
            directory
                .create_cluster(ClusterRecord {
                    cluster_id: uuid::Uuid::new_v4().to_string(),
                    history_partitions: partitions,
                    created_at: now,
                    matching_partitions: partitions,
                })
                .await?
        }
    };
    if record.matching_partitions == 0 {
        record.matching_partitions = record.history_partitions;
    }
    if let Some(wanted) = config.partitions
        && i64::from(wanted) != i64::from(record.history_partitions)
    {
        anyhow::bail!(
            "this cluster has {} history partitions, fixed when it was created; \
             --partitions {wanted} cannot change that (leave it out to join the cluster)",
            record.history_partitions
        );
    }
    let plan = topics::partitioned_plan(
        &config.topics,
        record.history_partitions,
        record.matching_partitions,
        replication,
        config.snapshot_interval,
    );
    topics::ensure(kafka, &plan, true)
        .await
        .context("the cluster's topics")?;
    Ok(record)
}

/// Claims the history partitions the group assigns and releases the others. A partition
/// this node lost to a newer claim while still assigned is left alone for a session timeout:
/// the group is about to move it, and claiming it back would fence the rightful owner.
async fn drive_history(
    history: History,
    directory: Directory,
    node_id: String,
    mut assigned: watch::Receiver<BTreeSet<i32>>,
    session_timeout: Duration,
    stop: CancellationToken,
) {
    let mut held: BTreeSet<PartitionId> = BTreeSet::new();
    let mut lost_at: HashMap<PartitionId, Instant> = HashMap::new();
    loop {
        let wanted: BTreeSet<PartitionId> = assigned
            .borrow_and_update()
            .iter()
            .filter_map(|p| PartitionId::try_from(*p).ok())
            .collect();
        // A loop that a newer claim fenced finds out when it next appends; an idle one would
        // hold on to its partition, and ignore it when the group assigns it here again.
        for (partition, epoch) in history.owned() {
            if directory
                .history_owner(partition)
                .is_some_and(|owner| owner.node_id != node_id && owner.epoch > epoch)
            {
                warn!(
                    partition,
                    "history partition claimed by a newer owner; letting it go"
                );
                history.release(partition).await;
            }
        }
        let owned: BTreeSet<PartitionId> = history.owned().into_iter().map(|(p, _)| p).collect();
        for partition in held.difference(&owned) {
            if wanted.contains(partition) {
                warn!(partition, "history partition lost to a newer claim");
                lost_at.insert(*partition, Instant::now());
            }
        }
        for partition in owned.difference(&wanted) {
            history.release(*partition).await;
        }
        let to_claim: Vec<PartitionId> = wanted
            .difference(&owned)
            .copied()
            .filter(|p| {
                lost_at
                    .get(p)
                    .is_none_or(|at| at.elapsed() >= session_timeout)
            })
            .collect();
        let claims = to_claim.iter().map(|partition| {
            let (history, directory, node_id) = (&history, &directory, &node_id);
            async move {
                let epoch = history.acquire(*partition).await?;
                directory
                    .claim(Role::History, *partition, node_id, epoch)
                    .await?;
                anyhow::Ok(())
            }
        });
        for (partition, result) in to_claim.iter().zip(futures::future::join_all(claims).await) {
            match result {
                Ok(()) => {
                    lost_at.remove(partition);
                }
                Err(error) => {
                    warn!(partition, error = %format!("{error:#}"), "claiming a history partition failed; retrying");
                }
            }
        }
        held = history.owned().into_iter().map(|(p, _)| p).collect();
        tokio::select! {
            () = stop.cancelled() => return,
            changed = assigned.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// Publishes the matching partitions the group assigns to this node, and lets go of the
/// queues of partitions it no longer has.
async fn publish_matching(
    directory: Directory,
    node_id: String,
    matching: Matching,
    partitions: u32,
    mut assigned: watch::Receiver<BTreeSet<i32>>,
    stop: CancellationToken,
) {
    let mut published: BTreeSet<i32> = BTreeSet::new();
    loop {
        let wanted = assigned.borrow_and_update().clone();
        let gone: BTreeSet<i32> = published.difference(&wanted).copied().collect();
        if !gone.is_empty() {
            matching.release_queues(|namespace_id, queue| {
                let partition = partition_of(namespace_id, queue, partitions);
                !i32::try_from(partition).is_ok_and(|p| gone.contains(&p))
            });
        }
        for partition in wanted.difference(&published) {
            let Ok(id) = PartitionId::try_from(*partition) else {
                continue;
            };
            if let Err(error) = directory.claim(Role::Matching, id, &node_id, 0).await {
                warn!(partition, error = %format!("{error:#}"), "publishing matching ownership failed; retrying");
                continue;
            }
        }
        published = wanted;
        tokio::select! {
            () = stop.cancelled() => return,
            changed = assigned.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// A matching node that went away took its backlog with it: whenever matching ownership
/// moves, history owners hand every pending task over again.
async fn redispatch_on_matching_moves(
    history: History,
    directory: Directory,
    stop: CancellationToken,
) {
    let mut changes = directory.changes();
    let mut last = directory.matching_owners();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        let now = directory.matching_owners();
        if now != last {
            history.redispatch();
            last = now;
        }
    }
}

/// Waits until every history and matching partition of the cluster has an owner. An owner
/// claims a partition only once it has caught up its log, so then every call is served.
async fn every_partition_owned(directory: &Directory, history: u32, matching: u32) {
    let mut changes = directory.changes();
    loop {
        let served = (0..history).all(|p| directory.route(Role::History, p).is_some())
            && (0..matching).all(|p| directory.route(Role::Matching, p).is_some());
        if served || changes.changed().await.is_err() {
            return;
        }
    }
}
