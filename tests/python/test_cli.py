"""The `temporal` CLI against the server under test: exit codes and what it prints.

Workflows started from the CLI run on a Python worker in this process, so the CLI runs as an
asynchronous subprocess and never blocks the worker's event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import TerminatedError
from temporalio.service import RPCError

from conftest import cli_env
from support import eventually, unique, wait_for_event, worker
from workflows import (
    OPEN_GATES,
    CancellableWorkflow,
    GateWorkflow,
    SignalQueryWorkflow,
    UpdateWorkflow,
    WaitForeverWorkflow,
)

pytestmark = pytest.mark.timeout(120)


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@dataclass
class Cli:
    path: str
    address: str

    async def run(self, *args: str) -> CliResult:
        """Runs `temporal ARGS --address ... --namespace default` and captures its output."""
        process = await asyncio.create_subprocess_exec(
            self.path,
            *args,
            "--address",
            self.address,
            "--namespace",
            "default",
            "--color",
            "never",
            "--disable-config-file",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=cli_env(),
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"`temporal {' '.join(args)}` did not finish within 60s")
        return CliResult(process.returncode, stdout.decode(), stderr.decode())

    async def ok(self, *args: str) -> CliResult:
        result = await self.run(*args)
        assert result.returncode == 0, (
            f"`temporal {' '.join(args)}` exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result

    async def fails(self, *args: str) -> CliResult:
        result = await self.run(*args)
        assert result.returncode != 0, f"`temporal {' '.join(args)}` succeeded: {result.stdout}"
        return result


@pytest.fixture
def cli(temporal_cli: str, target: str) -> Cli:
    return Cli(temporal_cli, target)


@pytest_asyncio.fixture
async def task_queue(client: Client) -> AsyncIterator[str]:
    queue = unique("cli")
    async with worker(client, queue):
        yield queue


async def test_workflow_started_by_cli_runs_on_a_python_worker(
    cli: Cli, client: Client, task_queue: str
) -> None:
    workflow_id = unique("cli-start")
    started = (
        await cli.ok(
            "workflow", "start", "--type", "GreetingWorkflow", "--task-queue", task_queue,
            "--workflow-id", workflow_id, "--input", '"CLI"', "-o", "json",
        )
    ).json()
    assert started["workflowId"] == workflow_id
    assert started["type"] == "GreetingWorkflow"
    assert started["taskQueue"] == task_queue
    assert started["runId"]

    handle = client.get_workflow_handle(workflow_id)
    assert await handle.result() == "Hello, CLI!"
    assert (await handle.describe()).run_id == started["runId"]


async def test_cli_start_of_a_running_id_reuses_it_unless_fail_existing(
    cli: Cli, task_queue: str
) -> None:
    workflow_id = unique("cli-dup")
    args = ("workflow", "start", "--type", "WaitForeverWorkflow", "--task-queue", task_queue,
            "--workflow-id", workflow_id)
    first = (await cli.ok(*args, "-o", "json")).json()
    again = (await cli.ok(*args, "-o", "json")).json()
    assert again["runId"] == first["runId"]
    refused = await cli.fails(*args, "--fail-existing")
    assert "already" in refused.stderr.lower(), refused.stderr
    await cli.ok("workflow", "terminate", "--workflow-id", workflow_id, "--reason", "cleanup")


async def test_cli_describe_shows_status_type_and_queue(
    cli: Cli, client: Client, task_queue: str
) -> None:
    workflow_id = unique("cli-describe")
    handle = await client.start_workflow(
        WaitForeverWorkflow.run, id=workflow_id, task_queue=task_queue
    )
    described = await cli.ok("workflow", "describe", "--workflow-id", workflow_id, "-o", "json")
    info = described.json()["workflowExecutionInfo"]
    assert info["execution"] == {"workflowId": workflow_id, "runId": handle.result_run_id}
    assert info["type"]["name"] == "WaitForeverWorkflow"
    assert info["taskQueue"] == task_queue
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"

    text = await cli.ok("workflow", "describe", "--workflow-id", workflow_id)
    for expected in (workflow_id, handle.result_run_id, "WaitForeverWorkflow", task_queue):
        assert expected in text.stdout, text.stdout
    await handle.terminate(reason="cleanup")


async def test_cli_describe_of_an_unknown_workflow_fails(cli: Cli) -> None:
    result = await cli.fails("workflow", "describe", "--workflow-id", unique("missing"))
    assert "not found" in result.stderr.lower(), result.stderr


async def test_cli_list_finds_workflows_by_query(
    cli: Cli, client: Client, task_queue: str
) -> None:
    ids = [unique("cli-list") for _ in range(2)]
    for workflow_id in ids:
        await client.execute_workflow(
            "GreetingWorkflow", "list", id=workflow_id, task_queue=task_queue
        )
    query = "WorkflowId IN (" + ", ".join(f"'{w}'" for w in ids) + ")"

    async def listed() -> list[dict]:
        return (await cli.ok("workflow", "list", "--query", query, "-o", "json")).json()

    executions = await eventually(listed, lambda found: len(found) == 2, what="2 listed")
    assert sorted(e["execution"]["workflowId"] for e in executions) == sorted(ids)
    for execution in executions:
        assert execution["type"]["name"] == "GreetingWorkflow"
        assert execution["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"

    nothing = await cli.ok("workflow", "list", "--query", f"WorkflowId='{unique('no')}'", "-o",
                           "json")
    assert nothing.json() == []


async def test_cli_show_prints_the_history(cli: Cli, client: Client, task_queue: str) -> None:
    workflow_id = unique("cli-show")
    await client.execute_workflow(
        "GreetingWorkflow", "show", id=workflow_id, task_queue=task_queue
    )
    events = (await cli.ok("workflow", "show", "--workflow-id", workflow_id, "-o", "json")).json()
    events = events["events"]
    assert [int(e["eventId"]) for e in events] == list(range(1, len(events) + 1))
    types = [e["eventType"] for e in events]
    assert types[0] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert "EVENT_TYPE_ACTIVITY_TASK_COMPLETED" in types
    assert types[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"

    text = await cli.ok("workflow", "show", "--workflow-id", workflow_id)
    assert "WorkflowExecutionCompleted" in text.stdout, text.stdout


async def test_cli_signal_and_query(cli: Cli, client: Client, task_queue: str) -> None:
    workflow_id = unique("cli-signal")
    handle = await client.start_workflow(
        SignalQueryWorkflow.run, id=workflow_id, task_queue=task_queue
    )
    await cli.ok("workflow", "signal", "--workflow-id", workflow_id, "--name", "append",
                 "--input", '"from cli"')

    async def query() -> list:
        result = await cli.ok("workflow", "query", "--workflow-id", workflow_id, "--name",
                              "items", "-o", "json")
        return result.json()["queryResult"]

    assert await eventually(query, lambda r: r == [["from cli"]], what="query sees the signal")
    unknown = await cli.fails("workflow", "query", "--workflow-id", workflow_id, "--name",
                              "no_such_query")
    assert "no_such_query" in unknown.stderr, unknown.stderr

    await cli.ok("workflow", "signal", "--workflow-id", workflow_id, "--name", "finish",
                 "--input", '"done"')
    assert await handle.result() == ["from cli", "done"]

    missing = await cli.fails("workflow", "signal", "--workflow-id", unique("missing"),
                              "--name", "append", "--input", '"x"')
    assert "not found" in missing.stderr.lower(), missing.stderr


async def test_cli_cancel(cli: Cli, client: Client, task_queue: str) -> None:
    workflow_id = unique("cli-cancel")
    handle = await client.start_workflow(
        CancellableWorkflow.run, False, id=workflow_id, task_queue=task_queue
    )
    await wait_for_event(handle, "WorkflowTaskCompleted")
    await cli.ok("workflow", "cancel", "--workflow-id", workflow_id)
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    described = await cli.ok("workflow", "describe", "--workflow-id", workflow_id, "-o", "json")
    status = described.json()["workflowExecutionInfo"]["status"]
    assert status == "WORKFLOW_EXECUTION_STATUS_CANCELED"


async def test_cli_terminate(cli: Cli, client: Client, task_queue: str) -> None:
    workflow_id = unique("cli-terminate")
    handle = await client.start_workflow(
        WaitForeverWorkflow.run, id=workflow_id, task_queue=task_queue
    )
    await cli.ok("workflow", "terminate", "--workflow-id", workflow_id, "--reason", "from cli")
    with pytest.raises(WorkflowFailureError) as raised:
        await handle.result()
    assert isinstance(raised.value.cause, TerminatedError)
    assert raised.value.cause.message == "from cli"
    again = await cli.fails(
        "workflow", "terminate", "--workflow-id", workflow_id, "--reason", "twice"
    )
    assert "already completed" in again.stderr, again.stderr


async def test_cli_pauses_changes_and_unpauses_an_activity(
    cli: Cli, client: Client, task_queue: str
) -> None:
    workflow_id = unique("cli-activity")
    handle = await client.start_workflow(GateWorkflow.run, id=workflow_id, task_queue=task_queue)

    async def pending():
        return (await handle.describe()).raw_description.pending_activities

    await eventually(pending, lambda p: bool(p) and p[0].attempt >= 2)
    target = ("--workflow-id", workflow_id, "--activity-id", "gate")
    await cli.ok("activity", "pause", *target, "--reason", "from cli")
    paused = (await pending())[0]
    assert paused.paused and paused.pause_info.manual.reason == "from cli"
    await cli.ok("activity", "update-options", *target, "--start-to-close-timeout", "7s")
    changed = (await pending())[0]
    assert changed.activity_options.start_to_close_timeout.ToTimedelta().total_seconds() == 7
    OPEN_GATES.add(workflow_id)
    await cli.ok("activity", "unpause", *target)
    assert await handle.result() == "passed on attempt 2"


async def test_cli_describes_the_default_namespace(cli: Cli) -> None:
    described = (await cli.ok("operator", "namespace", "describe", "-o", "json")).json()
    assert described["namespaceInfo"]["name"] == "default"
    assert described["namespaceInfo"]["state"] == "NAMESPACE_STATE_REGISTERED"
    assert described["namespaceInfo"]["id"]


async def test_cli_cluster_health(cli: Cli) -> None:
    assert (await cli.ok("operator", "cluster", "health", "-o", "json")).json() == {
        "status": "SERVING"
    }
    assert (await cli.ok("operator", "cluster", "health")).stdout.strip() == "SERVING"


async def test_cli_update_execute_and_delete(cli: Cli, client: Client, task_queue: str) -> None:
    workflow_id = unique("cli-update")
    handle = await client.start_workflow(
        UpdateWorkflow.run, id=workflow_id, task_queue=task_queue
    )
    updated = await cli.ok("workflow", "update", "execute", "--workflow-id", workflow_id,
                           "--name", "add", "--input", '"from cli"', "-o", "json")
    assert updated.json()["result"] == ["from cli"]
    rejected = await cli.fails("workflow", "update", "execute", "--workflow-id", workflow_id,
                               "--name", "add", "--input", '""')
    assert "empty item" in rejected.stderr, rejected.stderr

    await cli.ok("workflow", "delete", "--workflow-id", workflow_id, "--yes")
    gone = await cli.fails("workflow", "describe", "--workflow-id", workflow_id)
    assert "not found" in gone.stderr.lower(), gone.stderr
    with pytest.raises(RPCError):
        await handle.describe()


async def test_cli_reset_to_the_first_and_last_workflow_task(
    cli: Cli, client: Client, task_queue: str
) -> None:
    """`workflow reset --type FirstWorkflowTask` replays from the start with the later
    signals written again (or not, with `--reapply-exclude Signal`); LastWorkflowTask resets
    to the newest task; the workflow then finishes on the new run."""
    workflow_id = unique("cli-reset")
    handle = await client.start_workflow(
        SignalQueryWorkflow.run, id=workflow_id, task_queue=task_queue
    )
    await wait_for_event(handle, "WorkflowTaskCompleted")
    await handle.signal(SignalQueryWorkflow.append, "A")
    await wait_for_event(handle, "WorkflowTaskCompleted", 2)
    first_run = (await handle.describe()).run_id

    await cli.ok("workflow", "reset", "--workflow-id", workflow_id, "--type",
                 "FirstWorkflowTask", "--reason", "from cli")
    second_run = (await client.get_workflow_handle(workflow_id).describe()).run_id
    assert second_run != first_run
    first = await client.get_workflow_handle(workflow_id, run_id=first_run).describe()
    assert first.status.name == "TERMINATED"

    async def items() -> list[str]:
        return await client.get_workflow_handle(workflow_id).query(SignalQueryWorkflow.items)

    assert await eventually(items, lambda i: i == ["A"], what="the signal written again")

    # The first run again, this time without its signal.
    await cli.ok("workflow", "reset", "--workflow-id", workflow_id, "--run-id", first_run,
                 "--type", "FirstWorkflowTask", "--reapply-exclude", "Signal", "--reason",
                 "again")
    await eventually(items, lambda i: i == [], what="a reset without signals")

    await cli.ok("workflow", "reset", "--workflow-id", workflow_id, "--type",
                 "LastWorkflowTask", "--reason", "last")
    third_run = (await client.get_workflow_handle(workflow_id).describe()).run_id
    assert third_run not in (first_run, second_run)

    # The new run's first completed task is its reset point (the CLI resets to one by
    # build ID only in batches).
    third = client.get_workflow_handle(workflow_id, run_id=third_run)
    await wait_for_event(third, "WorkflowTaskCompleted")
    points = (await third.describe()).raw_description.workflow_execution_info.auto_reset_points
    assert [p.run_id for p in points.points] == [third_run], points
    await client.get_workflow_handle(workflow_id).signal(SignalQueryWorkflow.finish, "done")
    assert await client.get_workflow_handle(workflow_id).result() == ["done"]

    bad = await cli.fails("workflow", "reset", "--workflow-id", workflow_id, "--event-id",
                          "2", "--reason", "not a task")
    assert "must be at the boundary" in bad.stderr, bad.stderr


async def test_cli_starts_a_delayed_workflow_and_a_cron_workflow(
    cli: Cli, client: Client, task_queue: str
) -> None:
    delayed_id = unique("cli-delay")
    await cli.ok("workflow", "start", "--type", "GreetingWorkflow", "--task-queue", task_queue,
                 "--workflow-id", delayed_id, "--input", '"later"', "--start-delay", "1s")
    delayed = client.get_workflow_handle(delayed_id)
    description = await delayed.describe()
    assert (description.execution_time - description.start_time).total_seconds() == 1.0
    assert await delayed.result() == "Hello, later!"

    cron_id = unique("cli-cron")
    await cli.ok("workflow", "start", "--type", "RunInfoWorkflow", "--task-queue", task_queue,
                 "--workflow-id", cron_id, "--cron", "@every 1s")
    described = await cli.ok("workflow", "describe", "--workflow-id", cron_id, "-o", "json")
    status = described.json()["workflowExecutionInfo"]["status"]
    assert status == "WORKFLOW_EXECUTION_STATUS_RUNNING"
    await cli.ok("workflow", "terminate", "--workflow-id", cron_id, "--reason", "enough")
    bad = await cli.fails("workflow", "start", "--type", "RunInfoWorkflow", "--task-queue",
                          task_queue, "--workflow-id", unique("cli-cron"), "--cron", "whenever")
    assert "invalid CronSchedule" in bad.stderr, bad.stderr


async def test_cli_task_queue_describe_lists_the_workers_pollers(
    cli: Cli, client: Client, task_queue: str
) -> None:
    async def pollers() -> list[tuple[str, str]]:
        described = await cli.ok("task-queue", "describe", "--task-queue", task_queue,
                                  "-o", "json")
        return sorted((p["taskQueueType"], p["identity"]) for p in described.json()["pollers"])

    expected = [("activity", client.identity), ("workflow", client.identity)]
    assert await eventually(pollers, lambda seen: seen == expected, what="both pollers")


async def test_cli_schedules_create_trigger_pause_list_and_delete(
    cli: Cli, client: Client, task_queue: str
) -> None:
    schedule_id = unique("cli-schedule")
    await cli.ok("schedule", "create", "--schedule-id", schedule_id, "--cron", "30 12 * * Fri",
                 "--workflow-id", f"{schedule_id}-wf", "--task-queue", task_queue,
                 "--type", "GreetingWorkflow", "--input", '"schedule"')
    described = (await cli.ok("schedule", "describe", "--schedule-id", schedule_id,
                              "-o", "json")).json()
    calendar = described["schedule"]["spec"]["structuredCalendar"][0]
    assert calendar["hour"] == [{"start": 12, "end": 12, "step": 1}]
    assert calendar["dayOfWeek"] == [{"start": 5, "end": 5, "step": 1}]

    await cli.ok("schedule", "trigger", "--schedule-id", schedule_id)

    async def recent() -> list[dict]:
        shown = (await cli.ok("schedule", "describe", "--schedule-id", schedule_id,
                              "-o", "json")).json()
        return shown["info"].get("recentActions", [])

    actions = await eventually(recent, lambda seen: len(seen) == 1, what="the triggered start")
    started = actions[0]["startWorkflowResult"]["workflowId"]
    assert started.startswith(f"{schedule_id}-wf-")
    assert await client.get_workflow_handle(started).result() == "Hello, schedule!"

    await cli.ok("schedule", "toggle", "--schedule-id", schedule_id, "--pause",
                 "--reason", "quiet week")
    state = (await cli.ok("schedule", "describe", "--schedule-id", schedule_id,
                          "-o", "json")).json()["schedule"]["state"]
    assert state == {"notes": "quiet week", "paused": True}

    async def listed() -> list[str]:
        shown = await cli.ok("schedule", "list", "-o", "json")
        return [entry["scheduleId"] for entry in json.loads(shown.stdout or "[]")]

    await eventually(listed, lambda ids: schedule_id in ids, what="the schedule listed")
    await cli.ok("schedule", "delete", "--schedule-id", schedule_id)
    gone = await cli.fails("schedule", "describe", "--schedule-id", schedule_id)
    assert "schedule not found" in gone.stderr, gone.stderr
