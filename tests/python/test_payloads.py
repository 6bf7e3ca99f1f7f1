"""Large payloads within Temporal's limits complete, however many records they take in
Kafka; a workflow task completion over the 4 MB gRPC limit ends the workflow as Temporal
ends it (terminated, `GrpcMessageTooLarge`) instead of leaving it stuck."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import TerminatedError

from support import unique
from workflows import EchoWorkflow, LargeInputsWorkflow, SignalSizesWorkflow

MB = 1_000_000


async def test_two_activities_with_inputs_of_one_and_a_half_megabytes_complete(
    client: Client, task_queue: str
) -> None:
    # One workflow task completion of 3 MB: within Temporal's limits, over a Kafka record's.
    result = await client.execute_workflow(
        LargeInputsWorkflow.run,
        args=[2, 1_500_000],
        id=unique("large-inputs"),
        task_queue=task_queue,
    )
    assert result == 3_000_000


async def test_a_workflow_input_and_result_of_nearly_two_megabytes_round_trip(
    client: Client, task_queue: str
) -> None:
    blob = "y" * 1_900_000
    result = await client.execute_workflow(
        EchoWorkflow.run, blob, id=unique("large-echo"), task_queue=task_queue
    )
    assert result == blob


async def test_forty_signals_of_two_hundred_kilobytes_reach_one_workflow(
    client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        SignalSizesWorkflow.run, 40, id=unique("large-signals"), task_queue=task_queue
    )
    await asyncio.gather(*(handle.signal(SignalSizesWorkflow.blob, "s" * 200_000) for _ in range(40)))
    assert await handle.result() == 40 * 200_000


async def test_a_completion_over_the_grpc_limit_terminates_the_workflow(
    client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        LargeInputsWorkflow.run,
        args=[10, 1_500_000],
        id=unique("too-large"),
        task_queue=task_queue,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, TerminatedError)
    history = [event async for event in handle.fetch_history_events()]
    # As on the reference: the server closes the task itself and terminates the workflow.
    failed_task = history[-2].workflow_task_failed_event_attributes
    assert history[-2].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    assert failed_task.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND
    assert failed_task.identity == "history-service"
    terminated = history[-1]
    assert terminated.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
    assert terminated.workflow_execution_terminated_event_attributes.reason == "GrpcMessageTooLarge"
    assert terminated.workflow_execution_terminated_event_attributes.identity == "history-service"
