"""Workflows, activities, timers, signals, queries, cancellation, timeouts and visibility, as the
official Python SDK uses them. Each test runs its own worker on its own task queue."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
    PauseActivityRequest,
    UnpauseActivityRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    TerminatedError,
    TimeoutError,
    TimeoutType,
    WorkflowAlreadyStartedError,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from support import eventually, event_types, unique, wait_for_event, worker
from workflows import (
    ACTIVITY_CANCELLATIONS,
    ACTIVITY_PAUSES,
    ALL_WORKFLOWS,
    ActivityCancelWorkflow,
    ActivityRetryWorkflow,
    ActivityTimeoutWorkflow,
    CancellableWorkflow,
    FailingWorkflow,
    FlakyTaskWorkflow,
    GreetingWorkflow,
    HeartbeatDetailsWorkflow,
    NonRetryableActivityWorkflow,
    PatchedWorkflow,
    PausableWorkflow,
    SignalQueryWorkflow,
    TimerCancelWorkflow,
    TimerWorkflow,
    WaitForeverWorkflow,
)

pytestmark = pytest.mark.timeout(120)



async def status_of(handle) -> WorkflowExecutionStatus:
    return (await handle.describe()).status


# --- activities ---------------------------------------------------------------------------


async def test_workflow_returns_activity_result(client: Client, task_queue: str) -> None:
    result = await client.execute_workflow(
        GreetingWorkflow.run, "Cairn", id=unique("greet"), task_queue=task_queue
    )
    assert result == "Hello, Cairn!"


async def test_failing_activity_is_retried_until_it_succeeds(
    client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        ActivityRetryWorkflow.run, id=unique("retry"), task_queue=task_queue
    )
    assert await handle.result() == 3
    types = await event_types(handle)
    assert types.count("ActivityTaskScheduled") == 1, types
    assert types.count("ActivityTaskStarted") == 1, types
    assert types.count("ActivityTaskCompleted") == 1, types
    assert "ActivityTaskFailed" not in types
    history = await handle.fetch_history()
    started = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
    assert started[0].activity_task_started_event_attributes.attempt == 3


async def test_non_retryable_activity_failure_fails_the_workflow(
    client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        NonRetryableActivityWorkflow.run, id=unique("nonretry"), task_queue=task_queue
    )
    with pytest.raises(WorkflowFailureError) as raised:
        await handle.result()
    activity_error = raised.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.message, cause.type, cause.non_retryable) == ("bad input", "BadInput", True)
    assert await status_of(handle) == WorkflowExecutionStatus.FAILED
    types = await event_types(handle)
    assert types.count("ActivityTaskStarted") == 1, "a non-retryable failure is not retried"
    assert "ActivityTaskFailed" in types


async def test_activity_start_to_close_timeout(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(
        ActivityTimeoutWorkflow.run, "start_to_close", id=unique("stc"), task_queue=task_queue
    )
    assert await handle.result() == "TimeoutError:START_TO_CLOSE"
    assert "ActivityTaskTimedOut" in await event_types(handle)


async def test_heartbeat_details_reach_the_next_attempt(client: Client, task_queue: str) -> None:
    result = await client.execute_workflow(
        HeartbeatDetailsWorkflow.run, id=unique("hbdetails"), task_queue=task_queue
    )
    assert result == [7]


async def test_activity_heartbeat_timeout(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(
        ActivityTimeoutWorkflow.run, "heartbeat", id=unique("hbtimeout"), task_queue=task_queue
    )
    assert await handle.result() == "TimeoutError:HEARTBEAT"
    assert "ActivityTaskTimedOut" in await event_types(handle)


async def test_a_paused_activity_stops_its_attempt_and_waits_for_the_unpause(
    client: Client, task_queue: str
) -> None:
    workflow_id = unique("pause")
    handle = await client.start_workflow(
        PausableWorkflow.run, id=workflow_id, task_queue=task_queue
    )

    async def pending():
        activities = (await handle.describe()).raw_description.pending_activities
        return activities[0] if activities else None

    await eventually(
        pending, lambda a: a and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    )
    execution = WorkflowExecution(workflow_id=workflow_id)
    await client.workflow_service.pause_activity(
        PauseActivityRequest(
            namespace="default", execution=execution, id="work", reason="maintenance"
        )
    )

    # The worker hears of the pause on its next heartbeat and stops the attempt; the next
    # attempt waits for the operator, however short the retry interval.
    paused = await eventually(
        pending, lambda a: a and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED
    )
    assert workflow_id in ACTIVITY_PAUSES
    assert (paused.attempt, paused.paused, paused.pause_info.manual.reason) == (
        2,
        True,
        "maintenance",
    )
    await client.workflow_service.unpause_activity(
        UnpauseActivityRequest(namespace="default", execution=execution, id="work")
    )
    assert await handle.result() == "finished on attempt 2"


# --- timers, signals, queries -------------------------------------------------------------


async def test_timer_fires_after_its_duration(client: Client, task_queue: str) -> None:
    started = time.monotonic()
    handle = await client.start_workflow(
        TimerWorkflow.run, 1.5, id=unique("timer"), task_queue=task_queue
    )
    assert await handle.result() == "timer fired"
    assert time.monotonic() - started >= 1.5, "the timer fired early"
    types = await event_types(handle)
    assert types.count("TimerStarted") == 1 and types.count("TimerFired") == 1, types


async def test_cancelled_timer_never_fires(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(
        TimerCancelWorkflow.run, id=unique("timercancel"), task_queue=task_queue
    )
    await wait_for_event(handle, "TimerStarted")
    await handle.signal(TimerCancelWorkflow.cancel_timer)
    assert await handle.result() == "timer cancelled"
    types = await event_types(handle)
    assert "TimerCanceled" in types and "TimerFired" not in types, types


async def test_signals_arrive_in_order_and_complete_the_workflow(
    client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        SignalQueryWorkflow.run, id=unique("signal"), task_queue=task_queue
    )
    await handle.signal(SignalQueryWorkflow.append, "first")
    await handle.signal(SignalQueryWorkflow.append, "second")
    await handle.signal(SignalQueryWorkflow.finish, "last")
    assert await handle.result() == ["first", "second", "last"]
    assert (await event_types(handle)).count("WorkflowExecutionSignaled") == 3


async def test_query_reads_state_of_a_running_workflow(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(
        SignalQueryWorkflow.run, id=unique("query"), task_queue=task_queue
    )
    assert await handle.query(SignalQueryWorkflow.items) == []
    await handle.signal(SignalQueryWorkflow.append, "a")
    await eventually(
        lambda: handle.query(SignalQueryWorkflow.items),
        lambda items: items == ["a"],
        what="query to see the signal",
    )
    assert await status_of(handle) == WorkflowExecutionStatus.RUNNING
    history_before = await event_types(handle)
    await handle.query(SignalQueryWorkflow.items)
    assert await event_types(handle) == history_before, "a query must not write history"
    await handle.signal(SignalQueryWorkflow.finish, "b")
    assert await handle.result() == ["a", "b"]


# --- failure, cancellation, termination, timeouts ------------------------------------------


async def test_workflow_failure_surfaces_at_the_client(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(
        FailingWorkflow.run, "it broke", id=unique("fail"), task_queue=task_queue
    )
    with pytest.raises(WorkflowFailureError) as raised:
        await handle.result()
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.message, cause.type) == ("it broke", "Boom")
    assert await status_of(handle) == WorkflowExecutionStatus.FAILED


async def test_cancelled_workflow_runs_cleanup_and_ends_cancelled(
    client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        CancellableWorkflow.run, True, id=unique("cancel"), task_queue=task_queue
    )
    await wait_for_event(handle, "WorkflowTaskCompleted")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as raised:
        await handle.result()
    assert isinstance(raised.value.cause, CancelledError)
    assert await status_of(handle) == WorkflowExecutionStatus.CANCELED
    types = await event_types(handle)
    assert "WorkflowExecutionCancelRequested" in types
    assert "ActivityTaskCompleted" in types, "the cleanup activity ran after the cancel request"
    assert types[-1] == "WorkflowExecutionCanceled", types


async def test_workflow_cancel_reaches_the_activity_through_heartbeats(
    client: Client, task_queue: str
) -> None:
    workflow_id = unique("actcancel")
    handle = await client.start_workflow(
        ActivityCancelWorkflow.run, id=workflow_id, task_queue=task_queue
    )

    async def pending_states() -> list[int]:
        description = await handle.describe()
        return [activity.state for activity in description.raw_description.pending_activities]

    await eventually(
        pending_states,
        lambda states: states == [PendingActivityState.PENDING_ACTIVITY_STATE_STARTED],
        what="activity started",
    )
    await handle.cancel()
    assert await handle.result() == "activity cancelled"
    assert workflow_id in ACTIVITY_CANCELLATIONS, "the activity never saw the cancellation"
    types = await event_types(handle)
    assert "ActivityTaskCancelRequested" in types and "ActivityTaskCanceled" in types, types


async def test_terminate_ends_the_workflow_with_the_reason(
    client: Client, task_queue: str
) -> None:
    handle = await client.start_workflow(
        WaitForeverWorkflow.run, id=unique("terminate"), task_queue=task_queue
    )
    await handle.terminate(reason="no longer needed")
    with pytest.raises(WorkflowFailureError) as raised:
        await handle.result()
    cause = raised.value.cause
    assert isinstance(cause, TerminatedError)
    assert cause.message == "no longer needed"
    assert await status_of(handle) == WorkflowExecutionStatus.TERMINATED


async def test_describe_reports_status_type_and_queue(client: Client, task_queue: str) -> None:
    waiting = await client.start_workflow(
        WaitForeverWorkflow.run, id=unique("describe"), task_queue=task_queue
    )
    description = await waiting.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert (description.id, description.run_id) == (waiting.id, waiting.result_run_id)
    assert description.workflow_type == "WaitForeverWorkflow"
    assert description.task_queue == task_queue
    assert description.close_time is None

    done = await client.start_workflow(
        GreetingWorkflow.run, "describe", id=unique("describe"), task_queue=task_queue
    )
    await done.result()
    description = await done.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.close_time is not None
    assert description.close_time >= description.start_time
    await waiting.terminate(reason="cleanup")


@pytest.mark.parametrize("timeout", ["execution_timeout", "run_timeout"])
async def test_workflow_times_out(client: Client, task_queue: str, timeout: str) -> None:
    handle = await client.start_workflow(
        WaitForeverWorkflow.run,
        id=unique("timeout"),
        task_queue=task_queue,
        **{timeout: timedelta(seconds=2)},
    )
    with pytest.raises(WorkflowFailureError) as raised:
        await handle.result()
    assert isinstance(raised.value.cause, TimeoutError)
    assert raised.value.cause.type == TimeoutType.START_TO_CLOSE
    assert await status_of(handle) == WorkflowExecutionStatus.TIMED_OUT
    assert (await event_types(handle))[-1] == "WorkflowExecutionTimedOut"


async def test_workflow_task_failure_is_retried(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(
        FlakyTaskWorkflow.run, id=unique("flakytask"), task_queue=task_queue
    )
    assert await handle.result() == "recovered"
    types = await event_types(handle)
    assert "WorkflowTaskFailed" in types, types
    assert types[-1] == "WorkflowExecutionCompleted"


# --- workflow IDs: conflicts, reuse, signal-with-start --------------------------------------


async def test_starting_a_running_workflow_id_again_is_rejected(
    client: Client, task_queue: str
) -> None:
    workflow_id = unique("dup")
    first = await client.start_workflow(
        WaitForeverWorkflow.run, id=workflow_id, task_queue=task_queue
    )
    with pytest.raises(WorkflowAlreadyStartedError) as raised:
        await client.start_workflow(WaitForeverWorkflow.run, id=workflow_id, task_queue=task_queue)
    assert raised.value.workflow_id == workflow_id
    assert raised.value.run_id == first.result_run_id
    await first.terminate(reason="cleanup")


async def test_reject_duplicate_policy_refuses_a_completed_id(
    client: Client, task_queue: str
) -> None:
    workflow_id = unique("reuse")
    first = await client.start_workflow(
        GreetingWorkflow.run, "one", id=workflow_id, task_queue=task_queue
    )
    await first.result()
    with pytest.raises(WorkflowAlreadyStartedError):
        await client.start_workflow(
            GreetingWorkflow.run,
            "two",
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    # The default policy allows a new run once the previous one closed.
    second = await client.start_workflow(
        GreetingWorkflow.run, "three", id=workflow_id, task_queue=task_queue
    )
    assert second.result_run_id != first.result_run_id
    assert await second.result() == "Hello, three!"


async def test_use_existing_conflict_policy_returns_the_running_run(
    client: Client, task_queue: str
) -> None:
    workflow_id = unique("useexisting")
    first = await client.start_workflow(
        WaitForeverWorkflow.run, id=workflow_id, task_queue=task_queue
    )
    again = await client.start_workflow(
        WaitForeverWorkflow.run,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    assert again.result_run_id == first.result_run_id
    assert (await again.describe()).run_id == first.result_run_id
    await first.terminate(reason="cleanup")


async def test_signal_with_start(client: Client, task_queue: str) -> None:
    # No such workflow yet: it starts, and sees the signal before anything else.
    workflow_id = unique("sws")
    handle = await client.start_workflow(
        SignalQueryWorkflow.run,
        id=workflow_id,
        task_queue=task_queue,
        start_signal="finish",
        start_signal_args=["from start"],
    )
    assert await handle.result() == ["from start"]

    # Already running: the signal goes to the running run; nothing new starts.
    workflow_id = unique("sws")
    running = await client.start_workflow(
        SignalQueryWorkflow.run, id=workflow_id, task_queue=task_queue
    )
    again = await client.start_workflow(
        SignalQueryWorkflow.run,
        id=workflow_id,
        task_queue=task_queue,
        start_signal="finish",
        start_signal_args=["to running"],
    )
    assert again.result_run_id == running.result_run_id
    assert await running.result() == ["to running"]


# --- visibility and replay ------------------------------------------------------------------


async def test_a_workflow_records_its_patches_in_temporal_change_version(
    client: Client, task_queue: str
) -> None:
    workflow_id = unique("patched")
    patch_id = unique("fix")
    assert await client.execute_workflow(
        PatchedWorkflow.run, patch_id, id=workflow_id, task_queue=task_queue
    )
    query = f"TemporalChangeVersion = '{patch_id}'"
    found = await eventually(
        lambda: _ids(client, query),
        lambda ids: ids == [workflow_id],
        what="the workflow listed by its change version",
    )
    assert found == [workflow_id]


async def _ids(client: Client, query: str) -> list[str]:
    return [execution.id async for execution in client.list_workflows(query)]


async def test_list_and_count_workflows(client: Client, task_queue: str) -> None:
    greetings = [unique("list-greet") for _ in range(2)]
    failing = unique("list-fail")
    for workflow_id in greetings:
        await client.execute_workflow(
            GreetingWorkflow.run, "list", id=workflow_id, task_queue=task_queue
        )
    with pytest.raises(WorkflowFailureError):
        await client.execute_workflow(
            FailingWorkflow.run, "listed", id=failing, task_queue=task_queue
        )
    ours = [*greetings, failing]
    in_ours = "WorkflowId IN (" + ", ".join(f"'{w}'" for w in ours) + ")"

    async def listed(query: str) -> dict[str, tuple[str, WorkflowExecutionStatus | None]]:
        return {
            execution.id: (execution.workflow_type, execution.status)
            async for execution in client.list_workflows(query)
        }

    # Visibility may trail the workflow's own state a little: poll until it caught up.
    found = await eventually(
        lambda: listed(in_ours), lambda found: len(found) == 3, what="3 workflows listed"
    )
    assert found == {
        greetings[0]: ("GreetingWorkflow", WorkflowExecutionStatus.COMPLETED),
        greetings[1]: ("GreetingWorkflow", WorkflowExecutionStatus.COMPLETED),
        failing: ("FailingWorkflow", WorkflowExecutionStatus.FAILED),
    }

    by_type = await listed("WorkflowType='GreetingWorkflow'")
    assert set(greetings) <= set(by_type) and failing not in by_type
    assert {workflow_type for workflow_type, _ in by_type.values()} == {"GreetingWorkflow"}

    completed = await listed("ExecutionStatus='Completed'")
    assert set(greetings) <= set(completed) and failing not in completed
    assert {status for _, status in completed.values()} == {WorkflowExecutionStatus.COMPLETED}

    assert (await client.count_workflows(in_ours)).count == 3
    both = f"{in_ours} AND ExecutionStatus='Completed'"
    assert (await client.count_workflows(both)).count == 2


async def test_fetched_history_replays_cleanly(client: Client, task_queue: str) -> None:
    handles = [
        await client.start_workflow(
            GreetingWorkflow.run, "replay", id=unique("replay"), task_queue=task_queue
        ),
        await client.start_workflow(
            ActivityRetryWorkflow.run, id=unique("replay"), task_queue=task_queue
        ),
        await client.start_workflow(
            TimerWorkflow.run, 0.5, id=unique("replay"), task_queue=task_queue
        ),
        await client.start_workflow(
            SignalQueryWorkflow.run,
            id=unique("replay"),
            task_queue=task_queue,
            start_signal="finish",
            start_signal_args=["replayed"],
        ),
    ]
    replayer = Replayer(workflows=ALL_WORKFLOWS)
    for handle in handles:
        await handle.result()
        history = await handle.fetch_history()
        result = await replayer.replay_workflow(history)
        assert result.replay_failure is None, f"{handle.id}: {result.replay_failure}"


async def test_count_grouped_by_execution_status(client: Client, task_queue: str) -> None:
    for _ in range(2):
        await client.execute_workflow(
            GreetingWorkflow.run, "grouped", id=unique("group-done"), task_queue=task_queue
        )
    await client.start_workflow(WaitForeverWorkflow.run, id=unique("group-open"), task_queue=task_queue)
    query = f"TaskQueue = '{task_queue}' GROUP BY ExecutionStatus"

    def grouped(result) -> dict[str, int]:
        return {str(group.group_values[0]): group.count for group in result.groups}

    result = await eventually(
        lambda: client.count_workflows(query),
        lambda r: grouped(r) == {"Completed": 2, "Running": 1},
        what="counts grouped by status",
    )
    assert result.count == 3


async def test_deleting_a_closed_workflow_removes_it_at_once(cairn_client: Client) -> None:
    """Cairn deletes in the same record that answers the call (Temporal's dev server deletes a
    closed workflow in the background, so this checks Cairn only)."""
    queue = unique("delete-closed")
    async with worker(cairn_client, queue):
        handle = await cairn_client.start_workflow(
            GreetingWorkflow.run, "deleted", id=unique("delete-closed"), task_queue=queue
        )
        assert await handle.result() == "Hello, deleted!"
    await cairn_client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace="default", workflow_execution=WorkflowExecution(workflow_id=handle.id)
        )
    )
    with pytest.raises(RPCError) as missing:
        await handle.describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    assert not [w async for w in cairn_client.list_workflows(f"WorkflowId = '{handle.id}'")]
