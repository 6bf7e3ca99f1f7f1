//! Whether a node serves, told the same way to gRPC clients (`grpc.health.v1`, which the
//! SDKs, the CLI and load balancers ask) and to HTTP probes on the metrics port:
//!
//! - ready (gRPC SERVING, `/readyz` 200) once every history and matching partition of the
//!   cluster has an owner, which claimed it only after catching up its log; not ready
//!   before, and again from the moment the node starts stopping or a task it needs fails;
//! - alive (`/healthz` 200) until a task the node needs has failed.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic_health::{ServingStatus, server::HealthReporter};

/// The gRPC service names health is reported for: the whole server and the API it serves.
const SERVICES: [&str; 2] = ["", "temporal.api.workflowservice.v1.WorkflowService"];

#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    ready: watch::Sender<bool>,
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
            failed,
        };
        health.set_ready(false).await;
        (health, service)
    }

    pub async fn set_ready(&self, ready: bool) {
        let status = if ready {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for service in SERVICES {
            self.reporter.set_service_status(service, status).await;
        }
        self.ready.send_replace(ready);
    }

    pub fn is_ready(&self) -> bool {
        *self.ready.borrow() && self.is_alive()
    }

    pub fn is_alive(&self) -> bool {
        !self.failed.is_cancelled()
    }

    /// Reports not ready as soon as the node's failure token fires, until `stop` does.
    pub async fn follow_failure(self, stop: CancellationToken) {
        tokio::select! {
            () = self.failed.cancelled() => self.set_ready(false).await,
            () = stop.cancelled() => {}
        }
    }
}
