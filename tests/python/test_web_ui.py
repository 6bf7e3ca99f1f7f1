"""The Temporal Web UI on Cairn, in headless Chromium.

`cairn server start-dev` runs the official UI server (`temporal-ui-server`, installed by
scripts/setup) on `--ui-port`, pointed at its frontend. These tests run real workflows with
the Python SDK, load the UI's pages, assert on what they show, act from the UI (signal, cancel,
terminate, reset, pause a schedule) and check the effect through the SDK.

`E2E_TARGET=temporal` runs the same tests against the reference dev server's own UI
(`temporal server start-dev`), to check that a test itself is right. With
`CAIRN_WEB_UI_SCREENSHOTS=DIR`, the tests save what the browser showed into DIR (the README's
screenshots come from there).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
import pytest_asyncio
from playwright.async_api import Page, async_playwright, expect
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.exceptions import CancelledError

from conftest import (
    STARTUP_TIMEOUT_S,
    SHUTDOWN_TIMEOUT_S,
    ServerProcess,
    cairn_binary,
    cli_env,
    free_port,
    temporal_cli_path,
)
from support import event_types, eventually, unique, worker
from workflows import (
    OPEN_GATES,
    CancellableWorkflow,
    FailingWorkflow,
    GateWorkflow,
    GreetingWorkflow,
    ParentWorkflow,
    SignalQueryWorkflow,
    WaitForeverWorkflow,
)

pytestmark = pytest.mark.timeout(180)

# A second namespace, for the namespace pages.
OTHER_NAMESPACE = "web-ui-other"
UI_MARKER = "cairn ui listening on "
# How long the UI may take to show something (Playwright's assertions retry until then).
SHOWN_MS = 20_000


class WebUi(NamedTuple):
    grpc: str
    url: str


def _wait_for_ui_line(server: ServerProcess, timeout: float) -> str:
    """The UI's URL from the dev server's `cairn ui listening on URL` line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.log_path.read_text(errors="replace").splitlines():
            if UI_MARKER in line:
                return line.split(UI_MARKER, 1)[1].strip()
            if "cairn ui not started" in line:
                pytest.fail(f"the dev server did not start the Web UI: {line}")
        if server.proc.poll() is not None:
            break
        time.sleep(0.05)  # poll interval of a readiness check with a deadline
    pytest.fail(f"no '{UI_MARKER}URL' line within {timeout:.0f}s\n{server.tail()}")


def _start_cairn(workdir: Path) -> tuple[ServerProcess, WebUi]:
    argv = [
        str(cairn_binary()), "server", "start-dev", "--port", "0", "--ip", "127.0.0.1",
        "--ui-port", "0", "--namespace", OTHER_NAMESPACE,
    ]
    server = ServerProcess("cairn", argv, workdir, dict(os.environ, NO_COLOR="1"))
    grpc = server.wait_ready(STARTUP_TIMEOUT_S)
    return server, WebUi(grpc, _wait_for_ui_line(server, STARTUP_TIMEOUT_S))


def _start_reference(workdir: Path) -> tuple[ServerProcess, WebUi]:
    port, ui_port = free_port(), free_port()
    argv = [
        temporal_cli_path(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
        "--ui-port", str(ui_port), "--namespace", OTHER_NAMESPACE, "--log-level", "warn",
        "--db-filename", str(workdir / "temporal.sqlite"),
    ]
    server = ServerProcess("temporal", argv, workdir, cli_env())
    return server, WebUi(f"127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}")


@pytest.fixture(scope="module")
def web_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebUi]:
    """A dev server with its Web UI: Cairn's, or the reference's with E2E_TARGET=temporal."""
    workdir = tmp_path_factory.mktemp("web-ui")
    if os.environ.get("E2E_TARGET") == "temporal":
        server, ui = _start_reference(workdir)
    else:
        server, ui = _start_cairn(workdir)
    try:
        yield ui
        if server.interrupt(SHUTDOWN_TIMEOUT_S) is None:
            server.kill()
    finally:
        server.close()


@pytest_asyncio.fixture
async def client(web_ui: WebUi) -> Client:
    return await Client.connect(web_ui.grpc, namespace="default")


@pytest_asyncio.fixture
async def task_queue(client: Client) -> AsyncIterator[str]:
    queue = unique("web-ui")
    async with worker(client, queue):
        yield queue


@pytest_asyncio.fixture
async def page(web_ui: WebUi, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A page of headless Chromium (Debian's `chromium`) with the UI as its base URL."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run scripts/setup")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = await browser.new_context(
            base_url=web_ui.url, viewport={"width": 1440, "height": 900}
        )
        page = await context.new_page()
        page.set_default_timeout(SHOWN_MS)
        try:
            yield page
        finally:
            screenshots = os.environ.get("CAIRN_WEB_UI_SCREENSHOTS")
            if screenshots:
                Path(screenshots).mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(Path(screenshots) / f"{request.node.name}.png"))
            await browser.close()


def _workflow_path(workflow_id: str, run_id: str | None = None) -> str:
    path = f"/namespaces/default/workflows/{workflow_id}"
    return f"{path}/{run_id}" if run_id else path


async def _open_more_actions(page: Page) -> None:
    await page.get_by_role("button", name="More Actions").locator("visible=true").first.click()


async def _confirm(page: Page) -> None:
    await page.get_by_test_id("confirm-modal-button").locator("visible=true").first.click()


# --- what the pages show ---------------------------------------------------------------------


async def test_the_workflows_list_shows_each_run_with_its_status(
    page: Page, client: Client, task_queue: str
) -> None:
    done = await client.execute_workflow(
        GreetingWorkflow.run, "web-ui", id=unique("ui-done"), task_queue=task_queue
    )
    assert done == "Hello, web-ui!"
    failed_id = unique("ui-failed")
    with pytest.raises(WorkflowFailureError):
        await client.execute_workflow(
            FailingWorkflow.run, "broken on purpose", id=failed_id, task_queue=task_queue
        )
    running = await client.start_workflow(
        WaitForeverWorkflow.run, id=unique("ui-running"), task_queue=task_queue
    )
    query = f'TaskQueue="{task_queue}"'
    await page.goto(f"/namespaces/default/workflows?query={query}")
    rows = page.get_by_role("row")
    await expect(rows.filter(has_text=failed_id)).to_contain_text("Failed")
    await expect(rows.filter(has_text=running.id)).to_contain_text("Running")
    await expect(rows.filter(has_text="GreetingWorkflow")).to_contain_text("Completed")
    await expect(page.get_by_text("3 Workflows")).to_be_visible()
    await running.terminate("test over")


async def test_a_workflows_history_shows_its_events_and_their_details(
    page: Page, client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        SignalQueryWorkflow.run, id=unique("ui-history"), task_queue=task_queue
    )
    await handle.signal(SignalQueryWorkflow.append, "first item")
    await handle.signal(SignalQueryWorkflow.finish, "last item")
    assert await handle.result() == ["first item", "last item"]
    await page.goto(_workflow_path(handle.id, handle.result_run_id) + "/history")
    await expect(page.get_by_text("Completed").first).to_be_visible()
    rows = page.get_by_role("row")
    await expect(rows.filter(has_text="Workflow Execution Started")).to_contain_text(
        "SignalQueryWorkflow"
    )
    await expect(rows.filter(has_text="Workflow Execution Completed")).to_be_visible()
    signaled = rows.filter(has_text="Workflow Execution Signaled")
    await expect(signaled).to_have_count(2)
    # An event's details open under it: the signal's name and its input.
    await signaled.filter(has_text="finish").click()
    await expect(page.get_by_text('"last item"').first).to_be_visible()


async def test_pending_activities_show_their_attempts_and_last_failure(
    page: Page, client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        GateWorkflow.run, id=unique("ui-pending"), task_queue=task_queue
    )
    try:
        await page.goto(_workflow_path(handle.id))
        await page.get_by_role("tab", name="Pending Activities").first.click()
        pending = page.get_by_text("pass_gate").first
        await expect(pending).to_be_visible()
        # The first attempt failed; the UI shows the failure and the next attempt.
        await expect(page.get_by_text("gate closed on attempt 1").first).to_be_visible()
        await expect(page.get_by_text("GateClosed").first).to_be_visible()
    finally:
        OPEN_GATES.add(handle.id)
    assert (await handle.result()).startswith("passed on attempt")


async def test_the_call_stack_and_a_query_answer_from_the_worker(
    page: Page, client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        SignalQueryWorkflow.run, id=unique("ui-query"), task_queue=task_queue
    )
    await handle.signal(SignalQueryWorkflow.append, "queried item")
    await page.goto(_workflow_path(handle.id))
    # The Call Stack tab runs the `__stack_trace` query.
    await page.get_by_role("tab", name="Call Stack").first.click()
    await expect(page.get_by_text("Stack for").first).to_be_visible()
    # The Queries tab lists the workflow's queries and runs the one chosen.
    await page.get_by_role("tab", name="Queries").first.click()
    await page.get_by_test_id("query-select-button").locator("visible=true").first.click()
    await page.get_by_role("option", name="items").first.click()
    await page.get_by_role("button", name="Run Query").first.click()
    await expect(page.get_by_text('"queried item"').first).to_be_visible()
    await handle.signal(SignalQueryWorkflow.finish, "done")
    await handle.result()


async def test_the_relationships_tab_shows_a_workflows_child(
    page: Page, client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        ParentWorkflow.run, "greet", id=unique("ui-parent"), task_queue=task_queue
    )
    assert await handle.result() == "Hello, child!"
    await page.goto(_workflow_path(handle.id, handle.result_run_id))
    await page.get_by_role("tab", name="Relationships").first.click()
    await expect(page.get_by_text(f"{handle.id}-child").first).to_be_visible()


# --- acting from the UI ----------------------------------------------------------------------


async def test_a_signal_sent_from_the_ui_reaches_the_workflow(
    page: Page, client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        SignalQueryWorkflow.run, id=unique("ui-signal"), task_queue=task_queue
    )
    await page.goto(_workflow_path(handle.id))
    await _open_more_actions(page)
    await page.get_by_test_id("signal-button").locator("visible=true").first.click()
    await page.get_by_test_id("signal-select-button").locator("visible=true").first.click()
    await page.get_by_role("option", name="finish").first.click()
    await page.locator("[aria-label=Data]").locator("visible=true").first.click()
    await page.keyboard.type('"sent from the ui"')
    await _confirm(page)
    assert await handle.result() == ["sent from the ui"]


async def test_cancel_from_the_ui_cancels_the_workflow(
    page: Page, client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        CancellableWorkflow.run, False, id=unique("ui-cancel"), task_queue=task_queue
    )
    await page.goto(_workflow_path(handle.id))
    await page.get_by_role("button", name="Request Cancellation").first.click()
    await _confirm(page)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    await expect(page.get_by_text("Canceled").first).to_be_visible()


async def test_terminate_from_the_ui_ends_the_workflow_with_its_reason(
    page: Page, client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        WaitForeverWorkflow.run, id=unique("ui-terminate"), task_queue=task_queue
    )
    await page.goto(_workflow_path(handle.id))
    await _open_more_actions(page)
    await page.get_by_test_id("terminate-button").locator("visible=true").first.click()
    reason = f"terminated from the ui {uuid.uuid4().hex[:6]}"
    await page.locator("#workflow-termination-reason").locator("visible=true").first.fill(reason)
    await _confirm(page)

    async def status() -> WorkflowExecutionStatus | None:
        return (await handle.describe()).status

    await eventually(status, lambda s: s == WorkflowExecutionStatus.TERMINATED, what="terminated")
    history = await handle.fetch_history()
    terminated = history.events[-1].workflow_execution_terminated_event_attributes
    assert terminated.reason == reason
    await expect(page.get_by_text("Terminated").first).to_be_visible()


async def test_reset_from_the_ui_starts_a_new_run_from_the_chosen_event(
    page: Page, client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        GreetingWorkflow.run, "reset", id=unique("ui-reset"), task_queue=task_queue
    )
    assert await handle.result() == "Hello, reset!"
    first_run = handle.result_run_id
    await page.goto(_workflow_path(handle.id, first_run))
    await expect(page.get_by_text('"Hello, reset!"').first).to_be_visible()
    await page.get_by_role("button", name="Reset", exact=True).locator("visible=true").first.click()
    await page.get_by_test_id("workflow-reset-event-id-select-button").locator(
        "visible=true"
    ).first.click()
    await page.get_by_role("option", name="4 - WorkflowTaskCompleted").first.click()
    await page.locator("#reset-reason").locator("visible=true").first.fill("reset from the ui")
    await _confirm(page)

    latest = client.get_workflow_handle(handle.id)

    async def run_id() -> str | None:
        return (await latest.describe()).run_id

    new_run = await eventually(run_id, lambda run: run != first_run, what="a new run")
    assert await client.get_workflow_handle(handle.id, run_id=new_run).result() == "Hello, reset!"
    types = await event_types(client.get_workflow_handle(handle.id, run_id=new_run))
    assert "WorkflowTaskFailed" in types  # the reset point, as Temporal writes it
    await expect(page.get_by_text("This Workflow has been reset").first).to_be_visible()


# --- schedules and namespaces ----------------------------------------------------------------


async def test_the_schedules_pages_show_a_schedule_and_pause_it(
    page: Page, client: Client, task_queue: str
) -> None:
    schedule_id = unique("ui-schedule")
    schedule = await client.create_schedule(
        schedule_id,
        Schedule(
            action=ScheduleActionStartWorkflow(
                GreetingWorkflow.run, "schedule", id=unique("ui-scheduled"), task_queue=task_queue
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        ),
    )
    try:
        await page.goto("/namespaces/default/schedules")
        await expect(page.get_by_text(schedule_id).first).to_be_visible()
        await page.get_by_text(schedule_id).first.click()
        await expect(page.get_by_text("GreetingWorkflow").first).to_be_visible()
        await expect(page.get_by_text("Every 1 hour(s)").first).to_be_visible()
        await expect(page.get_by_text("5 Upcoming Runs").first).to_be_visible()
        await page.get_by_role("button", name="Pause").first.click()
        await page.locator("#pause-reason").locator("visible=true").first.fill("paused from the ui")
        await _confirm(page)

        async def paused() -> tuple[bool, str | None]:
            state = (await schedule.describe()).schedule.state
            return state.paused, state.note

        await eventually(paused, lambda p: p == (True, "paused from the ui"), what="paused")
        await expect(page.get_by_text("Paused").first).to_be_visible()
        # Trigger runs the action now, paused or not.
        await page.get_by_role("button", name="Schedule actions").first.click()
        await page.get_by_test_id("trigger-schedule").locator("visible=true").first.click()
        await _confirm(page)

        async def actions_taken() -> int:
            return (await schedule.describe()).info.num_actions

        await eventually(actions_taken, lambda n: n == 1, what="the triggered action")
    finally:
        await schedule.delete()


async def test_the_namespace_pages_list_namespaces_and_describe_one(page: Page) -> None:
    await page.goto("/namespaces")
    await expect(page.get_by_role("row").filter(has_text=OTHER_NAMESPACE)).to_be_visible()
    await expect(page.get_by_role("row").filter(has_text="default").first).to_be_visible()
    await page.goto(f"/namespaces/{OTHER_NAMESPACE}")
    await expect(page.get_by_text(f"Namespace: {OTHER_NAMESPACE}")).to_be_visible()
    retention = page.get_by_role("row").filter(has_text="Retention Period")
    await expect(retention).to_contain_text("1 day")
    await expect(page.get_by_role("row").filter(has_text="History Archival")).to_contain_text(
        "Disabled", ignore_case=True
    )
    await expect(page.get_by_role("row").filter(has_text="WorkflowType")).to_be_visible()
