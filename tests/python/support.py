"""Helpers shared by the test files: unique names, polling with a deadline, history views."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from workflows import ALL_ACTIVITIES, ALL_WORKFLOWS

T = TypeVar("T")


def unique(prefix: str) -> str:
    """A name no other test, worker or run uses: for workflow IDs and task queues."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def worker(client: Client, task_queue: str) -> Worker:
    """A worker for every workflow and activity in workflows.py; use as `async with`."""
    return Worker(
        client, task_queue=task_queue, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES
    )


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    timeout: float = 30.0,
    what: str = "condition",
) -> T:
    """Calls `probe` until `accept` holds for its value; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f}s; last value: {value!r}")
        await asyncio.sleep(0.05)  # poll interval


def event_type_name(event_type: int) -> str:
    """EVENT_TYPE_WORKFLOW_EXECUTION_STARTED -> WorkflowExecutionStarted."""
    words = EventType.Name(event_type).removeprefix("EVENT_TYPE_").split("_")
    return "".join(word.capitalize() for word in words)


async def event_types(handle: WorkflowHandle) -> list[str]:
    history = await handle.fetch_history()
    return [event_type_name(event.event_type) for event in history.events]


async def wait_for_event(
    handle: WorkflowHandle, name: str, count: int = 1, timeout: float = 30.0
) -> list[str]:
    """Waits until the history holds `count` events of type `name`; returns all event types."""
    return await eventually(
        lambda: event_types(handle),
        lambda types: types.count(name) >= count,
        timeout=timeout,
        what=f"{count} x {name} in history of {handle.id}",
    )
