//! What each public call needs: its scope (the whole cluster, or the namespace it names) and
//! the access it asks for, after Temporal's own table of methods. Temporal's default
//! authorizer lets a `worker` role do nothing a reader could not; here it is what a worker
//! needs: polling, answering tasks, and the reads a worker makes (its namespace, a history
//! it does not have cached).

/// Where a call's roles come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// System roles only: the call names no namespace.
    Cluster,
    /// System roles and the roles on the namespace the request names.
    Namespace,
}

/// What a call does, from the weakest to the strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads that workers make too.
    WorkerRead,
    /// Reads.
    Read,
    /// Polling for tasks and answering them.
    Work,
    /// Starting, signalling, changing and ending workflows and schedules.
    Write,
    /// Namespaces, search attributes and the cluster.
    Admin,
}

/// The calls anyone may make, without a token: health checks that reveal nothing.
pub fn always_allowed(service: &str, method: &str) -> bool {
    matches!(
        (service, method),
        ("grpc.health.v1.Health", _) | (WORKFLOW_SERVICE, "GetSystemInfo")
    )
}

pub const WORKFLOW_SERVICE: &str = "temporal.api.workflowservice.v1.WorkflowService";
pub const OPERATOR_SERVICE: &str = "temporal.api.operatorservice.v1.OperatorService";

/// The scope and access of `service`'s `method`; `None` for a call nobody may make.
pub fn of(service: &str, method: &str) -> Option<(Scope, Access)> {
    use Access::{Admin, Read, Work, WorkerRead, Write};
    use Scope::{Cluster, Namespace};
    let found = match service {
        WORKFLOW_SERVICE => match method {
            "GetSystemInfo" | "GetClusterInfo" | "GetSearchAttributes" | "ListNamespaces" => {
                (Cluster, Read)
            }
            "RegisterNamespace" | "UpdateNamespace" | "DeprecateNamespace" => (Namespace, Admin),
            "DescribeNamespace" | "GetWorkflowExecutionHistory" => (Namespace, WorkerRead),
            "PollWorkflowTaskQueue"
            | "RespondWorkflowTaskCompleted"
            | "RespondWorkflowTaskFailed"
            | "PollActivityTaskQueue"
            | "RecordActivityTaskHeartbeat"
            | "RecordActivityTaskHeartbeatById"
            | "RespondActivityTaskCompleted"
            | "RespondActivityTaskCompletedById"
            | "RespondActivityTaskFailed"
            | "RespondActivityTaskFailedById"
            | "RespondActivityTaskCanceled"
            | "RespondActivityTaskCanceledById"
            | "RespondQueryTaskCompleted"
            | "PollNexusTaskQueue"
            | "RespondNexusTaskCompleted"
            | "RespondNexusTaskFailed"
            | "ResetStickyTaskQueue"
            | "ShutdownWorker"
            | "RecordWorkerHeartbeat"
            | "FetchWorkerConfig" => (Namespace, Work),
            "GetWorkflowExecutionHistoryReverse"
            | "ListOpenWorkflowExecutions"
            | "ListClosedWorkflowExecutions"
            | "ListWorkflowExecutions"
            | "ListArchivedWorkflowExecutions"
            | "ScanWorkflowExecutions"
            | "CountWorkflowExecutions"
            | "QueryWorkflow"
            | "DescribeWorkflowExecution"
            | "DescribeTaskQueue"
            | "ListTaskQueuePartitions"
            | "DescribeSchedule"
            | "ListScheduleMatchingTimes"
            | "ListSchedules"
            | "CountSchedules"
            | "GetWorkerBuildIdCompatibility"
            | "GetWorkerVersioningRules"
            | "GetWorkerTaskReachability"
            | "PollWorkflowExecutionUpdate"
            | "DescribeBatchOperation"
            | "ListBatchOperations"
            | "DescribeDeployment"
            | "ListDeployments"
            | "GetDeploymentReachability"
            | "GetCurrentDeployment"
            | "DescribeWorkerDeploymentVersion"
            | "DescribeWorkerDeployment"
            | "ListWorkerDeployments"
            | "DescribeWorkflowRule"
            | "ListWorkflowRules"
            | "ListWorkers"
            | "CountWorkers"
            | "DescribeWorker"
            | "DescribeActivityExecution"
            | "ListActivityExecutions"
            | "CountActivityExecutions"
            | "PollActivityExecution" => (Namespace, Read),
            "StartWorkflowExecution"
            | "SignalWorkflowExecution"
            | "SignalWithStartWorkflowExecution"
            | "RequestCancelWorkflowExecution"
            | "TerminateWorkflowExecution"
            | "ResetWorkflowExecution"
            | "DeleteWorkflowExecution"
            | "UpdateWorkflowExecution"
            | "ExecuteMultiOperation"
            | "UpdateWorkflowExecutionOptions"
            | "PauseWorkflowExecution"
            | "UnpauseWorkflowExecution"
            | "CreateSchedule"
            | "UpdateSchedule"
            | "PatchSchedule"
            | "DeleteSchedule"
            | "StartBatchOperation"
            | "StopBatchOperation"
            | "UpdateActivityOptions"
            | "PauseActivity"
            | "UnpauseActivity"
            | "ResetActivity"
            | "UpdateWorkerBuildIdCompatibility"
            | "UpdateWorkerVersioningRules"
            | "SetCurrentDeployment"
            | "SetWorkerDeploymentCurrentVersion"
            | "SetWorkerDeploymentRampingVersion"
            | "SetWorkerDeploymentManager"
            | "DeleteWorkerDeployment"
            | "DeleteWorkerDeploymentVersion"
            | "UpdateWorkerDeploymentVersionMetadata"
            | "CreateWorkflowRule"
            | "DeleteWorkflowRule"
            | "TriggerWorkflowRule"
            | "UpdateTaskQueueConfig"
            | "UpdateWorkerConfig"
            | "StartActivityExecution"
            | "RequestCancelActivityExecution"
            | "TerminateActivityExecution"
            | "DeleteActivityExecution" => (Namespace, Write),
            _ => return None,
        },
        OPERATOR_SERVICE => match method {
            "ListSearchAttributes" => (Namespace, Read),
            "AddSearchAttributes" | "RemoveSearchAttributes" | "DeleteNamespace" => {
                (Namespace, Admin)
            }
            "AddOrUpdateRemoteCluster"
            | "RemoveRemoteCluster"
            | "ListClusters"
            | "CreateNexusEndpoint"
            | "UpdateNexusEndpoint"
            | "DeleteNexusEndpoint"
            | "GetNexusEndpoint"
            | "ListNexusEndpoints" => (Cluster, Admin),
            _ => return None,
        },
        _ => return None,
    };
    Some(found)
}
