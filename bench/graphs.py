"""Benchmark: a six-node linear graph of no-op nodes (start, four no-ops, end) run by
GraphWorkflow, against a hand-written workflow calling the same six activities
(bench/graph_baseline.py), on one stack, in one process, alternating in rounds.

    .venv/bin/python -m bench.graphs --n 300 --concurrency 20 --rounds 5

Prints runs/s, p50/p95 latency and the CPU each process of the stack spent per run, for each
and for the plain six-no-op-activity workflow (bench/noop.py: no step records at all) for
reference, then `ratio=<x>`: graph runs/s divided by hand-written runs/s (1.0: interpreting the
graph costs nothing beyond its activities). On a loaded machine the CPU ratio is the steadier.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from temporalio.worker import Worker

from activities.deps import Deps
from bench.discussions import cpu_line, cpu_used, measure, pct
from bench.graph_baseline import HandWrittenSixNodesWorkflow
from bench.noop import SixNoOpsWorkflow, noop
from bench.stack import bench_stack
from client.graphs import apply_definition
from contracts.graphs import GraphDefinition, GraphRunInput, graph_workflow_id
from core.settings import Settings
from db.engine import create_engine, create_sessionmaker
from integrations.factory import build_clients
from worker import activity_interceptors, all_activities, build_worker, workflow_runner
from workflows.graphs import GraphWorkflow

SIX_NODES = GraphDefinition.model_validate(
    {
        "name": "bench-six-nodes",
        "nodes": [
            {"id": "start", "type": "start"},
            *({"id": f"noop{i}", "type": "noop"} for i in range(1, 5)),
            {"id": "end", "type": "end", "parameters": {"output": {"done": True}}},
        ],
        "edges": [
            {"from": a, "to": b}
            for a, b in zip(
                ["start", "noop1", "noop2", "noop3", "noop4"], ["noop1", "noop2", "noop3", "noop4", "end"], strict=True
            )
        ],
    }
)


async def main(n: int, concurrency: int, rounds: int) -> None:
    async with bench_stack() as stack:
        client = stack.client
        settings = Settings(
            database_url=stack.database_url,
            temporal_address=stack.temporal_address,
            sandbox_url=stack.sandbox_url,
            task_queue=f"bench-{uuid.uuid4()}",
        )
        engine = create_engine(stack.database_url, pool_size=settings.db_pool_size)
        sessions = create_sessionmaker(engine)
        services = build_clients(settings)
        try:
            definition, _ = await apply_definition(sessions, SIX_NODES)
            deps = Deps(settings=settings, engine=engine, services=services)
            queue = settings.task_queue
            async with (
                build_worker(client, deps, task_queue=queue),
                Worker(
                    client,
                    task_queue=f"{queue}-hand",
                    workflows=[HandWrittenSixNodesWorkflow],
                    activities=all_activities(deps),
                    workflow_runner=workflow_runner(),
                    interceptors=activity_interceptors(deps),
                ),
                Worker(
                    client,
                    task_queue=f"{queue}-noop",
                    workflows=[SixNoOpsWorkflow],
                    activities=[noop],
                    workflow_runner=workflow_runner(),
                ),
            ):

                def run_input(execution_id: str) -> GraphRunInput:
                    return GraphRunInput(
                        execution_id=execution_id,
                        definition_name=definition.name,
                        definition_version=definition.version,
                    )

                async def graph(i: int) -> None:
                    execution_id = str(uuid.uuid4())
                    await client.execute_workflow(
                        GraphWorkflow.run,
                        run_input(execution_id),
                        id=graph_workflow_id(execution_id),
                        task_queue=queue,
                    )

                async def hand(i: int) -> None:
                    execution_id = str(uuid.uuid4())
                    await client.execute_workflow(
                        HandWrittenSixNodesWorkflow.run,
                        run_input(execution_id),
                        id=f"hand/{execution_id}",
                        task_queue=f"{queue}-hand",
                    )

                async def plain(i: int) -> None:
                    await client.execute_workflow(
                        SixNoOpsWorkflow.run, i, id=f"noop-{uuid.uuid4()}", task_queue=f"{queue}-noop"
                    )

                for warm in (graph, hand, plain):
                    await measure(range(min(20, n)), concurrency, warm, [])
                lat: dict[str, list[float]] = {"graph": [], "hand": [], "plain": []}
                seconds = dict.fromkeys(lat, 0.0)
                cpu: dict[str, dict[str, float]] = {name: {} for name in lat}
                size = -(-n // rounds)
                for start in range(0, n, size):
                    batch = range(start, min(n, start + size))
                    for name, run_one in (("hand", hand), ("graph", graph), ("plain", plain)):
                        with cpu_used(stack, cpu[name]):
                            seconds[name] += await measure(batch, concurrency, run_one, lat[name])
        finally:
            await services.aclose()
            await engine.dispose()

    rates = {name: n / s for name, s in seconds.items()}
    labels = {
        "plain": "six no-op activities, no step records (bench/noop.py)",
        "hand": "hand-written workflow, the same six graph activities",
        "graph": "GraphWorkflow, six-node linear graph of no-op nodes",
    }
    print(f"{n} runs of each, {concurrency} in flight, {rounds} rounds")
    for name in ("plain", "hand", "graph"):
        latency = f"p50 {pct(lat[name], 50):.0f} ms, p95 {pct(lat[name], 95):.0f} ms"
        print(f"{labels[name]}: {rates[name]:.1f} runs/s, {latency}")
    for name in ("plain", "hand", "graph"):
        print(f"CPU per run, {name}: {cpu_line(cpu[name], n)}")
    total = {name: sum(parts.values()) for name, parts in cpu.items()}
    print(f"CPU ratio (hand-written CPU per run / graph CPU per run): {total['hand'] / total['graph']:.2f}")
    print(f"graph / plain six no-ops: {rates['graph'] / rates['plain']:.2f}")
    print(f"ratio={rates['graph'] / rates['hand']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="runs of each workflow")
    parser.add_argument("--concurrency", type=int, default=20, help="runs in flight at once")
    parser.add_argument("--rounds", type=int, default=5, help="rounds the runs alternate in")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency, args.rounds))
