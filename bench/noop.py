"""The baseline the benchmarks compare against: a workflow of six no-op activities.

Its own module with nothing but temporalio imported, as a minimal Temporal
workflow would be (the workflow sandbox re-imports a workflow's module per run).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench_noop")
async def noop(step: int) -> int:
    return step


@workflow.defn
class SixNoOpsWorkflow:
    """The shape of a six-stage pipeline with nothing in it: six activities one after another."""

    @workflow.run
    async def run(self, n: int) -> int:
        for step in range(6):
            await workflow.execute_activity(noop, step, start_to_close_timeout=timedelta(seconds=30))
        return n
