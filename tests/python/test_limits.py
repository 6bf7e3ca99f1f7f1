"""Temporal's limits: payloads up to its 2 MB blob limit are kept whole, larger ones fail as
on the reference (the SDKs check the limits a namespace advertises); calls over the
frontend's rate or a namespace's rate get ResourceExhausted."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import ResourceExhaustedCause, ResourceExhaustedScope
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RetryConfig, RPCError

from conftest import STARTUP_TIMEOUT_S, SHUTDOWN_TIMEOUT_S, ServerProcess, cairn_binary
from support import event_types, eventually, unique, wait_for_event, worker
from workflows import (
    OVERSIZE,
    LargePayloadWorkflow,
    OversizeWorkflow,
    SuggestionWorkflow,
    WaitForeverWorkflow,
)


async def test_activity_result_of_one_and_a_half_megabytes_reaches_the_workflow(
    client: Client, task_queue: str
) -> None:
    size = 1_500_000
    result = await client.execute_workflow(
        LargePayloadWorkflow.run, size, id=unique("large"), task_queue=task_queue
    )
    assert result == size


@asynccontextmanager
async def dev_server(tmp_path: Path, name: str, *flags: str) -> AsyncIterator[Client]:
    """A dev server of its own started with `flags`, and a client that never retries."""
    server = ServerProcess(
        name,
        [str(cairn_binary()), "server", "start-dev", "--headless", "--port", "0", *flags],
        tmp_path,
        dict(os.environ, NO_COLOR="1"),
    )
    try:
        address = server.wait_ready(STARTUP_TIMEOUT_S)
        yield await Client.connect(address, retry_config=RetryConfig(max_retries=0))
    finally:
        server.interrupt(SHUTDOWN_TIMEOUT_S)
        server.close()


async def test_calls_over_the_rate_limit_get_resource_exhausted(tmp_path: Path) -> None:
    """A dev server allowed 5 calls a second answers a burst of 40 with ResourceExhausted
    (cause RPS_LIMIT) for those over the limit, and serves again a moment later."""
    # One connection, made before the burst (connecting describes the namespace).
    async with dev_server(tmp_path, "cairn-rps", "--rps", "5") as client:
        service = client.workflow_service
        request = DescribeNamespaceRequest(namespace="default")

        async def describe() -> str:
            try:
                await service.describe_namespace(request, retry=False)
            except RPCError as error:
                failure = ResourceExhaustedFailure()
                assert error.grpc_status.details[0].Unpack(failure)
                assert failure.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT
                return error.status.name
            return "OK"

        answers = await asyncio.gather(*(describe() for _ in range(40)))
        assert set(answers) == {"OK", "RESOURCE_EXHAUSTED"}, answers
        assert answers.count("OK") <= 10, answers
        assert await eventually(describe, lambda answer: answer == "OK", what="serving again")


async def test_calls_over_a_namespace_rate_limit_get_resource_exhausted(tmp_path: Path) -> None:
    """A dev server allowed 5 calls a second per namespace refuses a burst of 40 to one
    namespace beyond that (cause RPS_LIMIT, scope NAMESPACE) while another namespace is
    still served."""
    async with dev_server(
        tmp_path, "cairn-namespace-rps", "--namespace-rps", "5", "--namespace", "other"
    ) as client:
        service = client.workflow_service

        async def describe(namespace: str) -> str:
            try:
                await service.describe_namespace(
                    DescribeNamespaceRequest(namespace=namespace), retry=False
                )
            except RPCError as error:
                failure = ResourceExhaustedFailure()
                assert error.grpc_status.details[0].Unpack(failure)
                assert failure.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT
                assert failure.scope == ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE
                assert error.message == "namespace rate limit exceeded"
                return error.status.name
            return "OK"

        answers = await asyncio.gather(*(describe("default") for _ in range(40)))
        assert set(answers) == {"OK", "RESOURCE_EXHAUSTED"}, answers
        assert answers.count("OK") <= 10, answers
        assert await describe("other") == "OK"
        assert await eventually(
            lambda: describe("default"), lambda answer: answer == "OK", what="serving again"
        )


async def oversize_behaviour(client: Client) -> dict[str, object]:
    """What a payload over the 2 MB limit does as a workflow result, an activity input, an
    activity result and a signal's input."""
    seen: dict[str, object] = {}
    queue = unique("oversize")
    async with worker(client, queue):
        for kind in ("result", "activity input"):
            handle = await client.start_workflow(
                OversizeWorkflow.run, kind, id=unique("oversize"), task_queue=queue
            )
            # The worker refuses to send it: the task fails, and is retried until stopped.
            await wait_for_event(handle, "WorkflowTaskFailed")
            history = await handle.fetch_history()
            failed = next(e for e in history.events if e.HasField(
                "workflow_task_failed_event_attributes"
            )).workflow_task_failed_event_attributes
            seen[f"{kind}: task failure"] = (failed.cause, failed.failure.message)
            await handle.terminate()
        handle = await client.start_workflow(
            OversizeWorkflow.run, "activity result", id=unique("oversize"), task_queue=queue
        )
        with pytest.raises(WorkflowFailureError) as raised:
            await handle.result()
        seen["activity result: failure"] = type(raised.value.cause).__name__
        seen["activity result: events"] = await event_types(handle)

        waiting = await client.start_workflow(
            WaitForeverWorkflow.run, id=unique("oversize"), task_queue=queue
        )
        try:
            await waiting.signal("anything", "x" * OVERSIZE)
            seen["signal"] = "OK"
        except RPCError as error:
            seen["signal"] = f"{error.status.name}: {error.message}"
        await waiting.terminate()
    return seen


async def test_oversize_payloads_fail_as_on_the_reference(
    ref_client: Client, cairn_client: Client
) -> None:
    theirs = await oversize_behaviour(ref_client)
    ours = await oversize_behaviour(cairn_client)
    assert ours == theirs


async def test_start_dev_takes_temporals_dynamic_config_and_search_attributes(
    tmp_path: Path,
) -> None:
    """`start-dev` takes `--dynamic-config-value` and `--search-attribute` as Temporal's dev
    server does: a lower continue-as-new suggestion holds, keys Cairn has no use for are
    accepted, and the attribute can be set and queried at once."""
    async with dev_server(
        tmp_path,
        "cairn-dynamic-config",
        "--dynamic-config-value",
        "limit.historyCount.suggestContinueAsNew=10",
        "--dynamic-config-value",
        "system.enableEagerWorkflowStart=true",
        "--search-attribute",
        "Tier=Keyword",
        "--headless",
    ) as client:
        queue = unique("dynamic-config")
        tier = SearchAttributeKey.for_keyword("Tier")
        async with worker(client, queue):
            short = await client.execute_workflow(
                SuggestionWorkflow.run, 0, id=unique("suggest"), task_queue=queue
            )
            long = await client.execute_workflow(
                SuggestionWorkflow.run,
                3,
                id=unique("suggest"),
                task_queue=queue,
                search_attributes=TypedSearchAttributes([SearchAttributePair(tier, "gold")]),
            )
        assert (short, long) == (False, True)
        listed = [w async for w in client.list_workflows('Tier = "gold"')]
        assert [w.workflow_type for w in listed] == ["SuggestionWorkflow"]
