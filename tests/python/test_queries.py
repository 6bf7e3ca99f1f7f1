"""Queries as a worker sees them, through the raw API: where a query task goes and what it
carries. Checked against the reference with `E2E_TARGET=temporal`."""

from __future__ import annotations

import asyncio
import json

from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import QueryResultType, TaskQueueKind
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.taskqueue.v1 import StickyExecutionAttributes, TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    QueryWorkflowRequest,
    RespondQueryTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client

from support import unique


def _poll(task_queue: TaskQueue) -> PollWorkflowTaskQueueRequest:
    return PollWorkflowTaskQueueRequest(
        namespace="default", task_queue=task_queue, identity="query-test"
    )


async def test_a_query_goes_first_to_the_sticky_worker_which_gets_no_events(
    client: Client, task_queue: str
) -> None:
    service = client.workflow_service
    workflow_id = unique("sticky-query")
    normal = TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL)
    sticky = TaskQueue(
        name=unique("sticky"),
        kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY,
        normal_name=task_queue,
    )
    started = await service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace="default",
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name="Queried"),
            task_queue=normal,
            request_id=unique("request"),
        )
    )
    task = await service.poll_workflow_task_queue(_poll(normal))
    assert task.workflow_execution.run_id == started.run_id
    # The worker keeps the run cached and asks for its next tasks on its sticky queue.
    await service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace="default",
            task_token=task.task_token,
            identity="query-test",
            sticky_attributes=StickyExecutionAttributes(
                worker_task_queue=sticky,
                schedule_to_start_timeout=Duration(seconds=10),
            ),
        )
    )
    query = asyncio.create_task(
        service.query_workflow(
            QueryWorkflowRequest(
                namespace="default",
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=started.run_id),
                query=WorkflowQuery(query_type="state"),
            )
        )
    )
    query_task = await service.poll_workflow_task_queue(_poll(sticky))
    assert query_task.query.query_type == "state"
    assert query_task.workflow_execution.run_id == started.run_id
    assert list(query_task.history.events) == []
    answer = Payloads(
        payloads=[Payload(metadata={"encoding": b"json/plain"}, data=json.dumps("cached").encode())]
    )
    await service.respond_query_task_completed(
        RespondQueryTaskCompletedRequest(
            namespace="default",
            task_token=query_task.task_token,
            completed_type=QueryResultType.QUERY_RESULT_TYPE_ANSWERED,
            query_result=answer,
        )
    )
    response = await query
    assert response.query_result == answer
