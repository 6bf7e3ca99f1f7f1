//! `cairn server start-dev`: frontend, history and matching in one process, over the embedded
//! broker (librdkafka's mock cluster, in memory) or an existing Kafka cluster.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use cairn_cluster::{
    HISTORY_TOPIC, METADATA_TOPIC, SNAPSHOT_EVERY, SNAPSHOT_TOPIC,
    metrics::{Metrics, Sources, serve_public},
};
use cairn_frontend::Namespaces;
use cairn_history::{History, HistoryConfig, SnapshotConfig, SystemClock};
use cairn_log::KafkaConfig;
use cairn_matching::Matching;
use cairn_runtime::Shutdown;
use cairn_state::StateDb;
use rdkafka::{mocking::MockCluster, producer::DefaultProducerContext};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::{
    DevArgs,
    dynamic_config::{self, DynamicConfig},
};

pub fn run(args: DevArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.partitions > 0, "--partitions must be at least 1");
    let mut values = std::collections::BTreeMap::new();
    for flag in &args.dynamic_config {
        let (key, value) = dynamic_config::parse_flag(flag)?;
        values.insert(key, value);
    }
    let dynamic = dynamic_config::resolve(&values)?;
    let search_attributes = search_attributes(&args.search_attributes)?;
    // The embedded broker lives on this thread for the whole run.
    let embedded: Option<MockCluster<'static, DefaultProducerContext>> = match &args.kafka {
        Some(_) => None,
        None => {
            let mock = MockCluster::new(1).context("starting the embedded broker")?;
            mock.create_topic(HISTORY_TOPIC, args.partitions as i32, 1)
                .context("creating the history topic")?;
            mock.create_topic(SNAPSHOT_TOPIC, args.partitions as i32, 1)
                .context("creating the snapshots topic")?;
            mock.create_topic(METADATA_TOPIC, 1, 1)
                .context("creating the metadata topic")?;
            Some(mock)
        }
    };
    let bootstrap = match (&args.kafka, &embedded) {
        (Some(bootstrap), _) => bootstrap.clone(),
        (None, Some(mock)) => mock.bootstrap_servers(),
        (None, None) => unreachable!("one broker is always chosen"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(serve(args, bootstrap, dynamic, search_attributes));
    runtime.shutdown_timeout(Duration::from_secs(5));
    drop(embedded);
    result
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
    if args.kafka.is_none() {
        // The embedded broker answers a fetch only when its wait expires, even if records
        // arrived (a real broker answers at once), so every read-back costs this wait.
        kafka.fetch_wait_max = Duration::from_millis(1);
        // A partition's writes gather while one is in flight anyway; lingering for more only
        // adds latency on a broker in the same process.
        kafka.linger = Duration::ZERO;
    }
    let kafka_config = kafka.clone();
    if args.kafka.is_some() {
        cairn_log::create_topic(&kafka, HISTORY_TOPIC, args.partitions as i32, 1)
            .await
            .context("creating the history topic")?;
        cairn_log::create_topic(&kafka, SNAPSHOT_TOPIC, args.partitions as i32, 1)
            .await
            .context("creating the snapshots topic")?;
        cairn_log::create_topic(&kafka, METADATA_TOPIC, 1, 1)
            .await
            .context("creating the metadata topic")?;
    }
    let partitions = cairn_log::partition_count(&kafka, HISTORY_TOPIC)
        .await?
        .context("the history topic exists")?;
    let temp_dir;
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp_dir = tempfile::tempdir().context("creating a temporary data directory")?;
            temp_dir.path().to_path_buf()
        }
    };
    let db = StateDb::open(&data_dir.join("state")).context("opening the state store")?;
    let matching = Matching::new();
    let config = HistoryConfig {
        partitions: partitions as u32,
        topic: HISTORY_TOPIC.to_string(),
        node_id: format!("dev-{}", uuid::Uuid::new_v4()),
        kafka,
        snapshots: Some(SnapshotConfig {
            topic: SNAPSHOT_TOPIC.to_string(),
            every: SNAPSHOT_EVERY,
        }),
        limits: dynamic.limits,
        max_record_bytes: cairn_history::DEFAULT_MAX_RECORD_BYTES,
    };
    let history = History::start(
        config,
        db,
        Arc::new(matching.clone()),
        Arc::new(SystemClock),
    )
    .await
    .context("starting history")?;
    let listener = TcpListener::bind(SocketAddr::new(args.ip, args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.ip, args.port))?;
    let addr = listener.local_addr()?;
    let shutdown = Shutdown::on_signals();
    let namespaces = Namespaces::open(
        &kafka_config,
        METADATA_TOPIC,
        &args.namespaces,
        history.now(),
    )
    .await
    .context("loading namespaces")?;
    let _retention = history.enforce_retention(
        namespaces.retention(),
        cairn_cluster::RETENTION_SWEEP,
        shutdown.token(),
    );
    let failure = history.failure();
    let stopping = shutdown.clone();
    shutdown.spawn_best_effort("partition-failure", async move {
        tokio::select! {
            () = failure.cancelled() => stopping.trigger(),
            () = stopping.cancelled() => {}
        }
    });
    println!("cairn frontend listening on {addr}");
    info!(%addr, kafka = %bootstrap, partitions, "dev server ready");
    let frontend = cairn_frontend::Frontend::new(
        history.clone(),
        matching.clone(),
        Arc::new(matching.clone()),
        namespaces,
    )
    .limit_namespace_calls(
        args.namespace_rps
            .or(dynamic.namespace_rps)
            .unwrap_or(cairn_frontend::DEFAULT_NAMESPACE_RPS),
    );
    if !search_attributes.is_empty() {
        let mut created = vec!["default".to_string()];
        created.extend(args.namespaces.iter().cloned());
        for namespace in created {
            frontend
                .register_search_attributes(&namespace, search_attributes.clone())
                .await
                .with_context(|| format!("registering search attributes on {namespace}"))?;
        }
    }
    let metrics = Metrics::new(Sources {
        history: Some(history.clone()),
        matching: Some(matching),
        matching_owned: None,
    });
    let (metrics_address, serving_metrics) = metrics
        .start(
            SocketAddr::new(args.ip, args.metrics_port),
            shutdown.token(),
        )
        .await
        .with_context(|| format!("binding {}:{}", args.ip, args.metrics_port))?;
    println!("cairn metrics listening on {metrics_address}");
    let served = serve_public(
        listener,
        frontend.clone(),
        frontend,
        &metrics,
        args.rps
            .or(dynamic.rps)
            .unwrap_or(cairn_cluster::rate_limit::DEFAULT_RPS),
        shutdown.token(),
    )
    .await;
    let _stopped = serving_metrics.await;
    history.shutdown().await;
    served.context("serving the API")?;
    anyhow::ensure!(
        !history.failure().is_cancelled(),
        "a history partition loop failed: the dev server stopped"
    );
    info!("dev server stopped");
    Ok(())
}
