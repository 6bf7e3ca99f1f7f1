"""Temporal's size limits: payloads up to its 2 MB blob limit are accepted and kept whole."""

from __future__ import annotations

from temporalio.client import Client

from support import unique
from workflows import LargePayloadWorkflow


async def test_activity_result_of_one_and_a_half_megabytes_reaches_the_workflow(
    client: Client, task_queue: str
) -> None:
    size = 1_500_000
    result = await client.execute_workflow(
        LargePayloadWorkflow.run, size, id=unique("large"), task_queue=task_queue
    )
    assert result == size
