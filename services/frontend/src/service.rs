//! The WorkflowService and OperatorService implementations.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use cairn_api::{
    operatorservice::operator_service_server::OperatorService,
    workflowservice::workflow_service_server::WorkflowService,
};
use cairn_engine::{RunKey, proto::common::WorkflowExecution, token::TaskToken};
use cairn_history::{History, HistoryError, SharedTaskSink};
use cairn_matching::Matching;
use prost::Message;
use temporalio_protos::protos::temporal::api::operatorservice::v1 as opsvc;
use temporalio_protos::protos::temporal::api::workflowservice::v1::{
    self as ws, get_system_info_response::Capabilities,
};
use tonic::{Request, Response, Status};

use crate::{
    activity_control, activity_tasks,
    error::{self},
    history_api,
    namespaces::{Namespace, Namespaces, namespace_id},
    queries, schedules, search_attributes, updates, validate, visibility_api, workflow_tasks,
    workflows,
};

/// The Temporal server version whose API and behaviour Cairn follows.
pub(crate) const SERVER_VERSION: &str = "1.32.0";
/// A query waits this long for a worker to answer.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_PAGE_SIZE: usize = 1000;

#[derive(Clone)]
pub struct Frontend {
    pub(crate) history: History,
    pub(crate) matching: Matching,
    /// Where query tasks go: this node's matching, or the owner of the queue's partition.
    pub(crate) tasks: SharedTaskSink,
    pub(crate) namespaces: Namespaces,
    /// Which task queues this node's matching serves; `None` when it serves them all.
    pub(crate) queues: Option<QueueOwnership>,
    /// The cluster's ID, as GetClusterInfo reports it.
    pub(crate) cluster_id: String,
    /// Calls served per namespace and second (Temporal's `frontend.namespaceRPS`).
    pub(crate) namespace_limit: Option<Arc<NamespaceLimiter>>,
}

type NamespaceLimiter = governor::DefaultKeyedRateLimiter<String>;

/// Temporal's default rate per namespace and frontend, in calls a second.
pub const DEFAULT_NAMESPACE_RPS: u32 = 2400;

/// Tells whether this node's matching owns a task queue (namespace ID, queue name).
pub type QueueOwnership = std::sync::Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

pub(crate) type Reply<T> = Result<Response<T>, Status>;

impl Frontend {
    pub fn new(
        history: History,
        matching: Matching,
        tasks: SharedTaskSink,
        namespaces: Namespaces,
    ) -> Self {
        Self {
            history,
            matching,
            tasks,
            namespaces,
            queues: None,
            cluster_id: uuid::Uuid::new_v4().to_string(),
            namespace_limit: None,
        }
    }

    /// Serves at most `rps` calls a second for each namespace, with bursts of as many;
    /// calls over it get `ResourceExhausted`, as Temporal answers them.
    pub fn limit_namespace_calls(mut self, rps: u32) -> Self {
        let rate = NonZeroU32::new(rps).unwrap_or(NonZeroU32::MIN);
        self.namespace_limit = Some(Arc::new(governor::RateLimiter::keyed(
            governor::Quota::per_second(rate),
        )));
        self
    }

    /// Registers custom search attributes (names and `IndexedValueType` numbers) on a
    /// namespace, as OperatorService.AddSearchAttributes does.
    pub async fn register_search_attributes(
        &self,
        namespace: &str,
        search_attributes: std::collections::HashMap<String, i32>,
    ) -> Result<(), Status> {
        OperatorService::add_search_attributes(
            self,
            Request::new(opsvc::AddSearchAttributesRequest {
                search_attributes,
                namespace: namespace.to_string(),
            }),
        )
        .await
        .map(|_| ())
    }

    /// Notes a worker's poll for DescribeTaskQueue.
    pub(crate) fn note_poller(
        &self,
        namespace_id: &str,
        queue: &str,
        kind: cairn_engine::TaskKind,
        identity: &str,
        rate_per_second: Option<f64>,
        build_id: String,
    ) {
        self.matching.record_poller(
            namespace_id,
            queue,
            kind,
            cairn_matching::Poller {
                identity: identity.to_string(),
                last_access_time: self.history.now(),
                rate_per_second: rate_per_second.unwrap_or(100_000.0),
                build_id,
            },
        );
    }

    /// Reports `cluster_id` as the cluster this frontend belongs to.
    pub fn in_cluster(mut self, cluster_id: String) -> Self {
        self.cluster_id = cluster_id;
        self
    }

    /// Serves polls only for the task queues `queues` accepts; others are refused as not
    /// owned, so a router sends them to their owner.
    pub fn serving_queues(mut self, queues: QueueOwnership) -> Self {
        self.queues = Some(queues);
        self
    }

    pub(crate) fn check_queue(&self, namespace_id: &str, queue: &str) -> Result<(), Status> {
        match &self.queues {
            Some(owns) if !owns(namespace_id, queue) => {
                Err(error::not_owner(&format!("task queue {queue}")))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn namespace(&self, name: &str) -> Result<Namespace, Status> {
        if name.is_empty() {
            return Err(Status::invalid_argument("Namespace not set on request."));
        }
        let namespace = self
            .namespaces
            .get(name)
            .ok_or_else(|| error::namespace_not_found(name))?;
        self.check_namespace_rate(&namespace.name)?;
        Ok(namespace)
    }

    /// Counts a call against its namespace's rate, when this frontend limits it; a call over
    /// the rate is refused as Temporal refuses it.
    pub fn check_namespace_rate(&self, namespace: &str) -> Result<(), Status> {
        if let Some(limit) = &self.namespace_limit
            && limit.check_key(&namespace.to_string()).is_err()
        {
            return Err(error::namespace_rate_limited());
        }
        Ok(())
    }

    pub(crate) fn run(
        &self,
        namespace: &Namespace,
        execution: Option<&WorkflowExecution>,
    ) -> Result<RunKey, Status> {
        let execution = execution
            .ok_or_else(|| Status::invalid_argument("Execution is not set on request."))?;
        validate::required(&execution.workflow_id, "WorkflowId")?;
        Ok(RunKey {
            namespace_id: namespace.id.clone(),
            workflow_id: execution.workflow_id.clone(),
            run_id: execution.run_id.clone(),
        })
    }

    pub(crate) fn token(&self, namespace: &Namespace, bytes: &[u8]) -> Result<TaskToken, Status> {
        let token = TaskToken::decode_from(bytes).map_err(error::engine_status)?;
        if token.namespace_id != namespace.id {
            return Err(Status::invalid_argument(
                "Operation is not allowed: task token belongs to another namespace.",
            ));
        }
        Ok(token)
    }
}

pub(crate) fn is_stale(error: &HistoryError) -> bool {
    matches!(
        error,
        HistoryError::Engine(
            cairn_engine::EngineError::NotFound(_)
                | cairn_engine::EngineError::FailedPrecondition(_)
        )
    )
}

#[tonic::async_trait]
impl WorkflowService for Frontend {
    async fn get_system_info(
        &self,
        _: Request<ws::GetSystemInfoRequest>,
    ) -> Reply<ws::GetSystemInfoResponse> {
        Ok(Response::new(ws::GetSystemInfoResponse {
            server_version: SERVER_VERSION.into(),
            capabilities: Some(Capabilities {
                signal_and_query_header: true,
                supports_schedules: true,
                internal_error_differentiation: true,
                activity_failure_include_heartbeat: true,
                encoded_failure_attributes: true,
                upsert_memo: true,
                sdk_metadata: true,
                count_group_by_execution_status: true,
                eager_workflow_start: true,
                // Workers then stamp their build ID on what they complete, as the SDKs'
                // current build ID and reset points read it. Routing by build ID (version
                // sets and rules) is not kept: those RPCs answer Unimplemented.
                build_id_based_versioning: true,
                ..Default::default()
            }),
        }))
    }

    async fn describe_namespace(
        &self,
        request: Request<ws::DescribeNamespaceRequest>,
    ) -> Reply<ws::DescribeNamespaceResponse> {
        let request = request.into_inner();
        let namespace = if !request.id.is_empty() {
            self.namespaces
                .all()
                .into_iter()
                .find(|n| n.id == request.id)
                .ok_or_else(|| error::namespace_not_found(&request.id))?
        } else {
            self.namespace(&request.namespace)?
        };
        Ok(Response::new(namespace.describe()))
    }

    async fn list_namespaces(
        &self,
        _: Request<ws::ListNamespacesRequest>,
    ) -> Reply<ws::ListNamespacesResponse> {
        Ok(Response::new(ws::ListNamespacesResponse {
            namespaces: self
                .namespaces
                .all()
                .iter()
                .map(Namespace::describe)
                .collect(),
            next_page_token: Vec::new(),
        }))
    }

    async fn register_namespace(
        &self,
        request: Request<ws::RegisterNamespaceRequest>,
    ) -> Reply<ws::RegisterNamespaceResponse> {
        let request = request.into_inner();
        validate::required(&request.namespace, "Namespace")?;
        let retention = validate::retention(request.workflow_execution_retention_period.as_ref())?;
        let namespace = Namespace {
            id: namespace_id(&request.namespace),
            name: request.namespace.clone(),
            description: request.description,
            owner_email: request.owner_email,
            retention_seconds: retention.unwrap_or(crate::namespaces::DEFAULT_RETENTION_SECONDS),
            data: request.data,
            state: crate::namespaces::REGISTERED,
            search_attributes: Default::default(),
        };
        let registered = self
            .namespaces
            .register(namespace, self.history.now())
            .await
            .map_err(|e| Status::unavailable(cairn_runtime::report(&e).to_string()))?;
        if !registered {
            let detail = temporalio_protos::protos::temporal::api::errordetails::v1::NamespaceAlreadyExistsFailure {};
            return Err(error::with_detail(
                tonic::Code::AlreadyExists,
                "Namespace already exists.".into(),
                "NamespaceAlreadyExistsFailure",
                detail.encode_to_vec(),
            ));
        }
        Ok(Response::new(ws::RegisterNamespaceResponse {}))
    }

    async fn update_namespace(
        &self,
        request: Request<ws::UpdateNamespaceRequest>,
    ) -> Reply<ws::UpdateNamespaceResponse> {
        let r = request.into_inner();
        validate::required(&r.namespace, "Namespace")?;
        let retention = validate::retention(
            r.config
                .as_ref()
                .and_then(|c| c.workflow_execution_retention_ttl.as_ref()),
        )?;
        let info = r.update_info.unwrap_or_default();
        let updated = self
            .namespaces
            .update(
                &r.namespace,
                |namespace| {
                    if !info.description.is_empty() {
                        namespace.description = info.description;
                    }
                    if !info.owner_email.is_empty() {
                        namespace.owner_email = info.owner_email;
                    }
                    namespace.data.extend(info.data);
                    if let Some(retention) = retention {
                        namespace.retention_seconds = retention;
                    }
                    if info.state != 0 {
                        namespace.state = info.state;
                    }
                },
                self.history.now(),
            )
            .await
            .map_err(|e| Status::unavailable(cairn_runtime::report(&e).to_string()))?
            .ok_or_else(|| error::namespace_not_found(&r.namespace))?;
        let described = updated.describe();
        Ok(Response::new(ws::UpdateNamespaceResponse {
            namespace_info: described.namespace_info,
            config: described.config,
            replication_config: described.replication_config,
            failover_version: described.failover_version,
            is_global_namespace: described.is_global_namespace,
        }))
    }

    async fn deprecate_namespace(
        &self,
        request: Request<ws::DeprecateNamespaceRequest>,
    ) -> Reply<ws::DeprecateNamespaceResponse> {
        let r = request.into_inner();
        validate::required(&r.namespace, "Namespace")?;
        self.namespaces
            .update(
                &r.namespace,
                |namespace| namespace.state = crate::namespaces::DEPRECATED,
                self.history.now(),
            )
            .await
            .map_err(|e| Status::unavailable(cairn_runtime::report(&e).to_string()))?
            .ok_or_else(|| error::namespace_not_found(&r.namespace))?;
        Ok(Response::new(ws::DeprecateNamespaceResponse {}))
    }

    async fn start_workflow_execution(
        &self,
        request: Request<ws::StartWorkflowExecutionRequest>,
    ) -> Reply<ws::StartWorkflowExecutionResponse> {
        workflows::start_workflow_execution(self, request).await
    }

    async fn signal_with_start_workflow_execution(
        &self,
        request: Request<ws::SignalWithStartWorkflowExecutionRequest>,
    ) -> Reply<ws::SignalWithStartWorkflowExecutionResponse> {
        workflows::signal_with_start_workflow_execution(self, request).await
    }

    async fn poll_workflow_task_queue(
        &self,
        request: Request<ws::PollWorkflowTaskQueueRequest>,
    ) -> Reply<ws::PollWorkflowTaskQueueResponse> {
        workflow_tasks::poll_workflow_task_queue(self, request).await
    }

    async fn respond_workflow_task_completed(
        &self,
        request: Request<ws::RespondWorkflowTaskCompletedRequest>,
    ) -> Reply<ws::RespondWorkflowTaskCompletedResponse> {
        workflow_tasks::respond_workflow_task_completed(self, request).await
    }

    async fn respond_workflow_task_failed(
        &self,
        request: Request<ws::RespondWorkflowTaskFailedRequest>,
    ) -> Reply<ws::RespondWorkflowTaskFailedResponse> {
        workflow_tasks::respond_workflow_task_failed(self, request).await
    }

    async fn poll_activity_task_queue(
        &self,
        request: Request<ws::PollActivityTaskQueueRequest>,
    ) -> Reply<ws::PollActivityTaskQueueResponse> {
        activity_tasks::poll_activity_task_queue(self, request).await
    }

    async fn respond_activity_task_completed(
        &self,
        request: Request<ws::RespondActivityTaskCompletedRequest>,
    ) -> Reply<ws::RespondActivityTaskCompletedResponse> {
        activity_tasks::respond_activity_task_completed(self, request).await
    }

    async fn respond_activity_task_completed_by_id(
        &self,
        request: Request<ws::RespondActivityTaskCompletedByIdRequest>,
    ) -> Reply<ws::RespondActivityTaskCompletedByIdResponse> {
        activity_tasks::respond_activity_task_completed_by_id(self, request).await
    }

    async fn respond_activity_task_failed(
        &self,
        request: Request<ws::RespondActivityTaskFailedRequest>,
    ) -> Reply<ws::RespondActivityTaskFailedResponse> {
        activity_tasks::respond_activity_task_failed(self, request).await
    }

    async fn respond_activity_task_failed_by_id(
        &self,
        request: Request<ws::RespondActivityTaskFailedByIdRequest>,
    ) -> Reply<ws::RespondActivityTaskFailedByIdResponse> {
        activity_tasks::respond_activity_task_failed_by_id(self, request).await
    }

    async fn respond_activity_task_canceled(
        &self,
        request: Request<ws::RespondActivityTaskCanceledRequest>,
    ) -> Reply<ws::RespondActivityTaskCanceledResponse> {
        activity_tasks::respond_activity_task_canceled(self, request).await
    }

    async fn respond_activity_task_canceled_by_id(
        &self,
        request: Request<ws::RespondActivityTaskCanceledByIdRequest>,
    ) -> Reply<ws::RespondActivityTaskCanceledByIdResponse> {
        activity_tasks::respond_activity_task_canceled_by_id(self, request).await
    }

    async fn record_activity_task_heartbeat(
        &self,
        request: Request<ws::RecordActivityTaskHeartbeatRequest>,
    ) -> Reply<ws::RecordActivityTaskHeartbeatResponse> {
        activity_tasks::record_activity_task_heartbeat(self, request).await
    }

    async fn record_activity_task_heartbeat_by_id(
        &self,
        request: Request<ws::RecordActivityTaskHeartbeatByIdRequest>,
    ) -> Reply<ws::RecordActivityTaskHeartbeatByIdResponse> {
        activity_tasks::record_activity_task_heartbeat_by_id(self, request).await
    }

    async fn get_workflow_execution_history(
        &self,
        request: Request<ws::GetWorkflowExecutionHistoryRequest>,
    ) -> Reply<ws::GetWorkflowExecutionHistoryResponse> {
        history_api::get_workflow_execution_history(self, request).await
    }

    async fn signal_workflow_execution(
        &self,
        request: Request<ws::SignalWorkflowExecutionRequest>,
    ) -> Reply<ws::SignalWorkflowExecutionResponse> {
        workflows::signal_workflow_execution(self, request).await
    }

    async fn pause_activity(
        &self,
        request: Request<ws::PauseActivityRequest>,
    ) -> Reply<ws::PauseActivityResponse> {
        activity_control::pause_activity(self, request).await
    }

    async fn unpause_activity(
        &self,
        request: Request<ws::UnpauseActivityRequest>,
    ) -> Reply<ws::UnpauseActivityResponse> {
        activity_control::unpause_activity(self, request).await
    }

    async fn reset_activity(
        &self,
        request: Request<ws::ResetActivityRequest>,
    ) -> Reply<ws::ResetActivityResponse> {
        activity_control::reset_activity(self, request).await
    }

    async fn update_activity_options(
        &self,
        request: Request<ws::UpdateActivityOptionsRequest>,
    ) -> Reply<ws::UpdateActivityOptionsResponse> {
        activity_control::update_activity_options(self, request).await
    }

    async fn pause_activity_execution(
        &self,
        request: Request<ws::PauseActivityExecutionRequest>,
    ) -> Reply<ws::PauseActivityExecutionResponse> {
        activity_control::pause_activity_execution(self, request).await
    }

    async fn unpause_activity_execution(
        &self,
        request: Request<ws::UnpauseActivityExecutionRequest>,
    ) -> Reply<ws::UnpauseActivityExecutionResponse> {
        activity_control::unpause_activity_execution(self, request).await
    }

    async fn reset_activity_execution(
        &self,
        request: Request<ws::ResetActivityExecutionRequest>,
    ) -> Reply<ws::ResetActivityExecutionResponse> {
        activity_control::reset_activity_execution(self, request).await
    }

    async fn update_activity_execution_options(
        &self,
        request: Request<ws::UpdateActivityExecutionOptionsRequest>,
    ) -> Reply<ws::UpdateActivityExecutionOptionsResponse> {
        activity_control::update_activity_execution_options(self, request).await
    }

    async fn request_cancel_workflow_execution(
        &self,
        request: Request<ws::RequestCancelWorkflowExecutionRequest>,
    ) -> Reply<ws::RequestCancelWorkflowExecutionResponse> {
        workflows::request_cancel_workflow_execution(self, request).await
    }

    async fn terminate_workflow_execution(
        &self,
        request: Request<ws::TerminateWorkflowExecutionRequest>,
    ) -> Reply<ws::TerminateWorkflowExecutionResponse> {
        workflows::terminate_workflow_execution(self, request).await
    }

    async fn describe_workflow_execution(
        &self,
        request: Request<ws::DescribeWorkflowExecutionRequest>,
    ) -> Reply<ws::DescribeWorkflowExecutionResponse> {
        workflows::describe_workflow_execution(self, request).await
    }

    async fn reset_workflow_execution(
        &self,
        request: Request<ws::ResetWorkflowExecutionRequest>,
    ) -> Reply<ws::ResetWorkflowExecutionResponse> {
        workflows::reset_workflow_execution(self, request).await
    }

    async fn query_workflow(
        &self,
        request: Request<ws::QueryWorkflowRequest>,
    ) -> Reply<ws::QueryWorkflowResponse> {
        queries::query_workflow(self, request).await
    }

    async fn respond_query_task_completed(
        &self,
        request: Request<ws::RespondQueryTaskCompletedRequest>,
    ) -> Reply<ws::RespondQueryTaskCompletedResponse> {
        queries::respond_query_task_completed(self, request)
    }

    async fn list_workflow_executions(
        &self,
        request: Request<ws::ListWorkflowExecutionsRequest>,
    ) -> Reply<ws::ListWorkflowExecutionsResponse> {
        visibility_api::list_workflow_executions(self, request).await
    }

    async fn count_workflow_executions(
        &self,
        request: Request<ws::CountWorkflowExecutionsRequest>,
    ) -> Reply<ws::CountWorkflowExecutionsResponse> {
        visibility_api::count_workflow_executions(self, request).await
    }

    async fn describe_task_queue(
        &self,
        request: Request<ws::DescribeTaskQueueRequest>,
    ) -> Reply<ws::DescribeTaskQueueResponse> {
        use temporalio_protos::protos::temporal::api::{
            common::v1::WorkerVersionCapabilities,
            taskqueue::v1::{
                PollerInfo, TaskQueueStats, TaskQueueStatus, TaskQueueTypeInfo,
                TaskQueueVersionInfo,
            },
        };
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let queue = r
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .unwrap_or_default();
        validate::required(&queue, "TaskQueue")?;
        self.check_queue(&namespace.id, &queue)?;
        let kind_of = |number: i32| match number {
            2 => cairn_engine::TaskKind::Activity,
            _ => cairn_engine::TaskKind::Workflow,
        };
        let now = self.history.now();
        #[allow(deprecated)] // PollerInfo still carries the build ID here
        let pollers = |kind| -> Vec<PollerInfo> {
            self.matching
                .pollers(&namespace.id, &queue, kind, now)
                .into_iter()
                .map(|poller| PollerInfo {
                    last_access_time: Some(cairn_engine::time::timestamp(poller.last_access_time)),
                    identity: poller.identity,
                    rate_per_second: poller.rate_per_second,
                    worker_version_capabilities: (!poller.build_id.is_empty()).then(|| {
                        WorkerVersionCapabilities {
                            build_id: poller.build_id,
                            ..Default::default()
                        }
                    }),
                    ..Default::default()
                })
                .collect()
        };
        // Exact: every task waiting for a worker is in its history partition's task index,
        // whether matching holds it or not.
        let mut backlogs = std::collections::HashMap::new();
        #[allow(deprecated)] // the legacy task queue status
        if r.report_stats || r.include_task_queue_status {
            for kind in [
                cairn_engine::TaskKind::Workflow,
                cairn_engine::TaskKind::Activity,
            ] {
                let waiting = self.waiting_tasks(&namespace.id, &queue, kind).await?;
                backlogs.insert(kind, waiting);
            }
        }
        let backlog = |kind| backlogs.get(&kind).copied().unwrap_or_default();
        let stats = |kind| TaskQueueStats {
            approximate_backlog_count: backlog(kind),
            approximate_backlog_age: Some(Default::default()),
            ..Default::default()
        };
        // ENHANCED mode (what the CLI asks for): every requested type of task, under the
        // unversioned build ID.
        #[allow(deprecated)]
        if r.api_mode == 1 {
            let types = if r.task_queue_types.is_empty() {
                vec![1, 2]
            } else {
                r.task_queue_types.clone()
            };
            let types_info = types
                .into_iter()
                .map(|number| {
                    let kind = kind_of(number);
                    let info = TaskQueueTypeInfo {
                        pollers: if r.report_pollers {
                            pollers(kind)
                        } else {
                            Vec::new()
                        },
                        stats: r.report_stats.then(|| stats(kind)),
                    };
                    (number, info)
                })
                .collect();
            let version = TaskQueueVersionInfo {
                types_info,
                task_reachability: 0,
            };
            return Ok(Response::new(ws::DescribeTaskQueueResponse {
                versions_info: [(String::new(), version)].into(),
                ..Default::default()
            }));
        }
        let kind = kind_of(r.task_queue_type);
        #[allow(deprecated)] // the legacy task queue status
        let task_queue_status = r.include_task_queue_status.then(|| TaskQueueStatus {
            backlog_count_hint: backlog(kind),
            ..Default::default()
        });
        #[allow(deprecated)]
        Ok(Response::new(ws::DescribeTaskQueueResponse {
            pollers: pollers(kind),
            stats: r.report_stats.then(|| stats(kind)),
            task_queue_status,
            ..Default::default()
        }))
    }

    async fn get_cluster_info(
        &self,
        _: Request<ws::GetClusterInfoRequest>,
    ) -> Reply<ws::GetClusterInfoResponse> {
        // The client versions Temporal 1.32 accepts, as it reports them.
        let supported_clients = [
            ("temporal-cli", "<2.0.0"),
            ("temporal-go", "<2.0.0"),
            ("temporal-java", "<2.0.0"),
            ("temporal-php", "<2.0.0"),
            ("temporal-server", "<2.0.0"),
            ("temporal-typescript", "<2.0.0"),
            ("temporal-ui", "<3.0.0"),
            ("Nexus-go-sdk", "<2.0.0"),
        ]
        .into_iter()
        .map(|(client, versions)| (client.to_string(), versions.to_string()))
        .collect();
        Ok(Response::new(ws::GetClusterInfoResponse {
            supported_clients,
            server_version: SERVER_VERSION.into(),
            cluster_id: self.cluster_id.clone(),
            cluster_name: "active".into(),
            history_shard_count: i32::try_from(self.history.partitions()).unwrap_or(i32::MAX),
            persistence_store: "kafka".into(),
            visibility_store: "kafka".into(),
            initial_failover_version: 1,
            failover_version_increment: 10,
            ..Default::default()
        }))
    }

    async fn list_archived_workflow_executions(
        &self,
        request: Request<ws::ListArchivedWorkflowExecutionsRequest>,
    ) -> Reply<ws::ListArchivedWorkflowExecutionsResponse> {
        self.namespace(&request.get_ref().namespace)?;
        // Closed runs are kept for the namespace's retention and then deleted, never
        // archived: Temporal answers this for a cluster without visibility archival.
        Err(Status::invalid_argument(
            "Cluster is not configured for visibility archival.",
        ))
    }

    async fn list_batch_operations(
        &self,
        request: Request<ws::ListBatchOperationsRequest>,
    ) -> Reply<ws::ListBatchOperationsResponse> {
        self.namespace(&request.get_ref().namespace)?;
        // `StartBatchOperation` is not served, so no namespace has any.
        Ok(Response::new(ws::ListBatchOperationsResponse::default()))
    }

    async fn scan_workflow_executions(
        &self,
        request: Request<ws::ScanWorkflowExecutionsRequest>,
    ) -> Reply<ws::ScanWorkflowExecutionsResponse> {
        let r = request.into_inner();
        let listed = visibility_api::list_workflow_executions(
            self,
            Request::new(ws::ListWorkflowExecutionsRequest {
                namespace: r.namespace,
                page_size: r.page_size,
                next_page_token: r.next_page_token,
                query: r.query,
            }),
        )
        .await?
        .into_inner();
        Ok(Response::new(ws::ScanWorkflowExecutionsResponse {
            executions: listed.executions,
            next_page_token: listed.next_page_token,
        }))
    }

    async fn get_workflow_execution_history_reverse(
        &self,
        request: Request<ws::GetWorkflowExecutionHistoryReverseRequest>,
    ) -> Reply<ws::GetWorkflowExecutionHistoryReverseResponse> {
        history_api::get_workflow_execution_history_reverse(self, request).await
    }

    async fn create_schedule(
        &self,
        request: Request<ws::CreateScheduleRequest>,
    ) -> Reply<ws::CreateScheduleResponse> {
        schedules::create_schedule(self, request).await
    }

    async fn describe_schedule(
        &self,
        request: Request<ws::DescribeScheduleRequest>,
    ) -> Reply<ws::DescribeScheduleResponse> {
        schedules::describe_schedule(self, request).await
    }

    async fn update_schedule(
        &self,
        request: Request<ws::UpdateScheduleRequest>,
    ) -> Reply<ws::UpdateScheduleResponse> {
        schedules::update_schedule(self, request).await
    }

    async fn patch_schedule(
        &self,
        request: Request<ws::PatchScheduleRequest>,
    ) -> Reply<ws::PatchScheduleResponse> {
        schedules::patch_schedule(self, request).await
    }

    async fn delete_schedule(
        &self,
        request: Request<ws::DeleteScheduleRequest>,
    ) -> Reply<ws::DeleteScheduleResponse> {
        schedules::delete_schedule(self, request).await
    }

    async fn list_schedule_matching_times(
        &self,
        request: Request<ws::ListScheduleMatchingTimesRequest>,
    ) -> Reply<ws::ListScheduleMatchingTimesResponse> {
        schedules::list_schedule_matching_times(self, request).await
    }

    async fn list_schedules(
        &self,
        request: Request<ws::ListSchedulesRequest>,
    ) -> Reply<ws::ListSchedulesResponse> {
        schedules::list_schedules(self, request).await
    }

    async fn count_schedules(
        &self,
        request: Request<ws::CountSchedulesRequest>,
    ) -> Reply<ws::CountSchedulesResponse> {
        schedules::count_schedules(self, request).await
    }

    async fn delete_workflow_execution(
        &self,
        request: Request<ws::DeleteWorkflowExecutionRequest>,
    ) -> Reply<ws::DeleteWorkflowExecutionResponse> {
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        let run = self.run(&namespace, r.workflow_execution.as_ref())?;
        self.history.delete(run).await.map_err(error::status)?;
        Ok(Response::new(ws::DeleteWorkflowExecutionResponse::default()))
    }

    async fn update_workflow_execution(
        &self,
        request: Request<ws::UpdateWorkflowExecutionRequest>,
    ) -> Reply<ws::UpdateWorkflowExecutionResponse> {
        updates::update_workflow_execution(self, request).await
    }

    async fn execute_multi_operation(
        &self,
        request: Request<ws::ExecuteMultiOperationRequest>,
    ) -> Reply<ws::ExecuteMultiOperationResponse> {
        updates::execute_multi_operation(self, request).await
    }

    async fn poll_workflow_execution_update(
        &self,
        request: Request<ws::PollWorkflowExecutionUpdateRequest>,
    ) -> Reply<ws::PollWorkflowExecutionUpdateResponse> {
        updates::poll_workflow_execution_update(self, request).await
    }

    async fn shutdown_worker(
        &self,
        request: Request<ws::ShutdownWorkerRequest>,
    ) -> Reply<ws::ShutdownWorkerResponse> {
        workflow_tasks::shutdown_worker(self, request).await
    }

    async fn reset_sticky_task_queue(
        &self,
        request: Request<ws::ResetStickyTaskQueueRequest>,
    ) -> Reply<ws::ResetStickyTaskQueueResponse> {
        workflow_tasks::reset_sticky_task_queue(self, request).await
    }

    async fn record_worker_heartbeat(
        &self,
        request: Request<ws::RecordWorkerHeartbeatRequest>,
    ) -> Reply<ws::RecordWorkerHeartbeatResponse> {
        self.namespace(&request.get_ref().namespace)?;
        Ok(Response::new(ws::RecordWorkerHeartbeatResponse::default()))
    }
}

impl Frontend {}

#[tonic::async_trait]
impl OperatorService for Frontend {
    async fn list_search_attributes(
        &self,
        request: Request<opsvc::ListSearchAttributesRequest>,
    ) -> Result<Response<opsvc::ListSearchAttributesResponse>, Status> {
        crate::authorization::check_namespace(request.extensions(), &request.get_ref().namespace)?;
        let name = request.into_inner().namespace;
        let custom = if name.is_empty() {
            Default::default()
        } else {
            search_attributes::custom(&self.namespace(&name)?)
        };
        Ok(Response::new(opsvc::ListSearchAttributesResponse {
            custom_attributes: custom
                .into_iter()
                .map(|(name, kind)| (name, search_attributes::type_number(kind)))
                .collect(),
            system_attributes: search_attributes::listed_system()
                .map(|(name, kind)| (name, search_attributes::type_number(kind)))
                .collect(),
            storage_schema: Default::default(),
        }))
    }

    async fn add_search_attributes(
        &self,
        request: Request<opsvc::AddSearchAttributesRequest>,
    ) -> Result<Response<opsvc::AddSearchAttributesResponse>, Status> {
        crate::authorization::check_namespace(request.extensions(), &request.get_ref().namespace)?;
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        if r.search_attributes.is_empty() {
            return Err(Status::invalid_argument(
                "SearchAttributes are not set on request.",
            ));
        }
        let mut added = Vec::new();
        for (name, number) in &r.search_attributes {
            validate::required(name, "SearchAttribute name")?;
            if search_attributes::is_system(name) {
                return Err(Status::invalid_argument(format!(
                    "Search attribute {name} is reserved by system."
                )));
            }
            let kind = search_attributes::type_of_number(*number).ok_or_else(|| {
                Status::invalid_argument(format!("Unknown search attribute type: {number}."))
            })?;
            match namespace.search_attributes.get(name) {
                // Adding what exists is a no-op, as in Temporal.
                Some(existing) if *existing == kind.to_string() => {}
                Some(existing) => {
                    return Err(Status::already_exists(format!(
                        "Search attribute {name} already exists with type {existing}."
                    )));
                }
                None => added.push((name.clone(), kind.to_string())),
            }
        }
        if namespace.search_attributes.len() + added.len() > search_attributes::MAX_CUSTOM {
            return Err(Status::resource_exhausted(format!(
                "Unable to create search attributes: the namespace {} can have at most {} custom search attributes.",
                namespace.name,
                search_attributes::MAX_CUSTOM
            )));
        }
        if !added.is_empty() {
            self.namespaces
                .update(
                    &namespace.name,
                    |namespace| namespace.search_attributes.extend(added),
                    self.history.now(),
                )
                .await
                .map_err(|e| Status::unavailable(cairn_runtime::report(&e).to_string()))?;
        }
        Ok(Response::new(opsvc::AddSearchAttributesResponse {}))
    }

    async fn remove_search_attributes(
        &self,
        request: Request<opsvc::RemoveSearchAttributesRequest>,
    ) -> Result<Response<opsvc::RemoveSearchAttributesResponse>, Status> {
        crate::authorization::check_namespace(request.extensions(), &request.get_ref().namespace)?;
        let r = request.into_inner();
        let namespace = self.namespace(&r.namespace)?;
        if r.search_attributes.is_empty() {
            return Err(Status::invalid_argument(
                "SearchAttributes are not set on request.",
            ));
        }
        for name in &r.search_attributes {
            if search_attributes::is_system(name) {
                return Err(Status::invalid_argument(format!(
                    "Unable to remove non-custom search attributes: {name}."
                )));
            }
        }
        let names = r.search_attributes;
        self.namespaces
            .update(
                &namespace.name,
                |namespace| {
                    for name in &names {
                        namespace.search_attributes.remove(name);
                    }
                },
                self.history.now(),
            )
            .await
            .map_err(|e| Status::unavailable(cairn_runtime::report(&e).to_string()))?;
        Ok(Response::new(opsvc::RemoveSearchAttributesResponse {}))
    }
}
