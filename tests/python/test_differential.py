"""Differential tests: the same scenarios against the reference Temporal dev server and Cairn.

`test_reference_*` run the reference alone and check it still produces what REFERENCE.md records
(run only those with `-k reference_only`). `test_cairn_matches_reference_*` run both servers and
compare history (event types and the IDs events point at), results and errors, final status
and, for bad requests, the gRPC status code. A mismatch prints both sides next to each other.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution, WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DeleteWorkflowExecutionRequest,
    DeprecateNamespaceRequest,
    DescribeNamespaceRequest,
    DescribeTaskQueueRequest,
    DescribeWorkflowExecutionRequest,
    ExecuteMultiOperationRequest,
    GetClusterInfoRequest,
    GetSystemInfoRequest,
    GetWorkflowExecutionHistoryReverseRequest,
    PauseActivityRequest,
    PollWorkflowExecutionUpdateRequest,
    RegisterNamespaceRequest,
    ResetActivityRequest,
    ScanWorkflowExecutionsRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
    UnpauseActivityRequest,
    UpdateActivityOptionsRequest,
    UpdateNamespaceRequest,
    UpdateWorkflowExecutionRequest,
)
from temporalio.api.enums.v1 import (
    IndexedValueType,
    PendingActivityState,
    UpdateWorkflowExecutionLifecycleStage,
)
from temporalio.api.update.v1 import UpdateRef
from temporalio.api.namespace.v1 import UpdateNamespaceInfo
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
    RemoveSearchAttributesRequest,
)
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateStage,
)
from temporalio.client import WorkflowQueryRejectedError
from temporalio.common import (
    QueryRejectCondition,
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import ApplicationError, FailureError, TimeoutError
from temporalio.service import RPCError

from support import event_type_name, eventually, unique, wait_for_event, worker
from workflows import (
    OPEN_GATES,
    ActivityRetryWorkflow,
    ActivityTimeoutWorkflow,
    CancellableWorkflow,
    CancelSenderWorkflow,
    ContinueOnceWorkflow,
    CountdownWorkflow,
    FailingWorkflow,
    FailUntilAttemptWorkflow,
    GateWorkflow,
    GreetingWorkflow,
    LocalActivityWorkflow,
    ParentWorkflow,
    RunInfoWorkflow,
    SignalQueryWorkflow,
    SignalSenderWorkflow,
    TimerWorkflow,
    UpdateWorkflow,
    UpsertWorkflow,
    WaitForeverWorkflow,
)

pytestmark = pytest.mark.timeout(120)

WORKFLOW_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), backoff_coefficient=1.0, maximum_attempts=5
)

# Event attributes that tie events together; shown next to each event type.
_LINK_FIELDS = (
    "scheduled_event_id",
    "started_event_id",
    "workflow_task_completed_event_id",
    "attempt",
    "timer_id",
    "signal_name",
    "reason",
    "cause",
    "initiator",
    "retry_state",
)
# Run IDs differ between servers: only whether an event names another run is compared.
_RUN_LINK_FIELDS = ("new_execution_run_id", "continued_execution_run_id")


@dataclass
class Outcome:
    """What a user can observe of one scenario on one server."""

    events: list[str] = field(default_factory=list)
    result: str = ""
    status: str = ""
    extras: dict[str, object] = field(default_factory=dict)


def describe_event(event) -> str:
    """`ActivityTaskCompleted scheduled_event_id=5 started_event_id=6` style summary."""
    parts = [event_type_name(event.event_type)]
    which = event.WhichOneof("attributes")
    if which:
        attributes = getattr(event, which)
        fields = attributes.DESCRIPTOR.fields_by_name
        for name in _LINK_FIELDS:
            value = getattr(attributes, name) if name in fields else None
            if value:  # proto3 cannot tell 0 or "" from unset, so neither is shown
                parts.append(f"{name}={value}")
        for name in _RUN_LINK_FIELDS:
            if name in fields and getattr(attributes, name):
                parts.append(name.removesuffix("_execution_run_id") + "_run")
    return " ".join(parts)


def describe_error(error: BaseException) -> str:
    """Type and message of an error and of each cause: `A: message <- B: message`."""
    chain = []
    current: BaseException | None = error
    while current is not None:
        text = f"{type(current).__name__}: {getattr(current, 'message', str(current))}"
        if isinstance(current, ApplicationError):
            text += f" (type={current.type}, non_retryable={current.non_retryable})"
        if isinstance(current, TimeoutError):
            text += f" (type={current.type.name if current.type else None})"
        chain.append(text)
        current = current.cause if isinstance(current, FailureError) else current.__cause__
    return " <- ".join(chain)


async def finish(handle: WorkflowHandle, outcome: Outcome) -> Outcome:
    """Fills in the result, final status and history of a finished or finishing workflow."""
    try:
        outcome.result = f"ok {json.dumps(await handle.result())}"
    except Exception as error:  # noqa: BLE001 - the error is what we compare
        outcome.result = f"error {describe_error(error)}"
    outcome.status = (await handle.describe()).status.name
    history = await handle.fetch_history()
    outcome.events = [describe_event(event) for event in history.events]
    ids = [event.event_id for event in history.events]
    outcome.extras["event_ids_consecutive"] = ids == list(range(1, len(ids) + 1))
    return outcome


def first_run(client: Client, handle: WorkflowHandle) -> WorkflowHandle:
    """A handle on the first run of the workflow `handle` started."""
    return client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)


async def later_runs(client: Client, handle: WorkflowHandle) -> list[list[str]]:
    """The events of each run after the handle's, following the runs its close events name."""
    runs = []
    history = await handle.fetch_history()
    while True:
        last = history.events[-1]
        which = last.WhichOneof("attributes")
        next_run = getattr(getattr(last, which), "new_execution_run_id", "") if which else ""
        if not next_run:
            return runs
        history = await client.get_workflow_handle(handle.id, run_id=next_run).fetch_history()
        runs.append([describe_event(event) for event in history.events])


# --- scenarios: each runs with a worker on its own task queue --------------------------------


async def activity(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        GreetingWorkflow.run, "differential", id=unique("diff-activity"), task_queue=queue
    )
    outcome = await finish(handle, Outcome())
    # The SDKs read the build ID of the worker that completed each task from history.
    history = await handle.fetch_history()
    outcome.extras["build ID on every completed task"] = all(
        event.workflow_task_completed_event_attributes.worker_version.build_id
        for event in history.events
        if event.HasField("workflow_task_completed_event_attributes")
    )
    # A cancel request for a workflow that already completed succeeds and changes nothing;
    # a termination is refused.
    await handle.cancel()
    try:
        await handle.terminate()
        outcome.extras["terminate of the completed workflow"] = "OK"
    except RPCError as error:
        outcome.extras["terminate of the completed workflow"] = (
            f"{error.status.name}: {error.message}"
        )
    outcome.extras["events after the cancel"] = len((await handle.fetch_history()).events)
    return outcome


async def timer(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        TimerWorkflow.run, 1.0, id=unique("diff-timer"), task_queue=queue
    )
    return await finish(handle, Outcome())


async def signal(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        SignalQueryWorkflow.run, id=unique("diff-signal"), task_queue=queue
    )
    await wait_for_event(handle, "WorkflowTaskCompleted")
    await handle.signal(SignalQueryWorkflow.finish, "done")
    return await finish(handle, Outcome())


async def activity_schedule_to_close(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        ActivityTimeoutWorkflow.run,
        "schedule_to_close",
        id=unique("diff-schedule-to-close"),
        task_queue=queue,
    )
    outcome = await finish(handle, Outcome())
    history = await handle.fetch_history()
    timed_out = next(
        e for e in history.events if e.HasField("activity_task_timed_out_event_attributes")
    )
    failure = timed_out.activity_task_timed_out_event_attributes.failure
    outcome.extras["timeout failure"] = failure.message
    return outcome


async def activity_retry(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        ActivityRetryWorkflow.run, id=unique("diff-retry"), task_queue=queue
    )
    return await finish(handle, Outcome())


async def failing_workflow(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        FailingWorkflow.run, "deliberate failure", id=unique("diff-fail"), task_queue=queue
    )
    return await finish(handle, Outcome())


async def query(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        SignalQueryWorkflow.run, id=unique("diff-query"), task_queue=queue
    )
    outcome = Outcome()
    await wait_for_event(handle, "WorkflowTaskCompleted")
    outcome.extras["query before signal"] = await handle.query(SignalQueryWorkflow.items)
    await handle.signal(SignalQueryWorkflow.append, "a")
    await wait_for_event(handle, "WorkflowTaskCompleted", count=2)
    outcome.extras["query after signal"] = await handle.query(SignalQueryWorkflow.items)
    await handle.signal(SignalQueryWorkflow.finish, "b")
    return await finish(handle, outcome)


async def cancel(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        CancellableWorkflow.run, False, id=unique("diff-cancel"), task_queue=queue
    )
    await wait_for_event(handle, "WorkflowTaskCompleted")
    await handle.cancel()
    return await finish(handle, Outcome())


async def terminate(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        WaitForeverWorkflow.run, id=unique("diff-terminate"), task_queue=queue
    )
    await wait_for_event(handle, "WorkflowTaskCompleted")
    await handle.terminate(reason="differential")
    return await finish(handle, Outcome())


async def terminate_without_reason(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        WaitForeverWorkflow.run, id=unique("diff-terminate"), task_queue=queue
    )
    await wait_for_event(handle, "WorkflowTaskCompleted")
    await handle.terminate()
    return await finish(handle, Outcome())


async def continue_as_new(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        CountdownWorkflow.run, args=[2, ""], id=unique("diff-can"), task_queue=queue
    )
    first = first_run(client, handle)
    outcome = await finish(first, Outcome())
    outcome.extras["later runs"] = await later_runs(client, first)
    return outcome


async def workflow_retry(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        FailUntilAttemptWorkflow.run,
        3,
        id=unique("diff-wf-retry"),
        task_queue=queue,
        retry_policy=WORKFLOW_RETRY,
    )
    first = first_run(client, handle)
    outcome = await finish(first, Outcome())
    outcome.extras["later runs"] = await later_runs(client, first)
    return outcome


async def workflow_retry_exhausted(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        FailUntilAttemptWorkflow.run,
        9,
        id=unique("diff-wf-retry"),
        task_queue=queue,
        retry_policy=RetryPolicy(
            initial_interval=timedelta(milliseconds=200),
            backoff_coefficient=1.0,
            maximum_attempts=2,
        ),
    )
    first = first_run(client, handle)
    outcome = await finish(first, Outcome())
    outcome.extras["later runs"] = await later_runs(client, first)
    return outcome


async def start_delay(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        RunInfoWorkflow.run,
        id=unique("diff-delay"),
        task_queue=queue,
        start_delay=timedelta(seconds=2),
    )
    description = await handle.describe()
    outcome = Outcome()
    outcome.extras["status while delayed"] = description.status.name
    outcome.extras["execution time - start time"] = (
        description.execution_time - description.start_time
    ).total_seconds()
    return await finish(handle, outcome)


async def signal_during_start_delay(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        SignalQueryWorkflow.run,
        id=unique("diff-delay-signal"),
        task_queue=queue,
        start_delay=timedelta(seconds=2),
    )
    await handle.signal(SignalQueryWorkflow.append, "early")
    outcome = Outcome()
    history = await handle.fetch_history()
    outcome.extras["events after the signal"] = [
        event_type_name(event.event_type) for event in history.events
    ]
    await handle.signal(SignalQueryWorkflow.finish, "done")
    return await finish(handle, outcome)


async def events_of(client: Client, workflow_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [describe_event(event) for event in history.events]


async def child(client: Client, queue: str, kind: str) -> Outcome:
    handle = await client.start_workflow(
        ParentWorkflow.run, kind, id=unique(f"diff-parent-{kind}"), task_queue=queue
    )
    outcome = await finish(handle, Outcome())
    child = client.get_workflow_handle(f"{handle.id}-child")
    if kind in ("abandon", "terminate"):
        # The parent close policy acts after the parent closed.
        expected = "RUNNING" if kind == "abandon" else "TERMINATED"
        description = await eventually(
            lambda: child.describe(),
            lambda d: d.status.name == expected,
            what=f"the child to be {expected}",
        )
        outcome.extras["child status"] = description.status.name
        if kind == "abandon":
            # The abandoned child goes on: its first workflow task may still be running.
            await wait_for_event(child, "WorkflowTaskCompleted")
        history = await child.fetch_history()
        outcome.extras["child's last event"] = describe_event(history.events[-1])
        if kind == "abandon":
            await child.terminate()
    else:
        outcome.extras["child events"] = await events_of(client, child.id)
    if kind == "greet":
        # A child names its parent, and the parent as its root; a top-level run is its own.
        parent = await handle.describe()
        described = await child.describe()
        outcome.extras["child's parent and root"] = [
            described.parent_id == handle.id and described.parent_run_id == parent.run_id,
            described.root_id == handle.id and described.root_run_id == parent.run_id,
        ]
        outcome.extras["parent's root"] = (parent.root_id, parent.root_run_id) == (
            handle.id,
            parent.run_id,
        )
    return outcome


async def external(client: Client, queue: str, kind: str) -> Outcome:
    target_id = unique(f"diff-target-{kind}")
    if kind != "signal_missing":
        target = await client.start_workflow(
            SignalQueryWorkflow.run, id=target_id, task_queue=queue
        )
        await wait_for_event(target, "WorkflowTaskCompleted")
    sender = CancelSenderWorkflow if kind == "cancel" else SignalSenderWorkflow
    handle = await client.start_workflow(
        sender.run, target_id, id=unique(f"diff-sender-{kind}"), task_queue=queue
    )
    outcome = await finish(handle, Outcome())
    # A cancel request's reason names the sender's run, which differs between servers.
    outcome.events = [event.split(" reason=")[0] for event in outcome.events]
    if kind != "signal_missing":
        target_outcome = await finish(target, Outcome())
        outcome.extras["target events"] = [
            event.split(" cause=")[0]
            for event in target_outcome.events
        ]
        outcome.extras["target result"] = target_outcome.result
    return outcome


async def updates(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        UpdateWorkflow.run, id=unique("diff-update"), task_queue=queue
    )
    await wait_for_event(handle, "WorkflowTaskCompleted")
    outcome = Outcome()
    outcome.extras["first update"] = await handle.execute_update(UpdateWorkflow.add, "a")
    try:
        await handle.execute_update(UpdateWorkflow.add, "")
    except Exception as error:  # noqa: BLE001 - the error is what we compare
        outcome.extras["rejected update"] = describe_error(error)
    history = await handle.fetch_history()
    outcome.extras["events after the rejection"] = len(history.events)
    accepted = await handle.start_update(
        UpdateWorkflow.add, "b", id="update-b", wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    outcome.extras["accepted update"] = await accepted.result()
    again = await handle.start_update(
        UpdateWorkflow.add, "b", id="update-b", wait_for_stage=WorkflowUpdateStage.COMPLETED
    )
    outcome.extras["same update ID again"] = await again.result()
    await handle.signal(UpdateWorkflow.finish)
    outcome = await finish(handle, outcome)
    try:
        await handle.execute_update(UpdateWorkflow.add, "late")
    except RPCError as error:
        outcome.extras["update of a closed workflow"] = f"{error.status.name}: {error.message}"
    return outcome


async def update_across_continue_as_new(client: Client, queue: str) -> Outcome:
    """An update that arrives while the workflow task that continues the workflow as new is
    open: the closing run turns it away, and the client's retry lands on the next run."""
    handle = await client.start_workflow(
        ContinueOnceWorkflow.run, False, id=unique("diff-update-can"), task_queue=queue
    )
    await wait_for_event(handle, "WorkflowTaskCompleted")
    await handle.signal(ContinueOnceWorkflow.proceed)
    await wait_for_event(handle, "WorkflowTaskStarted", count=2)
    answered_by = await handle.execute_update(ContinueOnceWorkflow.whose_run)
    first = first_run(client, handle)
    outcome = await finish(first, Outcome())
    # Where the retried update lands in the next run's history depends on when the retry
    # comes, so only the run that answered it is compared.
    outcome.extras["update answered by"] = (
        "the first run" if answered_by == handle.first_execution_run_id else "a later run"
    )
    return outcome


async def update_stages(client: Client, queue: str) -> Outcome:
    """An update of a workflow no worker serves: polled without a wait policy, waited for
    past its caller's deadline, and cut short by the workflow's termination."""
    handle = await client.start_workflow(
        UpdateWorkflow.run, id=unique("diff-update-stages"), task_queue=unique("diff-no-worker")
    )
    outcome = Outcome()
    waiting = asyncio.create_task(handle.execute_update(UpdateWorkflow.add, "a", id="waiting"))
    poll = PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=UpdateRef(
            workflow_execution=WorkflowExecution(workflow_id=handle.id), update_id="waiting"
        ),
    )

    async def stage() -> str:
        try:
            response = await client.workflow_service.poll_workflow_execution_update(poll)
        except RPCError as error:
            return error.status.name
        return UpdateWorkflowExecutionLifecycleStage.Name(response.stage)

    outcome.extras["poll without a wait policy"] = await eventually(
        stage, lambda value: value != "NOT_FOUND", what="the update to be admitted"
    )
    try:
        await handle.get_update_handle("waiting").result(rpc_timeout=timedelta(seconds=1))
    except Exception as error:  # noqa: BLE001 - the error is what we compare
        outcome.extras["result within 1 s"] = type(error).__name__
    await handle.terminate()
    try:
        await waiting
    except RPCError as error:
        outcome.extras["waiting update after termination"] = (
            f"{error.status.name}: {error.message}"
        )
    return await finish(handle, outcome)


async def update_with_start(client: Client, queue: str) -> Outcome:
    workflow_id = unique("diff-update-with-start")
    outcome = Outcome()

    def operation(policy: WorkflowIDConflictPolicy) -> WithStartWorkflowOperation:
        return WithStartWorkflowOperation(
            UpdateWorkflow.run, id=workflow_id, task_queue=queue, id_conflict_policy=policy
        )

    first = operation(WorkflowIDConflictPolicy.FAIL)
    outcome.extras["starting update"] = await client.execute_update_with_start_workflow(
        UpdateWorkflow.add, "x", id="update-x", start_workflow_operation=first
    )
    # The same update ID again attaches to the completed update, whatever the policy says.
    outcome.extras["the same update again under FAIL"] = (
        await client.execute_update_with_start_workflow(
            UpdateWorkflow.add,
            "x again",
            id="update-x",
            start_workflow_operation=operation(WorkflowIDConflictPolicy.FAIL),
        )
    )
    outcome.extras["update of the running workflow"] = (
        await client.execute_update_with_start_workflow(
            UpdateWorkflow.add,
            "y",
            start_workflow_operation=operation(WorkflowIDConflictPolicy.USE_EXISTING),
        )
    )
    try:
        await client.execute_update_with_start_workflow(
            UpdateWorkflow.add,
            "z",
            start_workflow_operation=operation(WorkflowIDConflictPolicy.FAIL),
        )
    except Exception as error:  # noqa: BLE001 - the error is what we compare
        outcome.extras["start that must not find a workflow"] = describe_error(error)
    handle = await first.workflow_handle()
    await handle.signal(UpdateWorkflow.finish)
    return await finish(handle, outcome)


async def delete(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        WaitForeverWorkflow.run, id=unique("diff-delete"), task_queue=queue
    )
    await wait_for_event(handle, "WorkflowTaskCompleted")
    request = DeleteWorkflowExecutionRequest(
        namespace="default", workflow_execution=WorkflowExecution(workflow_id=handle.id)
    )
    outcome = Outcome()
    service = client.workflow_service
    outcome.extras["delete a running workflow"] = (
        await _call(lambda: service.delete_workflow_execution(request))
    )[0]
    # Temporal finishes a delete in the background: a loaded reference may still describe
    # the workflow for a moment (Cairn never does).
    outcome.extras["describe it"] = (
        await eventually(
            lambda: _call(handle.describe),
            lambda answer: answer[0] != "OK",
            what="the deleted workflow to be gone",
        )
    )[0]
    outcome.extras["read its history"] = (await _call(handle.fetch_history))[0]
    outcome.extras["delete it again"] = (
        await _call(lambda: service.delete_workflow_execution(request))
    )[0]
    again = await client.start_workflow(
        GreetingWorkflow.run, "again", id=handle.id, task_queue=queue
    )
    return await finish(again, outcome)


async def query_closed(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        SignalQueryWorkflow.run, id=unique("diff-query-closed"), task_queue=queue
    )
    await wait_for_event(handle, "WorkflowTaskCompleted")
    await handle.signal(SignalQueryWorkflow.finish, "done")
    outcome = await finish(handle, Outcome())
    failed = await client.start_workflow(
        FailingWorkflow.run, "for the query", id=unique("diff-query-failed"), task_queue=queue
    )
    await finish(failed, Outcome())
    for condition in QueryRejectCondition:
        for name, target in (("completed", handle), ("failed", failed)):
            try:
                answer = await target.query("__stack_trace", reject_condition=condition)
                answer = "answered" if isinstance(answer, str) else answer
            except WorkflowQueryRejectedError as error:
                answer = f"rejected: {error.status.name}"
            outcome.extras[f"query {name} workflow, {condition.name}"] = answer
    return outcome


async def local_activities(client: Client, queue: str) -> Outcome:
    # A 2 s workflow-task timeout: the 2.5 s local activity needs a task heartbeat.
    handle = await client.start_workflow(
        LocalActivityWorkflow.run,
        "local",
        id=unique("diff-local"),
        task_queue=queue,
        task_timeout=timedelta(seconds=2),
    )
    outcome = await finish(handle, Outcome())
    # The worker's heartbeat asks for the next task in the answer (return_new_workflow_task).
    history = await handle.fetch_history()
    outcome.extras["tasks started for the completing worker"] = sum(
        1
        for event in history.events
        if event.HasField("workflow_task_started_event_attributes")
        and event.workflow_task_started_event_attributes.request_id
        == "request-from-RespondWorkflowTaskCompleted"
    )
    return outcome


async def cron(client: Client, queue: str) -> Outcome:
    handle = await client.start_workflow(
        RunInfoWorkflow.run, id=unique("diff-cron"), task_queue=queue, cron_schedule="@every 2s"
    )
    outcome = Outcome()
    first = first_run(client, handle)
    description = await first.describe()
    outcome.extras["first run waits"] = (
        description.execution_time - description.start_time
    ).total_seconds()
    # Once the first run completed, the next one waits for its time: end the workflow there.
    await eventually(
        lambda: first.describe(),
        lambda description: description.status.name != "RUNNING",
        what="the first cron run to complete",
    )
    await client.get_workflow_handle(handle.id).terminate()
    outcome = await finish(first, outcome)
    outcome.extras["later runs"] = await later_runs(client, first)
    return outcome


async def _gate_waiting(client: Client, queue: str, name: str) -> WorkflowHandle:
    """A `GateWorkflow` whose first attempt failed: its activity waits out a 5 s backoff."""
    handle = await client.start_workflow(
        GateWorkflow.run, id=unique(f"diff-{name}"), task_queue=queue
    )
    await eventually(
        lambda: _pending_gate(handle),
        lambda pending: pending is not None and pending.attempt >= 2,
        what="the gate's first attempt to fail",
    )
    return handle


async def _pending_gate(handle: WorkflowHandle):
    pending = (await handle.describe()).raw_description.pending_activities
    return pending[0] if pending else None


def _execution(handle: WorkflowHandle) -> WorkflowExecution:
    return WorkflowExecution(workflow_id=handle.id)


def _shown(pending) -> dict[str, object]:
    """What a description shows of a pending activity an operator touched."""
    return {
        "state": PendingActivityState.Name(pending.state),
        "paused": pending.paused,
        "attempt": pending.attempt,
        "pause reason": pending.pause_info.manual.reason,
        "pause identity": pending.pause_info.manual.identity,
    }


async def activity_pause(client: Client, queue: str) -> Outcome:
    service = client.workflow_service
    handle = await _gate_waiting(client, queue, "pause")
    pause = PauseActivityRequest(
        namespace="default",
        execution=_execution(handle),
        id="gate",
        identity="operator",
        reason="waiting for the gate",
    )
    outcome = Outcome()
    outcome.extras["pause"] = (await _call(lambda: service.pause_activity(pause)))[0]
    outcome.extras["while paused"] = _shown(await _pending_gate(handle))
    outcome.extras["pause again"] = (await _call(lambda: service.pause_activity(pause)))[0]
    other = PauseActivityRequest(
        namespace="default", execution=_execution(handle), id="gate", request_id="another"
    )
    outcome.extras["pause again, another request"] = (
        await _call(lambda: service.pause_activity(other))
    )[0]
    unknown = PauseActivityRequest(
        namespace="default", execution=_execution(handle), id="no-such-activity"
    )
    outcome.extras["pause of an unknown activity"] = (
        await _call(lambda: service.pause_activity(unknown))
    )[0]
    OPEN_GATES.add(handle.id)
    unpause = UnpauseActivityRequest(namespace="default", execution=_execution(handle), id="gate")
    outcome.extras["unpause"] = (await _call(lambda: service.unpause_activity(unpause)))[0]
    outcome = await finish(handle, outcome)
    outcome.extras["pause after the close"] = (
        await _call(lambda: service.pause_activity(pause))
    )[0]
    return outcome


async def activity_reset(client: Client, queue: str) -> Outcome:
    service = client.workflow_service
    handle = await _gate_waiting(client, queue, "reset")
    OPEN_GATES.add(handle.id)
    # The reset starts the activity over from attempt 1, now rather than after its backoff.
    reset = ResetActivityRequest(
        namespace="default", execution=_execution(handle), type="pass_gate"
    )
    outcome = Outcome()
    outcome.extras["reset"] = (await _call(lambda: service.reset_activity(reset)))[0]
    return await finish(handle, outcome)


async def activity_options(client: Client, queue: str) -> Outcome:
    service = client.workflow_service
    handle = await _gate_waiting(client, queue, "options")
    outcome = Outcome()
    for label, mask, restore in (
        ("options without a mask", None, False),
        ("options with a mask and a restore", ["heartbeat_timeout"], True),
    ):
        bad = UpdateActivityOptionsRequest(
            namespace="default", execution=_execution(handle), id="gate", restore_original=restore
        )
        bad.activity_options.heartbeat_timeout.FromTimedelta(timedelta(seconds=3))
        if mask is not None:
            bad.update_mask.paths.extend(mask)
        outcome.extras[label] = (await _call(lambda: service.update_activity_options(bad)))[0]
    # Two attempts at most, with a longer start-to-close timeout: the second attempt fails too
    # and so does the workflow.
    change = UpdateActivityOptionsRequest(
        namespace="default", execution=_execution(handle), id="gate"
    )
    change.activity_options.retry_policy.maximum_attempts = 2
    change.activity_options.start_to_close_timeout.FromTimedelta(timedelta(seconds=7))
    change.update_mask.paths.extend(["retry_policy.maximum_attempts", "start_to_close_timeout"])
    answer = await service.update_activity_options(change)
    options = answer.activity_options
    outcome.extras["new options"] = {
        "task queue": options.task_queue.name == queue,
        "start to close": options.start_to_close_timeout.ToTimedelta().total_seconds(),
        "schedule to close": options.schedule_to_close_timeout.ToTimedelta().total_seconds(),
        "heartbeat": options.heartbeat_timeout.ToTimedelta().total_seconds(),
        "initial interval": options.retry_policy.initial_interval.ToTimedelta().total_seconds(),
        "backoff coefficient": options.retry_policy.backoff_coefficient,
        "maximum attempts": options.retry_policy.maximum_attempts,
    }
    return await finish(handle, outcome)


SCENARIOS: dict[str, Callable[[Client, str], Awaitable[Outcome]]] = {
    "activity_pause": activity_pause,
    "activity_reset": activity_reset,
    "activity_options": activity_options,
    "continue_as_new": continue_as_new,
    "workflow_retry": workflow_retry,
    "workflow_retry_exhausted": workflow_retry_exhausted,
    "start_delay": start_delay,
    "signal_during_start_delay": signal_during_start_delay,
    "cron": cron,
    "updates": updates,
    "update_across_continue_as_new": update_across_continue_as_new,
    "update_stages": update_stages,
    "activity_schedule_to_close": activity_schedule_to_close,
    "local_activities": local_activities,
    "query_closed": query_closed,
    "delete": delete,
    "update_with_start": update_with_start,
    "child_workflow": lambda client, queue: child(client, queue, "greet"),
    "child_failure": lambda client, queue: child(client, queue, "fail"),
    "child_cancel": lambda client, queue: child(client, queue, "cancel"),
    "parent_close_abandon": lambda client, queue: child(client, queue, "abandon"),
    "parent_close_terminate": lambda client, queue: child(client, queue, "terminate"),
    "signal_external": lambda client, queue: external(client, queue, "signal"),
    "signal_external_missing": lambda client, queue: external(client, queue, "signal_missing"),
    "cancel_external": lambda client, queue: external(client, queue, "cancel"),
    "activity": activity,
    "timer": timer,
    "signal": signal,
    "activity_retry": activity_retry,
    "failing_workflow": failing_workflow,
    "query": query,
    "cancel": cancel,
    "terminate": terminate,
    "terminate_without_reason": terminate_without_reason,
}


async def run_scenario(client: Client, name: str) -> Outcome:
    queue = unique(f"diff-{name}")
    async with worker(client, queue):
        return await SCENARIOS[name](client, queue)


# --- bad requests through the raw gRPC service ------------------------------------------------


def _start_request(queue: str, **overrides) -> StartWorkflowExecutionRequest:
    request = StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=unique("diff-raw"),
        workflow_type=WorkflowType(name="WaitForeverWorkflow"),
        task_queue=TaskQueue(name=queue),
        identity="differential-test",
        request_id=str(uuid.uuid4()),
    )
    for key, value in overrides.items():
        if key in ("workflow_type", "task_queue"):
            request.ClearField(key)
            if value is not None:
                getattr(request, key).CopyFrom(value)
        else:
            setattr(request, key, value)
    return request


async def _call(rpc: Callable[[], Awaitable[object]]) -> tuple[str, str]:
    """(`OK` or the gRPC status code name plus the type of each error detail, the message)."""
    try:
        await rpc()
    except RPCError as error:
        details = [detail.type_url.rsplit("/", 1)[-1] for detail in error.grpc_status.details]
        return f"{error.status.name} details=[{', '.join(details)}]", error.message
    return "OK", ""


async def _bad_empty_workflow_id(client: Client, queue: str) -> tuple[str, str]:
    service = client.workflow_service
    return await _call(
        lambda: service.start_workflow_execution(_start_request(queue, workflow_id=""))
    )


async def _bad_unknown_namespace(client: Client, queue: str) -> tuple[str, str]:
    service = client.workflow_service
    request = _start_request(queue, namespace=unique("no-such-namespace"))
    return await _call(lambda: service.start_workflow_execution(request))


async def _bad_missing_task_queue(client: Client, queue: str) -> tuple[str, str]:
    service = client.workflow_service
    request = _start_request(queue, task_queue=None)
    return await _call(lambda: service.start_workflow_execution(request))


async def _bad_missing_workflow_type(client: Client, queue: str) -> tuple[str, str]:
    service = client.workflow_service
    request = _start_request(queue, workflow_type=None)
    return await _call(lambda: service.start_workflow_execution(request))


async def _bad_duplicate_start(client: Client, queue: str) -> tuple[str, str]:
    service = client.workflow_service
    first = _start_request(queue)
    await service.start_workflow_execution(first)
    second = _start_request(queue, workflow_id=first.workflow_id)
    try:
        return await _call(lambda: service.start_workflow_execution(second))
    finally:
        await client.get_workflow_handle(first.workflow_id).terminate("cleanup")


async def _bad_negative_timeout(client: Client, queue: str) -> tuple[str, str]:
    service = client.workflow_service
    request = _start_request(queue)
    request.workflow_execution_timeout.FromTimedelta(timedelta(seconds=-5))
    return await _call(lambda: service.start_workflow_execution(request))


async def _bad_describe_unknown_workflow(client: Client, queue: str) -> tuple[str, str]:
    service = client.workflow_service
    request = DescribeWorkflowExecutionRequest(
        namespace="default", execution=WorkflowExecution(workflow_id=unique("missing"))
    )
    return await _call(lambda: service.describe_workflow_execution(request))


async def _bad_signal_unknown_workflow(client: Client, queue: str) -> tuple[str, str]:
    service = client.workflow_service
    request = SignalWorkflowExecutionRequest(
        namespace="default",
        workflow_execution=WorkflowExecution(workflow_id=unique("missing")),
        signal_name="nobody-listens",
        identity="differential-test",
        request_id=str(uuid.uuid4()),
    )
    return await _call(lambda: service.signal_workflow_execution(request))


async def _bad_start(client: Client, queue: str, request: StartWorkflowExecutionRequest):
    service = client.workflow_service
    return await _call(lambda: service.start_workflow_execution(request))


async def _bad_cron_schedule(client: Client, queue: str) -> tuple[str, str]:
    return await _bad_start(client, queue, _start_request(queue, cron_schedule="not a cron"))


async def _bad_cron_with_seconds(client: Client, queue: str) -> tuple[str, str]:
    return await _bad_start(client, queue, _start_request(queue, cron_schedule="*/5 * * * * *"))


async def _bad_cron_with_start_delay(client: Client, queue: str) -> tuple[str, str]:
    request = _start_request(queue, cron_schedule="* * * * *")
    request.workflow_start_delay.FromTimedelta(timedelta(seconds=3))
    return await _bad_start(client, queue, request)


async def _bad_negative_start_delay(client: Client, queue: str) -> tuple[str, str]:
    request = _start_request(queue)
    request.workflow_start_delay.FromTimedelta(timedelta(seconds=-3))
    return await _bad_start(client, queue, request)


async def _bad_retry_negative_attempts(client: Client, queue: str) -> tuple[str, str]:
    request = _start_request(queue)
    request.retry_policy.maximum_attempts = -1
    return await _bad_start(client, queue, request)


async def _bad_retry_coefficient(client: Client, queue: str) -> tuple[str, str]:
    request = _start_request(queue)
    request.retry_policy.backoff_coefficient = 0.5
    return await _bad_start(client, queue, request)


async def _bad_retry_maximum_below_initial(client: Client, queue: str) -> tuple[str, str]:
    request = _start_request(queue)
    request.retry_policy.initial_interval.FromTimedelta(timedelta(seconds=5))
    request.retry_policy.maximum_interval.FromTimedelta(timedelta(seconds=1))
    return await _bad_start(client, queue, request)


async def _bad_multi_operation_shape(client: Client, queue: str) -> tuple[str, str]:
    request = ExecuteMultiOperationRequest(namespace="default")
    request.operations.add().start_workflow.CopyFrom(_start_request(queue))
    return await _call(lambda: client.workflow_service.execute_multi_operation(request))


async def _bad_multi_operation_update(client: Client, queue: str) -> tuple[str, str]:
    request = ExecuteMultiOperationRequest(namespace="default")
    request.operations.add().start_workflow.CopyFrom(_start_request(queue))
    request.operations.add().update_workflow.CopyFrom(
        UpdateWorkflowExecutionRequest(namespace="default")
    )
    return await _call(lambda: client.workflow_service.execute_multi_operation(request))


async def _bad_update_unknown_workflow(client: Client, queue: str) -> tuple[str, str]:
    request = UpdateWorkflowExecutionRequest(
        namespace="default", workflow_execution=WorkflowExecution(workflow_id=unique("missing"))
    )
    request.request.meta.update_id = "u"
    request.request.input.name = "add"
    request.wait_policy.lifecycle_stage = 3  # ACCEPTED
    return await _call(lambda: client.workflow_service.update_workflow_execution(request))


BAD_REQUESTS: dict[str, Callable[[Client, str], Awaitable[tuple[str, str]]]] = {
    "multi-operation without an update": _bad_multi_operation_shape,
    "multi-operation with an invalid update": _bad_multi_operation_update,
    "update of an unknown workflow": _bad_update_unknown_workflow,
    "invalid cron schedule": _bad_cron_schedule,
    "cron schedule with seconds": _bad_cron_with_seconds,
    "cron schedule with start delay": _bad_cron_with_start_delay,
    "negative start delay": _bad_negative_start_delay,
    "retry policy with negative attempts": _bad_retry_negative_attempts,
    "retry policy with coefficient below 1": _bad_retry_coefficient,
    "retry policy with maximum below initial interval": _bad_retry_maximum_below_initial,
    "empty workflow id": _bad_empty_workflow_id,
    "unknown namespace": _bad_unknown_namespace,
    "missing task queue": _bad_missing_task_queue,
    "missing workflow type": _bad_missing_workflow_type,
    "duplicate start": _bad_duplicate_start,
    "negative execution timeout": _bad_negative_timeout,
    "describe unknown workflow": _bad_describe_unknown_workflow,
    "signal unknown workflow": _bad_signal_unknown_workflow,
}


async def run_bad_requests(client: Client) -> dict[str, tuple[str, str]]:
    """Status (code and detail types) and message of each bad request."""
    queue = unique("diff-raw")
    return {name: await probe(client, queue) for name, probe in BAD_REQUESTS.items()}


# --- what the reference produced (kept in step with REFERENCE.md) ----------------------------

REFERENCE: dict[str, Outcome] = {
    "continue_as_new": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionContinuedAsNew workflow_task_completed_event_id=4 new_run",
        ],
        result="ok \"210\"",
        status="CONTINUED_AS_NEW",
        extras={
            "event_ids_consecutive": True,
            "later runs": [
                [
                    "WorkflowExecutionStarted attempt=1 initiator=1 continued_run",
                    "WorkflowTaskScheduled attempt=1",
                    "WorkflowTaskStarted scheduled_event_id=2",
                    "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
                    "WorkflowExecutionContinuedAsNew workflow_task_completed_event_id=4 new_run",
                ],
                [
                    "WorkflowExecutionStarted attempt=1 initiator=1 continued_run",
                    "WorkflowTaskScheduled attempt=1",
                    "WorkflowTaskStarted scheduled_event_id=2",
                    "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
                    "WorkflowExecutionCompleted workflow_task_completed_event_id=4",
                ],
            ],
        },
    ),
    "workflow_retry": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionFailed workflow_task_completed_event_id=4 retry_state=1 new_run",
        ],
        result="ok \"succeeded on attempt 3\"",
        status="FAILED",
        extras={
            "event_ids_consecutive": True,
            "later runs": [
                [
                    "WorkflowExecutionStarted attempt=2 initiator=2 continued_run",
                    "WorkflowTaskScheduled attempt=1",
                    "WorkflowTaskStarted scheduled_event_id=2",
                    "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
                    "WorkflowExecutionFailed workflow_task_completed_event_id=4 retry_state=1 "
                    "new_run",
                ],
                [
                    "WorkflowExecutionStarted attempt=3 initiator=2 continued_run",
                    "WorkflowTaskScheduled attempt=1",
                    "WorkflowTaskStarted scheduled_event_id=2",
                    "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
                    "WorkflowExecutionCompleted workflow_task_completed_event_id=4",
                ],
            ],
        },
    ),
    "workflow_retry_exhausted": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionFailed workflow_task_completed_event_id=4 retry_state=1 new_run",
        ],
        result=(
            "error WorkflowFailureError: Workflow execution failed <- "
            "ApplicationError: attempt 2 fails (type=NotYet, non_retryable=False)"
        ),
        status="FAILED",
        extras={
            "event_ids_consecutive": True,
            "later runs": [
                [
                    "WorkflowExecutionStarted attempt=2 initiator=2 continued_run",
                    "WorkflowTaskScheduled attempt=1",
                    "WorkflowTaskStarted scheduled_event_id=2",
                    "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
                    "WorkflowExecutionFailed workflow_task_completed_event_id=4 retry_state=4",
                ],
            ],
        },
    ),
    "start_delay": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=4",
        ],
        result=(
            'ok {"attempt": 1, "continued_run_id": false, "cron_schedule": "", '
            '"has_last_completion_result": false}'
        ),
        status="COMPLETED",
        extras={
            "event_ids_consecutive": True,
            "execution time - start time": 2.0,
            "status while delayed": "RUNNING",
        },
    ),
    "signal_during_start_delay": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowExecutionSignaled signal_name=append",
            "WorkflowExecutionSignaled signal_name=finish",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=4",
            "WorkflowTaskCompleted scheduled_event_id=4 started_event_id=5",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=6",
        ],
        result='ok ["early", "done"]',
        status="COMPLETED",
        extras={
            "event_ids_consecutive": True,
            "events after the signal": ["WorkflowExecutionStarted", "WorkflowExecutionSignaled"],
        },
    ),
    "cron": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1 initiator=3",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=4 new_run",
        ],
        result=(
            "error WorkflowFailureError: Workflow execution failed <- "
            "TerminatedError: terminated by user via frontend"
        ),
        status="COMPLETED",
        extras={
            "event_ids_consecutive": True,
            "first run waits": 2.0,
            "later runs": [
                [
                    "WorkflowExecutionStarted attempt=1 initiator=3 continued_run",
                    "WorkflowExecutionTerminated reason=terminated by user via frontend",
                ],
            ],
        },
    ),
    "child_workflow": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "StartChildWorkflowExecutionInitiated workflow_task_completed_event_id=4",
            "ChildWorkflowExecutionStarted",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=7",
            "WorkflowTaskCompleted scheduled_event_id=7 started_event_id=8",
            "ChildWorkflowExecutionCompleted started_event_id=6",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=11",
            "WorkflowTaskCompleted scheduled_event_id=11 started_event_id=12",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=13",
        ],
        result="ok \"Hello, child!\"",
        status="COMPLETED",
        extras={
            "child events": [
                "WorkflowExecutionStarted attempt=1",
                "WorkflowTaskScheduled attempt=1",
                "WorkflowTaskStarted scheduled_event_id=2",
                "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
                "ActivityTaskScheduled workflow_task_completed_event_id=4",
                "ActivityTaskStarted scheduled_event_id=5 attempt=1",
                "ActivityTaskCompleted scheduled_event_id=5 started_event_id=6",
                "WorkflowTaskScheduled attempt=1",
                "WorkflowTaskStarted scheduled_event_id=8",
                "WorkflowTaskCompleted scheduled_event_id=8 started_event_id=9",
                "WorkflowExecutionCompleted workflow_task_completed_event_id=10",
            ],
            "child's parent and root": [True, True],
            "parent's root": True,
            "event_ids_consecutive": True,
        },
    ),
    "child_failure": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "StartChildWorkflowExecutionInitiated workflow_task_completed_event_id=4",
            "ChildWorkflowExecutionStarted",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=7",
            "WorkflowTaskCompleted scheduled_event_id=7 started_event_id=8",
            "ChildWorkflowExecutionFailed started_event_id=6 retry_state=5",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=11",
            "WorkflowTaskCompleted scheduled_event_id=11 started_event_id=12",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=13",
        ],
        result="ok \"child failed: Boom: child failure\"",
        status="COMPLETED",
        extras={
            "child events": [
                "WorkflowExecutionStarted attempt=1",
                "WorkflowTaskScheduled attempt=1",
                "WorkflowTaskStarted scheduled_event_id=2",
                "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
                "WorkflowExecutionFailed workflow_task_completed_event_id=4 retry_state=5",
            ],
            "event_ids_consecutive": True,
        },
    ),
    "child_cancel": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "StartChildWorkflowExecutionInitiated workflow_task_completed_event_id=4",
            "ChildWorkflowExecutionStarted",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=7",
            "WorkflowTaskCompleted scheduled_event_id=7 started_event_id=8",
            "RequestCancelExternalWorkflowExecutionInitiated workflow_task_completed_event_id=9",
            "ExternalWorkflowExecutionCancelRequested",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=12",
            "WorkflowTaskCompleted scheduled_event_id=12 started_event_id=13",
            "ChildWorkflowExecutionCanceled started_event_id=6",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=16",
            "WorkflowTaskCompleted scheduled_event_id=16 started_event_id=17",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=18",
        ],
        result="ok \"child ended: CancelledError\"",
        status="COMPLETED",
        extras={
            "child events": [
                "WorkflowExecutionStarted attempt=1",
                "WorkflowTaskScheduled attempt=1",
                "WorkflowTaskStarted scheduled_event_id=2",
                "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
                "WorkflowExecutionCancelRequested",
                "WorkflowTaskScheduled attempt=1",
                "WorkflowTaskStarted scheduled_event_id=6",
                "WorkflowTaskCompleted scheduled_event_id=6 started_event_id=7",
                "WorkflowExecutionCanceled workflow_task_completed_event_id=8",
            ],
            "event_ids_consecutive": True,
        },
    ),
    "parent_close_abandon": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "StartChildWorkflowExecutionInitiated workflow_task_completed_event_id=4",
            "ChildWorkflowExecutionStarted",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=7",
            "WorkflowTaskCompleted scheduled_event_id=7 started_event_id=8",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=9",
        ],
        result="ok \"parent done\"",
        status="COMPLETED",
        extras={
            "child status": "RUNNING",
            "child's last event": "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "event_ids_consecutive": True,
        },
    ),
    "parent_close_terminate": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "StartChildWorkflowExecutionInitiated workflow_task_completed_event_id=4",
            "ChildWorkflowExecutionStarted",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=7",
            "WorkflowTaskCompleted scheduled_event_id=7 started_event_id=8",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=9",
        ],
        result="ok \"parent done\"",
        status="COMPLETED",
        extras={
            "child status": "TERMINATED",
            "child's last event": "WorkflowExecutionTerminated reason=by parent close policy",
            "event_ids_consecutive": True,
        },
    ),
    "signal_external": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "SignalExternalWorkflowExecutionInitiated workflow_task_completed_event_id=4 "
            "signal_name=finish",
            "ExternalWorkflowExecutionSignaled",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=7",
            "WorkflowTaskCompleted scheduled_event_id=7 started_event_id=8",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=9",
        ],
        result="ok \"signal delivered\"",
        status="COMPLETED",
        extras={
            "event_ids_consecutive": True,
            "target events": [
                "WorkflowExecutionStarted attempt=1",
                "WorkflowTaskScheduled attempt=1",
                "WorkflowTaskStarted scheduled_event_id=2",
                "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
                "WorkflowExecutionSignaled signal_name=finish",
                "WorkflowTaskScheduled attempt=1",
                "WorkflowTaskStarted scheduled_event_id=6",
                "WorkflowTaskCompleted scheduled_event_id=6 started_event_id=7",
                "WorkflowExecutionCompleted workflow_task_completed_event_id=8",
            ],
            "target result": "ok [\"from a workflow\"]",
        },
    ),
    "signal_external_missing": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "SignalExternalWorkflowExecutionInitiated workflow_task_completed_event_id=4 "
            "signal_name=finish",
            "SignalExternalWorkflowExecutionFailed cause=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=7",
            "WorkflowTaskCompleted scheduled_event_id=7 started_event_id=8",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=9",
        ],
        result="ok \"signal failed: Unable to signal external workflow because it was not found\"",
        status="COMPLETED",
        extras={
            "event_ids_consecutive": True,
        },
    ),
    "cancel_external": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "RequestCancelExternalWorkflowExecutionInitiated workflow_task_completed_event_id=4",
            "ExternalWorkflowExecutionCancelRequested",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=7",
            "WorkflowTaskCompleted scheduled_event_id=7 started_event_id=8",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=9",
        ],
        result="ok \"cancel delivered\"",
        status="COMPLETED",
        extras={
            "event_ids_consecutive": True,
            "target events": [
                "WorkflowExecutionStarted attempt=1",
                "WorkflowTaskScheduled attempt=1",
                "WorkflowTaskStarted scheduled_event_id=2",
                "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
                "WorkflowExecutionCancelRequested",
                "WorkflowTaskScheduled attempt=1",
                "WorkflowTaskStarted scheduled_event_id=6",
                "WorkflowTaskCompleted scheduled_event_id=6 started_event_id=7",
                "WorkflowExecutionCanceled workflow_task_completed_event_id=8",
            ],
            "target result": (
                "error WorkflowFailureError: Workflow execution failed <- "
                "CancelledError: Workflow cancelled"
            ),
        },
    ),
    "updates": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=5",
            "WorkflowTaskCompleted scheduled_event_id=5 started_event_id=6",
            "WorkflowExecutionUpdateAccepted",
            "WorkflowExecutionUpdateCompleted",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=10",
            "WorkflowTaskCompleted scheduled_event_id=10 started_event_id=11",
            "WorkflowExecutionUpdateAccepted",
            "WorkflowExecutionUpdateCompleted",
            "WorkflowExecutionSignaled signal_name=finish",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=16",
            "WorkflowTaskCompleted scheduled_event_id=16 started_event_id=17",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=18",
        ],
        result="ok [\"a\", \"b\"]",
        status="COMPLETED",
        extras={
            "accepted update": [
                "a",
                "b",
            ],
            "event_ids_consecutive": True,
            "events after the rejection": 9,
            "first update": [
                "a",
            ],
            "rejected update": (
                "WorkflowUpdateFailedError: Workflow update failed <- "
                "ApplicationError: empty item (type=ValueError, non_retryable=False)"
            ),
            "same update ID again": [
                "a",
                "b",
            ],
            "update of a closed workflow": "NOT_FOUND: workflow execution already completed",
        },
    ),
    "update_across_continue_as_new": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionSignaled signal_name=proceed",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=6",
            "WorkflowTaskCompleted scheduled_event_id=6 started_event_id=7",
            "MarkerRecorded workflow_task_completed_event_id=8",
            "WorkflowExecutionContinuedAsNew workflow_task_completed_event_id=8 new_run",
        ],
        result='ok "answered"',
        status="CONTINUED_AS_NEW",
        extras={"event_ids_consecutive": True, "update answered by": "a later run"},
    ),
    "update_stages": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowExecutionTerminated reason=terminated by user via frontend",
        ],
        result=(
            "error WorkflowFailureError: Workflow execution failed <- "
            "TerminatedError: terminated by user via frontend"
        ),
        status="TERMINATED",
        extras={
            "event_ids_consecutive": True,
            "poll without a wait policy": "UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED",
            "result within 1 s": "WorkflowUpdateRPCTimeoutOrCancelledError",
            "waiting update after termination": (
                "NOT_FOUND: workflow update was aborted by closing workflow"
            ),
        },
    ),
    "activity_pause": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "ActivityTaskScheduled workflow_task_completed_event_id=4",
            "ActivityTaskStarted scheduled_event_id=5 attempt=2",
            "ActivityTaskCompleted scheduled_event_id=5 started_event_id=6",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=8",
            "WorkflowTaskCompleted scheduled_event_id=8 started_event_id=9",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=10",
        ],
        result='ok "passed on attempt 2"',
        status="COMPLETED",
        extras={
            "event_ids_consecutive": True,
            "pause": "OK",
            "while paused": {
                "state": "PENDING_ACTIVITY_STATE_PAUSED",
                "paused": True,
                "attempt": 2,
                "pause reason": "waiting for the gate",
                "pause identity": "operator",
            },
            "pause again": "OK",
            "pause again, another request": "FAILED_PRECONDITION details=[]",
            "pause of an unknown activity": (
                "NOT_FOUND details=[temporal.api.errordetails.v1.NotFoundFailure]"
            ),
            "unpause": "OK",
            "pause after the close": (
                "NOT_FOUND details=[temporal.api.errordetails.v1.NotFoundFailure]"
            ),
        },
    ),
    "activity_reset": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "ActivityTaskScheduled workflow_task_completed_event_id=4",
            "ActivityTaskStarted scheduled_event_id=5 attempt=1",
            "ActivityTaskCompleted scheduled_event_id=5 started_event_id=6",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=8",
            "WorkflowTaskCompleted scheduled_event_id=8 started_event_id=9",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=10",
        ],
        result='ok "passed on attempt 1"',
        status="COMPLETED",
        extras={"event_ids_consecutive": True, "reset": "OK"},
    ),
    "activity_options": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "ActivityTaskScheduled workflow_task_completed_event_id=4",
            "ActivityTaskStarted scheduled_event_id=5 attempt=2",
            "ActivityTaskFailed scheduled_event_id=5 started_event_id=6 retry_state=4",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=8",
            "WorkflowTaskCompleted scheduled_event_id=8 started_event_id=9",
            "WorkflowExecutionFailed workflow_task_completed_event_id=10 retry_state=5",
        ],
        result=(
            "error WorkflowFailureError: Workflow execution failed <- ActivityError: Activity "
            "task failed <- ApplicationError: gate closed on attempt 2 (type=GateClosed, "
            "non_retryable=False)"
        ),
        status="FAILED",
        extras={
            "event_ids_consecutive": True,
            "options without a mask": "INVALID_ARGUMENT details=[]",
            "options with a mask and a restore": "INVALID_ARGUMENT details=[]",
            "new options": {
                "task queue": True,
                "start to close": 7.0,
                "schedule to close": 0.0,
                "heartbeat": 0.0,
                "initial interval": 5.0,
                "backoff coefficient": 1.0,
                "maximum attempts": 2,
            },
        },
    ),
    "activity_schedule_to_close": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "ActivityTaskScheduled workflow_task_completed_event_id=4",
            "ActivityTaskStarted scheduled_event_id=5 attempt=1",
            "ActivityTaskTimedOut scheduled_event_id=5 started_event_id=6 retry_state=3",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=8",
            "WorkflowTaskCompleted scheduled_event_id=8 started_event_id=9",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=10",
        ],
        result='ok "TimeoutError:SCHEDULE_TO_CLOSE"',
        status="COMPLETED",
        extras={
            "event_ids_consecutive": True,
            "timeout failure": (
                "Not enough time to schedule next retry before activity ScheduleToClose "
                "timeout, giving up retrying"
            ),
        },
    ),
    "update_with_start": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionUpdateAccepted",
            "WorkflowExecutionUpdateCompleted",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=7",
            "WorkflowTaskCompleted scheduled_event_id=7 started_event_id=8",
            "WorkflowExecutionUpdateAccepted",
            "WorkflowExecutionUpdateCompleted",
            "WorkflowExecutionSignaled signal_name=finish",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=13",
            "WorkflowTaskCompleted scheduled_event_id=13 started_event_id=14",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=15",
        ],
        result="ok [\"x\", \"y\"]",
        status="COMPLETED",
        extras={
            "event_ids_consecutive": True,
            "start that must not find a workflow": (
                "WorkflowAlreadyStartedError: Workflow execution already started"
            ),
            "starting update": [
                "x",
            ],
            "the same update again under FAIL": [
                "x",
            ],
            "update of the running workflow": [
                "x",
                "y",
            ],
        },
    ),
    "delete": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "ActivityTaskScheduled workflow_task_completed_event_id=4",
            "ActivityTaskStarted scheduled_event_id=5 attempt=1",
            "ActivityTaskCompleted scheduled_event_id=5 started_event_id=6",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=8",
            "WorkflowTaskCompleted scheduled_event_id=8 started_event_id=9",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=10",
        ],
        result="ok \"Hello, again!\"",
        status="COMPLETED",
        extras={
            "delete a running workflow": "OK",
            "delete it again": "NOT_FOUND details=[temporal.api.errordetails.v1.NotFoundFailure]",
            "describe it": "NOT_FOUND details=[temporal.api.errordetails.v1.NotFoundFailure]",
            "event_ids_consecutive": True,
            "read its history": "NOT_FOUND details=[temporal.api.errordetails.v1.NotFoundFailure]",
        },
    ),
    "query_closed": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionSignaled signal_name=finish",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=6",
            "WorkflowTaskCompleted scheduled_event_id=6 started_event_id=7",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=8",
        ],
        result="ok [\"done\"]",
        status="COMPLETED",
        extras={
            "event_ids_consecutive": True,
            "query completed workflow, NONE": "answered",
            "query completed workflow, NOT_COMPLETED_CLEANLY": "answered",
            "query completed workflow, NOT_OPEN": "rejected: COMPLETED",
            "query failed workflow, NONE": "answered",
            "query failed workflow, NOT_COMPLETED_CLEANLY": "rejected: FAILED",
            "query failed workflow, NOT_OPEN": "rejected: FAILED",
        },
    ),
    "local_activities": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "MarkerRecorded workflow_task_completed_event_id=4",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=6",
            "WorkflowTaskCompleted scheduled_event_id=6 started_event_id=7",
            "MarkerRecorded workflow_task_completed_event_id=8",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=8",
        ],
        result="ok \"Hello, local! slept\"",
        status="COMPLETED",
        extras={
            "event_ids_consecutive": True,
            "tasks started for the completing worker": 1,
        },
    ),
    "activity": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "ActivityTaskScheduled workflow_task_completed_event_id=4",
            "ActivityTaskStarted scheduled_event_id=5 attempt=1",
            "ActivityTaskCompleted scheduled_event_id=5 started_event_id=6",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=8",
            "WorkflowTaskCompleted scheduled_event_id=8 started_event_id=9",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=10",
        ],
        result='ok "Hello, differential!"',
        status="COMPLETED",
        extras={
            "event_ids_consecutive": True,
            "build ID on every completed task": True,
            "events after the cancel": 11,
            "terminate of the completed workflow": (
                "NOT_FOUND: workflow execution already completed"
            ),
        },
    ),
    "timer": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "TimerStarted workflow_task_completed_event_id=4 timer_id=1",
            "TimerFired started_event_id=5 timer_id=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=7",
            "WorkflowTaskCompleted scheduled_event_id=7 started_event_id=8",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=9",
        ],
        result='ok "timer fired"',
        status="COMPLETED",
        extras={"event_ids_consecutive": True},
    ),
    "signal": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionSignaled signal_name=finish",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=6",
            "WorkflowTaskCompleted scheduled_event_id=6 started_event_id=7",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=8",
        ],
        result='ok ["done"]',
        status="COMPLETED",
        extras={"event_ids_consecutive": True},
    ),
    "activity_retry": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "ActivityTaskScheduled workflow_task_completed_event_id=4",
            "ActivityTaskStarted scheduled_event_id=5 attempt=3",
            "ActivityTaskCompleted scheduled_event_id=5 started_event_id=6",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=8",
            "WorkflowTaskCompleted scheduled_event_id=8 started_event_id=9",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=10",
        ],
        result="ok 3",
        status="COMPLETED",
        extras={"event_ids_consecutive": True},
    ),
    "failing_workflow": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionFailed workflow_task_completed_event_id=4 retry_state=5",
        ],
        result=(
            "error WorkflowFailureError: Workflow execution failed <- "
            "ApplicationError: deliberate failure (type=Boom, non_retryable=False)"
        ),
        status="FAILED",
        extras={"event_ids_consecutive": True},
    ),
    "query": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionSignaled signal_name=append",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=6",
            "WorkflowTaskCompleted scheduled_event_id=6 started_event_id=7",
            "WorkflowExecutionSignaled signal_name=finish",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=10",
            "WorkflowTaskCompleted scheduled_event_id=10 started_event_id=11",
            "WorkflowExecutionCompleted workflow_task_completed_event_id=12",
        ],
        result='ok ["a", "b"]',
        status="COMPLETED",
        extras={
            "query before signal": [],
            "query after signal": ["a"],
            "event_ids_consecutive": True,
        },
    ),
    "cancel": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionCancelRequested",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=6",
            "WorkflowTaskCompleted scheduled_event_id=6 started_event_id=7",
            "WorkflowExecutionCanceled workflow_task_completed_event_id=8",
        ],
        result=(
            "error WorkflowFailureError: Workflow execution failed <- "
            "CancelledError: Workflow cancelled"
        ),
        status="CANCELED",
        extras={"event_ids_consecutive": True},
    ),
    "terminate": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionTerminated reason=differential",
        ],
        result=(
            "error WorkflowFailureError: Workflow execution failed <- "
            "TerminatedError: differential"
        ),
        status="TERMINATED",
        extras={"event_ids_consecutive": True},
    ),
    "terminate_without_reason": Outcome(
        events=[
            "WorkflowExecutionStarted attempt=1",
            "WorkflowTaskScheduled attempt=1",
            "WorkflowTaskStarted scheduled_event_id=2",
            "WorkflowTaskCompleted scheduled_event_id=2 started_event_id=3",
            "WorkflowExecutionTerminated reason=terminated by user via frontend",
        ],
        result=(
            "error WorkflowFailureError: Workflow execution failed <- "
            "TerminatedError: terminated by user via frontend"
        ),
        status="TERMINATED",
        extras={"event_ids_consecutive": True},
    ),
}

REFERENCE_BAD_REQUESTS: dict[str, str] = {
    "multi-operation without an update": "INVALID_ARGUMENT details=[]",
    "multi-operation with an invalid update": (
        "INVALID_ARGUMENT details=[temporal.api.errordetails.v1.MultiOperationExecutionFailure]"
    ),
    "update of an unknown workflow": (
        "NOT_FOUND details=[temporal.api.errordetails.v1.NotFoundFailure]"
    ),
    "invalid cron schedule": "INVALID_ARGUMENT details=[]",
    "cron schedule with seconds": "INVALID_ARGUMENT details=[]",
    "cron schedule with start delay": "INVALID_ARGUMENT details=[]",
    "negative start delay": "INVALID_ARGUMENT details=[]",
    "retry policy with negative attempts": "INVALID_ARGUMENT details=[]",
    "retry policy with coefficient below 1": "INVALID_ARGUMENT details=[]",
    "retry policy with maximum below initial interval": "INVALID_ARGUMENT details=[]",
    "empty workflow id": "INVALID_ARGUMENT details=[]",
    "unknown namespace": (
        "NOT_FOUND details="
        "[temporal.api.errordetails.v1.NamespaceNotFoundFailure]"
    ),
    "missing task queue": "INVALID_ARGUMENT details=[]",
    "missing workflow type": "INVALID_ARGUMENT details=[]",
    "duplicate start": (
        "ALREADY_EXISTS details="
        "[temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure]"
    ),
    "negative execution timeout": "INVALID_ARGUMENT details=[]",
    "describe unknown workflow": "NOT_FOUND details=[temporal.api.errordetails.v1.NotFoundFailure]",
    "signal unknown workflow": "NOT_FOUND details=[temporal.api.errordetails.v1.NotFoundFailure]",
}


# --- comparison -------------------------------------------------------------------------------


def side_by_side(left: list[str], right: list[str], titles: tuple[str, str]) -> str:
    width = max([len(titles[0]), *(len(line) for line in left)]) + 2
    lines = [f"    {titles[0]:<{width}}   {titles[1]}"]
    for index in range(max(len(left), len(right))):
        a = left[index] if index < len(left) else "-"
        b = right[index] if index < len(right) else "-"
        mark = "  " if a == b else "!="
        lines.append(f"{index + 1:>3} {a:<{width}}{mark} {b}")
    return "\n".join(lines)


def compare_outcomes(
    expected: Outcome, actual: Outcome, titles: tuple[str, str] = ("reference", "cairn")
) -> list[str]:
    """Every difference between two outcomes, each as printable text."""
    problems = []
    if expected.events != actual.events:
        problems.append("history differs:\n" + side_by_side(expected.events, actual.events, titles))
    for label, a, b in (
        ("result", expected.result, actual.result),
        ("status", expected.status, actual.status),
    ):
        if a != b:
            problems.append(f"{label} differs:\n  {titles[0]}: {a}\n  {titles[1]}: {b}")
    for key in sorted(set(expected.extras) | set(actual.extras)):
        a, b = expected.extras.get(key), actual.extras.get(key)
        if a != b:
            problems.append(f"{key} differs:\n  {titles[0]}: {a!r}\n  {titles[1]}: {b!r}")
    return problems


def compare_codes(
    expected: dict[str, str], actual: dict[str, tuple[str, str]], titles: tuple[str, str]
) -> list[str]:
    """Differences in status; messages are shown for context but need not match."""
    rows = sorted(set(expected) | set(actual))
    left = [f"{row}: {expected.get(row, '-')}" for row in rows]
    right = [f"{row}: {actual[row][0] if row in actual else '-'}" for row in rows]
    if left == right:
        return []
    messages = [f"  {row}: {actual[row][1]!r}" for row in rows if row in actual]
    return [
        "gRPC status codes differ:\n"
        + side_by_side(left, right, titles)
        + f"\n{titles[1]} messages:\n"
        + "\n".join(messages)
    ]


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_reference_only_history_matches_recorded(ref_client: Client, name: str) -> None:
    outcome = await run_scenario(ref_client, name)
    problems = compare_outcomes(REFERENCE[name], outcome, ("recorded", "reference server"))
    assert not problems, "\n\n".join(problems)


async def test_reference_only_bad_requests_match_recorded(ref_client: Client) -> None:
    codes = await run_bad_requests(ref_client)
    problems = compare_codes(REFERENCE_BAD_REQUESTS, codes, ("recorded", "reference server"))
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_cairn_matches_reference(
    ref_client: Client, cairn_client: Client, name: str
) -> None:
    reference = await run_scenario(ref_client, name)
    cairn = await run_scenario(cairn_client, name)
    problems = compare_outcomes(reference, cairn)
    assert not problems, f"scenario {name!r}:\n\n" + "\n\n".join(problems)


async def test_cairn_bad_requests_match_reference(
    ref_client: Client, cairn_client: Client
) -> None:
    reference = {name: code for name, (code, _) in (await run_bad_requests(ref_client)).items()}
    cairn = await run_bad_requests(cairn_client)
    problems = compare_codes(reference, cairn, ("reference", "cairn"))
    assert not problems, "\n\n".join(problems)


async def namespace_lifecycle(client: Client) -> dict[str, object]:
    """Register, update, deprecate: what a client sees at each step."""
    service = client.workflow_service
    name = unique("diff-ns")
    seen: dict[str, object] = {}
    register = RegisterNamespaceRequest(namespace=name)
    register.workflow_execution_retention_period.FromTimedelta(timedelta(days=2))
    seen["register"] = (await _call(lambda: service.register_namespace(register)))[0]
    update = UpdateNamespaceRequest(
        namespace=name,
        update_info=UpdateNamespaceInfo(
            description="changed", owner_email="team@example.com", data={"k": "v"}
        ),
    )
    update.config.workflow_execution_retention_ttl.FromTimedelta(timedelta(days=3))
    updated = await service.update_namespace(update)
    seen["updated"] = (
        updated.namespace_info.description,
        updated.namespace_info.owner_email,
        dict(updated.namespace_info.data),
        updated.config.workflow_execution_retention_ttl.ToTimedelta().days,
        updated.namespace_info.state,
    )
    described = await service.describe_namespace(DescribeNamespaceRequest(namespace=name))
    seen["described"] = (
        described.namespace_info.description,
        described.config.workflow_execution_retention_ttl.ToTimedelta().days,
    )
    negative = UpdateNamespaceRequest(namespace=name)
    negative.config.workflow_execution_retention_ttl.FromTimedelta(timedelta(hours=-1))
    seen["negative retention"] = (await _call(lambda: service.update_namespace(negative)))[0]
    unknown = UpdateNamespaceRequest(namespace=unique("no-such-namespace"))
    seen["update unknown"] = (await _call(lambda: service.update_namespace(unknown)))[0]
    deprecate = DeprecateNamespaceRequest(namespace=name)
    seen["deprecate"] = (await _call(lambda: service.deprecate_namespace(deprecate)))[0]
    described = await service.describe_namespace(DescribeNamespaceRequest(namespace=name))
    seen["state after deprecation"] = described.namespace_info.state
    start = StartWorkflowExecutionRequest(
        namespace=name,
        workflow_id=unique("in-deprecated"),
        workflow_type=WorkflowType(name="WaitForeverWorkflow"),
        task_queue=TaskQueue(name=unique("nobody")),
        request_id=str(uuid.uuid4()),
    )
    seen["start in a deprecated namespace"] = (
        await _call(lambda: service.start_workflow_execution(start))
    )[0]
    seen["deprecate again"] = (await _call(lambda: service.deprecate_namespace(deprecate)))[0]
    return seen


async def test_cairn_namespace_lifecycle_matches_reference(
    ref_client: Client, cairn_client: Client
) -> None:
    reference = await namespace_lifecycle(ref_client)
    cairn = await namespace_lifecycle(cairn_client)
    assert cairn == reference


async def search_attributes(client: Client) -> dict[str, object]:
    """Custom search attributes from registration to queries: what a client sees."""
    operator = client.operator_service
    prefix = f"Diff{uuid.uuid4().hex[:6]}"
    types = {
        "Kw": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "Txt": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
        "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
        "Dbl": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
        "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
        "Dt": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
        "List": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    }
    names = {suffix: prefix + suffix for suffix in types}
    seen: dict[str, object] = {}
    add = AddSearchAttributesRequest(
        namespace="default",
        search_attributes={names[suffix]: kind for suffix, kind in types.items()},
    )
    seen["add"] = (await _call(lambda: operator.add_search_attributes(add)))[0]
    seen["add again"] = (await _call(lambda: operator.add_search_attributes(add)))[0]
    reserved = AddSearchAttributesRequest(
        namespace="default",
        search_attributes={"WorkflowId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
    )
    seen["add a system name"] = await _call(lambda: operator.add_search_attributes(reserved))
    listed = await operator.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    seen["listed"] = {
        name.removeprefix(prefix): kind
        for name, kind in listed.custom_attributes.items()
        if name.startswith(prefix)
    }

    queue = unique("diff-sa")
    typed = TypedSearchAttributes(
        [
            SearchAttributePair(SearchAttributeKey.for_keyword(names["Kw"]), "blue"),
            SearchAttributePair(
                SearchAttributeKey.for_text(names["Txt"]), "The Quick brown fox"
            ),
            SearchAttributePair(SearchAttributeKey.for_int(names["Int"]), 7),
            SearchAttributePair(SearchAttributeKey.for_float(names["Dbl"]), 2.5),
            SearchAttributePair(SearchAttributeKey.for_bool(names["Bool"]), True),
            SearchAttributePair(
                SearchAttributeKey.for_datetime(names["Dt"]),
                datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
            ),
            SearchAttributePair(SearchAttributeKey.for_keyword_list(names["List"]), ["a", "b"]),
        ]
    )
    async with worker(client, queue):
        handle = await client.start_workflow(
            UpsertWorkflow.run,
            args=[names["Kw"], "green"],
            id=unique("diff-sa"),
            task_queue=queue,
            search_attributes=typed,
        )
        for label, attribute in (
            ("start with an unregistered attribute", SearchAttributeKey.for_keyword(prefix)),
            ("start with a value of the wrong type", SearchAttributeKey.for_keyword(names["Int"])),
        ):
            try:
                other = await client.start_workflow(
                    WaitForeverWorkflow.run,
                    id=unique("diff-sa-bad"),
                    task_queue=queue,
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(attribute, "x")]
                    ),
                )
                await other.terminate()
                seen[label] = "OK"
            except RPCError as error:
                seen[label] = error.status.name
        await wait_for_event(handle, "UpsertWorkflowSearchAttributes")
        queries = {
            "keyword after the upsert": f"{names['Kw']} = 'green'",
            "keyword before the upsert": f"{names['Kw']} = 'blue'",
            "text words": f"{names['Txt']} = 'quick FOX'",
            "text missing word": f"{names['Txt']} = 'slow'",
            "int range": f"{names['Int']} BETWEEN 5 AND 10",
            "double": f"{names['Dbl']} > 2",
            "bool": f"{names['Bool']} = true",
            "datetime": f"{names['Dt']} > '2024-01-01T00:00:00Z'",
            "list contains": f"{names['List']} = 'b'",
            "list in": f"{names['List']} IN ('c', 'a')",
            "list without": f"{names['List']} = 'z'",
        }
        for label, query in queries.items():
            query = f"WorkflowId = '{handle.id}' AND {query}"
            # The reference's visibility is eventually consistent: wait until it agrees with
            # itself on the attribute the upsert changed, then read every answer once.
            if label == "keyword after the upsert":
                await eventually(
                    lambda q=query: client.count_workflows(q),
                    lambda count: count.count == 1,
                    what="the upsert to be visible",
                )
            seen[f"count: {label}"] = (await client.count_workflows(query)).count
        unknown = CountWorkflowExecutionsRequest(
            namespace="default", query=f"{prefix}Nope = 1"
        )
        seen["query an unknown attribute"] = (
            await _call(lambda: client.workflow_service.count_workflow_executions(unknown))
        )[0]
        described = await handle.describe()
        seen["described keyword"] = described.typed_search_attributes.get(
            SearchAttributeKey.for_keyword(names["Kw"])
        )
        seen["described list"] = described.typed_search_attributes.get(
            SearchAttributeKey.for_keyword_list(names["List"])
        )
        await handle.signal(UpsertWorkflow.finish)
        seen["result"] = await handle.result()
    remove = RemoveSearchAttributesRequest(
        namespace="default", search_attributes=list(names.values())
    )
    seen["remove"] = (await _call(lambda: operator.remove_search_attributes(remove)))[0]
    return seen


async def test_cairn_search_attributes_match_reference(
    ref_client: Client, cairn_client: Client
) -> None:
    reference = await search_attributes(ref_client)
    cairn = await search_attributes(cairn_client)
    assert cairn == reference


async def eager_start(client: Client) -> dict[str, object]:
    """A start that asks for its first workflow task in the response."""
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    queue = unique("diff-eager")
    request = StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=unique("diff-eager"),
        workflow_type=WorkflowType(name="GreetingWorkflow"),
        task_queue=TaskQueue(name=queue),
        request_id=str(uuid.uuid4()),
        identity="eager-tester",
        request_eager_execution=True,
        input=Payloads(
            payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b'"eager"')]
        ),
    )
    request.workflow_task_timeout.FromTimedelta(timedelta(seconds=1))
    response = await client.workflow_service.start_workflow_execution(request)
    task = response.eager_workflow_task
    seen: dict[str, object] = {
        "capability": info.capabilities.eager_workflow_start,
        "task token": bool(task.task_token),
        "started event": task.started_event_id,
        "attempt": task.attempt,
        "history": [describe_event(event) for event in task.history.events],
    }
    async with worker(client, queue):
        handle = client.get_workflow_handle(request.workflow_id)
        # The task was handed to this caller, not to the worker that now polls.
        seen["after the task timeout"] = (await finish(handle, Outcome())).events[3:6]
    return seen


async def test_cairn_eager_start_matches_reference(
    ref_client: Client, cairn_client: Client
) -> None:
    assert await eager_start(cairn_client) == await eager_start(ref_client)


async def other_reads(client: Client) -> dict[str, object]:
    """GetClusterInfo, ScanWorkflowExecutions and GetWorkflowExecutionHistoryReverse."""
    service = client.workflow_service
    info = await service.get_cluster_info(GetClusterInfoRequest())
    seen: dict[str, object] = {
        "cluster name": info.cluster_name,
        "server version": info.server_version,
        "supported clients": sorted(info.supported_clients),
    }
    queue = unique("diff-reads")
    async with worker(client, queue):
        handle = await client.start_workflow(
            GreetingWorkflow.run, "reads", id=unique("diff-reads"), task_queue=queue
        )
        await handle.result()
    scan = ScanWorkflowExecutionsRequest(namespace="default", query=f"WorkflowId = '{handle.id}'")
    scanned = await eventually(
        lambda: service.scan_workflow_executions(scan),
        lambda response: len(response.executions) == 1,
        what="the workflow to be visible",
    )
    seen["scanned"] = [execution.status for execution in scanned.executions]
    backwards: list[str] = []
    token = b""
    while True:
        page = await service.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace="default",
                execution=WorkflowExecution(workflow_id=handle.id),
                maximum_page_size=4,
                next_page_token=token,
            )
        )
        backwards += [describe_event(event) for event in page.history.events]
        token = page.next_page_token
        if not token:
            break
    forwards = [describe_event(event) for event in (await handle.fetch_history()).events]
    seen["reverse history is the history backwards"] = backwards == forwards[::-1]
    return seen


async def test_cairn_other_reads_match_reference(ref_client: Client, cairn_client: Client) -> None:
    assert await other_reads(cairn_client) == await other_reads(ref_client)


async def task_queue_pollers(client: Client) -> dict[str, object]:
    """DescribeTaskQueue: the workers polling a queue, for each kind of task."""
    queue = unique("diff-pollers")
    seen: dict[str, object] = {}
    async with worker(client, queue):
        for kind, name in ((1, "workflow"), (2, "activity")):
            request = DescribeTaskQueueRequest(
                namespace="default", task_queue=TaskQueue(name=queue), task_queue_type=kind
            )
            described = await eventually(
                lambda request=request: client.workflow_service.describe_task_queue(request),
                lambda response: len(response.pollers) > 0,
                what=f"{name} pollers",
            )
            seen[f"{name} pollers"] = [
                (poller.identity == client.identity, poller.rate_per_second)
                for poller in described.pollers
            ]
    unknown = DescribeTaskQueueRequest(
        namespace="default", task_queue=TaskQueue(name=unique("nobody")), task_queue_type=1
    )
    seen["a queue nobody polls"] = len(
        (await client.workflow_service.describe_task_queue(unknown)).pollers
    )
    return seen


async def test_cairn_task_queue_pollers_match_reference(
    ref_client: Client, cairn_client: Client
) -> None:
    assert await task_queue_pollers(cairn_client) == await task_queue_pollers(ref_client)


async def task_queue_backlog(client: Client) -> dict[str, int]:
    """Starts workflows on a queue no worker polls and reads its backlog by kind."""
    queue = unique("backlog")
    for i in range(7):
        await client.start_workflow("Waits", id=unique(f"backlog-{i}"), task_queue=queue)
    request = DescribeTaskQueueRequest(
        namespace="default",
        task_queue=TaskQueue(name=queue),
        api_mode=1,  # ENHANCED, as the CLI asks
        report_stats=True,
        task_queue_types=[1, 2],
    )

    def backlogs(response) -> dict[str, int]:
        info = response.versions_info[""].types_info
        return {
            "workflow": info[1].stats.approximate_backlog_count,
            "activity": info[2].stats.approximate_backlog_count,
        }

    described = await eventually(
        lambda: client.workflow_service.describe_task_queue(request),
        lambda response: backlogs(response)["workflow"] == 7,
        what="a backlog of seven workflow tasks",
    )
    return backlogs(described)


async def test_cairn_task_queue_backlog_matches_reference(
    ref_client: Client, cairn_client: Client
) -> None:
    assert await task_queue_backlog(cairn_client) == await task_queue_backlog(ref_client)
