//! The `cairn` binary. `main` only parses and hands over: the dev server lives in `dev.rs`,
//! cluster nodes in `server.rs`, the stand-alone dev broker in `broker.rs`, operators'
//! commands in `admin.rs`.

mod admin;
mod auth_flags;
mod broker;
mod dev;
mod dynamic_config;
mod kafka_flags;
mod server;
mod tls_flags;
mod web_ui;

use std::{net::IpAddr, path::PathBuf, process::ExitCode};

/// jemalloc for every allocation of the process, RocksDB's and librdkafka's included (it
/// takes `malloc`'s name): glibc's allocator fragments under a long run of many small
/// allocations from many threads, its resident memory growing and `malloc` slowing with it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::{Args, Parser, Subcommand};

/// Cairn: durable execution on Kafka, speaking Temporal's API.
#[derive(Debug, Parser)]
#[command(name = "cairn", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run servers.
    Server {
        #[command(subcommand)]
        command: ServerCommand,
    },
    /// Run a Kafka-protocol broker for development.
    Broker {
        #[command(subcommand)]
        command: BrokerCommand,
    },
    /// Operate a cluster.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Print, create or check the cluster's Kafka topics and their settings.
    Topics(admin::TopicsArgs),
}

#[derive(Debug, Subcommand)]
enum ServerCommand {
    /// Every role in one process, with an embedded Kafka-protocol broker unless --kafka is given.
    StartDev(Box<DevArgs>),
    /// A cluster node: the chosen roles, against a Kafka cluster shared with the other nodes.
    Start(Box<StartArgs>),
    /// Check the configuration `server start` would run with (its flags, `CAIRN__…`, the
    /// config file, the defaults) and print it, secrets redacted, without starting. Files it
    /// names are not read: they may exist only where the node runs.
    Config(Box<StartArgs>),
}

#[derive(Debug, Subcommand)]
enum BrokerCommand {
    /// The dev server's embedded broker with Cairn's topics, as a process of its own.
    StartDev(BrokerArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// Port of the frontend gRPC API; 0 picks a free port.
    #[arg(short, long, default_value_t = 7233, env = "CAIRN_PORT")]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// Extra namespaces to create (`default` always exists).
    #[arg(short, long = "namespace")]
    pub namespaces: Vec<String>,
    /// Log level: debug, info, warn or error (`RUST_LOG` wins when set).
    #[arg(long, default_value = "warn")]
    pub log_level: String,
    /// Bootstrap servers of an existing Kafka cluster instead of the embedded broker.
    #[arg(long)]
    pub kafka: Option<String>,
    /// How to reach that Kafka cluster securely.
    #[command(flatten)]
    pub kafka_security: kafka_flags::KafkaSecurityFlags,
    /// TLS on the public port.
    #[command(flatten)]
    pub tls: tls_flags::TlsFlags,
    /// Who may make which call.
    #[command(flatten)]
    pub auth: auth_flags::AuthFlags,
    /// Prefix of the cluster's topics and consumer groups (`PREFIX.history`…), so that
    /// several Cairn clusters can share one Kafka.
    #[arg(long, env = "CAIRN__TOPIC_PREFIX", default_value = cairn_cluster::DEFAULT_TOPIC_PREFIX)]
    pub topic_prefix: String,
    /// Directory for this node's RocksDB state; a temporary one when not given.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Directory that keeps everything across restarts: the embedded broker's topics and
    /// this node's state (named after `temporal server start-dev --db-filename`). Without
    /// it, everything is gone when the dev server stops.
    #[arg(long, short = 'f', value_name = "DIR")]
    pub db_filename: Option<PathBuf>,
    /// Port of the embedded broker, for Kafka tools reading the topics; 0 (the default)
    /// picks a free one. Printed as `cairn kafka listening on HOST:PORT`.
    #[arg(long, default_value_t = 0)]
    pub kafka_port: u16,
    /// History partitions of a new cluster (16 when not given).
    #[arg(long)]
    pub partitions: Option<u32>,
    /// Most open runs each history partition keeps in memory; the rest are read from
    /// RocksDB when needed.
    #[arg(long, default_value_t = cairn_history::DEFAULT_CACHED_RUNS, env = "CAIRN_CACHED_RUNS")]
    pub cached_runs: usize,
    /// Most tasks of one queue each history partition hands matching at a time; the rest
    /// wait in the partition's task index until workers take these.
    #[arg(long, default_value_t = cairn_history::DEFAULT_TASK_WINDOW, env = "CAIRN_TASK_WINDOW")]
    pub task_window: usize,
    /// The longest time between two snapshots of a history partition that changed (each is
    /// also taken after as many transitions as its size asks).
    #[arg(long, default_value = "10m")]
    pub snapshot_interval: humantime::Duration,
    /// Port of `/metrics` (Prometheus); 0 (the default) picks a free one.
    #[arg(long, default_value_t = 0)]
    pub metrics_port: u16,
    /// Public API calls served per second (default 2400); the rest get `ResourceExhausted`.
    #[arg(long)]
    pub rps: Option<u32>,
    /// Calls served per second for each namespace (default 2400); the rest get
    /// `ResourceExhausted`.
    #[arg(long)]
    pub namespace_rps: Option<u32>,
    /// Temporal's dynamic configuration, a JSON value per key (repeatable). The per-workflow
    /// limits (`limit.historyCount.suggestContinueAsNew`, `limit.historyCount.error`,
    /// `limit.numPendingActivities.error`…) and rate limits (`frontend.rps`,
    /// `frontend.namespaceRPS`) apply; other keys are accepted and change nothing.
    #[arg(long = "dynamic-config-value", value_name = "KEY=VALUE")]
    pub dynamic_config: Vec<String>,
    /// A custom search attribute to register on every namespace created at start, with its
    /// type: Text, Keyword, Int, Double, Bool, Datetime or KeywordList (repeatable).
    #[arg(long = "search-attribute", value_name = "NAME=TYPE")]
    pub search_attributes: Vec<String>,
    /// Do not start the Temporal Web UI.
    #[arg(long, overrides_with = "headless")]
    pub headless: bool,
    /// Port of the Temporal Web UI (default: the gRPC port + 1000, as `temporal server
    /// start-dev`; a free one when `--port 0`; 0 picks a free one).
    #[arg(long)]
    pub ui_port: Option<u16>,
    /// Address the Web UI listens on (default: `--ip`).
    #[arg(long)]
    pub ui_ip: Option<IpAddr>,
    /// The Temporal UI server to run (default: `temporal-ui-server` on `PATH` or beside
    /// `cairn`; `scripts/setup` installs it). Without one, the dev server runs headless.
    #[arg(long, env = "CAIRN_UI_SERVER", value_name = "PATH")]
    pub ui_server: Option<PathBuf>,
}

/// Flags of `cairn server start`; each overrides the config file and the environment.
#[derive(Debug, Clone, Default, Args)]
pub struct StartArgs {
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Comma-separated roles: frontend, history, matching (default: all three).
    #[arg(long)]
    pub roles: Option<String>,
    /// Bootstrap servers of the Kafka cluster.
    #[arg(long)]
    pub kafka: Option<String>,
    #[command(flatten)]
    pub kafka_security: kafka_flags::KafkaSecurityFlags,
    /// TLS on the public port.
    #[command(flatten)]
    pub tls: tls_flags::TlsFlags,
    /// Who may make which call.
    #[command(flatten)]
    pub auth: auth_flags::AuthFlags,
    /// Prefix of the cluster's topics and consumer groups (default `cairn`).
    #[arg(long)]
    pub topic_prefix: Option<String>,
    /// Replicas of the topics this node creates (default: three where the cluster has them).
    #[arg(long)]
    pub replication_factor: Option<i32>,
    /// Longest time between two snapshots of a history partition that changed, e.g. `10m`
    /// (the default); the history topic must keep three of these.
    #[arg(long)]
    pub snapshot_interval: Option<humantime::Duration>,
    /// Directory for this node's RocksDB cache; a temporary one when not given.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Port of the public gRPC API (frontend role); 0 picks a free port.
    #[arg(short, long)]
    pub port: Option<u16>,
    /// Address to listen on.
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// Port of the internal services; 0 (the default) picks a free one.
    #[arg(long)]
    pub internal_port: Option<u16>,
    /// Port of `/metrics` (Prometheus); 0 (the default) picks a free one.
    #[arg(long)]
    pub metrics_port: Option<u16>,
    /// Host other nodes use to reach this one.
    #[arg(long)]
    pub advertise_host: Option<String>,
    /// History partitions of a new cluster (fixed from then on).
    #[arg(long)]
    pub partitions: Option<u32>,
    /// Most open runs each history partition keeps in memory (default 4096); the rest are
    /// read from RocksDB when needed.
    #[arg(long)]
    pub cached_runs: Option<usize>,
    /// Most tasks of one queue each history partition hands matching at a time (default
    /// 1000); the rest wait in the partition's task index.
    #[arg(long)]
    pub task_window: Option<usize>,
    /// How long a silent node keeps its partitions, e.g. `6s`.
    #[arg(long)]
    pub session_timeout: Option<humantime::Duration>,
    /// Namespaces to create (`default` always exists).
    #[arg(short, long = "namespace")]
    pub namespaces: Vec<String>,
    /// Log level: debug, info, warn or error (`RUST_LOG` wins when set).
    #[arg(long)]
    pub log_level: Option<String>,
    /// Public API calls served per second; the rest get `ResourceExhausted`.
    #[arg(long)]
    pub rps: Option<u32>,
    /// Calls served per second for each namespace; the rest get `ResourceExhausted`.
    #[arg(long)]
    pub namespace_rps: Option<u32>,
    /// Temporal's dynamic configuration, a JSON value per key (repeatable); as for
    /// `server start-dev`. Give every node the same values.
    #[arg(long = "dynamic-config-value", value_name = "KEY=VALUE")]
    pub dynamic_config: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// Port clients bootstrap from; 0 picks a free port.
    #[arg(short, long, default_value_t = 9092)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// Partitions of the history and matching topics.
    #[arg(long, default_value_t = 16)]
    pub partitions: u32,
    /// Directory that keeps the broker's topics across restarts; a temporary one, removed
    /// when the broker stops, when not given.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Prefix of the Cairn topics it creates (`PREFIX.history`…).
    #[arg(long, default_value = cairn_cluster::DEFAULT_TOPIC_PREFIX)]
    pub topic_prefix: String,
    /// Log level: debug, info, warn or error (`RUST_LOG` wins when set).
    #[arg(long, default_value = "warn")]
    pub log_level: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server {
            command: ServerCommand::StartDev(args),
        } => {
            let _telemetry = cairn_runtime::telemetry::init(&args.log_level);
            dev::run(*args)
        }
        Command::Server {
            command: ServerCommand::Start(args),
        } => server::load(&args).and_then(|config| {
            let _telemetry = cairn_runtime::telemetry::init(&config.log_level);
            server::run(config)
        }),
        Command::Server {
            command: ServerCommand::Config(args),
        } => server::load(&args).and_then(|config| {
            server::check(&config)?;
            // A closed pipe (`| head`) is no error of the configuration's.
            std::io::Write::write_all(
                &mut std::io::stdout().lock(),
                format!("{config:#?}\n").as_bytes(),
            )
            .ok();
            Ok(())
        }),
        Command::Broker {
            command: BrokerCommand::StartDev(args),
        } => {
            let _telemetry = cairn_runtime::telemetry::init(&args.log_level);
            broker::run(args)
        }
        Command::Admin {
            command: AdminCommand::Topics(args),
        } => {
            let _telemetry = cairn_runtime::telemetry::init("warn");
            admin::run(&args)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cairn: {error:#}");
            ExitCode::FAILURE
        }
    }
}
