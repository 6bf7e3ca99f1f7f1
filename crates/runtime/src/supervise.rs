//! The one way long-lived tasks are started. Each says what its failure means: a task the
//! node cannot go on without stops the node when it panics (its partitions then move to
//! another), anything else is logged. Raw `tokio::spawn` is refused by clippy elsewhere
//! (`clippy.toml`), so no task can die unnoticed and leave its node half-alive.

use std::{future::Future, panic::AssertUnwindSafe};

use futures::FutureExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info_span};

/// What a supervised task's panic means.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The node cannot go on without the task: its panic cancels this token, which stops
    /// the node.
    StopsNode(CancellationToken),
    /// Nothing depends on the task staying alive: its panic is logged.
    Logged,
}

/// Runs `task` under the name `name`, in a span of that name. A panic is logged, acted on
/// as `failure` says, and then reaches whoever awaits the handle, as with `tokio::spawn`.
pub fn supervise<T>(
    name: &'static str,
    failure: Failure,
    task: impl Future<Output = T> + Send + 'static,
) -> JoinHandle<T>
where
    T: Send + 'static,
{
    #[allow(clippy::disallowed_methods)] // this is the supervisor
    tokio::spawn(async move {
        match AssertUnwindSafe(task.instrument(info_span!("task", name)))
            .catch_unwind()
            .await
        {
            Ok(output) => output,
            Err(panic) => {
                match &failure {
                    Failure::StopsNode(stop) => {
                        error!(task = name, "task panicked; the node stops");
                        stop.cancel();
                    }
                    Failure::Logged => error!(task = name, "task panicked"),
                }
                std::panic::resume_unwind(panic)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_a_task_the_node_needs_stops_the_node() {
        let stop = CancellationToken::new();
        let handle = supervise("doomed", Failure::StopsNode(stop.clone()), async {
            panic!("the task fails");
        });
        assert!(handle.await.unwrap_err().is_panic());
        assert!(stop.is_cancelled());
    }

    #[tokio::test]
    async fn a_task_that_ends_well_gives_its_output_and_stops_nothing() {
        let stop = CancellationToken::new();
        let handle = supervise("fine", Failure::StopsNode(stop.clone()), async { 7 });
        assert_eq!(handle.await.unwrap(), 7);
        assert!(!stop.is_cancelled());
    }
}
