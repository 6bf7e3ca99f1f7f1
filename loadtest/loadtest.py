"""Cairn's load test: the same Python-SDK load against Cairn and the reference Temporal dev
server, in one run on one machine, reporting throughput, latency and server CPU per workflow.

The load: every workflow runs one no-op activity and completes. A driver keeps
`--concurrency` workflows in flight (start, then wait for the result) for `--duration`
seconds after a warm-up; `--workers` worker processes serve the task queue. Server CPU is
the server process's user+system time over the measured window (from /proc), divided by
the workflows completed in it.

    .venv/bin/python loadtest/loadtest.py --targets cairn,temporal --duration 60

Each target server is started by this script on free loopback ports and stopped at the end.
`--kafka-dir DIR` adds a target `cairn-kafka`: the same dev server on the Apache Kafka cluster
that `scripts/kafka start --dir DIR` started (`--kafka`, in topics of its own), whose brokers'
CPU is reported apart:

    scripts/kafka start --dir kafka-load
    .venv/bin/python loadtest/loadtest.py --targets cairn-kafka,cairn --kafka-dir kafka-load
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import OneActivity, noop  # noqa: E402

TASK_QUEUE = "loadtest"
CLK_TCK = os.sysconf(os.sysconf_names["SC_CLK_TCK"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / CLK_TCK


def cluster_env(kafka_dir: str) -> dict[str, str]:
    """`KEY=VALUE` lines of a `scripts/kafka` cluster's `cluster.env`."""
    pairs = (line.split("=", 1) for line in (Path(kafka_dir) / "cluster.env").read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip().strip('"') for key, value in pairs}


class Server:
    def __init__(self, target: str, cairn_bin: str, temporal_bin: str, extra: list[str] | None = None) -> None:
        self.target = target
        self.dir = tempfile.TemporaryDirectory(prefix=f"loadtest-{target}-")
        self.log = open(Path(self.dir.name) / "server.log", "w")
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        if target in ("cairn", "cairn-kafka"):
            cmd = [cairn_bin, "server", "start-dev", "--port", str(port), "--ip", "127.0.0.1", *(extra or [])]
        elif target == "temporal":
            cmd = [
                temporal_bin, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                "--port", str(port), "--log-level", "error",
            ]
        else:
            raise SystemExit(f"unknown target {target}")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir.name)

    async def ready(self, deadline_s: float = 120.0) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.target} exited early; see its log")
            try:
                client = await Client.connect(self.address)
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                return
            except Exception:
                await asyncio.sleep(0.2)
        raise SystemExit(f"{self.target} did not become ready")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run_worker(address: str, stop) -> None:  # noqa: ANN001 (a multiprocessing Event)
    async def main() -> None:
        client = await Client.connect(address)
        async with Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[OneActivity],
            activities=[noop],
            max_concurrent_workflow_tasks=200,
            max_concurrent_activities=200,
        ):
            while not stop.is_set():
                await asyncio.sleep(0.2)

    asyncio.run(main())


@dataclass
class Result:
    target: str
    workflows: int
    seconds: float
    workflows_per_second: float
    server_cpu_ms_per_workflow: float
    kafka_cpu_ms_per_workflow: float | None
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    errors: int


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def drive(
    server: Server, concurrency: int, warmup: float, duration: float, workers: int, kafka_pids: list[int]
) -> Result:
    await server.ready()
    # The SDK's runtime cannot cross a fork: workers are fresh interpreters.
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    procs = [context.Process(target=run_worker, args=(server.address, stop)) for _ in range(workers)]
    for p in procs:
        p.start()
    client = await Client.connect(server.address)
    latencies: list[float] = []
    errors = 0
    measuring = False
    done = 0
    end = time.monotonic() + warmup + duration

    async def one_loop() -> None:
        nonlocal errors, done
        while time.monotonic() < end:
            started = time.monotonic()
            try:
                await client.execute_workflow(
                    OneActivity.run, id=f"load-{uuid.uuid4()}", task_queue=TASK_QUEUE
                )
            except Exception:
                errors += 1
                continue
            if measuring and time.monotonic() <= end:
                latencies.append((time.monotonic() - started) * 1000)
                done += 1

    loops = [asyncio.create_task(one_loop()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    measuring = True
    cpu_before = cpu_seconds(server.proc.pid)
    kafka_before = sum(cpu_seconds(pid) for pid in kafka_pids)
    t0 = time.monotonic()
    await asyncio.gather(*loops)
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(server.proc.pid) - cpu_before
    kafka_cpu = sum(cpu_seconds(pid) for pid in kafka_pids) - kafka_before
    stop.set()
    for p in procs:
        p.join(timeout=30)
    return Result(
        target=server.target,
        workflows=done,
        seconds=round(elapsed, 2),
        workflows_per_second=round(done / elapsed, 1),
        server_cpu_ms_per_workflow=round(cpu * 1000 / max(done, 1), 2),
        kafka_cpu_ms_per_workflow=round(kafka_cpu * 1000 / max(done, 1), 2) if kafka_pids else None,
        latency_p50_ms=round(percentile(latencies, 50), 1),
        latency_p95_ms=round(percentile(latencies, 95), 1),
        latency_p99_ms=round(percentile(latencies, 99), 1),
        errors=errors,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="cairn,temporal", help="comma-separated: cairn, temporal, cairn-kafka")
    parser.add_argument("--kafka-dir", help="a cluster from `scripts/kafka start --dir DIR`, for the cairn-kafka target")
    parser.add_argument("--concurrency", type=int, default=50, help="workflows in flight")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--cairn-bin", default=os.environ.get("CAIRN_BIN")
                        or str(Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/cairn/target")) / "release/cairn"))
    parser.add_argument("--temporal-bin", default=str(Path(sys.executable).parent / "temporal"))
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    results = []
    for target in args.targets.split(","):
        extra: list[str] = []
        kafka_pids: list[int] = []
        if target == "cairn-kafka":
            if not args.kafka_dir:
                raise SystemExit("the cairn-kafka target needs --kafka-dir")
            env = cluster_env(args.kafka_dir)
            extra = ["--kafka", env["KAFKA_BOOTSTRAP"], "--topic-prefix", f"load-{uuid.uuid4().hex[:12]}"]
            kafka_pids = [int(pid) for pid in env["KAFKA_PIDS"].split()]
        server = Server(target, args.cairn_bin, args.temporal_bin, extra)
        try:
            result = asyncio.run(
                drive(server, args.concurrency, args.warmup, args.duration, args.workers, kafka_pids)
            )
        finally:
            server.stop()
        results.append(result)
        print(json.dumps(asdict(result)), flush=True)
    if len(results) == 2:
        a, b = results
        print(
            f"{a.target}/{b.target}: throughput x{a.workflows_per_second / b.workflows_per_second:.2f}, "
            f"server CPU per workflow x{a.server_cpu_ms_per_workflow / b.server_cpu_ms_per_workflow:.2f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
