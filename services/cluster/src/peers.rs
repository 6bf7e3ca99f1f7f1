//! This node's view of other owners: the history owners it asks to start tasks and read
//! runs ([`RemotePeers`], history's `Peers`), and the matching owners it hands tasks to
//! ([`RemoteTasks`], history's `TaskSink`).

use std::collections::HashMap;

use crate::clients::PeerChannel;
use cairn_engine::{
    MutableState, PartitionId, RunKey, TaskRef, partition_of,
    proto::HistoryEvent,
    transfer::{Transfer, TransferOutcome},
};
use cairn_history::{
    HistoryError, Peers, QueryTask, StartedActivityTask, StartedWorkflowTask, TaskSink,
};
use cairn_matching::Matching;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::{
    clients::{Clients, OWNER_WAIT, never_sent, transport_failed, wait_for_change},
    directory::{Directory, Role},
    internal::{history_client::HistoryClient, matching_client::MatchingClient},
    wire::{self, Reply, WireError},
};

#[derive(Clone)]
pub struct RemotePeers {
    pub directory: Directory,
    pub clients: Clients,
    pub partitions: u32,
}

impl RemotePeers {
    /// Calls the owner of `partition`, following it as it moves. A read (`read`) cut off
    /// mid-way is asked again; a write cut off mid-way has an unknown outcome.
    async fn call<T, F, Fut>(
        &self,
        partition: PartitionId,
        read: bool,
        call: F,
    ) -> Result<T, HistoryError>
    where
        F: Fn(HistoryClient<PeerChannel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Reply<T>>, tonic::Status>>,
    {
        let deadline = Instant::now() + OWNER_WAIT;
        loop {
            if let Some(route) = self.directory.route(Role::History, partition) {
                let client = HistoryClient::new(self.clients.bounded_channel(&route.address))
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX);
                match call(client).await {
                    Ok(reply) => match reply.into_inner() {
                        Ok(value) => return Ok(value),
                        Err(WireError::NotOwner { .. }) => {}
                        Err(error) => return Err(error.into_history()),
                    },
                    Err(status) if never_sent(&status) => {
                        debug!(partition, address = %route.address, "history owner unreachable");
                    }
                    Err(status) if read && transport_failed(&status) => {
                        debug!(partition, address = %route.address, %status, "history owner went away mid-read");
                    }
                    Err(status) => {
                        return Err(HistoryError::Peer {
                            partition,
                            message: status.message().to_string(),
                        });
                    }
                }
            }
            if !wait_for_change(&self.directory, deadline).await {
                return Err(HistoryError::Unavailable { partition });
            }
        }
    }

    fn partition(&self, run: &RunKey) -> PartitionId {
        run.partition(self.partitions)
    }
}

#[async_trait::async_trait]
impl Peers for RemotePeers {
    async fn record_workflow_task_started(
        &self,
        task: TaskRef,
        request_id: String,
        identity: String,
    ) -> Result<StartedWorkflowTask, HistoryError> {
        let request = wire::RecordStarted {
            task,
            request_id,
            identity,
        };
        self.call(self.partition(&request.task.run), false, |mut client| {
            let request = request.clone();
            async move { client.record_workflow_task_started(request).await }
        })
        .await
    }

    async fn record_activity_task_started(
        &self,
        task: TaskRef,
        request_id: String,
        identity: String,
    ) -> Result<StartedActivityTask, HistoryError> {
        let request = wire::RecordStarted {
            task,
            request_id,
            identity,
        };
        self.call(self.partition(&request.task.run), false, |mut client| {
            let request = request.clone();
            async move { client.record_activity_task_started(request).await }
        })
        .await
    }

    async fn reset_sticky(&self, run: RunKey) -> Result<(), HistoryError> {
        self.call(self.partition(&run), false, |mut client| {
            let run = run.clone();
            async move { client.reset_sticky(run).await }
        })
        .await
    }

    async fn describe(&self, run: RunKey) -> Result<MutableState, HistoryError> {
        self.call(self.partition(&run), true, |mut client| {
            let run = run.clone();
            async move { client.describe(run).await }
        })
        .await
    }

    async fn progress(&self, run: RunKey) -> Result<MutableState, HistoryError> {
        self.call(self.partition(&run), true, |mut client| {
            let run = run.clone();
            async move { client.progress(run).await }
        })
        .await
    }

    async fn events(
        &self,
        run: RunKey,
        from: i64,
        to: i64,
    ) -> Result<Vec<HistoryEvent>, HistoryError> {
        let request = wire::EventsRequest { run, from, to };
        self.call(self.partition(&request.run), true, |mut client| {
            let request = request.clone();
            async move { client.events(request).await }
        })
        .await
    }

    async fn deliver(&self, transfer: Transfer) -> Result<TransferOutcome, HistoryError> {
        // Receivers deduplicate transfers, so one cut off mid-way may be sent again.
        self.call(self.partition(&transfer.target()), true, |mut client| {
            let transfer = transfer.clone();
            async move { client.deliver(transfer).await }
        })
        .await
    }

    async fn waiting_tasks(
        &self,
        partition: PartitionId,
        namespace_id: String,
        task_queue: String,
        kind: cairn_engine::TaskKind,
    ) -> Result<i64, HistoryError> {
        let request = wire::WaitingTasks {
            partition,
            namespace_id,
            task_queue,
            kind,
        };
        self.call(partition, true, |mut client| {
            let request = request.clone();
            async move { client.waiting_tasks(request).await }
        })
        .await
    }

    async fn visibility_page(
        &self,
        partition: PartitionId,
        request: cairn_visibility::PageRequest,
    ) -> Result<cairn_visibility::Page, HistoryError> {
        let request = wire::VisibilityPage { partition, request };
        self.call(partition, true, |mut client| {
            let request = request.clone();
            async move { client.visibility_page(request).await }
        })
        .await
    }

    async fn visibility_count(
        &self,
        partition: PartitionId,
        request: cairn_visibility::CountRequest,
    ) -> Result<cairn_visibility::Counts, HistoryError> {
        let request = wire::VisibilityCount { partition, request };
        self.call(partition, true, |mut client| {
            let request = request.clone();
            async move { client.visibility_count(request).await }
        })
        .await
    }
}

/// Hands tasks to the matching owner of their queue: this node's matching when it owns the
/// queue's partition, the owner over gRPC otherwise. A handover that fails is tried again
/// until it lands; duplicates are harmless (matching waits one copy, history starts one).
#[derive(Clone)]
pub struct RemoteTasks {
    pub node_id: String,
    pub directory: Directory,
    pub clients: Clients,
    pub partitions: u32,
    pub local: Matching,
}

impl RemoteTasks {
    pub fn partition_of(&self, namespace_id: &str, task_queue: &str) -> PartitionId {
        partition_of(namespace_id, task_queue, self.partitions)
    }

    /// Whether this node serves the matching partition.
    fn serves(&self, partition: PartitionId) -> bool {
        self.directory
            .route(Role::Matching, partition)
            .is_some_and(|route| route.node_id == self.node_id)
    }

    fn spawn_send(&self, partition: PartitionId, send: Handover) {
        // Tasks for a partition this node serves go straight to its matching.
        if self.serves(partition) {
            send.deliver_locally(&self.local);
            return;
        }
        let this = self.clone();
        // A handover lost with its task is handed again when matching ownership next moves
        // (every pending task is).
        cairn_runtime::supervise(
            "task-handover",
            cairn_runtime::Failure::Logged,
            async move {
                this.send(partition, send).await;
            },
        );
    }

    async fn send(&self, partition: PartitionId, send: Handover) {
        loop {
            let deadline = Instant::now() + OWNER_WAIT;
            if let Some(route) = self.directory.route(Role::Matching, partition) {
                if route.node_id == self.node_id {
                    send.deliver_locally(&self.local);
                    return;
                }
                let mut client = MatchingClient::new(self.clients.bounded_channel(&route.address))
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX);
                let result = match &send {
                    Handover::Tasks(tasks) => {
                        client
                            .add_tasks(wire::AddTasks {
                                partition,
                                tasks: tasks.clone(),
                                withdrawn: Vec::new(),
                            })
                            .await
                    }
                    Handover::Withdrawn(tasks) => {
                        client
                            .add_tasks(wire::AddTasks {
                                partition,
                                tasks: Vec::new(),
                                withdrawn: tasks.clone(),
                            })
                            .await
                    }
                    Handover::Query(query) => client.add_query(wire::AddQuery::clone(query)).await,
                };
                match result.map(tonic::Response::into_inner) {
                    Ok(Ok(())) => return,
                    Ok(Err(error)) => {
                        debug!(partition, error = %error, "matching owner refused tasks");
                    }
                    Err(status) => {
                        debug!(partition, status = %status, "matching owner unreachable");
                    }
                }
            }
            if !wait_for_change(&self.directory, deadline).await {
                warn!(
                    partition,
                    "no matching owner took tasks for a while; still trying"
                );
            }
        }
    }
}

/// What a history owner hands to a matching owner.
enum Handover {
    Tasks(Vec<TaskRef>),
    Withdrawn(Vec<TaskRef>),
    Query(Box<wire::AddQuery>),
}

impl Handover {
    fn deliver_locally(self, matching: &Matching) {
        match self {
            Self::Tasks(tasks) => matching.dispatch(tasks),
            Self::Withdrawn(tasks) => matching.withdraw(tasks),
            Self::Query(query) => {
                matching.dispatch_query(&query.namespace_id, &query.task_queue, query.task);
            }
        }
    }
}

impl TaskSink for RemoteTasks {
    fn dispatch(&self, tasks: Vec<TaskRef>) {
        let mut by_partition: HashMap<PartitionId, Vec<TaskRef>> = HashMap::new();
        for task in tasks {
            let partition = self.partition_of(&task.run.namespace_id, &task.task_queue);
            by_partition.entry(partition).or_default().push(task);
        }
        for (partition, tasks) in by_partition {
            self.spawn_send(partition, Handover::Tasks(tasks));
        }
    }

    fn withdraw(&self, tasks: Vec<TaskRef>) {
        let mut by_partition: HashMap<PartitionId, Vec<TaskRef>> = HashMap::new();
        for task in tasks {
            let partition = self.partition_of(&task.run.namespace_id, &task.task_queue);
            by_partition.entry(partition).or_default().push(task);
        }
        for (partition, tasks) in by_partition {
            self.spawn_send(partition, Handover::Withdrawn(tasks));
        }
    }

    fn dispatch_query(&self, namespace_id: &str, task_queue: &str, task: QueryTask) {
        let partition = self.partition_of(namespace_id, task_queue);
        self.spawn_send(
            partition,
            Handover::Query(Box::new(wire::AddQuery {
                partition,
                namespace_id: namespace_id.to_string(),
                task_queue: task_queue.to_string(),
                task,
            })),
        );
    }
}
