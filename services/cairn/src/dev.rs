//! `cairn server start-dev`: a single-node cluster with every role, built by the same
//! assembly as `cairn server start` (`cairn_cluster::Node`), over the embedded broker
//! (`cairn_broker`, in a temporary directory or in `--db-filename`) or an existing Kafka
//! cluster.

use std::{collections::HashMap, time::Duration};

use anyhow::Context;
use cairn_broker::{Broker, BrokerConfig};
use cairn_cluster::{Node, NodeConfig, Roles};
use cairn_log::KafkaConfig;
use cairn_runtime::Shutdown;
use tracing::{info, warn};

use crate::{
    DevArgs,
    dynamic_config::{self, DynamicConfig},
    web_ui::{self, WebUi, WebUiConfig},
};

/// How long a silent node keeps its partitions. A dev server is its cluster's only node,
/// so this matters only when another joins it over `--kafka`.
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// How long a fetch from the embedded broker waits for records.
const EMBEDDED_FETCH_WAIT: Duration = Duration::from_millis(100);

pub fn run(args: DevArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.partitions != Some(0),
        "--partitions must be at least 1"
    );
    anyhow::ensure!(
        args.kafka.is_some() || args.kafka_security.is_empty(),
        "the --kafka-… security flags are for an existing Kafka cluster: give --kafka too"
    );
    let mut values = std::collections::BTreeMap::new();
    for flag in &args.dynamic_config {
        let (key, value) = dynamic_config::parse_flag(flag)?;
        values.insert(key, value);
    }
    let dynamic = dynamic_config::resolve(&values)?;
    let search_attributes = search_attributes(&args.search_attributes)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        let embedded = match &args.kafka {
            Some(_) => None,
            None => Some(start_broker(&args).await?),
        };
        let bootstrap = match (&args.kafka, &embedded) {
            (Some(bootstrap), _) => bootstrap.clone(),
            (None, Some(broker)) => broker.bootstrap(),
            (None, None) => unreachable!("one broker is always chosen"),
        };
        let served = serve(args, bootstrap, dynamic, search_attributes).await;
        if let Some(broker) = embedded {
            broker.stop().await;
        }
        served
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    result
}

/// Starts the embedded broker on a free loopback port, keeping its topics in
/// `--db-filename` when given.
async fn start_broker(args: &DevArgs) -> anyhow::Result<Broker> {
    let mut config = BrokerConfig::ephemeral();
    config.listen = std::net::SocketAddr::new(args.ip, args.kafka_port);
    config.dir = args.db_filename.as_ref().map(|dir| dir.join("kafka"));
    Broker::start(config)
        .await
        .context("starting the embedded broker")
}

/// Parses `NAME=TYPE` search attributes into their names and `IndexedValueType` numbers.
fn search_attributes(flags: &[String]) -> anyhow::Result<HashMap<String, i32>> {
    let mut attributes = HashMap::new();
    for flag in flags {
        let (name, kind) = flag
            .split_once('=')
            .with_context(|| format!("search attribute `{flag}` is not NAME=TYPE"))?;
        let number = cairn_engine::proto::enums::IndexedValueType::from_str_name(&format!(
            "INDEXED_VALUE_TYPE_{}",
            kind.trim()
                .to_ascii_uppercase()
                .replace("KEYWORDLIST", "KEYWORD_LIST")
        ))
        .filter(|kind| *kind != cairn_engine::proto::enums::IndexedValueType::Unspecified)
        .with_context(|| {
            format!(
                "search attribute {name} has type {kind}; types are Text, Keyword, Int, \
                 Double, Bool, Datetime and KeywordList"
            )
        })?;
        attributes.insert(name.trim().to_string(), number as i32);
    }
    Ok(attributes)
}

async fn serve(
    args: DevArgs,
    bootstrap: String,
    dynamic: DynamicConfig,
    search_attributes: HashMap<String, i32>,
) -> anyhow::Result<()> {
    if !dynamic.ignored.is_empty() {
        warn!(
            keys = ?dynamic.ignored,
            "dynamic config keys that change nothing on Cairn"
        );
    }
    let mut kafka = KafkaConfig::new(bootstrap.clone());
    if args.kafka.is_some() {
        args.kafka_security.apply(&mut kafka);
    } else {
        // A partition's writes gather while one is in flight anyway; lingering for more only
        // adds latency on a broker in the same process.
        kafka.linger = Duration::ZERO;
        // The embedded broker answers a fetch as soon as records arrive, so a long wait
        // costs no latency and spares an idle server from polling.
        kafka.fetch_wait_max = EMBEDDED_FETCH_WAIT;
    }
    let shutdown = Shutdown::on_signals();
    let web_ui_args = WebUiArgs {
        headless: args.headless,
        port: args.ui_port,
        ip: args.ui_ip.unwrap_or(args.ip),
        server: args.ui_server.clone(),
        // The UI server has no credentials of its own here: it would be refused.
        refused_because: if args.tls.tls_cert_file.is_some() {
            Some("the public port requires TLS")
        } else if !args.auth.jwt_key_source.is_empty() {
            Some("the public port requires tokens")
        } else {
            None
        },
    };
    let mut tls = cairn_cluster::tls::TlsSettings::default();
    args.tls.apply(&mut tls);
    let mut authorization = cairn_frontend::authorization::AuthSettings::default();
    args.auth.apply(&mut authorization);
    let node = Node::start(NodeConfig {
        roles: Roles::ALL,
        kafka,
        data_dir: args
            .data_dir
            .or_else(|| args.db_filename.as_ref().map(|dir| dir.join("state"))),
        ip: args.ip,
        port: args.port,
        internal_port: 0,
        metrics_port: args.metrics_port,
        advertise_host: None,
        partitions: args.partitions,
        session_timeout: SESSION_TIMEOUT,
        namespaces: args.namespaces,
        rps: args
            .rps
            .or(dynamic.rps)
            .unwrap_or(cairn_cluster::rate_limit::DEFAULT_RPS),
        namespace_rps: args
            .namespace_rps
            .or(dynamic.namespace_rps)
            .unwrap_or(cairn_frontend::DEFAULT_NAMESPACE_RPS),
        limits: dynamic.limits,
        search_attributes,
        topics: cairn_cluster::TopicNames::new(&args.topic_prefix)?,
        replication_factor: None,
        snapshot_interval: args.snapshot_interval.into(),
        cached_runs: args.cached_runs,
        task_window: args.task_window,
        tls,
        authorization,
    })
    .await?;
    let failure = node.failure();
    tokio::select! {
        () = node.wait_until_served() => {}
        () = shutdown.cancelled() => {}
        () = failure.cancelled() => {}
    }
    let address = node
        .frontend_address
        .context("a dev server runs the frontend role")?;
    println!("cairn frontend listening on {address}");
    println!("cairn metrics listening on {}", node.metrics_address);
    if args.kafka.is_none() {
        println!("cairn kafka listening on {bootstrap}");
    }
    let web_ui = start_web_ui(&web_ui_args, address).await;
    info!(%address, kafka = %bootstrap, partitions = node.cluster.history_partitions, "dev server ready");
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = failure.cancelled() => {}
    }
    if let Some(ui) = web_ui {
        ui.stop().await;
    }
    node.stop().await?;
    anyhow::ensure!(
        !failure.is_cancelled(),
        "a task the dev server needs failed: it stopped"
    );
    info!("dev server stopped");
    Ok(())
}

/// What `start-dev`'s flags say about the Web UI.
struct WebUiArgs {
    headless: bool,
    port: Option<u16>,
    ip: std::net::IpAddr,
    server: Option<std::path::PathBuf>,
    refused_because: Option<&'static str>,
}

/// Starts the Temporal Web UI on the frontend unless `--headless`, and says where; without
/// a UI server installed, or if it cannot start, the dev server goes on headless and says why.
async fn start_web_ui(args: &WebUiArgs, frontend: std::net::SocketAddr) -> Option<WebUi> {
    if args.headless {
        return None;
    }
    if let Some(reason) = args.refused_because {
        println!(
            "cairn ui not started: {reason}; run the UI server with its own TLS and auth \
             settings (see the README), or use --headless"
        );
        return None;
    }
    let Some(binary) = web_ui::find_binary(args.server.as_deref()) else {
        println!(
            "cairn ui not started: no `{}` on PATH (scripts/setup installs it; \
             --ui-server names one)",
            web_ui::BINARY_NAME
        );
        return None;
    };
    let started = async {
        let port = web_ui::choose_port(args.ip, args.port, frontend.port())?;
        WebUi::start(WebUiConfig {
            binary,
            listen: std::net::SocketAddr::new(args.ip, port),
            frontend,
            default_namespace: "default".into(),
        })
        .await
    };
    match started.await {
        Ok(ui) => {
            println!("cairn ui listening on http://{}", ui.address);
            Some(ui)
        }
        Err(error) => {
            warn!("the Web UI did not start: {error:#}");
            println!("cairn ui not started: {error:#}");
            None
        }
    }
}
