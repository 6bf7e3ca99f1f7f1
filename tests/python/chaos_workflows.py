"""The chaos test's workflow: a timer, an activity and a signal, each of which must survive
any Cairn process being killed at any moment. Kept apart from workflows.py so the sandbox
imports only this."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy


@activity.defn
async def chaos_double(n: int) -> int:
    return 2 * n


@workflow.defn
class ChaosWorkflow:
    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.run
    async def run(self, n: int) -> str:
        await workflow.sleep(timedelta(milliseconds=300))
        doubled = await workflow.execute_activity(
            chaos_double,
            n,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )
        await workflow.wait_condition(lambda: len(self.signals) > 0)
        return f"{doubled}:{self.signals[0]}"

    @workflow.signal
    def poke(self, value: str) -> None:
        self.signals.append(value)
