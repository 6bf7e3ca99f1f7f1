"""Cairn as a cluster of separate processes around one broker: a broker process, 2 frontends,
3 history and 2 matching nodes. Workflows from the official Python SDK run to the right end
while random Cairn processes are killed with SIGKILL and restarted.

`CAIRN_CHAOS_WORKFLOWS` and `CAIRN_CHAOS_KILL_EVERY` (seconds) make the run longer or harsher;
the suite runs the bounded default.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Replayer, Worker

from chaos_workflows import ChaosWorkflow, chaos_double
from cluster import Cluster
from support import event_type_name

WORKFLOWS = int(os.environ.get("CAIRN_CHAOS_WORKFLOWS", "500"))
KILL_EVERY_S = float(os.environ.get("CAIRN_CHAOS_KILL_EVERY", "3"))
TOPOLOGY = [
    ("frontend-a", "frontend"),
    ("frontend-b", "frontend"),
    ("history-1", "history"),
    ("history-2", "history"),
    ("history-3", "history"),
    ("matching-1", "matching"),
    ("matching-2", "matching"),
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, partitions=8, session_timeout="2s")
    try:
        for name, roles in TOPOLOGY:
            cluster.add(name, roles)
        yield cluster
    finally:
        cluster.close()


async def chaos(cluster: Cluster, stop: asyncio.Event, kills: Counter[str]) -> None:
    """Every few seconds: SIGKILL one random Cairn process and start it again."""
    rng = random.Random()
    # The client's own frontend stays up: a client's calls in flight to a frontend that dies
    # fail as they would with any server (production clients reach frontends through a load
    # balancer). Workers absorb it, so the workers' frontend is killed like the rest.
    names = [name for name, _ in TOPOLOGY if name != "frontend-b"]
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), KILL_EVERY_S)  # the kill rhythm, not a sync
            return
        except TimeoutError:
            pass
        victim = rng.choice(names)
        await asyncio.to_thread(cluster.kill, victim)
        kills[victim] += 1
        await asyncio.to_thread(cluster.restart, victim)


@pytest.mark.timeout(900)
async def test_workflows_complete_exactly_once_while_processes_are_killed(cluster: Cluster):
    worker_client = await Client.connect(cluster.frontend("frontend-a"))
    client = await Client.connect(cluster.frontend("frontend-b"))
    task_queue = f"chaos-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    kills: Counter[str] = Counter()
    started = time.monotonic()
    async with Worker(
        worker_client,
        task_queue=task_queue,
        workflows=[ChaosWorkflow],
        activities=[chaos_double],
    ):
        killer = asyncio.create_task(chaos(cluster, stop, kills))
        limit = asyncio.Semaphore(50)

        async def one(n: int) -> tuple[str, str]:
            async with limit:
                handle = await client.start_workflow(
                    ChaosWorkflow.run, n, id=f"{task_queue}-{n}", task_queue=task_queue
                )
                token = f"s{n}"
                await handle.signal(ChaosWorkflow.poke, token)
            return handle.id, await handle.result()

        try:
            results = await asyncio.gather(*(one(n) for n in range(WORKFLOWS)))
        finally:
            stop.set()
            await killer
    elapsed = time.monotonic() - started

    for n, (workflow_id, result) in enumerate(results):
        assert result == f"{2 * n}:s{n}", workflow_id

    replayer = Replayer(workflows=[ChaosWorkflow])
    for n, (workflow_id, _) in enumerate(results):
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        await replayer.replay_workflow(history)
        types = Counter(event_type_name(event.event_type) for event in history.events)
        assert types["ActivityTaskScheduled"] == 1, workflow_id
        assert types["ActivityTaskCompleted"] == 1, workflow_id
        assert types["TimerFired"] == 1, workflow_id
        signals = [
            event.workflow_execution_signaled_event_attributes
            for event in history.events
            if event_type_name(event.event_type) == "WorkflowExecutionSignaled"
        ]
        assert len(signals) == 1, workflow_id
        assert types["WorkflowExecutionCompleted"] == 1, workflow_id

    takeovers = cluster.takeovers()
    print(
        f"\nchaos: {WORKFLOWS} workflows in {elapsed:.0f}s, {sum(kills.values())} kills "
        f"({dict(kills)}); history takeovers: "
        + (
            f"{len(takeovers)}, median {sorted(takeovers)[len(takeovers) // 2]:.1f}s, "
            f"max {max(takeovers):.1f}s"
            if takeovers
            else "none"
        )
    )
    assert sum(kills.values()) >= 1, "the run ended before any process was killed"
