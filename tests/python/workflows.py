"""Every workflow and activity the end-to-end suite runs, shared by all test files.

Workflows run in the SDK's sandbox (as users' workflows do), except `FlakyTaskWorkflow`, which
needs module state that survives a workflow-task retry.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

# Retries that the tests wait for should not take seconds each.
FAST_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    backoff_coefficient=1.0,
    maximum_attempts=5,
)
NO_RETRY = RetryPolicy(maximum_attempts=1)

# Workflow IDs whose `heartbeat_until_cancelled` activity saw its cancellation. Activities run
# in the test process itself, so tests read this directly.
ACTIVITY_CANCELLATIONS: set[str] = set()

# Workflow IDs whose `work_until_paused` activity was stopped by a pause.
ACTIVITY_PAUSES: set[str] = set()

# Workflow IDs whose `pass_gate` activity may succeed; tests open the gate from outside.
OPEN_GATES: set[str] = set()

# Workflow IDs for which `FlakyTaskWorkflow` already failed its first workflow task.
_FLAKY_TASK_FAILED: set[str] = set()


# --- activities -----------------------------------------------------------------------------


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn
async def fail_until_third_attempt() -> int:
    attempt = activity.info().attempt
    if attempt < 3:
        raise ApplicationError(f"attempt {attempt} failed", type="Flaky")
    return attempt


@activity.defn
async def fail_non_retryable() -> str:
    raise ApplicationError("bad input", type="BadInput", non_retryable=True)


@activity.defn
async def sleep_for(seconds: float) -> str:
    # Simulates work that outlives the activity's timeout; the worker cancels it at shutdown.
    await asyncio.sleep(seconds)
    return "slept"


@activity.defn
async def heartbeat_then_fail_once() -> list[int]:
    """Records progress on the first attempt, fails, and returns what the next attempt got."""
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat(7)
        raise ApplicationError("failing after heartbeat", type="Flaky")
    return list(info.heartbeat_details)


@activity.defn
async def never_heartbeat() -> str:
    # Stuck work: never heartbeats, so the heartbeat timeout fires; cancelled at worker shutdown.
    await asyncio.sleep(60)
    return "woke up"


@activity.defn
async def heartbeat_until_cancelled() -> str:
    workflow_id = activity.info().workflow_id
    try:
        for _ in range(600):
            activity.heartbeat()
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        ACTIVITY_CANCELLATIONS.add(workflow_id)
        raise
    return "never cancelled"


@activity.defn
async def work_until_paused() -> str:
    """Heartbeats until an operator pauses it (attempt 1); a later attempt just finishes."""
    info = activity.info()
    if info.attempt > 1:
        return f"finished on attempt {info.attempt}"
    try:
        for _ in range(600):
            activity.heartbeat()
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        details = activity.cancellation_details()
        if details is not None and details.paused:
            ACTIVITY_PAUSES.add(info.workflow_id)
        raise
    return "never paused"


@activity.defn
async def pass_gate() -> str:
    info = activity.info()
    if info.workflow_id not in OPEN_GATES:
        raise ApplicationError(f"gate closed on attempt {info.attempt}", type="GateClosed")
    return f"passed on attempt {info.attempt}"


@activity.defn
async def make_blob(size: int) -> str:
    return "x" * size


@activity.defn
async def measure(blob: str) -> int:
    return len(blob)


ALL_ACTIVITIES = [
    measure,
    pass_gate,
    work_until_paused,
    make_blob,
    greet,
    fail_until_third_attempt,
    fail_non_retryable,
    sleep_for,
    heartbeat_then_fail_once,
    never_heartbeat,
    heartbeat_until_cancelled,
]


# --- workflows ------------------------------------------------------------------------------


@workflow.defn
class GreetingWorkflow:
    """One activity; returns its result."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class ActivityRetryWorkflow:
    """An activity that fails twice and then succeeds; returns the attempt that succeeded."""

    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity(
            fail_until_third_attempt,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=FAST_RETRY,
        )


@workflow.defn
class GateWorkflow:
    """An activity (ID `gate`) that fails until its gate opens, retried every 5 s for up to 5
    attempts, so that an operator can act while it waits; returns what the passing attempt said.
    """

    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            pass_gate,
            activity_id="gate",
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=5), backoff_coefficient=1.0, maximum_attempts=5
            ),
        )


@workflow.defn
class PausableWorkflow:
    """An activity (ID `work`) that heartbeats until paused; returns what it finally said."""

    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            work_until_paused,
            activity_id="work",
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )


@workflow.defn
class PatchedWorkflow:
    """Takes a patch: the SDK records it in `TemporalChangeVersion`, one of Temporal's own
    search attributes that workflows may set."""

    @workflow.run
    async def run(self, patch_id: str) -> bool:
        return workflow.patched(patch_id)


@workflow.defn
class NonRetryableActivityWorkflow:
    """An activity failure marked non-retryable; the ActivityError fails the workflow."""

    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            fail_non_retryable,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=FAST_RETRY,
        )


@workflow.defn
class ActivityTimeoutWorkflow:
    """Runs an activity that exceeds its start-to-close, schedule-to-close or heartbeat
    timeout, without retries.

    Returns the timeout type the workflow observed, e.g. "START_TO_CLOSE".
    """

    @workflow.run
    async def run(self, kind: str) -> str:
        try:
            if kind == "start_to_close":
                await workflow.execute_activity(
                    sleep_for,
                    30.0,
                    start_to_close_timeout=timedelta(seconds=1),
                    retry_policy=NO_RETRY,
                )
            elif kind == "schedule_to_close":
                # Started eagerly, with no start-to-close timeout of its own: both of its
                # deadlines fall together.
                await workflow.execute_activity(
                    sleep_for,
                    30.0,
                    schedule_to_close_timeout=timedelta(milliseconds=300),
                    retry_policy=NO_RETRY,
                )
            else:
                await workflow.execute_activity(
                    never_heartbeat,
                    start_to_close_timeout=timedelta(seconds=60),
                    heartbeat_timeout=timedelta(seconds=1),
                    retry_policy=NO_RETRY,
                )
        except ActivityError as error:
            cause = error.cause
            timeout_type = getattr(cause, "type", None)
            return f"{type(cause).__name__}:{timeout_type.name if timeout_type else None}"
        return "no timeout"


@workflow.defn
class HeartbeatDetailsWorkflow:
    """Returns the heartbeat details the second attempt of an activity received."""

    @workflow.run
    async def run(self) -> list[int]:
        return await workflow.execute_activity(
            heartbeat_then_fail_once,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=FAST_RETRY,
        )


@workflow.defn
class TimerWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return "timer fired"


@workflow.defn
class TimerCancelWorkflow:
    """Starts a long timer and cancels it when signalled."""

    def __init__(self) -> None:
        self.stop = False

    @workflow.signal
    def cancel_timer(self) -> None:
        self.stop = True

    @workflow.run
    async def run(self) -> str:
        timer = asyncio.create_task(workflow.sleep(3600))
        await workflow.wait_condition(lambda: self.stop)
        timer.cancel()
        try:
            await timer
        except asyncio.CancelledError:
            return "timer cancelled"
        return "timer fired"


@workflow.defn
class SignalQueryWorkflow:
    """Collects `append` signals until `finish`; `items` reports what arrived so far."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.finished = False

    @workflow.signal
    def append(self, item: str) -> None:
        self.received.append(item)

    @workflow.signal
    def finish(self, item: str) -> None:
        self.received.append(item)
        self.finished = True

    @workflow.query
    def items(self) -> list[str]:
        return list(self.received)

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.finished)
        return self.received


@workflow.defn
class FailingWorkflow:
    @workflow.run
    async def run(self, message: str) -> str:
        raise ApplicationError(message, type="Boom")


@workflow.defn
class WaitForeverWorkflow:
    """Blocks until cancelled, terminated or timed out."""

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "unreachable"


@workflow.defn
class CancellableWorkflow:
    """Waits until cancelled; optionally runs a cleanup activity before accepting the cancel."""

    @workflow.run
    async def run(self, cleanup: bool) -> str:
        try:
            await workflow.wait_condition(lambda: False)
        except asyncio.CancelledError:
            if cleanup:
                await workflow.execute_activity(
                    greet, "cleanup", start_to_close_timeout=timedelta(seconds=10)
                )
            raise
        return "unreachable"


@workflow.defn
class ActivityCancelWorkflow:
    """Cancelling the workflow cancels its heartbeating activity; the workflow then completes."""

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity(
                heartbeat_until_cancelled,
                start_to_close_timeout=timedelta(seconds=90),
                heartbeat_timeout=timedelta(seconds=2),
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                retry_policy=NO_RETRY,
            )
        except (asyncio.CancelledError, ActivityError):
            return "activity cancelled"
        return "activity finished"


@workflow.defn(sandboxed=False)
class FlakyTaskWorkflow:
    """Raises a plain exception (a bug, not a workflow failure) on its first workflow task."""

    @workflow.run
    async def run(self) -> str:
        workflow_id = workflow.info().workflow_id
        if workflow_id not in _FLAKY_TASK_FAILED:
            _FLAKY_TASK_FAILED.add(workflow_id)
            raise RuntimeError("simulated bug in workflow code")
        return "recovered"


@workflow.defn
class LargePayloadWorkflow:
    """Carries an activity result of `size` bytes through history and back."""

    @workflow.run
    async def run(self, size: int) -> int:
        blob = await workflow.execute_activity(
            make_blob, size, start_to_close_timeout=timedelta(seconds=30)
        )
        return len(blob)


OVERSIZE = 2_500_000  # over Temporal's 2 MB payload limit


@workflow.defn
class OversizeWorkflow:
    """Sends a payload over the limit: as its result, as an activity's input, or (from the
    activity, tried once) as an activity's result."""

    @workflow.run
    async def run(self, kind: str) -> int | str:
        if kind == "result":
            return "x" * OVERSIZE
        if kind == "activity input":
            await workflow.execute_activity(
                greet, "x" * OVERSIZE, start_to_close_timeout=timedelta(seconds=10)
            )
            return 0
        blob = await workflow.execute_activity(
            make_blob,
            OVERSIZE,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=NO_RETRY,
        )
        return len(blob)


@workflow.defn
class CountdownWorkflow:
    """Continues as new until `remaining` reaches 0; returns the runs' trail of counts."""

    @workflow.run
    async def run(self, remaining: int, trail: str = "") -> str:
        trail = f"{trail}{remaining}"
        if remaining == 0:
            return trail
        workflow.continue_as_new(args=[remaining - 1, trail])


@workflow.defn
class FailUntilAttemptWorkflow:
    """Fails the run until the workflow's attempt (its retries) reaches `succeed_on`."""

    @workflow.run
    async def run(self, succeed_on: int) -> str:
        attempt = workflow.info().attempt
        if attempt < succeed_on:
            raise ApplicationError(f"attempt {attempt} fails", type="NotYet")
        return f"succeeded on attempt {attempt}"


@workflow.defn
class RunInfoWorkflow:
    """Returns what the SDK tells a run about how it was started."""

    @workflow.run
    async def run(self) -> dict:
        info = workflow.info()
        return {
            "attempt": info.attempt,
            "cron_schedule": info.cron_schedule or "",
            "continued_run_id": bool(info.continued_run_id),
            "has_last_completion_result": workflow.has_last_completion_result(),
        }


@workflow.defn
class ParentWorkflow:
    """Runs one child workflow and reports how it ended.

    `kind`: "greet" (the child runs an activity and completes), "fail" (the child fails),
    "cancel" (the child waits until the parent cancels it), "abandon" or "terminate" (the
    parent completes while the child still waits, with that parent close policy).
    """

    @workflow.run
    async def run(self, kind: str) -> str:
        child_id = f"{workflow.info().workflow_id}-child"
        if kind == "greet":
            return await workflow.execute_child_workflow(
                GreetingWorkflow.run, "child", id=child_id
            )
        if kind == "fail":
            try:
                await workflow.execute_child_workflow(
                    FailingWorkflow.run, "child failure", id=child_id
                )
            except ChildWorkflowError as error:
                return f"child failed: {error.cause}"
            return "child completed"
        if kind == "cancel":
            child = await workflow.start_child_workflow(
                CancellableWorkflow.run, False, id=child_id
            )
            child.cancel()
            try:
                await child
            except ChildWorkflowError as error:
                return f"child ended: {type(error.cause).__name__}"
            return "child completed"
        policy = (
            workflow.ParentClosePolicy.ABANDON
            if kind == "abandon"
            else workflow.ParentClosePolicy.TERMINATE
        )
        await workflow.start_child_workflow(
            WaitForeverWorkflow.run, id=child_id, parent_close_policy=policy
        )
        return "parent done"


@workflow.defn
class SignalSenderWorkflow:
    """Signals `finish` to another workflow; reports whether the signal was delivered."""

    @workflow.run
    async def run(self, target_id: str) -> str:
        try:
            await workflow.get_external_workflow_handle(target_id).signal(
                SignalQueryWorkflow.finish, "from a workflow"
            )
        except ApplicationError as error:
            return f"signal failed: {error.message}"
        except Exception as error:  # noqa: BLE001 - what the SDK raises is what we compare
            return f"signal failed: {type(error).__name__}: {error}"
        return "signal delivered"


@workflow.defn
class CancelSenderWorkflow:
    """Asks another workflow to cancel; reports whether the request was delivered."""

    @workflow.run
    async def run(self, target_id: str) -> str:
        try:
            await workflow.get_external_workflow_handle(target_id).cancel()
        except Exception as error:  # noqa: BLE001 - what the SDK raises is what we compare
            return f"cancel failed: {type(error).__name__}: {error}"
        return "cancel delivered"


@workflow.defn
class UpdateWorkflow:
    """Collects items sent by update (empty ones are rejected by the validator) until the
    `finish` signal; returns them."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.update
    async def add(self, item: str) -> list[str]:
        self.items.append(item)
        return list(self.items)

    @add.validator
    def validate_add(self, item: str) -> None:
        if not item:
            raise ValueError("empty item")

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.items


@workflow.defn
class SuggestionWorkflow:
    """Sleeps `timers` times for 10 ms each (every timer adds events), then returns whether
    its last workflow task suggested continuing as new."""

    @workflow.run
    async def run(self, timers: int) -> bool:
        for _ in range(timers):
            await asyncio.sleep(0.01)
        return workflow.info().is_continue_as_new_suggested()


@workflow.defn
class ContinueOnceWorkflow:
    """Waits for `proceed`, runs a 2 s local activity (its workflow task stays open
    meanwhile), then continues as new; the next run answers the `whose_run` update with its
    run ID and returns once it answered one."""

    def __init__(self) -> None:
        self.proceeding = False
        self.answered = False

    @workflow.signal
    def proceed(self) -> None:
        self.proceeding = True

    @workflow.update
    async def whose_run(self) -> str:
        self.answered = True
        return workflow.info().run_id

    @workflow.run
    async def run(self, continued: bool) -> str:
        if not continued:
            await workflow.wait_condition(lambda: self.proceeding)
            await workflow.execute_local_activity(
                sleep_for, 2.0, start_to_close_timeout=timedelta(seconds=10)
            )
            workflow.continue_as_new(True)
        await workflow.wait_condition(lambda: self.answered)
        return "answered"


@workflow.defn
class UpsertWorkflow:
    """Sets the Keyword search attribute named `name` to `value`, then waits for `finish`."""

    def __init__(self) -> None:
        self.done = False

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self, name: str, value: str) -> str:
        workflow.upsert_search_attributes([SearchAttributeKey.for_keyword(name).value_set(value)])
        await workflow.wait_condition(lambda: self.done)
        return value


@workflow.defn
class LocalActivityWorkflow:
    """Runs `greet` as a local activity, then a local activity that outlasts the workflow
    task timeout, which the worker keeps alive with workflow-task heartbeats."""

    @workflow.run
    async def run(self, name: str) -> str:
        greeting = await workflow.execute_local_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )
        slept = await workflow.execute_local_activity(
            sleep_for, 2.5, start_to_close_timeout=timedelta(seconds=10)
        )
        return f"{greeting} {slept}"


@workflow.defn
class LargeInputsWorkflow:
    """Schedules `count` activities at once, each with an input of `size` bytes (one
    workflow task completion carries them all), and returns the sizes they measured."""

    @workflow.run
    async def run(self, count: int, size: int) -> int:
        blob = "x" * size
        sizes = await asyncio.gather(
            *(
                workflow.execute_activity(
                    measure, blob, start_to_close_timeout=timedelta(seconds=60)
                )
                for _ in range(count)
            )
        )
        return sum(sizes)


@workflow.defn
class EchoWorkflow:
    """Returns its input: a large input is also a large result."""

    @workflow.run
    async def run(self, blob: str) -> str:
        return blob


@workflow.defn
class SignalSizesWorkflow:
    """Waits for `count` signals and returns the bytes they carried."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    @workflow.signal
    def blob(self, blob: str) -> None:
        self.sizes.append(len(blob))

    @workflow.run
    async def run(self, count: int) -> int:
        await workflow.wait_condition(lambda: len(self.sizes) >= count)
        return sum(self.sizes)


ALL_WORKFLOWS = [
    LargeInputsWorkflow,
    EchoWorkflow,
    SignalSizesWorkflow,
    SuggestionWorkflow,
    ContinueOnceWorkflow,
    LocalActivityWorkflow,
    UpsertWorkflow,
    UpdateWorkflow,
    ParentWorkflow,
    SignalSenderWorkflow,
    CancelSenderWorkflow,
    CountdownWorkflow,
    FailUntilAttemptWorkflow,
    RunInfoWorkflow,
    LargePayloadWorkflow,
    OversizeWorkflow,
    GreetingWorkflow,
    ActivityRetryWorkflow,
    GateWorkflow,
    PausableWorkflow,
    PatchedWorkflow,
    NonRetryableActivityWorkflow,
    ActivityTimeoutWorkflow,
    HeartbeatDetailsWorkflow,
    TimerWorkflow,
    TimerCancelWorkflow,
    SignalQueryWorkflow,
    FailingWorkflow,
    WaitForeverWorkflow,
    CancellableWorkflow,
    ActivityCancelWorkflow,
    FlakyTaskWorkflow,
]
