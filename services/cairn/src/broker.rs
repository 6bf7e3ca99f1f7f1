//! `cairn broker start-dev`: the dev server's embedded broker as a process of its own, so
//! cluster nodes can be stopped and started around a broker that stays up, and so a
//! Kafka-protocol broker can be tried without installing Kafka. Cairn's topics are created
//! up front with `--partitions` partitions, so nodes that join without `--partitions` find
//! the cluster's size.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use cairn_broker::{Broker, BrokerConfig};
use cairn_cluster::{TopicNames, topics};
use cairn_runtime::Shutdown;
use tracing::info;

use crate::BrokerArgs;

pub fn run(args: BrokerArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.partitions > 0, "--partitions must be at least 1");
    let partitions = i32::try_from(args.partitions)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        let mut config = BrokerConfig::ephemeral();
        config.listen = SocketAddr::new(args.ip, args.port);
        config.dir = args.dir;
        let broker = Broker::start(config)
            .await
            .with_context(|| format!("starting the broker on {}:{}", args.ip, args.port))?;
        let names = TopicNames::new(&args.topic_prefix)?;
        let plan = topics::whole_plan(
            &names,
            partitions,
            1,
            cairn_cluster::DEFAULT_SNAPSHOT_INTERVAL,
        );
        for topics::PlannedTopic { spec, .. } in plan {
            let configs: Vec<(&str, &str)> = spec
                .configs
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_str()))
                .collect();
            broker
                .ensure_topic(&spec.name, spec.partitions, &configs)
                .with_context(|| format!("creating topic {}", spec.name))?;
        }
        let shutdown = Shutdown::on_signals();
        println!("cairn broker listening on {}", broker.address());
        info!(address = %broker.address(), partitions, "broker ready");
        shutdown.cancelled().await;
        broker.stop().await;
        anyhow::Ok(())
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
