//! Logs and spans through `tracing`, to stderr, filtered by level or `RUST_LOG`: readable
//! lines (coloured only on a terminal), or JSON lines with `CAIRN_LOG_FORMAT=json`.

use tracing_subscriber::{EnvFilter, fmt};

/// `CAIRN_LOG_FORMAT=json` writes one JSON object per line (structured logs for collectors).
pub const FORMAT_ENV: &str = "CAIRN_LOG_FORMAT";

/// Installs the process-wide subscriber. `level` is a default filter such as `info`;
/// `RUST_LOG`, when set, wins.
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ignored_if_already_set = if std::env::var(FORMAT_ENV).is_ok_and(|f| f == "json") {
        builder.json().with_current_span(true).try_init()
    } else {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        builder.with_ansi(terminal).try_init()
    };
}
