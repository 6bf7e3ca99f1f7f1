//! Logs and spans through `tracing`, to stderr, filtered by level or `RUST_LOG`; coloured
//! only when stderr is a terminal.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the process-wide subscriber. `level` is a default filter such as `info`;
/// `RUST_LOG`, when set, wins.
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ignored_if_already_set = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(terminal)
        .with_target(false)
        .try_init();
}
