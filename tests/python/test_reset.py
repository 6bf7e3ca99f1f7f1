"""ResetWorkflowExecution against the reference Temporal dev server and Cairn: the histories of
the reset run and the new run, the signals written again, results, and the errors of bad
resets, compared side by side.
"""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyExcludeType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError

from support import unique, wait_for_event, worker
from test_differential import describe_event
from workflows import CountdownWorkflow, GreetingWorkflow, SignalQueryWorkflow, UpdateWorkflow

pytestmark = pytest.mark.timeout(120)


async def _reset(
    client: Client,
    workflow_id: str,
    run_id: str,
    event_id: int,
    *,
    reason: str = "reset by test",
    exclude_signals: bool = False,
    exclude_updates: bool = False,
) -> str:
    request = ResetWorkflowExecutionRequest(
        namespace="default",
        workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        reason=reason,
        workflow_task_finish_event_id=event_id,
        request_id=str(uuid.uuid4()),
    )
    if exclude_signals:
        request.reset_reapply_exclude_types.append(
            ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL
        )
    if exclude_updates:
        request.reset_reapply_exclude_types.append(
            ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE
        )
    response = await client.workflow_service.reset_workflow_execution(request)
    return response.run_id


async def _events(client: Client, workflow_id: str, run_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return [describe_event(event) for event in history.events]


async def _error(call) -> str:
    try:
        await call
        return "OK"
    except RPCError as error:
        return f"{error.status.name}: {error.message}"


async def _reset_points(client: Client, workflow_id: str, run_id: str, runs: dict[str, str]):
    """The run's reset points, with run IDs named by `runs` and build IDs as present or not."""
    described = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    points = described.raw_description.workflow_execution_info.auto_reset_points.points
    return [
        (
            runs.get(p.run_id, "another run"),
            p.first_workflow_task_completed_id,
            bool(p.build_id),
            p.resettable,
        )
        for p in points
    ]


def _first_completed_task(events) -> int:
    return next(
        e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )


async def reset_behaviour(client: Client) -> dict[str, object]:
    seen: dict[str, object] = {}
    queue = unique("reset-queue")
    async with worker(client, queue):
        # A completed workflow reset to its first workflow task runs again from there.
        handle = await client.start_workflow(
            GreetingWorkflow.run, "reset", id=unique("reset-done"), task_queue=queue
        )
        assert await handle.result() == "Hello, reset!"
        base = handle.result_run_id
        new = await _reset(client, handle.id, base, 4)
        seen["new run differs"] = new != base
        latest = client.get_workflow_handle(handle.id)
        seen["new result"] = await latest.result()
        seen["current run is the new one"] = (await latest.describe()).run_id == new
        seen["completed run after reset"] = await _events(client, handle.id, base)
        seen["new run"] = await _events(client, handle.id, new)
        runs = {base: "base", new: "new"}
        seen["reset points of the base run"] = await _reset_points(client, handle.id, base, runs)
        seen["reset points of the new run"] = await _reset_points(client, handle.id, new, runs)

        # Reset points carry over continue-as-new: the last run names the first.
        chain = await client.start_workflow(
            CountdownWorkflow.run, 1, id=unique("reset-chain"), task_queue=queue
        )
        await chain.result()
        last = (await client.get_workflow_handle(chain.id).describe()).run_id
        runs = {chain.first_execution_run_id: "first", last: "last"}
        seen["reset points after continue-as-new"] = await _reset_points(
            client, chain.id, last, runs
        )

        # A running workflow: the old run is terminated, later signals are written again.
        for exclude in (False, True):
            label = "without signals" if exclude else "with signals"
            # The first signal comes with the start, before the first workflow task.
            running = await client.start_workflow(
                SignalQueryWorkflow.run,
                id=unique("reset-running"),
                task_queue=queue,
                start_signal="append",
                start_signal_args=["A"],
            )
            await wait_for_event(running, "WorkflowTaskCompleted")
            await running.signal(SignalQueryWorkflow.append, "B")
            await wait_for_event(running, "WorkflowTaskCompleted", 2)
            history = await running.fetch_history()
            new = await _reset(
                client,
                running.id,
                running.first_execution_run_id,
                _first_completed_task(history.events),
                reason=f"reset {label}",
                exclude_signals=exclude,
            )
            again = client.get_workflow_handle(running.id, run_id=new)
            await wait_for_event(again, "WorkflowTaskCompleted")
            await again.signal(SignalQueryWorkflow.finish, "done")
            seen[f"result {label}"] = await again.result()
            base_events = await _events(client, running.id, running.first_execution_run_id)
            seen[f"old run's end {label}"] = base_events[-1]
            seen[f"new run {label}"] = await _events(client, running.id, new)

        # Updates after the reset point are admitted again from history, and the worker
        # accepts and completes them on the new run's first task.
        for exclude in (False, True):
            label = "without updates" if exclude else "with updates"
            updated = await client.start_workflow(
                UpdateWorkflow.run, id=unique("reset-update"), task_queue=queue
            )
            await wait_for_event(updated, "WorkflowTaskCompleted")
            await updated.execute_update(UpdateWorkflow.add, "x")
            await updated.signal(UpdateWorkflow.finish)
            await updated.result()
            new = await _reset(
                client, updated.id, updated.result_run_id, 4, exclude_updates=exclude
            )
            again = client.get_workflow_handle(updated.id, run_id=new)
            await wait_for_event(again, "WorkflowTaskCompleted")
            # The signal was reapplied too, so the new run finishes by itself.
            seen[f"result {label}"] = await again.result()
            seen[f"new run {label}"] = await _events(client, updated.id, new)

    # Bad resets.
    target = handle.id
    seen["error: not a workflow task event"] = await _error(_reset(client, target, base, 2))
    seen["error: beyond the history"] = await _error(_reset(client, target, base, 999))
    seen["error: unknown workflow"] = await _error(
        _reset(client, "nobody-has-this-id", "", 4)
    )
    return seen


async def test_cairn_resets_like_the_reference(ref_client: Client, cairn_client: Client) -> None:
    theirs = await reset_behaviour(ref_client)
    ours = await reset_behaviour(cairn_client)
    problems = "\n".join(
        f"{key}:\n  cairn:     {ours.get(key)!r}\n  reference: {theirs.get(key)!r}"
        for key in sorted(set(ours) | set(theirs))
        if ours.get(key) != theirs.get(key)
    )
    assert ours == theirs, problems
