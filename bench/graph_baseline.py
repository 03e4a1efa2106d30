"""The baseline of bench/graphs.py: a hand-written workflow calling the six activities a six-node
linear graph of no-op nodes runs (start, four no-ops, end), in order, with the same inputs and
options, and nothing else: what GraphWorkflow costs beyond them is its interpretation of the
graph (scheduling, edges, the task group).

Its own module with few imports, as the workflow sandbox re-imports a workflow's module per run.
"""

from __future__ import annotations

from temporalio import workflow

from contracts.graphs import GraphContext, GraphRunInput, NodeInput, StartGraphInput
from workflows.policies import graph_node_options

with workflow.unsafe.imports_passed_through():
    from activities.graphs import GraphActivities

LOCAL = graph_node_options("graph_local")


@workflow.defn
class HandWrittenSixNodesWorkflow:
    @workflow.run
    async def run(self, input: GraphRunInput) -> dict:
        info = workflow.info()
        execution_id = input.execution_id or str(workflow.uuid4())
        opened = await workflow.execute_local_activity_method(
            GraphActivities.start,
            StartGraphInput(
                execution_id=execution_id,
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                definition_name=input.definition_name,
                definition_version=input.definition_version,
                input=input.input,
                started_at=workflow.now(),
            ),
            start_to_close_timeout=LOCAL["start_to_close_timeout"],
            retry_policy=LOCAL["retry_policy"],
        )
        graph = opened.definition
        context = GraphContext(input=input.input, nodes={opened.start_node: opened.start_output})
        for node in graph.nodes[1:-1]:
            result = await workflow.execute_local_activity_method(
                GraphActivities.noop,
                NodeInput(
                    execution_id=execution_id,
                    root_execution_id=opened.root_execution_id,
                    node=node,
                    context=context,
                    routes=[None],
                    started_at=workflow.now(),
                ),
                start_to_close_timeout=LOCAL["start_to_close_timeout"],
                retry_policy=LOCAL["retry_policy"],
            )
            context.nodes[node.id] = result.output
        end = await workflow.execute_local_activity_method(
            GraphActivities.end,
            NodeInput(
                execution_id=execution_id,
                root_execution_id=opened.root_execution_id,
                node=graph.nodes[-1],
                context=context,
                started_at=workflow.now(),
            ),
            start_to_close_timeout=LOCAL["start_to_close_timeout"],
            retry_policy=LOCAL["retry_policy"],
        )
        return end.output
