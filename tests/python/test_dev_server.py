"""The dev server's embedded broker: with `--db-filename` everything survives a restart, as
on `temporal server start-dev --db-filename` (the same steps run on both servers, each
stopped with SIGINT and started again on the same file), and Kafka's own tools read its
topics."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from conftest import (
    REPO_ROOT,
    SHUTDOWN_TIMEOUT_S,
    STARTUP_TIMEOUT_S,
    ServerProcess,
    _start_reference,
    cairn_binary,
)
from support import eventually, unique, worker
from workflows import GreetingWorkflow, SignalQueryWorkflow


def start(server: str, workdir: Path, cli: str) -> tuple[ServerProcess, str]:
    if server == "temporal":
        process, address = _start_reference(cli, workdir)
        if not address:
            pytest.fail(f"the reference dev server did not start\n{process.tail()}")
        return process, address
    process = ServerProcess(
        "cairn",
        [
            str(cairn_binary()),
            "server",
            "start-dev",
            "--headless",
            "--port",
            "0",
            "--ip",
            "127.0.0.1",
            "--db-filename",
            str(workdir / "cairn.db"),
        ],
        workdir,
        dict(os.environ, NO_COLOR="1", RUST_BACKTRACE="1"),
    )
    return process, process.wait_ready(STARTUP_TIMEOUT_S)


def stop(process: ServerProcess) -> None:
    status = process.interrupt(SHUTDOWN_TIMEOUT_S)
    log = process.tail()
    process.close()
    assert status == 0, f"{process.name} exited with {status}\n{log}"


async def event_types(client: Client, workflow_id: str) -> list[int]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [event.event_type for event in history.events]


@pytest.mark.parametrize("server", ["cairn", "temporal"])
async def test_closed_and_running_workflows_survive_a_restart_on_the_same_db_file(
    server: str, tmp_path: Path, temporal_cli: str
) -> None:
    process, address = start(server, tmp_path, temporal_cli)
    try:
        client = await Client.connect(address)
        queue = unique("restart")
        done_id, waiting_id = unique("done"), unique("waiting")
        async with worker(client, queue):
            assert (
                await client.execute_workflow(
                    GreetingWorkflow.run, "before", id=done_id, task_queue=queue
                )
                == "Hello, before!"
            )
            waiting = await client.start_workflow(
                SignalQueryWorkflow.run, id=waiting_id, task_queue=queue
            )
            await waiting.signal(SignalQueryWorkflow.append, "a")
            assert await waiting.query(SignalQueryWorkflow.items) == ["a"]
        done_events = await event_types(client, done_id)
        waiting_events = await event_types(client, waiting_id)
    finally:
        stop(process)

    process, address = start(server, tmp_path, temporal_cli)
    try:
        client = await Client.connect(address)
        done = await client.get_workflow_handle(done_id).describe()
        assert done.status == WorkflowExecutionStatus.COMPLETED
        assert await client.get_workflow_handle(done_id).result() == "Hello, before!"
        assert await event_types(client, done_id) == done_events
        assert await event_types(client, waiting_id) == waiting_events
        async with worker(client, queue):
            waiting = client.get_workflow_handle(waiting_id)
            await waiting.signal(SignalQueryWorkflow.finish, "b")
            assert await waiting.result() == ["a", "b"]
        listed = [
            execution.id
            async for execution in client.list_workflows(
                f"WorkflowId = '{done_id}' OR WorkflowId = '{waiting_id}'"
            )
        ]
        assert sorted(listed) == sorted([done_id, waiting_id])
    finally:
        stop(process)


def kafka_libs() -> str:
    """The Apache Kafka jars `scripts/kafka install` keeps (installed by scripts/setup)."""
    installed = subprocess.run(
        [str(REPO_ROOT / "scripts" / "kafka"), "install"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return installed.stdout.strip().splitlines()[-1]


async def test_kafkas_own_console_consumer_reads_the_dev_servers_history_topic(
    tmp_path: Path,
) -> None:
    process = ServerProcess(
        "cairn",
        [str(cairn_binary()), "server", "start-dev", "--headless", "--port", "0", "--ip", "127.0.0.1"],
        tmp_path,
        dict(os.environ, NO_COLOR="1", RUST_BACKTRACE="1"),
    )
    try:
        client = await Client.connect(process.wait_ready(STARTUP_TIMEOUT_S))
        bootstrap = await eventually(
            lambda: asyncio.to_thread(kafka_address, process),
            lambda address: address is not None,
            what="the embedded broker's address on stdout",
        )
        workflow_id = unique("read-by-kafka-tools")
        await client.start_workflow("NoWorkerNeeded", id=workflow_id, task_queue=unique("none"))
        # Every partition starts with its owner's claim; the workflow's start follows on its
        # own partition, keyed by its workflow ID. The consumer joins a group of its own.
        consumed = await asyncio.to_thread(
            subprocess.run,
            [
                "java",
                "-cp",
                f"{kafka_libs()}/*",
                "org.apache.kafka.tools.consumer.ConsoleConsumer",
                "--bootstrap-server",
                bootstrap,
                "--topic",
                "cairn.history",
                "--group",
                unique("console"),
                "--from-beginning",
                "--max-messages",
                "17",
                "--timeout-ms",
                "60000",
                "--formatter-property",
                "print.key=true",
                "--formatter-property",
                "print.value=false",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert consumed.returncode == 0, consumed.stderr
        keys = consumed.stdout.split()
        assert sorted(keys) == sorted(["claim"] * 16 + [workflow_id]), consumed.stdout
    finally:
        stop(process)


def kafka_address(process: ServerProcess) -> str | None:
    """The address start-dev printed for its embedded broker, once it has."""
    for line in process.tail().splitlines():
        if line.startswith("cairn kafka listening on "):
            return line.rsplit(" ", 1)[1]
    return None
