//! Logs and spans through `tracing`, to stderr, filtered by level or `RUST_LOG`: readable
//! lines (coloured only on a terminal), or JSON lines with `CAIRN_LOG_FORMAT=json`.
//!
//! Traces: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set, the spans at `info` and above (each public call, each partition batch, each append
//! to Kafka, each transfer between workflows) are also exported over OTLP (HTTP/protobuf),
//! batched, with OpenTelemetry's standard `OTEL_…` settings. Off otherwise.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::{
    EnvFilter, Layer, filter::filter_fn, fmt, layer::SubscriberExt, util::SubscriberInitExt,
};

/// `CAIRN_LOG_FORMAT=json` writes one JSON object per line (structured logs for collectors).
pub const FORMAT_ENV: &str = "CAIRN_LOG_FORMAT";

/// The variables that turn trace export on.
const OTLP_ENV: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// Keeps the trace exporter running; exports what is left when dropped.
#[must_use = "traces stop being exported when this is dropped"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("cairn: exporting the last spans failed: {error}");
        }
    }
}

/// Installs the process-wide subscriber. `level` is a default filter such as `info`;
/// `RUST_LOG`, when set, wins.
pub fn init(level: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let json = std::env::var(FORMAT_ENV).is_ok_and(|f| f == "json");
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let provider = OTLP_ENV
        .iter()
        .any(|name| std::env::var_os(name).is_some())
        .then(tracer_provider)
        .flatten();
    let Some(provider) = provider else {
        // Logs only: one filter for the whole subscriber.
        let builder = fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false);
        let _ignored_if_already_set = if json {
            builder.json().with_current_span(true).try_init()
        } else {
            builder.with_ansi(terminal).try_init()
        };
        return Telemetry { provider: None };
    };
    // Logs and spans: the log level filters the lines, and every span at `info` or above is
    // exported, whatever the log level.
    let lines = fmt::layer().with_writer(std::io::stderr).with_target(false);
    let lines = if json {
        lines
            .json()
            .with_current_span(true)
            .with_filter(filter)
            .boxed()
    } else {
        lines.with_ansi(terminal).with_filter(filter).boxed()
    };
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("cairn"))
        .with_filter(filter_fn(|meta| {
            meta.is_span() && *meta.level() <= Level::INFO
        }));
    let _ignored_if_already_set = tracing_subscriber::registry()
        .with(lines)
        .with(spans)
        .try_init();
    Telemetry {
        provider: Some(provider),
    }
}

fn tracer_provider() -> Option<SdkTracerProvider> {
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("cairn: traces are not exported: {error}");
            return None;
        }
    };
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
                opentelemetry_sdk::Resource::builder().build()
            } else {
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("cairn")
                    .build()
            })
            .build(),
    )
}
