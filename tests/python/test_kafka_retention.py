"""Restore under retention, on Apache Kafka (the cluster of `CAIRN_TEST_KAFKA_DIR`): the
history topic keeps records for 20 s (ten snapshot intervals, longer than the outage the
test causes) in half-second segments, Kafka deletes the old ones while workflows run, and a
node with an empty data directory still rebuilds every partition, from the snapshots taken by
time and the records after them, with nothing lost.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path

import pytest
from temporalio.client import Client

from cluster import kafka_cluster_env
from conftest import STARTUP_TIMEOUT_S, ServerProcess, cairn_binary
from support import eventually, unique, worker
from workflows import GreetingWorkflow, SignalQueryWorkflow

KAFKA_DIR_ENV = "CAIRN_TEST_KAFKA_DIR"
PARTITIONS = 4
SNAPSHOT_INTERVAL_S = 2
# Whatever came after a partition's latest snapshot must outlive the time no node owns it.
HISTORY_RETENTION_S = 20


KAFKA = kafka_cluster_env(os.environ[KAFKA_DIR_ENV]) if os.environ.get(KAFKA_DIR_ENV) else {}

pytestmark = pytest.mark.skipif(
    "KAFKA_BOOTSTRAP" not in KAFKA, reason=f"needs an Apache Kafka cluster in ${KAFKA_DIR_ENV}"
)


def _kafka_tool(tool: str, *args: str) -> str:
    done = subprocess.run(
        ["java", "-cp", f"{KAFKA['KAFKA_LIBS']}/*", f"org.apache.kafka.tools.{tool}",
         "--bootstrap-server", KAFKA["KAFKA_BOOTSTRAP"], *args],
        check=True, capture_output=True, text=True, timeout=120,
    )
    return done.stdout


def _earliest_offsets(topic: str) -> dict[int, int]:
    """The oldest offset Kafka still keeps in each partition of `topic`."""
    out = _kafka_tool("GetOffsetShell", "--topic", topic, "--time", "-2")
    return {
        int(partition): int(offset)
        for partition, offset in re.findall(rf"^{re.escape(topic)}:(\d+):(\d+)$", out, re.M)
    }


def _node(workdir: Path, name: str, prefix: str) -> ServerProcess:
    argv = [
        str(cairn_binary()), "server", "start",
        "--kafka", KAFKA["KAFKA_BOOTSTRAP"],
        "--topic-prefix", prefix,
        "--partitions", str(PARTITIONS),
        "--snapshot-interval", f"{SNAPSHOT_INTERVAL_S}s",
        "--data-dir", str(workdir / name),
        "--port", "0",
        "--log-level", "info",
    ]
    return ServerProcess(name, argv, workdir, dict(os.environ, NO_COLOR="1"))


async def test_a_wiped_node_rebuilds_every_partition_after_kafka_deleted_old_segments(
    tmp_path: Path,
) -> None:
    prefix = unique("retention")
    history = f"{prefix}.history"
    # The operator's topics: Cairn's plan, then a short retention on the history, in
    # segments that roll every half second.
    subprocess.run(
        [str(cairn_binary()), "admin", "topics", "create", "--kafka", KAFKA["KAFKA_BOOTSTRAP"],
         "--topic-prefix", prefix, "--partitions", str(PARTITIONS),
         "--snapshot-interval", f"{SNAPSHOT_INTERVAL_S}s"],
        check=True, capture_output=True, timeout=120,
    )
    _kafka_tool(
        "ConfigCommand", "--alter", "--entity-type", "topics", "--entity-name", history,
        "--add-config", f"retention.ms={HISTORY_RETENTION_S * 1000},segment.ms=500",
    )

    first = _node(tmp_path, "first", prefix)
    try:
        client = await Client.connect(first.wait_ready(STARTUP_TIMEOUT_S))
        queue = unique("retention")
        completed: dict[str, str] = {}
        open_ids = [unique("open") for _ in range(8)]
        async with worker(client, queue):
            open_handles = [
                await client.start_workflow(SignalQueryWorkflow.run, id=wid, task_queue=queue)
                for wid in open_ids
            ]
            for handle in open_handles:
                await handle.signal(SignalQueryWorkflow.append, "before")

            async def one_more() -> None:
                wid = unique("done")
                completed[wid] = await client.execute_workflow(
                    GreetingWorkflow.run, wid, id=wid, task_queue=queue
                )

            # Work goes on (so that every partition's segments roll) until Kafka has deleted
            # the start of every partition's history.
            async def every_partition_lost_its_first_records() -> bool:
                await asyncio.gather(*(one_more() for _ in range(8)))
                earliest = await asyncio.to_thread(_earliest_offsets, history)
                return len(earliest) == PARTITIONS and all(o > 0 for o in earliest.values())

            await eventually(
                every_partition_lost_its_first_records,
                lambda lost: lost,
                timeout=180,
                what="Kafka deleting the first segments of every history partition",
            )
            for handle in open_handles:
                assert await handle.query(SignalQueryWorkflow.items) == ["before"]
    finally:
        first.close()  # SIGKILL: nothing is handed over

    second = _node(tmp_path, "second", prefix)  # an empty data directory
    try:
        client = await Client.connect(second.wait_ready(STARTUP_TIMEOUT_S))
        for wid, result in completed.items():
            assert await client.get_workflow_handle(wid).result() == result
            events = [e async for e in client.get_workflow_handle(wid).fetch_history_events()]
            assert events[0].event_id == 1 and len(events) >= 11, wid
        async def finish(wid: str) -> list[str]:
            handle = client.get_workflow_handle(wid)
            await handle.signal(SignalQueryWorkflow.finish, "after")
            return await handle.result()

        async with worker(client, queue):
            results = await asyncio.gather(*(finish(wid) for wid in open_ids))
        assert results == [["before", "after"]] * len(open_ids)
        # Kafka no longer had the start of any partition: each came from a snapshot.
        loaded = re.findall(
            r"partition loaded from a snapshot partition=(\d+)", (tmp_path / "second.log").read_text()
        )
        assert sorted(set(map(int, loaded))) == list(range(PARTITIONS)), second.tail()
    finally:
        second.close()
