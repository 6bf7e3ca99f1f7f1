"""Visibility at scale: List and Count over many workflows, Cairn and the reference.

For each target a fresh dev server is started; one Keyword search attribute (`Tier`) is
registered; `--workflows` workflows are started with no worker (four types, three tiers),
every other one with a one-second execution timeout so that half of them close (TimedOut)
and half stay open. Then each call is timed, best of three:

- List, first page of 10 (no query);
- a filtered page of 100: type, status and a start-time range;
- a point lookup by WorkflowId;
- Count, and Count GROUP BY ExecutionStatus;
- reading 10,000 results in pages of 1,000;

and the server's resident memory is read from /proc. The start rate is reported for the
first and the last tenth of the starts. For Cairn, the server then stops and starts again on
the same broker log and RocksDB directory, and the seconds from its start until every
history partition was claimed (from its log) are reported, with a first page listed after
it. One JSON line per target.

    CAIRN_PROFILE=release .venv/bin/python loadtest/visibility.py \\
        --targets cairn:1000000,temporal:20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, TypedSearchAttributes, SearchAttributePair

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadtest import Server  # noqa: E402

TIER = SearchAttributeKey.for_keyword("Tier")
TIERS = ["gold", "silver", "bronze"]
QUEUE = "visibility"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def start_all(client: Client, count: int, concurrency: int) -> tuple[float, float, float]:
    """Starts the workflows; returns the total seconds and the start rates of the first and
    the last tenth."""
    tenth = max(1, count // 10)
    marks: dict[int, float] = {}
    next_index = 0
    done = 0

    async def one() -> None:
        nonlocal next_index, done
        while next_index < count:
            i = next_index
            next_index += 1
            await client.start_workflow(
                f"Type{i % 4}",
                id=f"vis-{i}",
                task_queue=QUEUE,
                execution_timeout=timedelta(seconds=1) if i % 2 else None,
                search_attributes=TypedSearchAttributes([SearchAttributePair(TIER, TIERS[i % 3])]),
            )
            done += 1
            if done in (tenth, count - tenth, count):
                marks[done] = time.monotonic()

    began = time.monotonic()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    first = tenth / (marks[tenth] - began)
    last = tenth / (marks[count] - marks[count - tenth])
    return marks[count] - began, first, last


async def best_of(times: int, call) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(times):
        began = time.perf_counter()
        await call()
        best = min(best, time.perf_counter() - began)
    return round(best * 1000, 1)


async def first_page(client: Client, query: str, size: int) -> None:
    async for _ in client.list_workflows(query, page_size=size, limit=size):
        pass


async def read_many(client: Client, total: int, size: int) -> None:
    seen = 0
    async for _ in client.list_workflows("", page_size=size, limit=total):
        seen += 1
    assert seen == total, seen


async def measure(server: Server, count: int, concurrency: int) -> dict[str, object]:
    await server.ready()
    client = await Client.connect(server.address)
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace="default",
            search_attributes={"Tier": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
        )
    )
    # The reference registers attributes in the background.
    for _ in range(100):
        try:
            await client.count_workflows("Tier = 'gold'")
            break
        except Exception:
            await asyncio.sleep(0.2)
    seconds, first_rate, last_rate = await start_all(client, count, concurrency)
    mid_start = time.time() - seconds / 2
    closing = time.monotonic()
    while (await client.count_workflows("ExecutionStatus = 'TimedOut'")).count < count // 2:
        await asyncio.sleep(1)
    closed_after = time.monotonic() - closing
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mid_start))
    filtered = f"WorkflowType = 'Type2' AND ExecutionStatus = 'Running' AND StartTime > '{since}'"
    result: dict[str, object] = {
        "target": server.target,
        "workflows": count,
        "start_seconds": round(seconds, 1),
        "starts_per_second_first_tenth": round(first_rate),
        "starts_per_second_last_tenth": round(last_rate),
        "seconds_until_half_closed": round(closed_after, 1),
        "list_first_10_ms": await best_of(3, lambda: first_page(client, "", 10)),
        "list_filtered_100_ms": await best_of(3, lambda: first_page(client, filtered, 100)),
        "list_by_workflow_id_ms": await best_of(
            3, lambda: first_page(client, f"WorkflowId = 'vis-{count // 3}'", 10)
        ),
        "count_ms": await best_of(3, lambda: client.count_workflows("")),
        "count_group_by_status_ms": await best_of(
            3, lambda: client.count_workflows("GROUP BY ExecutionStatus")
        ),
        "read_10000_in_pages_of_1000_ms": await best_of(
            3, lambda: read_many(client, min(10_000, count), 1000)
        ),
        "server_rss_mib": round(rss_mib(server.proc.pid)),
    }
    return result


OWNED = re.compile(r"^(\S+Z) .*partition owned")


async def restart_claim(args: argparse.Namespace, extra: list[str]) -> dict[str, object]:
    """Starts Cairn again on the same directories: seconds until every partition is owned,
    and the first page after that."""
    began = time.time()
    server = Server("cairn", args.cairn_bin, args.temporal_bin, extra)
    try:
        await server.ready(deadline_s=1800)
        log = Path(server.dir.name) / "server.log"
        while True:
            owned = [OWNED.match(line) for line in log.read_text().splitlines()]
            stamps = [datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp() for m in owned if m]
            if len(stamps) >= 16:
                break
            await asyncio.sleep(0.5)
        client = await Client.connect(server.address)
        return {
            "restart_all_partitions_owned_seconds": round(max(stamps) - began, 1),
            "restart_first_page_ms": await best_of(3, lambda: first_page(client, "", 10)),
            "restart_rss_mib": round(rss_mib(server.proc.pid)),
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="cairn:100000,temporal:20000",
                        help="comma-separated TARGET:WORKFLOWS, TARGET one of cairn, temporal")
    parser.add_argument("--concurrency", type=int, default=64, help="starts in flight")
    parser.add_argument("--cairn-bin", default=os.environ.get("CAIRN_BIN")
                        or str(Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/cairn/target")) / "release/cairn"))
    parser.add_argument("--temporal-bin", default=str(Path(sys.executable).parent / "temporal"))
    args = parser.parse_args()
    for item in args.targets.split(","):
        target, count = item.split(":")
        keep = tempfile.TemporaryDirectory(prefix="visibility-")
        # Cairn's broker log and RocksDB cache outlive the process, for the restart.
        extra = (
            ["--db-filename", keep.name, "--log-level", "info"]
            if target == "cairn"
            else []
        )
        server = Server(target, args.cairn_bin, args.temporal_bin, extra)
        try:
            result = asyncio.run(measure(server, int(count), args.concurrency))
        finally:
            server.stop()
        if target == "cairn":
            result.update(asyncio.run(restart_claim(args, extra)))
        keep.cleanup()
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
