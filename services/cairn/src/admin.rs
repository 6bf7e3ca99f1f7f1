//! `cairn admin topics print|create|check`: the cluster's topic plan, for operators whose
//! Kafka forbids automatic creation or who want to check their topics before a node refuses
//! them. It reads the same settings as `cairn server start` (`--config`, `CAIRN__…`, flags),
//! so the Kafka security settings apply here too.

use anyhow::Context;
use cairn_cluster::{TopicNames, topics};
use clap::{Args, ValueEnum};

use crate::StartArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopicsAction {
    /// The plan, and the `kafka-topics.sh` commands that make it.
    Print,
    /// Creates the topics that are missing and checks the others.
    Create,
    /// Checks the topics; exits with status 1 on a problem, saying what to change.
    Check,
}

#[derive(Debug, Clone, Args)]
pub struct TopicsArgs {
    pub action: TopicsAction,
    /// TOML configuration file, as for `cairn server start` (`[kafka]` settings apply).
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Bootstrap servers of the Kafka cluster.
    #[arg(long)]
    pub kafka: Option<String>,
    #[command(flatten)]
    pub kafka_security: crate::kafka_flags::KafkaSecurityFlags,
    /// Prefix of the cluster's topics (default `cairn`).
    #[arg(long)]
    pub topic_prefix: Option<String>,
    /// History partitions (default: the existing history topic's, else 16).
    #[arg(long)]
    pub partitions: Option<u32>,
    /// Replicas per topic (default: three where the cluster has them).
    #[arg(long)]
    pub replication_factor: Option<i32>,
    /// The nodes' snapshot interval (default 10m): the history topic must keep three of
    /// these, and the snapshot topic's segments roll at it.
    #[arg(long)]
    pub snapshot_interval: Option<humantime::Duration>,
}

pub fn run(args: &TopicsArgs) -> anyhow::Result<()> {
    let config = crate::server::load(&StartArgs {
        config: args.config.clone(),
        kafka: args.kafka.clone(),
        kafka_security: args.kafka_security.clone(),
        topic_prefix: args.topic_prefix.clone(),
        partitions: args.partitions,
        replication_factor: args.replication_factor,
        snapshot_interval: args.snapshot_interval,
        ..StartArgs::default()
    })?;
    let names = TopicNames::new(&config.topic_prefix)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let kafka = &config.kafka;
        // First, so that a refused connection is reported as such.
        let brokers = cairn_log::broker_count(kafka).await?;
        let partitions = match config.partitions {
            Some(partitions) => i32::try_from(partitions)?,
            None => cairn_log::partition_count(kafka, &names.history)
                .await?
                .unwrap_or(i32::try_from(cairn_cluster::DEFAULT_PARTITIONS)?),
        };
        anyhow::ensure!(partitions > 0, "--partitions must be at least 1");
        let replication = config
            .replication_factor
            .unwrap_or_else(|| topics::default_replication(brokers));
        let plan = topics::whole_plan(&names, partitions, replication, config.snapshot_interval);
        match args.action {
            TopicsAction::Print => {
                let mut out = String::new();
                for topics::PlannedTopic { spec, .. } in &plan {
                    let settings: Vec<String> = spec
                        .configs
                        .iter()
                        .map(|(key, value)| format!("{key}={value}"))
                        .collect();
                    out.push_str(&format!(
                        "{}  partitions={} replication-factor={}  {}\n",
                        spec.name,
                        spec.partitions,
                        spec.replication,
                        settings.join(" ")
                    ));
                }
                out.push('\n');
                for command in topics::commands(&plan) {
                    out.push_str(&command);
                    out.push('\n');
                }
                print_unless_closed(&out)?;
            }
            TopicsAction::Create | TopicsAction::Check => {
                let create = args.action == TopicsAction::Create;
                for (topic, outcome) in topics::ensure(kafka, &plan, create).await? {
                    let said = match outcome {
                        topics::TopicOutcome::Created => "created",
                        topics::TopicOutcome::Exists => "ok",
                    };
                    println!("{topic}: {said}");
                }
            }
        }
        anyhow::Ok(())
    })
}

/// Writes to stdout; a reader that stopped early (`| head`) is not an error.
fn print_unless_closed(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}
