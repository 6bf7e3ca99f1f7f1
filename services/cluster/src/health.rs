//! Whether a node serves, told the same way to gRPC clients (`grpc.health.v1`, which the
//! SDKs, the CLI and load balancers ask) and to HTTP probes on the metrics port:
//!
//! - ready (gRPC SERVING, `/readyz` 200) once every history and matching partition of the
//!   cluster has an owner, which claimed it only after catching up its log, and while Kafka
//!   answers the node; not ready before, while Kafka does not answer, and again from the
//!   moment the node starts stopping or a task it needs fails;
//! - alive (`/healthz` 200) until a task the node needs has failed.

use std::time::Duration;

use cairn_log::{ClusterProbe, KafkaConfig};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic_health::{ServingStatus, server::HealthReporter};
use tracing::{info, warn};

/// How often a node asks Kafka whether it answers.
const KAFKA_PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long a node waits for Kafka's answer before it reports itself not ready.
const KAFKA_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The gRPC service names health is reported for: the whole server and the API it serves.
const SERVICES: [&str; 2] = ["", "temporal.api.workflowservice.v1.WorkflowService"];

#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    /// Every partition owned, and the node not stopping.
    ready: watch::Sender<bool>,
    /// Kafka answered the node's last probe.
    kafka: watch::Sender<bool>,
    failed: CancellationToken,
}

impl Health {
    /// Starts not ready. `failed` is the node's: once cancelled, the node is neither alive
    /// nor ready.
    pub async fn new(
        failed: CancellationToken,
    ) -> (
        Self,
        tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
    ) {
        let (reporter, service) = tonic_health::server::health_reporter();
        let health = Self {
            reporter,
            ready: watch::Sender::new(false),
            kafka: watch::Sender::new(true),
            failed,
        };
        health.set_ready(false).await;
        (health, service)
    }

    /// Whether every partition is owned and the node is not stopping.
    pub async fn set_ready(&self, ready: bool) {
        self.ready.send_replace(ready);
        self.report().await;
    }

    async fn set_kafka_answers(&self, answers: bool) {
        self.kafka.send_replace(answers);
        self.report().await;
    }

    async fn report(&self) {
        let status = if self.is_ready() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for service in SERVICES {
            self.reporter.set_service_status(service, status).await;
        }
    }

    pub fn is_ready(&self) -> bool {
        *self.ready.borrow() && *self.kafka.borrow() && self.is_alive()
    }

    pub fn is_alive(&self) -> bool {
        !self.failed.is_cancelled()
    }

    /// Asks Kafka every second whether it answers, until `stop`: a node that cannot reach
    /// Kafka can neither write nor read what it serves, so it reports itself not ready (and
    /// says so in its log) until Kafka answers again.
    pub async fn follow_kafka(self, kafka: KafkaConfig, stop: CancellationToken) {
        let probe = match ClusterProbe::connect(&kafka) {
            Ok(probe) => probe,
            Err(error) => {
                warn!(error = %cairn_runtime::report(&error), "cannot create the kafka probe");
                return;
            }
        };
        let mut answered = true;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(KAFKA_PROBE_EVERY) => {}
            }
            let answers = match probe.brokers(KAFKA_PROBE_TIMEOUT).await {
                Ok(_) => true,
                Err(error) => {
                    if answered {
                        warn!(error = %cairn_runtime::report(&error), "kafka does not answer: not ready");
                    }
                    false
                }
            };
            if answers && !answered {
                info!("kafka answers again");
            }
            if answers != answered {
                self.set_kafka_answers(answers).await;
                answered = answers;
            }
        }
    }

    /// Reports not ready as soon as the node's failure token fires, until `stop` does.
    pub async fn follow_failure(self, stop: CancellationToken) {
        tokio::select! {
            () = self.failed.cancelled() => self.report().await,
            () = stop.cancelled() => {}
        }
    }
}
