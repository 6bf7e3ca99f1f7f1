//! Shutdown and supervised tasks: a task that fails or panics is logged once and stops the
//! whole process's work; the first SIGINT/SIGTERM starts a graceful shutdown, a second one
//! exits at once.

use std::{future::Future, time::Duration};

use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{Instrument, error, info, info_span};

#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    /// A shutdown that only fires when [`Shutdown::trigger`] is called (tests, embedding).
    pub fn manual() -> Self {
        Self::default()
    }

    /// A shutdown that fires on the first SIGINT or SIGTERM; the second exits with 130.
    pub fn on_signals() -> Self {
        let shutdown = Self::default();
        let token = shutdown.token.clone();
        #[allow(clippy::disallowed_methods)] // nothing depends on it but the signal it waits for
        tokio::spawn(async move {
            wait_for_signal().await;
            info!("shutdown requested");
            token.cancel();
            wait_for_signal().await;
            std::process::exit(130);
        });
        shutdown
    }

    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    pub async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Runs a task whose failure must stop the process: an error or a panic is logged with
    /// the task's name and cancels everything.
    pub fn spawn_critical<E>(
        &self,
        name: &'static str,
        task: impl Future<Output = Result<(), E>> + Send + 'static,
    ) where
        E: std::error::Error + Send + Sync + 'static,
    {
        let token = self.token.clone();
        let handle = self
            .tracker
            .spawn(task.instrument(info_span!("task", name)));
        self.tracker.spawn(async move {
            match handle.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    error!(task = name, error = %crate::report(&e), "critical task failed");
                    token.cancel();
                }
                Err(e) => {
                    error!(task = name, error = %e, "critical task panicked");
                    token.cancel();
                }
            }
        });
    }

    /// Runs a task whose end matters to nobody; a panic is logged.
    pub fn spawn_best_effort(
        &self,
        name: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let handle = self
            .tracker
            .spawn(task.instrument(info_span!("task", name)));
        self.tracker.spawn(async move {
            if let Err(e) = handle.await {
                error!(task = name, error = %e, "task panicked");
            }
        });
    }

    /// Waits at most `grace` for tracked tasks to finish after cancellation.
    pub async fn drain(&self, grace: Duration) {
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            info!("some tasks were still running after the shutdown grace period");
        }
    }
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
