//! Prometheus metrics on `/metrics`, for every process: which partitions a node owns (with
//! the epoch of its claim), how far each owned history partition's applied state is behind
//! the end of its log, how long each public RPC takes, and the tasks waiting in each queue.
//! Ownership, lag and backlogs are read when scraped; RPC latency is measured by a layer
//! around the public gRPC server.

use std::{
    collections::BTreeSet,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use cairn_history::History;
use cairn_matching::Matching;
use futures::future::BoxFuture;
use prometheus_client::{
    encoding::{
        EncodeLabelSet,
        text::{encode_eof, encode_registry},
    },
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use tokio::{net::TcpListener, sync::watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    rpc: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    rpc: String,
    namespace: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StartedLabels {
    namespace: String,
    workflow_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedLabels {
    namespace: String,
    workflow_type: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    namespace_id: String,
    task_queue: String,
    kind: String,
}

type Histograms = Family<RpcLabels, Histogram, fn() -> Histogram>;

fn rpc_histogram() -> Histogram {
    // 1 ms to about 65 s: long polls end near a minute.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// What a node's metrics read from.
#[derive(Clone, Default)]
pub struct Sources {
    pub history: Option<History>,
    pub matching: Option<Matching>,
    /// The matching partitions this node owns.
    pub matching_owned: Option<watch::Receiver<BTreeSet<i32>>>,
}

#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    /// The process's own figures, under the names Prometheus' client libraries give them.
    process: Registry,
    process_cpu: Counter<f64, std::sync::atomic::AtomicU64>,
    process_rss: Gauge,
    rpc: Histograms,
    calls: Family<CallLabels, Counter>,
    started: Family<StartedLabels, Counter>,
    closed: Family<ClosedLabels, Counter>,
    claims: Counter,
    snapshot_age: Family<PartitionLabels, Gauge>,
    store: [Gauge; 3],
    block_cache: [Counter; 2],
    history_epoch: Family<PartitionLabels, Gauge>,
    history_lag: Family<PartitionLabels, Gauge>,
    matching_owned: Family<PartitionLabels, Gauge>,
    backlog: Family<QueueLabels, Gauge>,
    held: Family<QueueLabels, Gauge>,
    appended_records: Counter,
    appended_bytes: Counter,
    transitions: Counter,
    operations: Family<OperationLabels, Counter>,
    sources: Sources,
}

impl Metrics {
    pub fn new(sources: Sources) -> Self {
        let mut registry = Registry::with_prefix("cairn");
        let rpc = Histograms::new_with_constructor(rpc_histogram as fn() -> Histogram);
        registry.register(
            "rpc_duration_seconds",
            "Time to answer a public API call, by RPC",
            rpc.clone(),
        );
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "rpc_requests",
            "Public API calls answered, by RPC, namespace (the `temporal-namespace` header the SDKs send) and gRPC status code",
            calls.clone(),
        );
        let started = Family::<StartedLabels, Counter>::default();
        registry.register(
            "workflows_started",
            "Runs started in this node's history partitions, by namespace and workflow type",
            started.clone(),
        );
        let closed = Family::<ClosedLabels, Counter>::default();
        registry.register(
            "workflows_closed",
            "Runs closed in this node's history partitions, by namespace, workflow type and how (completed, failed, timed_out, canceled, terminated, continued_as_new)",
            closed.clone(),
        );
        let claims = Counter::default();
        registry.register(
            "history_partition_claims",
            "History partitions this node claimed: at its start and at each takeover",
            claims.clone(),
        );
        let snapshot_age = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "history_snapshot_age_seconds",
            "Seconds since this node last wrote a snapshot of each history partition it owns",
            snapshot_age.clone(),
        );
        let store = [Gauge::default(), Gauge::default(), Gauge::default()];
        for (gauge, (name, help)) in store.iter().zip([
            (
                "rocksdb_table_bytes",
                "Bytes of the state store's table files on disk",
            ),
            (
                "rocksdb_memtable_bytes",
                "Bytes of the state store's memtables not yet flushed",
            ),
            (
                "rocksdb_block_cache_bytes",
                "Bytes the state store's block cache holds",
            ),
        ]) {
            registry.register(name, help, gauge.clone());
        }
        let block_cache = [Counter::default(), Counter::default()];
        for (counter, (name, help)) in block_cache.iter().zip([
            (
                "rocksdb_block_cache_hits",
                "Block reads of the state store that its block cache answered",
            ),
            (
                "rocksdb_block_cache_misses",
                "Block reads of the state store that went to its table files",
            ),
        ]) {
            registry.register(name, help, counter.clone());
        }
        if let Some(matching) = &sources.matching {
            registry.register(
                "task_queue_matches",
                "Tasks this node's matching gave pollers, by queue and how: `sync` (a poller was waiting) or `backlog`",
                matching.metrics().matched.clone(),
            );
            registry.register(
                "task_queue_match_wait_seconds",
                "Time a task waited in matching before a poller took it (0 for a sync match), by queue; a task beyond its queue's window waits in history's index first, uncounted",
                matching.metrics().waited.clone(),
            );
        }
        if let Some(history) = &sources.history {
            registry.register(
                "history_append_seconds",
                "Time of each append to the history topic, from the send until Kafka acknowledged every record",
                history.appended().append_seconds.clone(),
            );
            registry.register(
                "history_append_records",
                "Records per append to the history topic",
                history.appended().append_records.clone(),
            );
        }
        let history_epoch = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "history_partition_epoch",
            "Epoch of this node's claim on each history partition it owns",
            history_epoch.clone(),
        );
        let history_lag = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "history_partition_lag_records",
            "Records of an owned history partition's log not yet applied to its state",
            history_lag.clone(),
        );
        let matching_owned = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "matching_partition_owned",
            "1 for each task-queue partition this node's matching serves",
            matching_owned.clone(),
        );
        let backlog = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "task_queue_backlog",
            "Tasks waiting for a worker, by task queue, in the history partitions this node owns (summed over the nodes, the queue's backlog)",
            backlog.clone(),
        );
        let held = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "task_queue_held",
            "Tasks this node's matching holds for pollers, by task queue: the windows history partitions hand it",
            held.clone(),
        );
        let appended_records = Counter::default();
        registry.register(
            "history_appended_records",
            "Kafka records this node appended to the history topic (each fragment counts)",
            appended_records.clone(),
        );
        let appended_bytes = Counter::default();
        registry.register(
            "history_appended_bytes",
            "Bytes of the Kafka records this node appended to the history topic",
            appended_bytes.clone(),
        );
        let transitions = Counter::default();
        registry.register(
            "history_transitions",
            "Run transitions this node's history partitions made durable",
            transitions.clone(),
        );
        let operations = Family::<OperationLabels, Counter>::default();
        registry.register(
            "history_operations",
            "Requests this node's history partitions ran, by operation",
            operations.clone(),
        );
        let mut process = Registry::default();
        let process_cpu = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        process.register(
            "process_cpu_seconds",
            "User and system CPU time this process has spent, in seconds",
            process_cpu.clone(),
        );
        let process_rss = Gauge::default();
        process.register(
            "process_resident_memory_bytes",
            "Resident memory of this process, in bytes",
            process_rss.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                process,
                process_cpu,
                process_rss,
                rpc,
                calls,
                started,
                closed,
                claims,
                snapshot_age,
                store,
                block_cache,
                history_epoch,
                history_lag,
                matching_owned,
                backlog,
                held,
                appended_records,
                appended_bytes,
                transitions,
                operations,
                sources,
            }),
        }
    }

    /// A layer for the public gRPC server that times each call.
    pub fn rpc_layer(&self) -> RpcLayer {
        RpcLayer {
            histograms: self.inner.rpc.clone(),
            calls: self.inner.calls.clone(),
        }
    }

    /// The metrics in Prometheus' text format, read now.
    pub async fn render(&self) -> String {
        let inner = &self.inner;
        inner.history_epoch.clear();
        inner.history_lag.clear();
        if let Some(history) = &inner.sources.history {
            let appended = history.appended();
            for (counter, total) in [
                (&inner.appended_records, &appended.records),
                (&inner.appended_bytes, &appended.bytes),
                (&inner.transitions, &appended.transitions),
            ] {
                let total = total.load(std::sync::atomic::Ordering::Relaxed);
                counter.inc_by(total.saturating_sub(counter.get()));
            }
            for (operation, total) in appended.operations() {
                let counter = inner.operations.get_or_create(&OperationLabels {
                    operation: operation.to_string(),
                });
                counter.inc_by(total.saturating_sub(counter.get()));
            }
            for (namespace, workflow_type, outcome, total) in appended.workflows() {
                let counter = if outcome == "started" {
                    inner.started.get_or_create(&StartedLabels {
                        namespace,
                        workflow_type,
                    })
                } else {
                    inner.closed.get_or_create(&ClosedLabels {
                        namespace,
                        workflow_type,
                        status: outcome.to_string(),
                    })
                };
                counter.inc_by(total.saturating_sub(counter.get()));
            }
            let claims = appended.claims.load(std::sync::atomic::Ordering::Relaxed);
            inner
                .claims
                .inc_by(claims.saturating_sub(inner.claims.get()));
            let size = history.store_size();
            for (gauge, bytes) in inner.store.iter().zip([
                size.table_bytes,
                size.memtable_bytes,
                size.block_cache_bytes,
            ]) {
                gauge.set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
            for (counter, total) in inner
                .block_cache
                .iter()
                .zip([size.block_cache_hits, size.block_cache_misses])
            {
                counter.inc_by(total.saturating_sub(counter.get()));
            }
            inner.snapshot_age.clear();
            let owned: std::collections::BTreeSet<_> =
                history.owned().into_iter().map(|(p, _)| p).collect();
            let now = history.now() / 1_000_000_000;
            for (partition, at) in appended.snapshots() {
                if owned.contains(&partition) {
                    inner
                        .snapshot_age
                        .get_or_create(&PartitionLabels {
                            partition: partition.to_string(),
                        })
                        .set((now - at).max(0));
                }
            }
            let (reader, topic) = history.log();
            for (partition, epoch, applied) in history.positions() {
                let labels = PartitionLabels {
                    partition: partition.to_string(),
                };
                inner.history_epoch.get_or_create(&labels).set(epoch);
                let partition = i32::try_from(partition).unwrap_or(i32::MAX);
                if let Ok(end) = reader.end_offset(topic, partition).await {
                    inner
                        .history_lag
                        .get_or_create(&labels)
                        .set((end - applied).max(0));
                }
            }
        }
        inner.matching_owned.clear();
        if let Some(owned) = &inner.sources.matching_owned {
            for partition in owned.borrow().iter() {
                let labels = PartitionLabels {
                    partition: partition.to_string(),
                };
                inner.matching_owned.get_or_create(&labels).set(1);
            }
        }
        inner.backlog.clear();
        if let Some(history) = &inner.sources.history {
            for (namespace_id, task_queue, kind, count) in history.waiting_by_queue() {
                let labels = QueueLabels {
                    namespace_id,
                    task_queue,
                    kind: format!("{kind:?}").to_lowercase(),
                };
                inner.backlog.get_or_create(&labels).set(count);
            }
        }
        inner.held.clear();
        if let Some(matching) = &inner.sources.matching {
            for (namespace_id, task_queue, kind, length) in matching.backlogs() {
                let labels = QueueLabels {
                    namespace_id,
                    task_queue,
                    kind: format!("{kind:?}").to_lowercase(),
                };
                inner
                    .held
                    .get_or_create(&labels)
                    .set(i64::try_from(length).unwrap_or(i64::MAX));
            }
        }
        if let Some(usage) = process_usage() {
            let cpu = &inner.process_cpu;
            cpu.inc_by((usage.cpu_seconds - cpu.get()).max(0.0));
            inner.process_rss.set(usage.rss_bytes);
        }
        let mut text = String::new();
        let encoded = encode_registry(&mut text, &inner.registry)
            .and_then(|()| encode_registry(&mut text, &inner.process))
            .and_then(|()| encode_eof(&mut text));
        if encoded.is_err() {
            text.clear();
        }
        text
    }

    /// Binds `address` and serves `GET /metrics` (and the health probes) there in the
    /// background until `shutdown` fires; returns the bound address and the serving task.
    pub async fn start(
        &self,
        address: std::net::SocketAddr,
        health: crate::health::Health,
        shutdown: CancellationToken,
    ) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = TcpListener::bind(address).await?;
        let bound = listener.local_addr()?;
        let metrics = self.clone();
        let task =
            cairn_runtime::supervise("metrics", cairn_runtime::Failure::Logged, async move {
                if let Err(error) = metrics.serve(listener, health, shutdown).await {
                    tracing::warn!(error = %error, "serving metrics failed");
                }
            });
        Ok((bound, task))
    }

    /// Serves `GET /metrics`, `/healthz` and `/readyz` on `listener` until `shutdown` fires.
    pub async fn serve(
        self,
        listener: TcpListener,
        health: crate::health::Health,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let alive = health.clone();
        let router = axum::Router::new()
            .route(
                "/healthz",
                axum::routing::get(move || {
                    let answer = probe(
                        alive.is_alive(),
                        "alive\n",
                        "a task this node needs failed\n",
                    );
                    async move { answer }
                }),
            )
            .route(
                "/readyz",
                axum::routing::get(move || {
                    let answer = probe(health.is_ready(), "ready\n", "not ready\n");
                    async move { answer }
                }),
            )
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let metrics = self.clone();
                    async move {
                        (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            metrics.render().await,
                        )
                    }
                }),
            );
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }
}

/// A probe's answer: 200 and `yes` when it holds, 503 and `no` otherwise.
fn probe(
    holds: bool,
    yes: &'static str,
    no: &'static str,
) -> (axum::http::StatusCode, &'static str) {
    if holds {
        (axum::http::StatusCode::OK, yes)
    } else {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, no)
    }
}

/// Times each gRPC call by its method name.
#[derive(Clone)]
pub struct RpcLayer {
    histograms: Histograms,
    calls: Family<CallLabels, Counter>,
}

impl<S> tower::Layer<S> for RpcLayer {
    type Service = RpcTimer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTimer {
            inner,
            histograms: self.histograms.clone(),
            calls: self.calls.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcTimer<S> {
    inner: S,
    histograms: Histograms,
    calls: Family<CallLabels, Counter>,
}

impl<S, B, R> tower::Service<http::Request<B>> for RpcTimer<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Send,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let rpc = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let namespace = request
            .headers()
            .get("temporal-namespace")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let started = Instant::now();
        let histograms = self.histograms.clone();
        let calls = self.calls.clone();
        // One span per call: what the call logs, here and in the partition it reaches,
        // carries its RPC.
        let span = crate::trace_context::call_span(&rpc, request.headers());
        let answer = span.in_scope(|| self.inner.call(request));
        Box::pin(
            async move {
                let result = answer.await;
                histograms
                    .get_or_create(&RpcLabels { rpc: rpc.clone() })
                    .observe(started.elapsed().as_secs_f64());
                if let Ok(response) = &result {
                    // An error is answered with its status in the headers (trailers only);
                    // an answer's status follows in the trailers, and is OK.
                    let code = response
                        .headers()
                        .get("grpc-status")
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| value.parse::<i32>().ok())
                        .map_or(tonic::Code::Ok, tonic::Code::from_i32);
                    calls
                        .get_or_create(&CallLabels {
                            rpc,
                            namespace,
                            code: format!("{code:?}"),
                        })
                        .inc();
                }
                result
            }
            .instrument(span),
        )
    }
}

/// Who the public port admits: over TLS or not, who may make which call, and how many
/// calls a second.
#[derive(Clone)]
pub struct Admission {
    pub tls: Option<crate::tls::ServerTls>,
    pub authorizer: Option<cairn_frontend::authorization::Authorizer>,
    pub rps: u32,
}

/// Serves the public API on `listener` until `shutdown` fires: `workflow` answers the
/// WorkflowService (the frontend itself, or the router in front of it), `frontend` the
/// OperatorService, `health` answers gRPC health checks, `metrics` times every call, and at most
/// `admission.rps` calls a second are served (the rest are answered `ResourceExhausted`),
/// over TLS when `admission.tls` is given, each call authorized by `admission.authorizer`.
pub async fn serve_public<S, H>(
    listener: TcpListener,
    workflow: S,
    frontend: cairn_frontend::Frontend,
    health: tonic_health::pb::health_server::HealthServer<H>,
    metrics: &Metrics,
    admission: Admission,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error>
where
    S: cairn_api::workflowservice::workflow_service_server::WorkflowService,
    H: tonic_health::pb::health_server::Health,
{
    use tonic::codec::CompressionEncoding;
    let health = health
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    tonic::transport::Server::builder()
        .layer(metrics.rpc_layer())
        .layer(crate::rate_limit::RateLimitLayer::new(admission.rps))
        .layer(cairn_frontend::authorization::AuthorizeLayer {
            authorizer: admission.authorizer,
        })
        .add_service(health)
        .add_service(cairn_frontend::workflow_service(workflow))
        .add_service(cairn_frontend::operator_service(frontend))
        .serve_with_incoming_shutdown(
            crate::tls::incoming(listener, admission.tls, shutdown.clone()),
            shutdown.cancelled_owned(),
        )
        .await
}

/// This process's CPU time and resident memory.
struct ProcessUsage {
    cpu_seconds: f64,
    rss_bytes: i64,
}

/// Read from `/proc/self` (Linux, where CPU times are in ticks of 1/100 s): `None` elsewhere.
fn process_usage() -> Option<ProcessUsage> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (in parentheses, maybe with spaces): utime and stime are
    // the 12th and 13th.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss_kib: i64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(ProcessUsage {
        cpu_seconds: ticks / 100.0,
        rss_bytes: rss_kib * 1024,
    })
}
