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
