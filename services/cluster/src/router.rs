//! The public WorkflowService of a cluster frontend. Each call goes where its state lives:
//! workflow calls to the history owner of the workflow's partition, polls to the matching
//! owner of the task queue's partition, and the rest (namespaces, lists, system info) are
//! answered here. The receiving node runs the same frontend logic with that state local.
//!
//! A call that certainly had no effect — the owner moved before it ran, or the owner's node
//! refused the connection — is sent again to the new owner inside Cairn. So is a call cut
//! off mid-way whose repetition is harmless (reads, polls, and writes deduplicated by their
//! request ID). Any other call cut off mid-way has an unknown outcome and is answered
//! `Unavailable`, as Temporal answers it, so nothing is lost and nothing applied twice.

use cairn_api::workflowservice::{
    workflow_service_client::WorkflowServiceClient, workflow_service_server::WorkflowService,
};
use cairn_engine::{PartitionId, partition_of, token::TaskToken};
use cairn_frontend::{Frontend, Namespaces};
use temporalio_protos::protos::temporal::api::{
    common::v1::WorkflowExecution, workflowservice::v1 as ws,
};
use tokio::time::Instant;
use tonic::{Request, Response, Status, codec::SingleMessageCompressionOverride};
use tracing::{Instrument, debug};

use crate::{
    clients::PeerChannel,
    clients::{
        ATTEMPT_TIMEOUT, Clients, OWNER_WAIT, never_sent, transport_failed, wait_for_change,
    },
    directory::{Directory, Role},
};

/// Internal hops carry messages as large as the public API accepts.
const MAX_MESSAGE: usize = 128 * 1024 * 1024;
/// A long poll that cannot reach its owner answers idle this long before its deadline.
const IDLE_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);
/// Any other call that cannot reach its owner answers `Unavailable` this long before its
/// client's deadline.
const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);
/// How long a long poll may last when its client set no deadline.
const LONG_POLL: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Clone)]
pub struct Router {
    /// This node's frontend as clients reach it: it validates and counts each call against
    /// its namespace's rate, and answers what needs no owner.
    pub local: Frontend,
    /// This node's frontend as owners are reached (the internal services serve it): a call
    /// this node owns goes to it directly, without a gRPC hop to itself.
    pub owner: Frontend,
    /// This node's ID, to recognise the routes that lead back here.
    pub node_id: String,
    pub namespaces: Namespaces,
    pub directory: Directory,
    pub clients: Clients,
    pub history_partitions: u32,
    pub matching_partitions: u32,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    History(PartitionId),
    Matching(PartitionId),
}

/// Whether a call may be sent again after it was cut off mid-way.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Repeat {
    /// Reads, polls and writes deduplicated by request ID.
    Harmless,
    /// Completions and terminations: a second one would be refused or act twice.
    Unsafe,
}

type Reply<T> = Result<Response<T>, Status>;

/// Responses smaller than this go out uncompressed, even to clients that accept gzip: each
/// compressed message costs a fresh deflate state (hundreds of KiB to allocate and fault in),
/// which on small answers took a sixth of the server's CPU and saved almost no bytes.
const COMPRESS_FROM_BYTES: usize = 1024;

/// `reply`, marked to go out uncompressed when it is small.
fn compress_if_large<T: prost::Message>(reply: Reply<T>) -> Reply<T> {
    reply.map(|mut response| {
        if response.get_ref().encoded_len() < COMPRESS_FROM_BYTES {
            response
                .extensions_mut()
                .insert(SingleMessageCompressionOverride::Disable);
        }
        response
    })
}

impl Router {
    fn namespace_id(&self, name: &str) -> Option<String> {
        self.namespaces.get(name).map(|namespace| namespace.id)
    }

    fn workflow(&self, namespace: &str, workflow_id: &str) -> Option<Target> {
        if workflow_id.is_empty() {
            return None;
        }
        let namespace_id = self.namespace_id(namespace)?;
        Some(Target::History(partition_of(
            &namespace_id,
            workflow_id,
            self.history_partitions,
        )))
    }

    /// The partition of the run that holds a schedule.
    fn schedule(&self, namespace: &str, schedule_id: &str) -> Option<Target> {
        if schedule_id.is_empty() {
            return None;
        }
        self.workflow(namespace, &cairn_engine::schedule::workflow_id(schedule_id))
    }

    fn execution(&self, namespace: &str, execution: Option<&WorkflowExecution>) -> Option<Target> {
        self.workflow(namespace, &execution?.workflow_id)
    }

    fn token(&self, bytes: &[u8]) -> Option<Target> {
        let token = TaskToken::decode_from(bytes).ok()?;
        if token.workflow_id.is_empty() {
            return None;
        }
        Some(Target::History(partition_of(
            &token.namespace_id,
            &token.workflow_id,
            self.history_partitions,
        )))
    }

    fn queue(&self, namespace: &str, queue: &str) -> Option<Target> {
        if queue.is_empty() {
            return None;
        }
        let namespace_id = self.namespace_id(namespace)?;
        Some(Target::Matching(partition_of(
            &namespace_id,
            queue,
            self.matching_partitions,
        )))
    }

    /// Sends `request` to the owner of `target` with `call`, following ownership moves.
    ///
    /// A long poll (`idle` given) that finds no owner before its client's deadline gets the
    /// answer of a poll that found nothing, as it would have from its owner.
    #[allow(clippy::too_many_arguments)] // one call, its routing, and its two ways to go
    async fn forward<'a, Req, Resp, F, Fut, L, LocalFut>(
        &'a self,
        target: Target,
        repeat: Repeat,
        request: Request<Req>,
        idle: Option<Resp>,
        long: bool,
        call: F,
        local: L,
    ) -> Reply<Resp>
    where
        Req: Clone,
        F: Fn(WorkflowServiceClient<PeerChannel>, Request<Req>) -> Fut,
        Fut: Future<Output = Reply<Resp>>,
        L: Fn(&'a Frontend, Request<Req>) -> LocalFut,
        LocalFut: Future<Output = Reply<Resp>> + 'a,
    {
        let client_deadline = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(cairn_frontend::parse_grpc_timeout);
        // A long poll ends within a minute, as Temporal's do: the whole call, retries
        // included, not each attempt. A client's longer deadline (the SDKs give 70 s) is
        // not used up, so that a loaded node answers well before the client gives up with
        // `Cancelled`, which the SDKs do not retry.
        let client_deadline = if idle.is_some() || long {
            Some(client_deadline.map_or(LONG_POLL, |d| d.min(LONG_POLL)))
        } else {
            client_deadline
        };
        let message = request.into_inner();
        let started = Instant::now();
        // Whatever happens, the client hears from us before its own deadline: a call its
        // client cuts off ends `Cancelled`, which SDKs do not retry, where `Unavailable`
        // (no owner yet) is retried.
        let deadline = match (client_deadline, &idle) {
            (Some(client), Some(_)) => started + client.saturating_sub(IDLE_MARGIN),
            (Some(client), None) => started + client.saturating_sub(ANSWER_MARGIN).min(OWNER_WAIT),
            (None, _) => started + OWNER_WAIT,
        };
        let (role, partition) = match target {
            Target::History(partition) => (Role::History, partition),
            Target::Matching(partition) => (Role::Matching, partition),
        };
        // What kept the call from an answer so far, for the error if none comes in time.
        let mut obstacle = "no node owns it yet";
        loop {
            if let Some(route) = self.directory.route(role, partition) {
                let mut forwarded = Request::new(message.clone());
                let remaining = client_deadline.map(|d| d.saturating_sub(started.elapsed()));
                if let Some(remaining) = remaining {
                    forwarded.set_timeout(remaining);
                }
                let before_deadline = deadline.saturating_duration_since(Instant::now());
                // A long poll may take what is left of its deadline (the owner answers idle
                // a margin before it); anything else gets one attempt's time, so a frozen
                // owner cannot hold the call forever. The owner reads the client's deadline
                // from the request and answers by it (an update's wait ends
                // `DeadlineExceeded`), so an attempt may last that long.
                let attempt = match (idle.is_some(), long) {
                    (true, _) => remaining
                        .unwrap_or(LONG_POLL)
                        .saturating_sub(IDLE_MARGIN / 2),
                    (false, true) => remaining.unwrap_or(LONG_POLL),
                    (false, false) => remaining.unwrap_or(before_deadline).min(ATTEMPT_TIMEOUT),
                };
                let answer = if route.node_id == self.node_id {
                    tokio::time::timeout(attempt, local(&self.owner, forwarded)).await
                } else {
                    let client = WorkflowServiceClient::new(self.clients.channel(&route.address))
                        .max_decoding_message_size(MAX_MESSAGE)
                        .max_encoding_message_size(MAX_MESSAGE);
                    tokio::time::timeout(attempt, call(client, forwarded)).await
                }
                .unwrap_or_else(|_elapsed| Err(Status::deadline_exceeded("attempt timeout")));
                if answer.is_err()
                    && client_deadline.is_some_and(|client| started.elapsed() >= client)
                {
                    return Err(Status::deadline_exceeded(
                        "the call's deadline passed before its owner answered",
                    ));
                }
                match answer {
                    Err(status) if cairn_frontend::is_not_owner(&status) || never_sent(&status) => {
                        debug!(?target, address = %route.address, "owner moved, routing again");
                        obstacle = "its ownership is moving between nodes";
                    }
                    Err(status) if transport_failed(&status) && repeat == Repeat::Harmless => {
                        debug!(?target, address = %route.address, %status, "owner went away mid-call, repeating");
                        obstacle = "its owner did not answer in time";
                    }
                    Err(status) if transport_failed(&status) => {
                        return Err(Status::unavailable(format!(
                            "the owner of {} partition {partition} went away while answering; \
                             the outcome is unknown",
                            role.name()
                        )));
                    }
                    result => return result,
                }
            }
            if !wait_for_change(&self.directory, deadline).await {
                if let Some(idle) = idle {
                    return Ok(Response::new(idle));
                }
                return Err(Status::unavailable(format!(
                    "{} partition {partition} could not be reached: {obstacle}; try again",
                    role.name()
                )));
            }
        }
    }
}

/// Forwards to the owner when the request names one, and lets the local frontend answer
/// (and validate) otherwise.
macro_rules! route {
    ($self:ident, $request:ident, $method:ident, $target:expr) => {
        route!($self, $request, $method, $target, Repeat::Harmless, None)
    };
    ($self:ident, $request:ident, $method:ident, $target:expr, $repeat:expr) => {
        route!($self, $request, $method, $target, $repeat, None)
    };
    ($self:ident, $request:ident, $method:ident, $target:expr, $repeat:expr, $idle:expr) => {
        route!($self, $request, $method, $target, $repeat, $idle, false)
    };
    ($self:ident, $request:ident, $method:ident, $target:expr, $repeat:expr, $idle:expr, $long:expr) => {{
        cairn_frontend::authorization::check_namespace(
            $request.extensions(),
            &$request.get_ref().namespace,
        )?;
        let target = $target;
        compress_if_large(match target {
            Some(target) => {
                $self
                    .local
                    .check_namespace_rate(&$request.get_ref().namespace)?;
                $self
                    .forward(
                        target,
                        $repeat,
                        $request,
                        $idle,
                        $long,
                        |mut client, request| async move { client.$method(request).await },
                        |owner, request| WorkflowService::$method(owner, request),
                    )
                    .await
            }
            None => WorkflowService::$method(&$self.local, $request).await,
        })
    }};
}

macro_rules! local {
    ($self:ident, $request:ident, $method:ident) => {{
        cairn_frontend::authorization::check_namespace(
            $request.extensions(),
            &$request.get_ref().namespace,
        )?;
        compress_if_large(WorkflowService::$method(&$self.local, $request).await)
    }};
}

/// A call that names no namespace: authorized before it reaches the router.
macro_rules! cluster {
    ($self:ident, $request:ident, $method:ident) => {
        compress_if_large(WorkflowService::$method(&$self.local, $request).await)
    };
}

#[tonic::async_trait]
impl WorkflowService for Router {
    async fn get_system_info(
        &self,
        request: Request<ws::GetSystemInfoRequest>,
    ) -> Reply<ws::GetSystemInfoResponse> {
        cluster!(self, request, get_system_info)
    }

    async fn describe_namespace(
        &self,
        request: Request<ws::DescribeNamespaceRequest>,
    ) -> Reply<ws::DescribeNamespaceResponse> {
        local!(self, request, describe_namespace)
    }

    async fn list_namespaces(
        &self,
        request: Request<ws::ListNamespacesRequest>,
    ) -> Reply<ws::ListNamespacesResponse> {
        cluster!(self, request, list_namespaces)
    }

    async fn register_namespace(
        &self,
        request: Request<ws::RegisterNamespaceRequest>,
    ) -> Reply<ws::RegisterNamespaceResponse> {
        local!(self, request, register_namespace)
    }

    async fn update_namespace(
        &self,
        request: Request<ws::UpdateNamespaceRequest>,
    ) -> Reply<ws::UpdateNamespaceResponse> {
        local!(self, request, update_namespace)
    }

    async fn deprecate_namespace(
        &self,
        request: Request<ws::DeprecateNamespaceRequest>,
    ) -> Reply<ws::DeprecateNamespaceResponse> {
        local!(self, request, deprecate_namespace)
    }

    async fn start_workflow_execution(
        &self,
        request: Request<ws::StartWorkflowExecutionRequest>,
    ) -> Reply<ws::StartWorkflowExecutionResponse> {
        let span = crate::trace_context::header_span(
            "StartWorkflowExecution",
            request.get_ref().header.as_ref(),
        );
        // Boxed: the routed call's future is large.
        Box::pin(async move {
            let r = request.get_ref();
            route!(
                self,
                request,
                start_workflow_execution,
                self.workflow(&r.namespace, &r.workflow_id)
            )
        })
        .instrument(span)
        .await
    }

    async fn signal_with_start_workflow_execution(
        &self,
        request: Request<ws::SignalWithStartWorkflowExecutionRequest>,
    ) -> Reply<ws::SignalWithStartWorkflowExecutionResponse> {
        let span = crate::trace_context::header_span(
            "SignalWithStartWorkflowExecution",
            request.get_ref().header.as_ref(),
        );
        // Boxed: the routed call's future is large.
        Box::pin(async move {
            let r = request.get_ref();
            route!(
                self,
                request,
                signal_with_start_workflow_execution,
                self.workflow(&r.namespace, &r.workflow_id)
            )
        })
        .instrument(span)
        .await
    }

    async fn poll_workflow_task_queue(
        &self,
        request: Request<ws::PollWorkflowTaskQueueRequest>,
    ) -> Reply<ws::PollWorkflowTaskQueueResponse> {
        let r = request.get_ref();
        let queue = r.task_queue.as_ref().map(|q| q.name.as_str()).unwrap_or("");
        let target = self.queue(&r.namespace, queue);
        route!(
            self,
            request,
            poll_workflow_task_queue,
            target,
            Repeat::Harmless,
            Some(Default::default())
        )
    }

    async fn respond_workflow_task_completed(
        &self,
        request: Request<ws::RespondWorkflowTaskCompletedRequest>,
    ) -> Reply<ws::RespondWorkflowTaskCompletedResponse> {
        let target = self.token(&request.get_ref().task_token);
        route!(
            self,
            request,
            respond_workflow_task_completed,
            target,
            Repeat::Unsafe
        )
    }

    async fn respond_workflow_task_failed(
        &self,
        request: Request<ws::RespondWorkflowTaskFailedRequest>,
    ) -> Reply<ws::RespondWorkflowTaskFailedResponse> {
        let target = self.token(&request.get_ref().task_token);
        route!(
            self,
            request,
            respond_workflow_task_failed,
            target,
            Repeat::Unsafe
        )
    }

    async fn poll_activity_task_queue(
        &self,
        request: Request<ws::PollActivityTaskQueueRequest>,
    ) -> Reply<ws::PollActivityTaskQueueResponse> {
        let r = request.get_ref();
        let queue = r.task_queue.as_ref().map(|q| q.name.as_str()).unwrap_or("");
        let target = self.queue(&r.namespace, queue);
        route!(
            self,
            request,
            poll_activity_task_queue,
            target,
            Repeat::Harmless,
            Some(Default::default())
        )
    }

    async fn respond_activity_task_completed(
        &self,
        request: Request<ws::RespondActivityTaskCompletedRequest>,
    ) -> Reply<ws::RespondActivityTaskCompletedResponse> {
        let target = self.token(&request.get_ref().task_token);
        route!(
            self,
            request,
            respond_activity_task_completed,
            target,
            Repeat::Unsafe
        )
    }

    async fn respond_activity_task_completed_by_id(
        &self,
        request: Request<ws::RespondActivityTaskCompletedByIdRequest>,
    ) -> Reply<ws::RespondActivityTaskCompletedByIdResponse> {
        let r = request.get_ref();
        let target = self.workflow(&r.namespace, &r.workflow_id);
        route!(
            self,
            request,
            respond_activity_task_completed_by_id,
            target,
            Repeat::Unsafe
        )
    }

    async fn respond_activity_task_failed(
        &self,
        request: Request<ws::RespondActivityTaskFailedRequest>,
    ) -> Reply<ws::RespondActivityTaskFailedResponse> {
        let target = self.token(&request.get_ref().task_token);
        route!(
            self,
            request,
            respond_activity_task_failed,
            target,
            Repeat::Unsafe
        )
    }

    async fn respond_activity_task_failed_by_id(
        &self,
        request: Request<ws::RespondActivityTaskFailedByIdRequest>,
    ) -> Reply<ws::RespondActivityTaskFailedByIdResponse> {
        let r = request.get_ref();
        let target = self.workflow(&r.namespace, &r.workflow_id);
        route!(
            self,
            request,
            respond_activity_task_failed_by_id,
            target,
            Repeat::Unsafe
        )
    }

    async fn respond_activity_task_canceled(
        &self,
        request: Request<ws::RespondActivityTaskCanceledRequest>,
    ) -> Reply<ws::RespondActivityTaskCanceledResponse> {
        let target = self.token(&request.get_ref().task_token);
        route!(
            self,
            request,
            respond_activity_task_canceled,
            target,
            Repeat::Unsafe
        )
    }

    async fn respond_activity_task_canceled_by_id(
        &self,
        request: Request<ws::RespondActivityTaskCanceledByIdRequest>,
    ) -> Reply<ws::RespondActivityTaskCanceledByIdResponse> {
        let r = request.get_ref();
        let target = self.workflow(&r.namespace, &r.workflow_id);
        route!(
            self,
            request,
            respond_activity_task_canceled_by_id,
            target,
            Repeat::Unsafe
        )
    }

    async fn record_activity_task_heartbeat(
        &self,
        request: Request<ws::RecordActivityTaskHeartbeatRequest>,
    ) -> Reply<ws::RecordActivityTaskHeartbeatResponse> {
        let target = self.token(&request.get_ref().task_token);
        route!(self, request, record_activity_task_heartbeat, target)
    }

    async fn record_activity_task_heartbeat_by_id(
        &self,
        request: Request<ws::RecordActivityTaskHeartbeatByIdRequest>,
    ) -> Reply<ws::RecordActivityTaskHeartbeatByIdResponse> {
        let r = request.get_ref();
        let target = self.workflow(&r.namespace, &r.workflow_id);
        route!(self, request, record_activity_task_heartbeat_by_id, target)
    }

    async fn get_workflow_execution_history(
        &self,
        request: Request<ws::GetWorkflowExecutionHistoryRequest>,
    ) -> Reply<ws::GetWorkflowExecutionHistoryResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.execution.as_ref());
        let idle = r
            .wait_new_event
            .then(|| cairn_frontend::idle_history_poll(r));
        route!(
            self,
            request,
            get_workflow_execution_history,
            target,
            Repeat::Harmless,
            idle
        )
    }

    async fn delete_workflow_execution(
        &self,
        request: Request<ws::DeleteWorkflowExecutionRequest>,
    ) -> Reply<ws::DeleteWorkflowExecutionResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.workflow_execution.as_ref());
        // A repeat finds nothing left to delete and acts no more.
        route!(
            self,
            request,
            delete_workflow_execution,
            target,
            Repeat::Harmless
        )
    }

    async fn reset_workflow_execution(
        &self,
        request: Request<ws::ResetWorkflowExecutionRequest>,
    ) -> Reply<ws::ResetWorkflowExecutionResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.workflow_execution.as_ref());
        // A repeat with the same request ID finds the run the first made; without one it
        // would reset twice.
        let repeat = if r.request_id.is_empty() {
            Repeat::Unsafe
        } else {
            Repeat::Harmless
        };
        route!(self, request, reset_workflow_execution, target, repeat)
    }

    async fn update_workflow_execution(
        &self,
        request: Request<ws::UpdateWorkflowExecutionRequest>,
    ) -> Reply<ws::UpdateWorkflowExecutionResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.workflow_execution.as_ref());
        // Update IDs deduplicate, so a repeat waits for the same update.
        route!(
            self,
            request,
            update_workflow_execution,
            target,
            Repeat::Harmless,
            None,
            true
        )
    }

    async fn execute_multi_operation(
        &self,
        request: Request<ws::ExecuteMultiOperationRequest>,
    ) -> Reply<ws::ExecuteMultiOperationResponse> {
        use ws::execute_multi_operation_request::operation::Operation;
        let r = request.get_ref();
        let workflow_id = r
            .operations
            .iter()
            .find_map(|operation| match &operation.operation {
                Some(Operation::StartWorkflow(start)) => Some(start.workflow_id.clone()),
                _ => None,
            });
        let target = workflow_id.and_then(|id| self.workflow(&r.namespace, &id));
        // The start's request ID and the update's ID both deduplicate a repeat.
        route!(
            self,
            request,
            execute_multi_operation,
            target,
            Repeat::Harmless,
            None,
            true
        )
    }

    async fn poll_workflow_execution_update(
        &self,
        request: Request<ws::PollWorkflowExecutionUpdateRequest>,
    ) -> Reply<ws::PollWorkflowExecutionUpdateResponse> {
        let r = request.get_ref();
        let target = self.execution(
            &r.namespace,
            r.update_ref
                .as_ref()
                .and_then(|u| u.workflow_execution.as_ref()),
        );
        route!(
            self,
            request,
            poll_workflow_execution_update,
            target,
            Repeat::Harmless,
            None,
            true
        )
    }

    async fn signal_workflow_execution(
        &self,
        request: Request<ws::SignalWorkflowExecutionRequest>,
    ) -> Reply<ws::SignalWorkflowExecutionResponse> {
        let span = crate::trace_context::header_span(
            "SignalWorkflowExecution",
            request.get_ref().header.as_ref(),
        );
        // Boxed: the routed call's future is large.
        Box::pin(async move {
            let r = request.get_ref();
            let target = self.execution(&r.namespace, r.workflow_execution.as_ref());
            route!(self, request, signal_workflow_execution, target)
        })
        .instrument(span)
        .await
    }

    async fn pause_activity(
        &self,
        request: Request<ws::PauseActivityRequest>,
    ) -> Reply<ws::PauseActivityResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.execution.as_ref());
        // A second pause without a request ID is refused as "already paused".
        route!(self, request, pause_activity, target, Repeat::Unsafe)
    }

    async fn unpause_activity(
        &self,
        request: Request<ws::UnpauseActivityRequest>,
    ) -> Reply<ws::UnpauseActivityResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.execution.as_ref());
        route!(self, request, unpause_activity, target)
    }

    async fn reset_activity(
        &self,
        request: Request<ws::ResetActivityRequest>,
    ) -> Reply<ws::ResetActivityResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.execution.as_ref());
        route!(self, request, reset_activity, target)
    }

    async fn update_activity_options(
        &self,
        request: Request<ws::UpdateActivityOptionsRequest>,
    ) -> Reply<ws::UpdateActivityOptionsResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.execution.as_ref());
        route!(self, request, update_activity_options, target)
    }

    async fn pause_activity_execution(
        &self,
        request: Request<ws::PauseActivityExecutionRequest>,
    ) -> Reply<ws::PauseActivityExecutionResponse> {
        let r = request.get_ref();
        let target = self.workflow(&r.namespace, &r.workflow_id);
        route!(
            self,
            request,
            pause_activity_execution,
            target,
            Repeat::Unsafe
        )
    }

    async fn unpause_activity_execution(
        &self,
        request: Request<ws::UnpauseActivityExecutionRequest>,
    ) -> Reply<ws::UnpauseActivityExecutionResponse> {
        let r = request.get_ref();
        let target = self.workflow(&r.namespace, &r.workflow_id);
        route!(self, request, unpause_activity_execution, target)
    }

    async fn reset_activity_execution(
        &self,
        request: Request<ws::ResetActivityExecutionRequest>,
    ) -> Reply<ws::ResetActivityExecutionResponse> {
        let r = request.get_ref();
        let target = self.workflow(&r.namespace, &r.workflow_id);
        route!(self, request, reset_activity_execution, target)
    }

    async fn update_activity_execution_options(
        &self,
        request: Request<ws::UpdateActivityExecutionOptionsRequest>,
    ) -> Reply<ws::UpdateActivityExecutionOptionsResponse> {
        let r = request.get_ref();
        let target = self.workflow(&r.namespace, &r.workflow_id);
        route!(self, request, update_activity_execution_options, target)
    }

    async fn request_cancel_workflow_execution(
        &self,
        request: Request<ws::RequestCancelWorkflowExecutionRequest>,
    ) -> Reply<ws::RequestCancelWorkflowExecutionResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.workflow_execution.as_ref());
        route!(self, request, request_cancel_workflow_execution, target)
    }

    async fn terminate_workflow_execution(
        &self,
        request: Request<ws::TerminateWorkflowExecutionRequest>,
    ) -> Reply<ws::TerminateWorkflowExecutionResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.workflow_execution.as_ref());
        route!(
            self,
            request,
            terminate_workflow_execution,
            target,
            Repeat::Unsafe
        )
    }

    async fn describe_workflow_execution(
        &self,
        request: Request<ws::DescribeWorkflowExecutionRequest>,
    ) -> Reply<ws::DescribeWorkflowExecutionResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.execution.as_ref());
        route!(self, request, describe_workflow_execution, target)
    }

    async fn query_workflow(
        &self,
        request: Request<ws::QueryWorkflowRequest>,
    ) -> Reply<ws::QueryWorkflowResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.execution.as_ref());
        // A query waits for a worker's answer: it may take the client's whole deadline.
        route!(
            self,
            request,
            query_workflow,
            target,
            Repeat::Harmless,
            None,
            true
        )
    }

    async fn respond_query_task_completed(
        &self,
        request: Request<ws::RespondQueryTaskCompletedRequest>,
    ) -> Reply<ws::RespondQueryTaskCompletedResponse> {
        let target = self.token(&request.get_ref().task_token);
        route!(
            self,
            request,
            respond_query_task_completed,
            target,
            Repeat::Unsafe
        )
    }

    async fn list_workflow_executions(
        &self,
        request: Request<ws::ListWorkflowExecutionsRequest>,
    ) -> Reply<ws::ListWorkflowExecutionsResponse> {
        local!(self, request, list_workflow_executions)
    }

    async fn scan_workflow_executions(
        &self,
        request: Request<ws::ScanWorkflowExecutionsRequest>,
    ) -> Reply<ws::ScanWorkflowExecutionsResponse> {
        local!(self, request, scan_workflow_executions)
    }

    async fn describe_task_queue(
        &self,
        request: Request<ws::DescribeTaskQueueRequest>,
    ) -> Reply<ws::DescribeTaskQueueResponse> {
        let r = request.get_ref();
        let queue = r.task_queue.as_ref().map_or("", |q| q.name.as_str());
        let target = self.queue(&r.namespace, queue);
        route!(self, request, describe_task_queue, target)
    }

    async fn get_cluster_info(
        &self,
        request: Request<ws::GetClusterInfoRequest>,
    ) -> Reply<ws::GetClusterInfoResponse> {
        cluster!(self, request, get_cluster_info)
    }

    async fn get_workflow_execution_history_reverse(
        &self,
        request: Request<ws::GetWorkflowExecutionHistoryReverseRequest>,
    ) -> Reply<ws::GetWorkflowExecutionHistoryReverseResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.execution.as_ref());
        route!(
            self,
            request,
            get_workflow_execution_history_reverse,
            target
        )
    }

    async fn create_schedule(
        &self,
        request: Request<ws::CreateScheduleRequest>,
    ) -> Reply<ws::CreateScheduleResponse> {
        let r = request.get_ref();
        let target = self.schedule(&r.namespace, &r.schedule_id);
        // A repeat carries the same request ID and finds the schedule made.
        route!(self, request, create_schedule, target, Repeat::Harmless)
    }

    async fn describe_schedule(
        &self,
        request: Request<ws::DescribeScheduleRequest>,
    ) -> Reply<ws::DescribeScheduleResponse> {
        let r = request.get_ref();
        let target = self.schedule(&r.namespace, &r.schedule_id);
        route!(self, request, describe_schedule, target)
    }

    async fn update_schedule(
        &self,
        request: Request<ws::UpdateScheduleRequest>,
    ) -> Reply<ws::UpdateScheduleResponse> {
        let r = request.get_ref();
        let target = self.schedule(&r.namespace, &r.schedule_id);
        // Without a conflict token a repeat would replace the schedule a second time after
        // another update.
        route!(self, request, update_schedule, target, Repeat::Unsafe)
    }

    async fn patch_schedule(
        &self,
        request: Request<ws::PatchScheduleRequest>,
    ) -> Reply<ws::PatchScheduleResponse> {
        let r = request.get_ref();
        let target = self.schedule(&r.namespace, &r.schedule_id);
        // A repeated trigger would start twice.
        route!(self, request, patch_schedule, target, Repeat::Unsafe)
    }

    async fn delete_schedule(
        &self,
        request: Request<ws::DeleteScheduleRequest>,
    ) -> Reply<ws::DeleteScheduleResponse> {
        let r = request.get_ref();
        let target = self.schedule(&r.namespace, &r.schedule_id);
        route!(self, request, delete_schedule, target, Repeat::Unsafe)
    }

    async fn list_schedule_matching_times(
        &self,
        request: Request<ws::ListScheduleMatchingTimesRequest>,
    ) -> Reply<ws::ListScheduleMatchingTimesResponse> {
        let r = request.get_ref();
        let target = self.schedule(&r.namespace, &r.schedule_id);
        route!(self, request, list_schedule_matching_times, target)
    }

    async fn list_schedules(
        &self,
        request: Request<ws::ListSchedulesRequest>,
    ) -> Reply<ws::ListSchedulesResponse> {
        local!(self, request, list_schedules)
    }

    async fn count_schedules(
        &self,
        request: Request<ws::CountSchedulesRequest>,
    ) -> Reply<ws::CountSchedulesResponse> {
        local!(self, request, count_schedules)
    }

    async fn count_workflow_executions(
        &self,
        request: Request<ws::CountWorkflowExecutionsRequest>,
    ) -> Reply<ws::CountWorkflowExecutionsResponse> {
        local!(self, request, count_workflow_executions)
    }

    async fn list_archived_workflow_executions(
        &self,
        request: Request<ws::ListArchivedWorkflowExecutionsRequest>,
    ) -> Reply<ws::ListArchivedWorkflowExecutionsResponse> {
        local!(self, request, list_archived_workflow_executions)
    }

    async fn list_batch_operations(
        &self,
        request: Request<ws::ListBatchOperationsRequest>,
    ) -> Reply<ws::ListBatchOperationsResponse> {
        local!(self, request, list_batch_operations)
    }

    async fn shutdown_worker(
        &self,
        request: Request<ws::ShutdownWorkerRequest>,
    ) -> Reply<ws::ShutdownWorkerResponse> {
        let r = request.get_ref();
        let target = self.queue(&r.namespace, &r.sticky_task_queue);
        route!(self, request, shutdown_worker, target)
    }

    async fn reset_sticky_task_queue(
        &self,
        request: Request<ws::ResetStickyTaskQueueRequest>,
    ) -> Reply<ws::ResetStickyTaskQueueResponse> {
        let r = request.get_ref();
        let target = self.execution(&r.namespace, r.execution.as_ref());
        route!(self, request, reset_sticky_task_queue, target)
    }

    async fn record_worker_heartbeat(
        &self,
        request: Request<ws::RecordWorkerHeartbeatRequest>,
    ) -> Reply<ws::RecordWorkerHeartbeatResponse> {
        local!(self, request, record_worker_heartbeat)
    }
}
