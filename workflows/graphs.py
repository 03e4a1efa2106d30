"""GraphWorkflow: one generic workflow that runs any stored graph definition, node by node.

The client pins the definition's version when the run starts (`GraphRunInput`); the first
activity (`graphs_start`) loads that version, so a newer version never changes a running
execution. The start node is recorded by that activity; then every node whose incoming edges
are all settled runs as soon as one of them was taken (a node none of whose incoming edges was
taken is skipped, and so are the nodes only it leads to). Where the graph branches the
branches run at once, in one asyncio TaskGroup: the first node that fails cancels the nodes
running beside it, and the execution fails naming that node. Where edges meet, the node waits
for all of them (a join). The end node runs last, once every other node has settled, and
completes the execution in the same transaction as its step.

How each node type runs (contracts/graphs.py NODE_TYPES says which is which):

- start, end, noop, condition, transform: local activities (pure work plus the step record in
  one transaction: no round trip through the server per node);
- http, slack_message, notion_page, sheets_append: activities with their outside-call retry
  policies, keyed so that a retry writes once;
- delay (a durable timer), approval (the `decide` Update, with a validator and an optional
  timeout), child (an existing pipeline as a child workflow): in the workflow itself, between
  two local activities that render the parameters and record the step.

A node's own `retry.maximum_attempts` bounds its activity's attempts. A node whose type is not
in the registry fails at once, without retries. Cancelling the run cancels its running nodes
and records the execution cancelled; a retry (`retried_from`) is a new execution that reuses
the completed steps' outputs of the failed one and runs only the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, ChildWorkflowError, FailureError

from contracts.graphs import (
    CHILD_WORKFLOWS,
    NODE_TYPES,
    BeginStepInput,
    FailedNode,
    FailGraphInput,
    FinishGraphInput,
    FinishStepInput,
    GraphContext,
    GraphDecisionInput,
    GraphDecisionResult,
    GraphRunInput,
    GraphRunResult,
    Node,
    NodeInput,
    NodeResult,
    SkippedNode,
    StartGraphInput,
    StartGraphResult,
    graph_workflow_id,
)
from workflows.policies import ActivityOptions, LocalActivityOptions, graph_node_options

with workflow.unsafe.imports_passed_through():
    from activities.graphs import GraphActivities

# The activity of each node type that runs as one (local or not).
NODE_ACTIVITIES: dict[str, Callable[[GraphActivities, NodeInput], Awaitable[NodeResult]]] = {
    "end": GraphActivities.end,
    "noop": GraphActivities.noop,
    "condition": GraphActivities.condition,
    "transform": GraphActivities.transform,
    "http": GraphActivities.http,
    "slack_message": GraphActivities.slack_message,
    "notion_page": GraphActivities.notion_page,
    "sheets_append": GraphActivities.sheets_append,
}


class NodeFailed(Exception):
    """A node failed; the execution fails naming it."""

    def __init__(self, node: Node, message: str, retry_state: str | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.message = message
        self.retry_state = retry_state


def _local(options: ActivityOptions) -> LocalActivityOptions:
    return {"start_to_close_timeout": options["start_to_close_timeout"], "retry_policy": options["retry_policy"]}


def _reason(err: BaseException) -> tuple[str, str | None]:
    """The failure's own words (past the wrappers) and Temporal's retry state."""
    retry_state = None
    if isinstance(err, ActivityError | ChildWorkflowError):
        retry_state = err.retry_state.name if err.retry_state is not None else None
    reason: BaseException | None = err
    while isinstance(reason, ActivityError | ChildWorkflowError) and reason.cause is not None:
        reason = reason.cause
    message = reason.message if isinstance(reason, FailureError) else str(reason)
    return message or type(err).__name__, retry_state


@workflow.defn
class GraphWorkflow:
    def __init__(self) -> None:
        self._execution_id = ""
        self._waiting: set[str] = set()
        self._decisions: dict[str, GraphDecisionInput] = {}
        self._state: dict[str, str] = {}  # node id -> running / done / skipped / end_ready
        self._taken: dict[tuple[str, str], bool] = {}
        self._context = GraphContext()
        self._running: dict[str, str] = {}  # node id -> type, while it runs
        self._ran: list[str] = []
        self._reused: dict[str, tuple[dict[str, Any], list[bool]]] = {}
        self._skipped: list[SkippedNode] = []
        self._group: asyncio.TaskGroup | None = None

    # -- approvals ------------------------------------------------------------------------

    @workflow.update
    async def decide(self, request: GraphDecisionInput) -> GraphDecisionResult:
        self._decisions[request.node_id] = request
        return GraphDecisionResult(
            execution_id=self._execution_id,
            node_id=request.node_id,
            decision="approved" if request.approve else "rejected",
        )

    @decide.validator
    def _decide_validator(self, request: GraphDecisionInput) -> None:
        # Refused as a ConflictError: the CLI and the API report it as a refusal, not a failure.
        if request.node_id in self._decisions:
            raise ApplicationError(f"node {request.node_id} was decided already", type="ConflictError")
        if request.node_id not in self._waiting:
            waiting = ", ".join(sorted(self._waiting)) or "none"
            raise ApplicationError(
                f"node {request.node_id} is not waiting for approval (waiting: {waiting})", type="ConflictError"
            )

    @workflow.query
    def waiting(self) -> list[str]:
        """The approval nodes waiting for a decision."""
        return sorted(self._waiting)

    # -- the run --------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: GraphRunInput) -> GraphRunResult:
        info = workflow.info()
        # A scheduled run gets its id here (workflow.uuid4 is the same on replay).
        self._execution_id = input.execution_id or str(workflow.uuid4())
        self._input = input
        opened: StartGraphResult = await workflow.execute_local_activity_method(
            GraphActivities.start,
            StartGraphInput(
                execution_id=self._execution_id,
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                definition_name=input.definition_name,
                definition_version=input.definition_version,
                input=input.input,
                retried_from=input.retried_from,
                started_at=workflow.now(),
            ),
            **_local(graph_node_options("graph_local")),
        )
        self._graph = opened.definition
        self._root = opened.root_execution_id
        self._reused = {r.node_id: (r.output, r.routes) for r in opened.reused}
        self._context = GraphContext(input=input.input)
        start = self._graph.node(opened.start_node)
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                self._spawn(self._done(start, opened.start_output, opened.start_routes))
            self._group = None
            output = await self._finish()
        except asyncio.CancelledError:
            await self._fail("cancelled", "the run was cancelled", None)
            raise
        except NodeFailed as failed:
            raise await self._failed(failed) from None
        except BaseExceptionGroup as group:
            first = _first_failure(group)
            if first is None:
                raise
            raise await self._failed(first) from None
        return GraphRunResult(
            execution_id=self._execution_id,
            status="completed",
            output=output,
            nodes_run=self._ran,
            nodes_reused=sorted(self._reused),
            nodes_skipped=[s.node_id for s in self._skipped],
        )

    async def _failed(self, failure: NodeFailed) -> ApplicationError:
        error = f"node {failure.node.id} ({failure.node.type}) failed: {failure.message}"
        await self._fail(
            "failed",
            error,
            FailedNode(
                node_id=failure.node.id,
                node_type=failure.node.type,
                error=failure.message,
                retry_state=failure.retry_state,
            ),
        )
        return ApplicationError(error, type="GraphNodeFailed", non_retryable=True)

    async def _fail(self, status: str, error: str, failed: FailedNode | None) -> None:
        cancelled = [SkippedNode(node_id=n, node_type=t) for n, t in self._running.items()]
        await workflow.execute_local_activity_method(
            GraphActivities.fail,
            FailGraphInput(
                execution_id=self._execution_id,
                status="failed" if status == "failed" else "cancelled",
                error=error,
                failed=failed,
                cancelled=cancelled,
                finished_at=workflow.now(),
            ),
            **_local(graph_node_options("graph_local")),
        )

    async def _finish(self) -> dict[str, Any]:
        """Every node but the end has settled: run the end node, or complete without it."""
        end = self._graph.end_node()
        if end is not None and self._state.get(end.id) == "end_ready":
            try:
                result = await self._run_activity(end, skipped=self._skipped)
            except ActivityError as err:
                message, retry_state = _reason(err)
                raise NodeFailed(end, message, retry_state) from err
            self._ran.append(end.id)
            return result.output
        await workflow.execute_local_activity_method(
            GraphActivities.finish,
            FinishGraphInput(
                execution_id=self._execution_id,
                output=dict(self._context.nodes),
                skipped=self._skipped,
                finished_at=workflow.now(),
            ),
            **_local(graph_node_options("graph_local")),
        )
        return dict(self._context.nodes)

    # -- scheduling -----------------------------------------------------------------------

    def _done(self, node: Node, output: dict[str, Any], routes: list[bool]) -> list[Node]:
        """Record a finished node; returns the successors that may run now."""
        self._state[node.id] = "done"
        self._context.nodes[node.id] = output
        for edge, taken in zip(self._graph.outgoing(node.id), routes, strict=False):
            self._taken[(edge.source, edge.target)] = taken
        return self._settle(node.id)

    def _settle(self, node_id: str) -> list[Node]:
        """After `node_id` settled: skip or reuse each successor whose inputs all settled, and
        return those to run."""
        ready: list[Node] = []
        for edge in self._graph.outgoing(node_id):
            target = self._graph.node(edge.target)
            if target.id in self._state:
                continue
            incoming = self._graph.incoming(target.id)
            if not all(self._state.get(e.source) in ("done", "skipped") for e in incoming):
                continue
            if not any(self._taken.get((e.source, e.target), False) for e in incoming):
                self._state[target.id] = "skipped"
                self._skipped.append(SkippedNode(node_id=target.id, node_type=target.type))
                ready.extend(self._settle(target.id))
            elif target.type == "end":
                self._state[target.id] = "end_ready"
            elif target.id in self._reused:
                output, routes = self._reused[target.id]
                ready.extend(self._done(target, output, routes))
            else:
                self._state[target.id] = "running"
                ready.append(target)
        return ready

    def _spawn(self, nodes: list[Node]) -> None:
        assert self._group is not None
        for node in nodes:
            self._group.create_task(self._run_node(node), name=f"node {node.id}")

    async def _run_node(self, first: Node) -> None:
        """Run `first`, then, in this same task, the first of the nodes it makes ready (a chain
        runs in one task); the others start as tasks of their own (branches)."""
        node: Node | None = first
        while node is not None:
            self._running[node.id] = node.type
            try:
                result = await self._execute(node)
            except asyncio.CancelledError:
                raise  # still listed as running: recorded as cancelled by the failure
            except NodeFailed:
                del self._running[node.id]
                raise
            except (ActivityError, ChildWorkflowError, ApplicationError) as err:
                if isinstance(err.cause, CancelledError):
                    raise  # cancelled by a sibling's failure or the run's: still listed as running
                del self._running[node.id]
                message, retry_state = _reason(err)
                raise NodeFailed(node, message, retry_state) from err
            del self._running[node.id]
            self._ran.append(node.id)
            ready = self._done(node, result.output, result.routes)
            self._spawn(ready[1:])
            node = ready[0] if ready else None

    def _node_input(self, node: Node, **extra: Any) -> NodeInput:
        return NodeInput(
            execution_id=self._execution_id,
            root_execution_id=self._root,
            node=node,
            context=self._context,
            routes=[e.condition for e in self._graph.outgoing(node.id)],
            started_at=workflow.now(),
            is_retry=self._input.retried_from is not None,
            **extra,
        )

    def _options(self, node: Node) -> ActivityOptions:
        spec = NODE_TYPES[node.type]
        return graph_node_options(spec.policy, node.retry.maximum_attempts if node.retry else None)

    async def _run_activity(self, node: Node, **extra: Any) -> NodeResult:
        spec = NODE_TYPES[node.type]
        method = NODE_ACTIVITIES[node.type]
        options = self._options(node)
        if spec.kind == "local":
            return await workflow.execute_local_activity_method(
                method, self._node_input(node, **extra), **_local(options)
            )
        return await workflow.execute_activity_method(method, self._node_input(node, **extra), **options)

    async def _execute(self, node: Node) -> NodeResult:
        spec = NODE_TYPES.get(node.type)
        if spec is None or (spec.kind in ("local", "outside") and node.type not in NODE_ACTIVITIES):
            raise NodeFailed(node, f"unknown node type {node.type!r}", "NON_RETRYABLE_FAILURE")
        if spec.kind in ("local", "outside"):
            return await self._run_activity(node)
        started = workflow.now()
        begun = await workflow.execute_local_activity_method(
            GraphActivities.begin_step,
            BeginStepInput(execution_id=self._execution_id, node=node, context=self._context, started_at=started),
            **_local(graph_node_options("graph_local")),
        )
        params = begun.parameters
        if spec.kind == "delay":
            await workflow.sleep(timedelta(seconds=float(params["seconds"])))
            output: dict[str, Any] = {"slept_seconds": params["seconds"]}
        elif spec.kind == "approval":
            output = await self._approval(node, params)
        else:
            output = await self._child(node, params)
        return await workflow.execute_local_activity_method(
            GraphActivities.finish_step,
            FinishStepInput(
                execution_id=self._execution_id,
                node=node,
                parameters=params,
                output=output,
                context=self._context,
                routes=[e.condition for e in self._graph.outgoing(node.id)],
                started_at=started,
                finished_at=workflow.now(),
            ),
            **_local(graph_node_options("graph_local")),
        )

    async def _approval(self, node: Node, params: dict[str, Any]) -> dict[str, Any]:
        timeout = params.get("timeout_seconds")
        self._waiting.add(node.id)
        try:
            await workflow.wait_condition(
                lambda: node.id in self._decisions, timeout=timedelta(seconds=float(timeout)) if timeout else None
            )
        except TimeoutError:
            if params.get("on_timeout", "fail") == "fail":
                raise NodeFailed(node, f"no decision within {timeout:g} s", "TIMEOUT") from None
            return {"decision": "timed_out", "by": None, "note": None}
        finally:
            self._waiting.discard(node.id)
        decision = self._decisions[node.id]
        if not decision.approve and params.get("on_reject", "fail") == "fail":
            note = f": {decision.note}" if decision.note else ""
            raise NodeFailed(node, f"rejected by {decision.by}{note}", "REJECTED")
        return {
            "decision": "approved" if decision.approve else "rejected",
            "by": decision.by,
            "note": decision.note,
        }

    async def _child(self, node: Node, params: dict[str, Any]) -> dict[str, Any]:
        result = await workflow.execute_child_workflow(
            CHILD_WORKFLOWS[params["pipeline"]],
            params["input"],
            # From the input, not workflow.info(): a replay elsewhere keeps the same id.
            id=f"{graph_workflow_id(self._execution_id)}/{node.id}",
        )
        return result if isinstance(result, dict) else {"result": result}


def _first_failure(group: BaseExceptionGroup) -> NodeFailed | None:
    """The node failure that set off the others (an activity cancelled by it is no failure)."""
    for err in group.exceptions:
        if isinstance(err, NodeFailed):
            return err
        if isinstance(err, BaseExceptionGroup):
            found = _first_failure(err)
            if found is not None:
                return found
    return None
