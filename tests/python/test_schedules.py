"""Schedules: the Python SDK's schedule API end to end on Cairn, and the same scenarios compared
with the reference Temporal dev server (specs as stored, the workflows started and their IDs,
overlap policies, pause, backfill, updates, lists and errors).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from google.protobuf.json_format import MessageToDict
from temporalio.api.enums.v1 import ScheduleOverlapPolicy as OverlapProto
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.schedule.v1 import (
    BackfillRequest,
    CalendarSpec,
    IntervalSpec,
    Range,
    Schedule,
    ScheduleAction,
    SchedulePatch,
    SchedulePolicies,
    ScheduleSpec,
    ScheduleState,
    StructuredCalendarSpec,
    TriggerImmediatelyRequest,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import NewWorkflowExecutionInfo
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.workflowservice.v1 import (
    CountSchedulesRequest,
    CreateScheduleRequest,
    DeleteScheduleRequest,
    DescribeScheduleRequest,
    GetSystemInfoRequest,
    ListScheduleMatchingTimesRequest,
    ListSchedulesRequest,
    ListWorkflowExecutionsRequest,
    PatchScheduleRequest,
    UpdateScheduleRequest,
)
from temporalio.client import (
    Client,
    Schedule as SdkSchedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    ScheduleSpec as SdkScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

from support import eventually, unique, worker
from workflows import GreetingWorkflow

pytestmark = pytest.mark.timeout(120)

NS = "default"
AT_2030 = datetime(2030, 1, 1, tzinfo=timezone.utc)


def _ts(moment: datetime):
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _action(workflow_id: str, queue: str, workflow_type: str = "WaitForeverWorkflow"):
    return ScheduleAction(
        start_workflow=NewWorkflowExecutionInfo(
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name=workflow_type),
            task_queue=TaskQueue(name=queue),
        )
    )


async def _rpc(call) -> str:
    """`OK` or the gRPC status and message of a call."""
    try:
        await call
        return "OK"
    except RPCError as error:
        return f"{error.status.name}: {error.message}"


def _spec_json(message) -> dict:
    return MessageToDict(message)


async def _describe(client: Client, schedule_id: str):
    return await client.workflow_service.describe_schedule(
        DescribeScheduleRequest(namespace=NS, schedule_id=schedule_id)
    )


async def schedule_behaviour(client: Client) -> dict[str, object]:
    """Everything a client sees of schedules that does not depend on the current time."""
    service = client.workflow_service
    seen: dict[str, object] = {}
    info = await service.get_system_info(GetSystemInfoRequest())
    seen["capability"] = info.capabilities.supports_schedules
    tag = uuid.uuid4().hex[:8]
    queue = unique("sched-queue")

    # Specs as they are stored: strings compiled, defaults filled in.
    specs = {
        "cron": ScheduleSpec(cron_string=["*/15 1-5 * jan,jul mon-fri 2030 # quarter hours"]),
        "cron with zone": ScheduleSpec(cron_string=["CRON_TZ=America/New_York 30 9 * * *"]),
        "nickname": ScheduleSpec(cron_string=["@weekly"]),
        "every": ScheduleSpec(cron_string=["@every 90m/5m"]),
        "calendar": ScheduleSpec(
            calendar=[CalendarSpec(hour="9", day_of_week="sun-tue,7", comment="early week")],
            exclude_calendar=[CalendarSpec(day_of_month="1")],
        ),
        "interval": ScheduleSpec(interval=[IntervalSpec()]),
        "structured": ScheduleSpec(
            structured_calendar=[
                StructuredCalendarSpec(minute=[Range(start=0, end=30, step=15)], hour=[Range(start=3)])
            ],
        ),
    }
    specs["interval"].interval[0].interval.FromTimedelta(timedelta(hours=1))
    specs["interval"].interval[0].phase.FromTimedelta(timedelta(minutes=10))
    for name, spec in specs.items():
        schedule_id = f"spec-{name.replace(' ', '-')}-{tag}"
        await service.create_schedule(
            CreateScheduleRequest(
                namespace=NS,
                schedule_id=schedule_id,
                schedule=Schedule(spec=spec, action=_action("spec-wf", queue)),
                request_id=str(uuid.uuid4()),
            )
        )
        described = await _describe(client, schedule_id)
        times = await service.list_schedule_matching_times(
            ListScheduleMatchingTimesRequest(
                namespace=NS,
                schedule_id=schedule_id,
                start_time=_ts(AT_2030),
                end_time=_ts(AT_2030 + timedelta(days=9)),
            )
        )
        seen[f"spec {name}"] = {
            "stored": _spec_json(described.schedule.spec),
            "policies": _spec_json(described.schedule.policies),
            "token": described.conflict_token.hex(),
            "first matching times": [t.ToJsonString() for t in times.start_time[:6]],
            "matching times": len(times.start_time),
        }

    # Starts by hand: a trigger, one skipped by the overlap policy, one allowed alongside.
    schedule_id = f"manual-{tag}"
    await service.create_schedule(
        CreateScheduleRequest(
            namespace=NS,
            schedule_id=schedule_id,
            schedule=Schedule(
                spec=ScheduleSpec(cron_string=["0 0 1 1 * 2099"]),
                action=_action(f"manual-wf-{tag}", queue),
                state=ScheduleState(notes="created"),
            ),
            initial_patch=SchedulePatch(
                trigger_immediately=TriggerImmediatelyRequest(scheduled_time=_ts(AT_2030))
            ),
            request_id=str(uuid.uuid4()),
        )
    )
    patch = lambda p: service.patch_schedule(  # noqa: E731
        PatchScheduleRequest(namespace=NS, schedule_id=schedule_id, patch=p)
    )
    await eventually(
        lambda: _describe(client, schedule_id),
        lambda d: len(d.info.running_workflows) == 1,
        what="the first start",
    )
    # Each patch is let take effect before the next: Temporal applies patches in the
    # background, and one that meets another in the same pass may be lost there.
    await patch(SchedulePatch(trigger_immediately=TriggerImmediatelyRequest()))
    await eventually(
        lambda: _describe(client, schedule_id),
        lambda d: d.info.overlap_skipped == 1,
        what="the trigger skipped by the overlap policy",
    )
    await patch(
        SchedulePatch(
            trigger_immediately=TriggerImmediatelyRequest(
                overlap_policy=OverlapProto.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
                scheduled_time=_ts(AT_2030 + timedelta(hours=1)),
            )
        )
    )
    await eventually(
        lambda: _describe(client, schedule_id),
        lambda d: d.info.action_count == 2,
        what="the trigger allowed alongside",
    )
    await patch(
        SchedulePatch(
            backfill_request=[
                BackfillRequest(
                    start_time=_ts(datetime(2099, 1, 1, tzinfo=timezone.utc)),
                    end_time=_ts(datetime(2099, 1, 1, tzinfo=timezone.utc)),
                    overlap_policy=OverlapProto.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
                )
            ]
        )
    )
    described = await eventually(
        lambda: _describe(client, schedule_id),
        lambda d: d.info.action_count == 3,
        what=f"three actions on {client.service_client.config.target_host}",
    )
    seen["manual starts"] = {
        "action count": described.info.action_count,
        "overlap skipped": described.info.overlap_skipped,
        "running": [w.workflow_id.replace(tag, "TAG") for w in described.info.running_workflows],
        "recent": [
            (a.start_workflow_result.workflow_id.replace(tag, "TAG"), a.start_workflow_status)
            for a in described.info.recent_actions
        ],
        "token": described.conflict_token.hex(),
    }
    first = client.get_workflow_handle(f"manual-wf-{tag}-2030-01-01T00:00:00Z")
    started = await first.describe()
    attributes = started.raw_description.workflow_execution_info.search_attributes
    seen["started workflow"] = {
        "type": started.workflow_type,
        "search attributes": {
            key: (payload.data.decode().replace(tag, "TAG"), payload.metadata["type"].decode())
            for key, payload in attributes.indexed_fields.items()
        },
        "identity": (await first.fetch_history()).events[0]
        .workflow_execution_started_event_attributes.identity.replace(tag, "TAG"),
    }

    # Pause, unpause and updates with and without the right conflict token.
    await patch(SchedulePatch(pause="for maintenance"))
    paused = await _describe(client, schedule_id)
    seen["paused"] = (paused.schedule.state.paused, paused.schedule.state.notes)
    seen["token after pause"] = paused.conflict_token.hex()
    changed = paused.schedule
    changed.state.notes = "changed"
    update = lambda token: service.update_schedule(  # noqa: E731
        UpdateScheduleRequest(
            namespace=NS,
            schedule_id=schedule_id,
            schedule=changed,
            conflict_token=token,
            request_id=str(uuid.uuid4()),
        )
    )
    seen["stale update"] = await _rpc(update((99).to_bytes(8, "big")))
    seen["after the stale update"] = (await _describe(client, schedule_id)).schedule.state.notes
    seen["update"] = await _rpc(update(paused.conflict_token))
    after = await _describe(client, schedule_id)
    seen["after the update"] = (
        after.schedule.state.notes,
        after.conflict_token.hex(),
        after.info.HasField("update_time"),
    )

    # Lists: by schedule ID, by whether paused, and counts.
    async def listed(query: str) -> list[str]:
        response = await service.list_schedules(
            ListSchedulesRequest(namespace=NS, query=query, maximum_page_size=100)
        )
        return sorted(entry.schedule_id.replace(tag, "TAG") for entry in response.schedules)

    seen["listed by ID"] = await eventually(
        lambda: listed(f"ScheduleId = '{schedule_id}'"), lambda ids: len(ids) == 1, what="listing"
    )
    seen["listed paused"] = await eventually(
        lambda: listed(f"TemporalSchedulePaused = true AND ScheduleId = '{schedule_id}'"),
        lambda ids: len(ids) == 1,
        what="the paused schedule listed",
    )
    counted = await service.count_schedules(
        CountSchedulesRequest(namespace=NS, query=f"ScheduleId = '{schedule_id}'")
    )
    seen["count"] = counted.count
    seen["list by workflow type"] = await _rpc(
        service.list_schedules(ListSchedulesRequest(namespace=NS, query="WorkflowType = 'x'"))
    )
    hidden = await service.list_workflow_executions(
        ListWorkflowExecutionsRequest(
            namespace=NS, query=f"WorkflowId = 'temporal-sys-scheduler:{schedule_id}'"
        )
    )
    seen["schedule runs hidden from workflow lists"] = len(hidden.executions)

    # Errors.
    def create(sid: str, spec: ScheduleSpec, action=None, request_id: str | None = None):
        return service.create_schedule(
            CreateScheduleRequest(
                namespace=NS,
                schedule_id=sid,
                schedule=Schedule(spec=spec, action=action or _action("e", queue)),
                request_id=request_id if request_id is not None else str(uuid.uuid4()),
            )
        )

    cron = lambda text: ScheduleSpec(cron_string=[text])  # noqa: E731
    errors = {
        "duplicate": create(schedule_id, cron("@daily")),
        "four fields": create(f"e1-{tag}", cron("* * * *")),
        "minute out of range": create(f"e2-{tag}", cron("61 * * * *")),
        "unknown zone": create(f"e3-{tag}", ScheduleSpec(timezone_name="Mars/Olympus")),
        "two zones": create(
            f"e4-{tag}",
            ScheduleSpec(cron_string=["TZ=Europe/Paris 0 0 * * *"], timezone_name="UTC"),
        ),
        "bad calendar": create(
            f"e5-{tag}", ScheduleSpec(calendar=[CalendarSpec(minute="77", hour="1-2-3")])
        ),
        "bad structured": create(
            f"e6-{tag}", ScheduleSpec(structured_calendar=[StructuredCalendarSpec(hour=[Range(start=24)])])
        ),
        "no request ID": create(f"e7-{tag}", cron("@daily"), request_id=""),
        "no workflow type": create(f"e8-{tag}", cron("@daily"), _action("e", queue, "")),
        "describe missing": service.describe_schedule(
            DescribeScheduleRequest(namespace=NS, schedule_id=f"missing-{tag}")
        ),
        "patch missing": service.patch_schedule(
            PatchScheduleRequest(
                namespace=NS, schedule_id=f"missing-{tag}", patch=SchedulePatch(pause="x")
            )
        ),
        "no patch": service.patch_schedule(
            PatchScheduleRequest(namespace=NS, schedule_id=schedule_id)
        ),
        "update without action": service.update_schedule(
            UpdateScheduleRequest(
                namespace=NS, schedule_id=schedule_id, schedule=Schedule(), request_id="u"
            )
        ),
    }
    for name, call in errors.items():
        seen[f"error {name}"] = (await _rpc(call)).replace(tag, "TAG")

    # Delete: the schedule goes, the workflows it started stay.
    seen["delete"] = await _rpc(
        service.delete_schedule(DeleteScheduleRequest(namespace=NS, schedule_id=schedule_id))
    )
    seen["describe deleted"] = await _rpc(_describe(client, schedule_id))
    seen["delete again"] = await _rpc(
        service.delete_schedule(DeleteScheduleRequest(namespace=NS, schedule_id=schedule_id))
    )
    seen["started workflow after delete"] = (await first.describe()).status.name
    seen["create again"] = await _rpc(create(schedule_id, cron("@daily")))
    await first.terminate()
    return seen


def differences(ours: dict[str, object], theirs: dict[str, object]) -> str:
    """Each item the two servers disagree on, Cairn's value first."""
    return "\n".join(
        f"{key}:\n  cairn:     {ours.get(key)!r}\n  reference: {theirs.get(key)!r}"
        for key in sorted(set(ours) | set(theirs))
        if ours.get(key) != theirs.get(key)
    )


async def test_cairn_schedules_match_reference(ref_client: Client, cairn_client: Client) -> None:
    theirs = await schedule_behaviour(ref_client)
    ours = await schedule_behaviour(cairn_client)
    assert ours == theirs, differences(ours, theirs)


async def overlap_and_closing(client: Client) -> dict[str, object]:
    """BUFFER_ONE while a workflow runs, and what the schedule sees when workflows close."""
    queue = unique("sched-overlap")
    schedule_id = unique("overlap")
    handle = await client.create_schedule(
        schedule_id,
        SdkSchedule(
            action=ScheduleActionStartWorkflow(
                "WaitForeverWorkflow", id=f"{schedule_id}-wf", task_queue=queue
            ),
            spec=SdkScheduleSpec(cron_expressions=["0 0 1 1 * 2099"]),
        ),
    )
    seen: dict[str, object] = {}
    await handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
    await eventually(
        handle.describe, lambda d: len(d.info.running_actions) == 1, what="the first start"
    )
    # Temporal takes patches in the background: each trigger is waited for before the next.
    await handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
    await eventually(
        handle.describe,
        lambda d: d.raw_description.info.buffer_size == 1,
        timeout=60,
        what="the second trigger buffered",
    )
    await handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
    described = await eventually(
        handle.describe,
        lambda d: d.info.num_actions_skipped_overlap == 1,
        timeout=60,
        what="the third trigger skipped",
    )
    seen["while running"] = (
        described.info.num_actions,
        described.info.num_actions_skipped_overlap,
        described.raw_description.info.buffer_size,
        len(described.info.running_actions),
    )
    running = described.info.running_actions[0].workflow_id
    await client.get_workflow_handle(running).terminate("done waiting")
    # The buffered start goes once the schedule learns the first closed.
    described = await eventually(
        handle.describe,
        lambda d: d.info.num_actions == 2 and len(d.info.running_actions) == 1,
        what="the buffered start",
    )
    seen["after the first closed"] = [
        WorkflowExecutionStatus.Name(action.start_workflow_status)
        for action in described.raw_description.info.recent_actions
    ]
    second = described.info.running_actions[0].workflow_id
    await client.get_workflow_handle(second).terminate("done")
    await handle.delete()
    return seen


async def test_cairn_overlap_matches_reference(ref_client: Client, cairn_client: Client) -> None:
    assert await overlap_and_closing(cairn_client) == await overlap_and_closing(ref_client)


def completed_ids(described) -> list[str]:
    """The workflows of a schedule's recent actions that it saw complete."""
    return [
        action.start_workflow_result.workflow_id
        for action in described.raw_description.info.recent_actions
        if action.start_workflow_status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
    ]


async def test_a_schedule_starts_workflows_at_its_times_and_sees_them_complete(
    client: Client,
) -> None:
    queue = unique("sched-run")
    schedule_id = unique("every-second")
    async with worker(client, queue):
        handle = await client.create_schedule(
            schedule_id,
            SdkSchedule(
                action=ScheduleActionStartWorkflow(
                    GreetingWorkflow.run, "schedule", id=f"{schedule_id}-wf", task_queue=queue
                ),
                spec=SdkScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
            ),
        )
        described = await eventually(
            handle.describe,
            lambda d: len(completed_ids(d)) >= 2,
            what="two scheduled workflows completed",
        )
        await handle.pause(note="enough")
        result = await client.get_workflow_handle(completed_ids(described)[0]).result()
        assert result == "Hello, schedule!"
        # Each started workflow is named after its scheduled time.
        for action in described.info.recent_actions:
            suffix = action.scheduled_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            assert action.action.workflow_id == f"{schedule_id}-wf-{suffix}"
        paused = await handle.describe()
        assert paused.schedule.state.paused and paused.schedule.state.note == "enough"
        await handle.delete()


async def test_schedules_through_the_sdk_api(client: Client) -> None:
    queue = unique("sched-sdk")
    schedule_id = unique("sdk")
    handle = await client.create_schedule(
        schedule_id,
        SdkSchedule(
            action=ScheduleActionStartWorkflow(
                GreetingWorkflow.run, "backfill", id=f"{schedule_id}-wf", task_queue=queue
            ),
            spec=SdkScheduleSpec(cron_expressions=["0 12 * * *"]),
        ),
    )
    with pytest.raises(ScheduleAlreadyRunningError):
        await client.create_schedule(
            schedule_id,
            SdkSchedule(
                action=ScheduleActionStartWorkflow(
                    GreetingWorkflow.run, "x", id="x", task_queue=queue
                ),
                spec=SdkScheduleSpec(),
            ),
        )
    described = await handle.describe()
    assert [c.hour[0].start for c in described.schedule.spec.calendars] == [12]
    assert len(described.info.next_action_times) == 10

    def later(input: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = input.description.schedule
        schedule.spec = SdkScheduleSpec(cron_expressions=["30 18 * * *"])
        return ScheduleUpdate(schedule=schedule)

    await handle.update(later)
    described = await handle.describe()
    assert [c.hour[0].start for c in described.schedule.spec.calendars] == [18]
    assert all(t.hour == 18 and t.minute == 30 for t in described.info.next_action_times)

    await handle.backfill(
        ScheduleBackfill(
            start_at=datetime(2030, 5, 1, tzinfo=timezone.utc),
            end_at=datetime(2030, 5, 3, tzinfo=timezone.utc),
            overlap=ScheduleOverlapPolicy.ALLOW_ALL,
        )
    )
    async with worker(client, queue):
        for day in (1, 2):
            workflow = client.get_workflow_handle(f"{schedule_id}-wf-2030-05-0{day}T18:30:00Z")
            assert await workflow.result() == "Hello, backfill!"
    listed = [
        s.id async for s in await client.list_schedules(query=f"ScheduleId = '{schedule_id}'")
    ]
    assert listed == [schedule_id]
    await handle.delete()
    with pytest.raises(RPCError, match="schedule not found"):
        await handle.describe()
