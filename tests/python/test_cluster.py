"""Cairn as a cluster of separate processes around one broker: a broker process, 2 frontends,
3 history and 2 matching nodes. Workflows from the official Python SDK run to the right end
while random Cairn processes are killed with SIGKILL and restarted; on Apache Kafka (the
cluster of `CAIRN_TEST_KAFKA_DIR`), Kafka's brokers are killed among them.

`CAIRN_CHAOS_WORKFLOWS` and `CAIRN_CHAOS_KILL_EVERY` (seconds) make the run longer or harsher;
the suite runs the bounded default.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RetryConfig, RPCError, RPCStatusCode
from temporalio.worker import Replayer, Worker

from chaos_workflows import ChaosWorkflow, chaos_double
from cluster import Cluster
from support import event_type_name, eventually, worker
from workflows import ParentWorkflow, SignalQueryWorkflow, SignalSenderWorkflow

WORKFLOWS = int(os.environ.get("CAIRN_CHAOS_WORKFLOWS", "500"))
KILL_EVERY_S = float(os.environ.get("CAIRN_CHAOS_KILL_EVERY", "5"))
PARTITIONS = 8
TOPOLOGY = [
    ("frontend-a", "frontend"),
    ("frontend-b", "frontend"),
    ("history-1", "history"),
    ("history-2", "history"),
    ("history-3", "history"),
    ("matching-1", "matching"),
    ("matching-2", "matching"),
]


KAFKA_DIR = os.environ.get("CAIRN_TEST_KAFKA_DIR")
# A killed Kafka broker needs a while to catch up and rejoin the in-sync replicas; a second
# one killed before that would leave partitions below min.insync.replicas (writes wait, as
# Kafka means them to). One broker kill per this many seconds at most.
KAFKA_KILL_SPACING_S = 20.0


def start_topology(cluster: Cluster) -> Cluster:
    try:
        for name, roles in TOPOLOGY:
            cluster.add(name, roles)
    except BaseException:
        cluster.close()
        raise
    return cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = start_topology(Cluster(tmp_path, partitions=PARTITIONS, session_timeout="4s"))
    try:
        yield cluster
    finally:
        cluster.close()


async def chaos(cluster: Cluster, stop: asyncio.Event, kills: Counter[str]) -> None:
    """Every few seconds: SIGKILL one random Cairn process (or, on Apache Kafka, a broker)
    and start it again."""
    rng = random.Random()
    # The client's own frontend stays up: a client's calls in flight to a frontend that dies
    # fail as they would with any server (production clients reach frontends through a load
    # balancer). Workers absorb it, so the workers' frontend is killed like the rest.
    names = [name for name, _ in TOPOLOGY if name != "frontend-b"]
    brokers = [f"kafka-{i}" for i in range(1, getattr(cluster, "kafka_brokers", 0) + 1)]
    last_broker_kill = -KAFKA_KILL_SPACING_S
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), KILL_EVERY_S)  # the kill rhythm, not a sync
            return
        except TimeoutError:
            pass
        spaced = time.monotonic() - last_broker_kill >= KAFKA_KILL_SPACING_S
        if brokers and not any(kills[broker] for broker in brokers):
            # The first kill takes a broker, so even a short run has lost one.
            victim = rng.choice(brokers)
        else:
            victim = rng.choice(names + brokers if spaced else names)
        kills[victim] += 1
        if victim in brokers:
            last_broker_kill = time.monotonic()
            await asyncio.to_thread(cluster.kill_kafka_broker, int(victim.split("-")[1]))
        else:
            await asyncio.to_thread(cluster.kill, victim)
            await asyncio.to_thread(cluster.restart, victim)


@pytest.mark.timeout(900)
async def test_workflows_complete_exactly_once_while_processes_are_killed(cluster: Cluster):
    await run_chaos(cluster, WORKFLOWS)


@pytest.mark.skipif(not KAFKA_DIR, reason="needs an Apache Kafka cluster in $CAIRN_TEST_KAFKA_DIR")
@pytest.mark.timeout(1200)
async def test_workflows_complete_exactly_once_while_processes_and_kafka_brokers_are_killed(
    tmp_path: Path,
):
    # Kafka's smallest session timeout (group.min.session.timeout.ms) is 6 s.
    cluster = start_topology(
        Cluster(tmp_path, partitions=PARTITIONS, session_timeout="6s", kafka_dir=KAFKA_DIR)
    )
    try:
        kills = await run_chaos(cluster, int(os.environ.get("CAIRN_CHAOS_WORKFLOWS", "200")))
        assert any(victim.startswith("kafka-") for victim in kills), (
            f"the run ended before any Kafka broker was killed: {dict(kills)}"
        )
    finally:
        cluster.close()


async def run_chaos(cluster: Cluster, workflows: int) -> Counter[str]:
    """Runs `workflows` workflows through the cluster while `chaos` kills its processes;
    checks that each completed exactly once with the right result and history."""
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

        gathered = asyncio.ensure_future(asyncio.gather(*(one(n) for n in range(workflows))))
        try:
            # A killer that fails (a node that would not come back) ends the run with its
            # error, rather than leaving workflows waiting on a missing node.
            done, _ = await asyncio.wait({gathered, killer}, return_when=asyncio.FIRST_COMPLETED)
            if killer in done and not gathered.done():
                gathered.cancel()
                killer.result()
            results = await gathered
        finally:
            stop.set()
            await killer
    elapsed = time.monotonic() - started

    for n, (workflow_id, result) in enumerate(results):
        assert result == f"{2 * n}:s{n}", workflow_id

    # The last kill may have left ownership moving: reading the histories back starts once
    # every history partition has one owner again.
    for partition in range(PARTITIONS):
        await eventually(
            lambda p=partition: asyncio.to_thread(cluster.history_owners, p),
            lambda owners: len(owners) == 1,
            timeout=120,
            what=f"one owner of history partition {partition}",
        )
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
        f"\nchaos: {workflows} workflows in {elapsed:.0f}s, {sum(kills.values())} kills "
        f"({dict(kills)}); history takeovers: "
        + (
            f"{len(takeovers)}, median {sorted(takeovers)[len(takeovers) // 2]:.1f}s, "
            f"max {max(takeovers):.1f}s"
            if takeovers
            else "none"
        )
    )
    assert sum(kills.values()) >= 1, "the run ended before any process was killed"
    return kills


@pytest.mark.timeout(300)
async def test_a_frozen_owner_is_fenced_and_none_of_its_callers_is_told_done(tmp_path: Path):
    """Two would-be owners of one partition at once: the owner is frozen with SIGSTOP, the
    other history node takes the partition over, and the frozen one is resumed with a signal
    in hand. It finds the newer claim (reading back its own write, or in its ownership watch)
    and answers its caller with an error; the signal never reaches the history."""
    cluster = Cluster(tmp_path, partitions=1, session_timeout="4s")
    try:
        for name, roles in [
            ("frontend", "frontend"),
            ("matching", "matching"),
            ("history-1", "history"),
            ("history-2", "history"),
        ]:
            cluster.add(name, roles)
        client = await Client.connect(cluster.frontend("frontend"))
        workflow_id = f"fenced-{uuid.uuid4().hex[:8]}"
        handle = await client.start_workflow(
            ChaosWorkflow.run, 1, id=workflow_id, task_queue=f"no-worker-{workflow_id}"
        )
        await handle.signal(ChaosWorkflow.poke, "before")
        # Both history nodes are in the group, so its assignment holds until one leaves.
        await eventually(
            lambda: asyncio.to_thread(
                lambda: all("joined the group" in cluster.log(n) for n in ("history-1", "history-2"))
            ),
            bool,
            what="both history nodes in the group",
        )
        owners = await eventually(
            lambda: asyncio.to_thread(cluster.history_owners, 0),
            lambda owners: len(owners) == 1,
            what="one owner of partition 0",
        )
        zombie = owners[0]
        successor = "history-2" if zombie == "history-1" else "history-1"
        # The zombie's own API, reached directly (no router to redirect the call) as a peer
        # reaches it, and no SDK retries: its one answer is what it told its caller.
        direct = await Client.connect(
            cluster.address(zombie),
            retry_config=RetryConfig(max_retries=0),
            rpc_metadata={"cairn-cluster-id": cluster.cluster_id(zombie)},
        )
        cluster.freeze(zombie)
        late_signal = asyncio.create_task(
            direct.get_workflow_handle(workflow_id).signal(ChaosWorkflow.poke, "zombie")
        )
        # While the zombie is frozen the other node takes over and serves.
        await handle.signal(ChaosWorkflow.poke, "after")
        assert successor in cluster.history_owners(0)
        cluster.thaw(zombie)
        with pytest.raises(RPCError) as refused:
            await late_signal
        assert refused.value.status == RPCStatusCode.UNAVAILABLE
        # It lets the partition go: either its write, read back, met the successor's claim, or
        # its ownership watch saw the newer claim first and it refused the signal unwritten.
        await eventually(
            lambda: asyncio.to_thread(cluster.log, zombie),
            lambda log: "partition fenced by a newer owner" in log
            or "history partition lost to a newer claim" in log,
            what="the zombie to find itself fenced",
        )

        await handle.signal(ChaosWorkflow.poke, "later")
        history = await handle.fetch_history()
        signals = [
            event.workflow_execution_signaled_event_attributes.input.payloads[0].data
            for event in history.events
            if event_type_name(event.event_type) == "WorkflowExecutionSignaled"
        ]
        assert signals == [b'"before"', b'"after"', b'"later"']
        ids = [event.event_id for event in history.events]
        assert ids == list(range(1, len(ids) + 1)), "event IDs have a gap or a repeat"

        # Each process reports what it owns and serves on /metrics.
        owner_metrics = await asyncio.to_thread(cluster.metrics, successor)
        assert 'cairn_history_partition_epoch{partition="0"}' in owner_metrics
        assert 'cairn_history_partition_lag_records{partition="0"}' in owner_metrics
        # It appended the later signal's record, and counts what that cost in Kafka.
        for counter in ("appended_records", "appended_bytes", "transitions"):
            found = re.search(rf"^cairn_history_{counter}_total (\d+)$", owner_metrics, re.M)
            assert found and int(found.group(1)) > 0, counter
        # Requests are counted by the operation they ran.
        signals_run = re.search(
            r'^cairn_history_operations_total\{operation="signal"\} (\d+)$', owner_metrics, re.M
        )
        assert signals_run and int(signals_run.group(1)) > 0, "signal operations"
        matching_metrics = await asyncio.to_thread(cluster.metrics, "matching")
        assert 'cairn_matching_partition_owned{partition="0"} 1' in matching_metrics
        assert f'task_queue="no-worker-{workflow_id}"' in matching_metrics
        frontend_metrics = await asyncio.to_thread(cluster.metrics, "frontend")
        assert 'cairn_rpc_duration_seconds_count{rpc="SignalWorkflowExecution"}' in frontend_metrics
    finally:
        cluster.close()


@pytest.mark.timeout(300)
async def test_parents_children_and_signals_cross_history_nodes(tmp_path: Path):
    """A parent and its child, and a sender and its target, live in partitions that two
    history nodes share: starts, closes and signals travel between the nodes."""
    cluster = Cluster(tmp_path, partitions=PARTITIONS, session_timeout="4s")
    try:
        for name, roles in [
            ("frontend", "frontend,matching"),
            ("history-1", "history"),
            ("history-2", "history"),
        ]:
            cluster.add(name, roles)
        await eventually(
            lambda: asyncio.to_thread(
                lambda: all(len(cluster.history_owners(p)) == 1 for p in range(PARTITIONS))
                and all("joined the group" in cluster.log(n) for n in ("history-1", "history-2"))
            ),
            bool,
            timeout=60,
            what="every partition owned, both history nodes in the group",
        )
        client = await Client.connect(cluster.frontend("frontend"))
        queue = f"cross-{uuid.uuid4().hex[:8]}"
        async with worker(client, queue):
            parents = [
                await client.start_workflow(
                    ParentWorkflow.run, "greet", id=f"{queue}-parent-{n}", task_queue=queue
                )
                for n in range(6)
            ]
            for parent in parents:
                assert await parent.result() == "Hello, child!"
            target = await client.start_workflow(
                SignalQueryWorkflow.run, id=f"{queue}-target", task_queue=queue
            )
            sender = await client.start_workflow(
                SignalSenderWorkflow.run, target.id, id=f"{queue}-sender", task_queue=queue
            )
            assert await sender.result() == "signal delivered"
            assert await target.result() == ["from a workflow"]
        owners = {
            name
            for p in range(PARTITIONS)
            for name in cluster.history_owners(p)
        }
        assert owners == {"history-1", "history-2"}, "both history nodes own partitions"
    finally:
        cluster.close()


@pytest.mark.timeout(300)
async def test_a_long_poll_follows_its_workflow_when_the_partition_moves(tmp_path: Path):
    """Clients wait for results while a history node is killed: the rebalance moves
    partitions between the surviving nodes too, and a poll that waited where its workflow no
    longer lives is sent on to the new owner, so every result arrives when the workflow
    ends, not when the poll's minute is up."""
    cluster = Cluster(tmp_path, partitions=PARTITIONS, session_timeout="4s")
    history_nodes = ["history-1", "history-2", "history-3"]
    try:
        cluster.add("frontend", "frontend,matching")
        for name in history_nodes:
            cluster.add(name, "history")
        await eventually(
            lambda: asyncio.to_thread(
                lambda: all(len(cluster.history_owners(p)) == 1 for p in range(PARTITIONS))
                and all("joined the group" in cluster.log(n) for n in history_nodes)
            ),
            bool,
            timeout=60,
            what="every partition owned, every history node in the group",
        )
        client = await Client.connect(cluster.frontend("frontend"))
        queue = f"no-worker-{uuid.uuid4().hex[:8]}"
        handles = [
            await client.start_workflow(
                ChaosWorkflow.run, 1, id=f"{queue}-{n}", task_queue=queue
            )
            for n in range(24)
        ]

        async def ended(handle) -> float:
            with pytest.raises(Exception):
                await handle.result()
            return time.monotonic()

        waiting = [asyncio.create_task(ended(handle)) for handle in handles]
        victim = cluster.history_owners(0)[0]
        await asyncio.to_thread(cluster.kill, victim)
        survivors = [name for name in history_nodes if name != victim]
        await eventually(
            lambda: asyncio.to_thread(
                lambda: all(
                    len([o for o in cluster.history_owners(p) if o in survivors]) == 1
                    for p in range(PARTITIONS)
                )
            ),
            bool,
            timeout=60,
            what="the survivors to own every partition",
        )
        for handle in handles:
            await handle.terminate()
        terminated = time.monotonic()
        ends = await asyncio.gather(*waiting)
        # An idle poll lasts a minute; one left behind would end only then.
        assert max(ends) - terminated < 20, [round(end - terminated, 1) for end in ends]
    finally:
        cluster.close()


def probe(cluster: Cluster, name: str, path: str) -> int:
    """The HTTP status a node's metrics port answers `path` with."""
    import urllib.error
    import urllib.request

    marker = "cairn metrics listening on "
    line = next(line for line in cluster.log(name).splitlines() if marker in line)
    address = line.split(marker, 1)[1].split()[0]
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def test_a_node_is_not_ready_until_every_partition_has_an_owner(tmp_path: Path):
    cluster = Cluster(tmp_path, partitions=4)
    try:
        # A frontend alone: alive, but no history or matching node owns a partition yet.
        cluster.add("front", "frontend")
        client = await Client.connect(cluster.frontend("front"))
        assert not await client.service_client.check_health()
        assert await asyncio.to_thread(probe, cluster, "front", "/readyz") == 503
        assert await asyncio.to_thread(probe, cluster, "front", "/healthz") == 200

        cluster.add("back", "history,matching")
        await eventually(
            lambda: client.service_client.check_health(),
            lambda serving: serving,
            timeout=60,
            what="gRPC health SERVING once a node owns every partition",
        )
        assert await asyncio.to_thread(probe, cluster, "front", "/readyz") == 200
        assert await asyncio.to_thread(probe, cluster, "back", "/readyz") == 200
    finally:
        cluster.close()


async def test_a_node_that_loses_kafka_reports_itself_not_ready_until_kafka_answers_again(
    tmp_path: Path,
):
    cluster = Cluster(tmp_path, partitions=2)
    try:
        cluster.add("n1", "frontend,history,matching")
        client = await Client.connect(cluster.frontend("n1"))
        await eventually(
            lambda: client.service_client.check_health(),
            lambda serving: serving,
            timeout=60,
            what="gRPC health SERVING",
        )
        assert cluster.broker is not None
        cluster.broker.proc.send_signal(signal.SIGSTOP)  # Kafka stops answering
        try:
            await eventually(
                lambda: asyncio.to_thread(probe, cluster, "n1", "/readyz"),
                lambda status: status == 503,
                timeout=30,
                what="/readyz 503 while Kafka does not answer",
            )
            assert not await client.service_client.check_health()
            assert await asyncio.to_thread(probe, cluster, "n1", "/healthz") == 200
        finally:
            cluster.broker.proc.send_signal(signal.SIGCONT)
        await eventually(
            lambda: client.service_client.check_health(),
            lambda serving: serving,
            timeout=60,
            what="gRPC health SERVING once Kafka answers again",
        )
        assert "kafka does not answer: not ready" in cluster.log("n1")
    finally:
        cluster.close()
