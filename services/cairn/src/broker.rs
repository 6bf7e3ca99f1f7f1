//! `cairn broker start-dev`: the dev server's embedded Kafka-protocol broker (librdkafka's
//! mock cluster, in memory) as a process of its own, so cluster nodes can be stopped and
//! started around a broker that stays up. The Cairn topics are created up front, because
//! this broker creates topics only through its own API.
//!
//! The mock cluster listens on ports of its own choosing; the broker process forwards the
//! requested port to it, and clients learn the broker's own address from its metadata.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use cairn_cluster::{HISTORY_TOPIC, MATCHING_TOPIC, METADATA_TOPIC, SNAPSHOT_TOPIC};
use cairn_runtime::Shutdown;
use rdkafka::{mocking::MockCluster, producer::DefaultProducerContext};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info};

use crate::BrokerArgs;

/// Starts librdkafka's mock cluster with `brokers` brokers and Cairn's topics, `partitions`
/// partitions each (the metadata topic one).
pub fn embedded(
    brokers: i32,
    partitions: u32,
) -> anyhow::Result<MockCluster<'static, DefaultProducerContext>> {
    anyhow::ensure!(partitions > 0, "--partitions must be at least 1");
    let mock = MockCluster::new(brokers).context("starting the embedded broker")?;
    let partitions = i32::try_from(partitions)?;
    for (topic, count) in [
        (HISTORY_TOPIC, partitions),
        (SNAPSHOT_TOPIC, partitions),
        (MATCHING_TOPIC, partitions),
        (METADATA_TOPIC, 1),
    ] {
        mock.create_topic(topic, count, 1)
            .with_context(|| format!("creating topic {topic}"))?;
    }
    Ok(mock)
}

pub fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let mock = embedded(args.brokers, args.partitions)?;
    let partitions = args.partitions;
    let target = mock
        .bootstrap_servers()
        .split(',')
        .next()
        .context("the broker has an address")?
        .to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        let listener = TcpListener::bind(SocketAddr::new(args.ip, args.port))
            .await
            .with_context(|| format!("binding {}:{}", args.ip, args.port))?;
        let address = listener.local_addr()?;
        let shutdown = Shutdown::on_signals();
        println!("cairn broker listening on {address}");
        info!(%address, broker = %target, partitions, "broker ready");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => {
                    let (mut client, _) = accepted?;
                    let target = target.clone();
                    cairn_runtime::supervise("broker-connection", cairn_runtime::Failure::Logged, async move {
                        let Ok(mut broker) = TcpStream::connect(&target).await else { return };
                        // Latency only: a socket that refuses no-delay still works.
                        let _client = client.set_nodelay(true).is_ok();
                        let _broker = broker.set_nodelay(true).is_ok();
                        let copied = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                        debug!(?copied, "bootstrap connection closed");
                    });
                }
            }
        }
        anyhow::Ok(())
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(mock);
    result
}
