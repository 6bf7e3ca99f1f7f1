"""Listing and counting against the reference: the default order (running runs first,
newest start first, then closed runs by newest close), paging by token, page sizes,
and counts by status."""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest

from support import eventually, unique


async def listing_behaviour(client: Client) -> dict[str, object]:
    queue = unique("vis")
    ids = [f"{queue}-{i}" for i in range(5)]
    handles = []
    for workflow_id in ids:
        handles.append(
            await client.start_workflow("NoWorkerWorkflow", id=workflow_id, task_queue=queue)
        )
    # Closed in this order: the later one is listed first among the closed.
    await handles[1].terminate("first to close")
    await handles[3].terminate("second to close")
    query = f"TaskQueue = '{queue}'"
    await eventually(
        lambda: client.count_workflows(f"{query} AND ExecutionStatus = 'Terminated'"),
        lambda c: c.count == 2,
        what="both terminations visible",
    )
    label = {workflow_id: f"wf-{i}" for i, workflow_id in enumerate(ids)}
    seen: dict[str, object] = {}
    listed = [label[w.id] async for w in client.list_workflows(query, page_size=2)]
    seen["default order, pages of 2"] = listed
    seen["open only"] = [
        label[w.id] async for w in client.list_workflows(f"{query} AND ExecutionStatus = 'Running'")
    ]
    seen["closed only"] = [
        label[w.id] async for w in client.list_workflows(f"{query} AND CloseTime IS NOT NULL")
    ]
    seen["by id"] = [
        label[w.id] async for w in client.list_workflows(f"WorkflowId = '{ids[2]}'")
    ]
    counted = await client.count_workflows(f"{query} GROUP BY ExecutionStatus")
    seen["count"] = counted.count
    seen["groups"] = sorted(
        (tuple(v for v in group.group_values), group.count) for group in counted.groups
    )
    # The raw call: a full page of two carries a token, and the token leads on.
    service = client.workflow_service
    first = await service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace=client.namespace, query=query, page_size=2)
    )
    second = await service.list_workflow_executions(
        ListWorkflowExecutionsRequest(
            namespace=client.namespace,
            query=query,
            page_size=2,
            next_page_token=first.next_page_token,
        )
    )
    seen["raw pages"] = [
        [label[e.execution.workflow_id] for e in first.executions],
        [label[e.execution.workflow_id] for e in second.executions],
    ]
    for handle in (handles[0], handles[2], handles[4]):
        await handle.terminate("done")
    return seen


async def test_listing_matches_reference(ref_client: Client, cairn_client: Client) -> None:
    theirs = await listing_behaviour(ref_client)
    ours = await listing_behaviour(cairn_client)
    assert ours == theirs


async def test_a_page_token_that_is_not_ours_is_refused(cairn_client: Client) -> None:
    """The reference answers UNKNOWN ("something went wrong"); Cairn says what is wrong."""
    with pytest.raises(RPCError) as bad:
        await cairn_client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace=cairn_client.namespace, query="", next_page_token=b"not a token"
            )
        )
    assert bad.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert bad.value.message == "Invalid NextPageToken."


async def family_behaviour(client: Client) -> dict[str, object]:
    """What lists by parent and by root find for a parent with one child."""
    from support import worker
    from workflows import ParentWorkflow

    queue = unique("family")
    parent_id = unique("parent")
    async with worker(client, queue):
        handle = await client.start_workflow(
            ParentWorkflow.run, "greet", id=parent_id, task_queue=queue
        )
        assert await handle.result() == "Hello, child!"
    run = handle.result_run_id
    child_id = f"{parent_id}-child"
    label = {parent_id: "parent", child_id: "child"}

    async def ids(query: str) -> list[str]:
        return sorted([label[w.id] async for w in client.list_workflows(query)])

    by_parent = f"ParentWorkflowId = '{parent_id}' AND ParentRunId = '{run}'"
    by_root = f"RootWorkflowId = '{parent_id}' AND RootRunId = '{run}'"
    await eventually(lambda: ids(by_root), lambda found: len(found) == 2, what="the family")
    counted = await client.count_workflows(f"{by_root} GROUP BY ExecutionStatus")
    return {
        "children": await ids(by_parent),
        "family": await ids(by_root),
        "without a parent": await ids(
            f"TaskQueue = '{queue}' AND ParentWorkflowId IS NULL"
        ),
        "family count": counted.count,
    }


async def test_lists_by_parent_and_root_match_reference(
    ref_client: Client, cairn_client: Client
) -> None:
    expected = await family_behaviour(ref_client)
    assert expected["children"] == ["child"]
    assert await family_behaviour(cairn_client) == expected


async def test_archive_batch_and_attribute_lists_answer_as_the_reference(
    ref_client: Client, cairn_client: Client
) -> None:
    """What the Web UI's Archive and Batch pages and its filters ask, with no archival and
    no batch operations configured."""
    from temporalio.api.enums.v1 import ArchivalState
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.api.workflowservice.v1 import (
        DescribeNamespaceRequest,
        ListArchivedWorkflowExecutionsRequest,
        ListBatchOperationsRequest,
    )

    for client in (ref_client, cairn_client):
        service = client.workflow_service
        with pytest.raises(RPCError) as refused:
            await service.list_archived_workflow_executions(
                ListArchivedWorkflowExecutionsRequest(namespace="default", page_size=10)
            )
        assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert refused.value.message == "Cluster is not configured for visibility archival."
        batches = await service.list_batch_operations(
            ListBatchOperationsRequest(namespace="default")
        )
        assert list(batches.operation_info) == []
        described = await service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
        assert described.config.history_archival_state == ArchivalState.ARCHIVAL_STATE_DISABLED
        assert described.config.visibility_archival_state == ArchivalState.ARCHIVAL_STATE_DISABLED
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        for name in ("ParentWorkflowId", "RootRunId", "TemporalScheduledById", "BuildIds"):
            assert name in listed.system_attributes, (client.service_client.config.target_host, name)
