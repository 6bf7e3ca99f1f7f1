"""Takeover on Apache Kafka: how long writes wait when a Cairn node or a Kafka broker dies.

Three Cairn nodes (every role) run on a Kafka cluster from `scripts/kafka start` (its
directory is --kafka-dir), in topics of their own. A client starts workflows through the
first node, which is never killed, at a steady --concurrency; each start is a write to the
workflow's history partition, whichever node owns it. After a warm-up, each round kills a
victim with SIGKILL: another Cairn node (`--victim cairn`) or a Kafka broker (`--victim
kafka`), leaves it down for --down seconds, starts it again, and lets the cluster settle.
Per kill it reports the longest a start waited (the writes' unavailability), the median
start before the kill, and, for a Cairn node, when the first and the last of its partitions
were claimed by the others (from their logs).

    CAIRN_BIN=target/release/cairn .venv/bin/python loadtest/failover.py \
        --kafka-dir DIR --victim cairn --kills 3
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from temporalio.client import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
from cluster import Cluster  # noqa: E402

_OWNED = re.compile(r"^(\S+Z) .*partition owned.*partition=(\d+)")


def owned_after(cluster: Cluster, names: list[str], since: float) -> list[float]:
    """Seconds after `since` at which the named nodes claimed a history partition."""
    found = []
    for name in names:
        for line in cluster.log(name).splitlines():
            match = _OWNED.match(line)
            if match:
                stamp = datetime.strptime(match.group(1)[:26], "%Y-%m-%dT%H:%M:%S.%f")
                at = stamp.replace(tzinfo=timezone.utc).timestamp()
                if at > since:
                    found.append(at - since)
    return sorted(found)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kafka-dir", required=True)
    parser.add_argument("--victim", choices=["cairn", "kafka"], required=True)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--session-timeout", default="6s")
    parser.add_argument("--down", type=float, default=20.0, help="seconds a victim stays down")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds after a restart")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="cairn-failover-"))
    cluster = Cluster(
        workdir,
        partitions=args.partitions,
        session_timeout=args.session_timeout,
        kafka_dir=args.kafka_dir,
    )
    try:
        for name in ("n1", "n2", "n3"):
            cluster.add(name, "frontend,history,matching")
        client = await Client.connect(cluster.frontend("n1"))
        starts: list[tuple[float, float]] = []  # (began, seconds waited)
        stop = asyncio.Event()

        errors: list[tuple[float, str]] = []  # (when, what)

        async def load() -> None:
            while not stop.is_set():
                began = time.time()
                try:
                    await client.start_workflow(
                        "Idle", id=f"failover-{uuid.uuid4().hex}", task_queue="failover-no-worker"
                    )
                except Exception as error:  # noqa: BLE001 (counted and shown, not hidden)
                    errors.append((time.time(), f"{type(error).__name__}: {error}"[:120]))
                    continue
                starts.append((began, time.time() - began))

        loaders = [asyncio.create_task(load()) for _ in range(args.concurrency)]
        await asyncio.sleep(args.settle)  # warm-up: every partition owned, clients connected
        rounds = []
        for kill in range(args.kills):
            if args.victim == "cairn":
                victim = ["n2", "n3"][kill % 2]
                killed_at = time.time()
                await asyncio.to_thread(cluster.kill, victim)
            else:
                broker = kill % cluster.kafka_brokers + 1
                victim = f"kafka-{broker}"
                killed_at = time.time()
                await asyncio.to_thread(cluster.stop_kafka_broker, broker)
            await asyncio.sleep(args.down)  # the victim stays down this long
            before = [w for b, w in starts if killed_at - 10 < b < killed_at]
            after = [w for b, w in starts if killed_at - 1 < b < killed_at + args.down]
            claims = (
                owned_after(cluster, ["n1", "n2", "n3"], killed_at) if args.victim == "cairn" else []
            )
            rounds.append(
                {
                    "victim": victim,
                    "median_before_ms": statistics.median(before) * 1000 if before else None,
                    "longest_wait_s": max(after) if after else None,
                    "starts_while_down": len(after),
                    "first_claim_s": claims[0] if claims else None,
                    "last_claim_s": claims[-1] if claims else None,
                    "errors": [what for at, what in errors if killed_at - 1 < at < killed_at + args.down],
                }
            )
            print(rounds[-1], flush=True)
            if args.victim == "cairn":
                await asyncio.to_thread(cluster.restart, victim)
            else:
                await asyncio.to_thread(cluster.start_kafka_broker, broker)
            await asyncio.sleep(args.settle)  # back in the group / in sync before the next
        stop.set()
        await asyncio.gather(*loaders, return_exceptions=True)
        waits = [r["longest_wait_s"] for r in rounds if r["longest_wait_s"] is not None]
        print(
            f"{args.victim} kills: {len(rounds)}; longest wait per kill "
            + ", ".join(f"{w:.1f}s" for w in waits)
            + (f"; median {statistics.median(waits):.1f}s" if waits else "")
        )
    finally:
        cluster.close()


if __name__ == "__main__":
    asyncio.run(main())
