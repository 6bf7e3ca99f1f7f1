//! The `cairn` binary. `main` only parses and hands over; the dev server lives in `dev.rs`.

mod dev;

use std::{net::IpAddr, path::PathBuf, process::ExitCode};

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
}

#[derive(Debug, Subcommand)]
enum ServerCommand {
    /// Every role in one process, with an embedded Kafka-protocol broker unless --kafka is given.
    StartDev(DevArgs),
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
    /// Directory for this node's RocksDB state; a temporary one when not given.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// History partitions of a new cluster.
    #[arg(long, default_value_t = 16)]
    pub partitions: u32,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Server {
            command: ServerCommand::StartDev(args),
        } => {
            cairn_runtime::telemetry::init(&args.log_level);
            match dev::run(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("cairn: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
