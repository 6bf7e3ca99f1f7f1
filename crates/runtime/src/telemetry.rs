//! Logs and spans through `tracing`, to stderr, filtered by level or `RUST_LOG`.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the process-wide subscriber. `level` is a default filter such as `info`;
/// `RUST_LOG`, when set, wins.
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ignored_if_already_set = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
