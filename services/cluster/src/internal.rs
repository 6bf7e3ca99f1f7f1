//! The internal gRPC services a node serves to its peers: its history partitions (task
//! starts and reads for matching and frontends) and its matching partitions (tasks handed
//! over by history owners). A node answers only for partitions it owns; anything else gets
//! `NotOwner`, and the caller looks up the owner again.

use std::collections::BTreeSet;

use cairn_engine::{MutableState, PartitionId, proto::HistoryEvent, transfer::TransferOutcome};
use cairn_history::{History, StartedActivityTask, StartedWorkflowTask};
use cairn_matching::Matching;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::wire::{self, Reply, WireError};

#[allow(clippy::all, clippy::pedantic, clippy::clone_on_ref_ptr)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/cairn.internal.History.rs"));
    include!(concat!(env!("OUT_DIR"), "/cairn.internal.Matching.rs"));
}

pub use generated::{history_client, history_server, matching_client, matching_server};

type Answer<T> = Result<Response<Reply<T>>, Status>;

/// This node's history partitions, as peers reach them.
pub struct HistoryPeer {
    pub history: History,
}

impl HistoryPeer {
    fn owned(&self, partition: PartitionId) -> Result<(), WireError> {
        if self.history.owns(partition) {
            Ok(())
        } else {
            Err(WireError::NotOwner { partition })
        }
    }

    async fn answer<T>(
        &self,
        partition: PartitionId,
        call: impl Future<Output = Result<T, cairn_history::HistoryError>>,
    ) -> Answer<T> {
        let reply = match self.owned(partition) {
            Ok(()) => call
                .await
                .map_err(|error| WireError::from_history(error, partition)),
            Err(error) => Err(error),
        };
        Ok(Response::new(reply))
    }

    fn partition(&self, run: &cairn_engine::RunKey) -> PartitionId {
        run.partition(self.history.partitions())
    }
}

#[tonic::async_trait]
impl history_server::History for HistoryPeer {
    async fn record_workflow_task_started(
        &self,
        request: Request<wire::RecordStarted>,
    ) -> Answer<StartedWorkflowTask> {
        let r = request.into_inner();
        let partition = self.partition(&r.task.run);
        self.answer(
            partition,
            self.history
                .record_workflow_task_started(&r.task, r.request_id, r.identity),
        )
        .await
    }

    async fn record_activity_task_started(
        &self,
        request: Request<wire::RecordStarted>,
    ) -> Answer<StartedActivityTask> {
        let r = request.into_inner();
        let partition = self.partition(&r.task.run);
        self.answer(
            partition,
            self.history
                .record_activity_task_started(&r.task, r.request_id, r.identity),
        )
        .await
    }

    async fn reset_sticky(&self, request: Request<wire::RunKey>) -> Answer<()> {
        let run = request.into_inner();
        let partition = self.partition(&run);
        self.answer(partition, self.history.reset_sticky(run)).await
    }

    async fn describe(&self, request: Request<wire::RunKey>) -> Answer<MutableState> {
        let run = request.into_inner();
        let partition = self.partition(&run);
        self.answer(partition, self.history.describe(run)).await
    }

    async fn progress(&self, request: Request<wire::RunKey>) -> Answer<MutableState> {
        let run = request.into_inner();
        let partition = self.partition(&run);
        self.answer(partition, self.history.progress(run)).await
    }

    async fn events(&self, request: Request<wire::EventsRequest>) -> Answer<Vec<HistoryEvent>> {
        let r = request.into_inner();
        let partition = self.partition(&r.run);
        self.answer(partition, self.history.events(&r.run, r.from, r.to))
            .await
    }

    async fn visibility_page(
        &self,
        request: Request<wire::VisibilityPage>,
    ) -> Answer<cairn_visibility::Page> {
        let r = request.into_inner();
        self.answer(
            r.partition,
            self.history.visibility_page(r.partition, r.request),
        )
        .await
    }

    async fn visibility_count(
        &self,
        request: Request<wire::VisibilityCount>,
    ) -> Answer<cairn_visibility::Counts> {
        let r = request.into_inner();
        self.answer(
            r.partition,
            self.history.visibility_count(r.partition, r.request),
        )
        .await
    }

    async fn waiting_tasks(&self, request: Request<wire::WaitingTasks>) -> Answer<i64> {
        let r = request.into_inner();
        self.answer(
            r.partition,
            self.history
                .waiting_tasks(r.partition, r.namespace_id, r.task_queue, r.kind),
        )
        .await
    }

    async fn deliver(&self, request: Request<wire::Transfer>) -> Answer<TransferOutcome> {
        let transfer = request.into_inner();
        let partition = self.partition(&transfer.target());
        self.answer(partition, self.history.deliver(transfer)).await
    }
}

/// This node's matching partitions, as history owners reach them.
pub struct MatchingPeer {
    pub matching: Matching,
    /// The matching partitions this node owns.
    pub owned: watch::Receiver<BTreeSet<i32>>,
}

impl MatchingPeer {
    fn owned(&self, partition: PartitionId) -> Reply<()> {
        let owned = i32::try_from(partition).is_ok_and(|p| self.owned.borrow().contains(&p));
        if owned {
            Ok(())
        } else {
            Err(WireError::NotOwner { partition })
        }
    }
}

#[tonic::async_trait]
impl matching_server::Matching for MatchingPeer {
    async fn add_tasks(&self, request: Request<wire::AddTasks>) -> Answer<()> {
        let r = request.into_inner();
        let reply = self.owned(r.partition).map(|()| {
            if !r.withdrawn.is_empty() {
                cairn_history::TaskSink::withdraw(&self.matching, r.withdrawn);
            }
            cairn_history::TaskSink::dispatch(&self.matching, r.tasks);
        });
        Ok(Response::new(reply))
    }

    async fn add_query(&self, request: Request<wire::AddQuery>) -> Answer<()> {
        let r = request.into_inner();
        let reply = self.owned(r.partition).map(|()| {
            cairn_history::TaskSink::dispatch_query(
                &self.matching,
                &r.namespace_id,
                &r.task_queue,
                r.task,
            );
        });
        Ok(Response::new(reply))
    }
}

/// Answers `Unauthenticated` to a call on the internal port without the cluster's id
/// ([`crate::clients::CLUSTER_HEADER`]): the port serves the public API too, for calls
/// frontends forward to owners, and must not serve it to anyone who reaches the port.
#[derive(Clone)]
pub struct RequireCluster {
    pub token: crate::clients::ClusterToken,
}

impl<S> tower::Layer<S> for RequireCluster {
    type Service = ClusterOnly<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClusterOnly {
            inner,
            token: self.token.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ClusterOnly<S> {
    inner: S,
    token: crate::clients::ClusterToken,
}

impl<S, B> tower::Service<http::Request<B>> for ClusterOnly<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Send,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if self
            .token
            .matches(request.headers().get(crate::clients::CLUSTER_HEADER))
        {
            Box::pin(self.inner.call(request))
        } else {
            let refused = Status::unauthenticated(
                "this is a Cairn node's internal port, which serves only the nodes of its \
                 cluster; call the public port",
            )
            .into_http();
            Box::pin(std::future::ready(Ok(refused)))
        }
    }
}
