"""The workload of the load test: one workflow that runs one no-op activity.

Kept apart from the driver so the SDK's workflow sandbox imports nothing but this.
"""

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def noop() -> None:
    return None


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self) -> str:
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=30))
        return "done"


@workflow.defn
class FanOut:
    """Schedules `count` no-op activities at once and waits for all of them."""

    @workflow.run
    async def run(self, count: int) -> int:
        import asyncio

        await asyncio.gather(
            *(
                workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=120))
                for _ in range(count)
            )
        )
        return count
