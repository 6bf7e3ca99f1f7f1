//! `cairn server start`: chosen roles of a cluster node against a Kafka cluster.
//!
//! Settings come from, in order of precedence: flags, `CAIRN__…` environment variables
//! (`__` separates levels, as in `CAIRN__KAFKA__BOOTSTRAP`), the TOML file of `--config`,
//! and the defaults.

use std::{collections::BTreeMap, net::IpAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use cairn_cluster::{Node, NodeConfig, Roles};
use cairn_log::KafkaConfig;
use cairn_runtime::Shutdown;
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::StartArgs;

/// Everything `cairn server start` can be told, as it appears in the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Comma-separated roles: frontend, history, matching.
    pub roles: String,
    pub ip: IpAddr,
    /// Public API port (frontend role).
    pub port: u16,
    /// Internal services port; 0 picks a free one, published through Kafka.
    pub internal_port: u16,
    /// `/metrics` port; 0 picks a free one.
    pub metrics_port: u16,
    /// Host other nodes use to reach this one; the listen address by default.
    pub advertise_host: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// History partitions of a new cluster; checked against an existing one.
    pub partitions: Option<u32>,
    /// How long a silent node keeps its partitions before they move.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    pub namespaces: Vec<String>,
    pub log_level: String,
    pub kafka: KafkaConfig,
    /// Prefix of the cluster's topics and consumer groups (`PREFIX.history`…).
    pub topic_prefix: String,
    /// Replicas of the topics a node creates; three where the cluster has them by default.
    pub replication_factor: Option<i32>,
    /// The longest time between two snapshots of a history partition that changed; the
    /// history topic must keep three of these.
    #[serde(with = "humantime_serde")]
    pub snapshot_interval: Duration,
    /// Most open runs each history partition keeps in memory.
    pub cached_runs: usize,
    /// Most tasks of one queue each history partition hands matching at a time.
    pub task_window: usize,
    /// Public API calls served per second (frontend role).
    pub rps: u32,
    /// Calls served per second for each namespace, by the node that serves them.
    pub namespace_rps: u32,
    /// Temporal's dynamic configuration (`"limit.historyCount.suggestContinueAsNew" = 50`):
    /// the per-workflow limits and rate limits apply, other keys change nothing. Give every
    /// node the same values.
    pub dynamic_config: BTreeMap<String, serde_json::Value>,
    /// TLS on the public port (`[tls.frontend]`) and between nodes (`[tls.internode]`).
    pub tls: cairn_cluster::tls::TlsSettings,
    /// Bearer tokens and the roles they grant (`[authorization]`); off without key sets.
    pub authorization: cairn_frontend::authorization::AuthSettings,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            roles: "frontend,history,matching".into(),
            ip: IpAddr::from([127, 0, 0, 1]),
            port: 7233,
            internal_port: 0,
            metrics_port: 0,
            advertise_host: None,
            data_dir: None,
            partitions: None,
            session_timeout: Duration::from_secs(6),
            namespaces: Vec::new(),
            log_level: "warn".into(),
            kafka: KafkaConfig::default(),
            topic_prefix: cairn_cluster::DEFAULT_TOPIC_PREFIX.into(),
            replication_factor: None,
            snapshot_interval: cairn_cluster::DEFAULT_SNAPSHOT_INTERVAL,
            cached_runs: cairn_history::DEFAULT_CACHED_RUNS,
            task_window: cairn_history::DEFAULT_TASK_WINDOW,
            rps: cairn_cluster::rate_limit::DEFAULT_RPS,
            namespace_rps: cairn_frontend::DEFAULT_NAMESPACE_RPS,
            dynamic_config: BTreeMap::new(),
            tls: cairn_cluster::tls::TlsSettings::default(),
            authorization: cairn_frontend::authorization::AuthSettings::default(),
        }
    }
}

/// The flags that were given, as overrides of the layers below them.
#[derive(Debug, Default, Serialize)]
struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    internal_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    advertise_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partitions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", with = "humantime_serde")]
    session_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    namespaces: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kafka: Option<KafkaOverrides>,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replication_factor: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none", with = "humantime_serde")]
    snapshot_interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cached_runs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_window: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace_rps: Option<u32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    dynamic_config: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct KafkaOverrides {
    bootstrap: String,
}

/// Reads the layers into one configuration.
pub fn load(args: &StartArgs) -> anyhow::Result<ServerConfig> {
    let mut figment = Figment::from(Serialized::defaults(ServerConfig::default()));
    if let Some(path) = &args.config {
        anyhow::ensure!(
            path.exists(),
            "config file {} does not exist",
            path.display()
        );
        figment = figment.merge(Toml::file(path));
    }
    let flags = FlagOverrides {
        roles: args.roles.clone(),
        ip: args.ip,
        port: args.port,
        internal_port: args.internal_port,
        metrics_port: args.metrics_port,
        advertise_host: args.advertise_host.clone(),
        data_dir: args.data_dir.clone(),
        partitions: args.partitions,
        session_timeout: args.session_timeout.map(Duration::from),
        namespaces: args.namespaces.clone(),
        log_level: args.log_level.clone(),
        kafka: args
            .kafka
            .clone()
            .map(|bootstrap| KafkaOverrides { bootstrap }),
        topic_prefix: args.topic_prefix.clone(),
        replication_factor: args.replication_factor,
        snapshot_interval: args.snapshot_interval.map(Duration::from),
        cached_runs: args.cached_runs,
        task_window: args.task_window,
        rps: args.rps,
        namespace_rps: args.namespace_rps,
        dynamic_config: args
            .dynamic_config
            .iter()
            .map(|flag| crate::dynamic_config::parse_flag(flag))
            .collect::<anyhow::Result<_>>()?,
    };
    let mut config: ServerConfig = figment
        .merge(
            Env::prefixed("CAIRN__")
                .filter(|key| !TEXT_ENV.iter().any(|text| key == *text))
                .split("__"),
        )
        .merge(Serialized::defaults(flags))
        .extract()
        .context("reading the configuration")?;
    apply_text_env(&mut config.kafka);
    args.kafka_security.apply(&mut config.kafka);
    args.tls.apply(&mut config.tls);
    args.auth.apply(&mut config.authorization);
    Ok(config)
}

/// `CAIRN__…` variables taken as the text they hold. Other variables are read as TOML-like
/// values (`12345` a number, `true` a boolean), which would refuse a numeric password and
/// turn a user called `007` into 7.
const TEXT_ENV: [&str; 5] = [
    "KAFKA__SASL__USERNAME",
    "KAFKA__SASL__PASSWORD",
    "KAFKA__SASL__OAUTHBEARER__CLIENT_ID",
    "KAFKA__SASL__OAUTHBEARER__CLIENT_SECRET",
    "KAFKA__TLS__KEY_PASSWORD",
];

fn apply_text_env(kafka: &mut KafkaConfig) {
    let var = |key: &str| std::env::var(format!("CAIRN__{key}")).ok();
    if let Some(value) = var(TEXT_ENV[0]) {
        kafka.sasl.username = Some(value);
    }
    if let Some(value) = var(TEXT_ENV[1]) {
        kafka.sasl.password = Some(cairn_log::Secret(value));
    }
    if let Some(value) = var(TEXT_ENV[2]) {
        kafka.sasl.oauthbearer.client_id = Some(value);
    }
    if let Some(value) = var(TEXT_ENV[3]) {
        kafka.sasl.oauthbearer.client_secret = Some(cairn_log::Secret(value));
    }
    if let Some(value) = var(TEXT_ENV[4]) {
        kafka.tls.key_password = Some(cairn_log::Secret(value));
    }
}

/// Checks what can be checked of `config` without reading the files it names: roles, the
/// dynamic configuration, the topic prefix, and TLS and authorization settings that cannot
/// work together.
pub fn check(config: &ServerConfig) -> anyhow::Result<()> {
    Roles::parse(&config.roles)?;
    crate::dynamic_config::resolve(&config.dynamic_config)?;
    cairn_cluster::TopicNames::new(&config.topic_prefix)?;
    config.tls.frontend.enabled()?;
    config.tls.internode.enabled()?;
    anyhow::ensure!(
        config.authorization.audience.is_none() || !config.authorization.jwt_key_sources.is_empty(),
        "authorization.audience needs authorization.jwt_key_sources"
    );
    Ok(())
}

pub fn run(config: ServerConfig) -> anyhow::Result<()> {
    let roles = Roles::parse(&config.roles)?;
    let dynamic = crate::dynamic_config::resolve(&config.dynamic_config)?;
    // Explicit settings win over Temporal's keys for the same thing.
    let defaults = ServerConfig::default();
    let rps = match dynamic.rps {
        Some(rps) if config.rps == defaults.rps => rps,
        _ => config.rps,
    };
    let namespace_rps = match dynamic.namespace_rps {
        Some(rps) if config.namespace_rps == defaults.namespace_rps => rps,
        _ => config.namespace_rps,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        if !dynamic.ignored.is_empty() {
            tracing::warn!(
                keys = ?dynamic.ignored,
                "dynamic config keys that change nothing on Cairn"
            );
        }
        let shutdown = Shutdown::on_signals();
        let node = Node::start(NodeConfig {
            roles,
            kafka: config.kafka,
            data_dir: config.data_dir,
            ip: config.ip,
            port: config.port,
            internal_port: config.internal_port,
            metrics_port: config.metrics_port,
            advertise_host: config.advertise_host,
            partitions: config.partitions,
            session_timeout: config.session_timeout,
            namespaces: config.namespaces,
            rps,
            namespace_rps,
            limits: dynamic.limits,
            search_attributes: std::collections::HashMap::new(),
            topics: cairn_cluster::TopicNames::new(&config.topic_prefix)?,
            replication_factor: config.replication_factor,
            snapshot_interval: config.snapshot_interval,
            cached_runs: config.cached_runs,
            task_window: config.task_window,
            tls: config.tls,
            authorization: config.authorization,
        })
        .await?;
        if let Some(address) = node.frontend_address {
            println!("cairn frontend listening on {address}");
        }
        println!(
            "cairn node {} ({}) internal services listening on {}",
            node.node_id,
            roles.names().join(","),
            node.internal_address
        );
        println!("cairn cluster {}", node.cluster.cluster_id);
        println!("cairn metrics listening on {}", node.metrics_address);
        let failure = node.failure();
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = failure.cancelled() => {}
        }
        info!("stopping");
        node.stop().await?;
        anyhow::ensure!(
            !failure.is_cancelled(),
            "a task this node needs failed: it stopped so that others take its partitions"
        );
        Ok(())
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    result
}
