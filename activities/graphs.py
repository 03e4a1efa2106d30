"""The graph pipeline's activities: one per node type, each recording its own step.

A node's activity does the node's work and writes its `graph_steps` row (rendered parameters,
output, validation, the edges it takes, attempts) in one transaction, so a node costs one
activity call and one database round trip. It also evaluates the conditions of the node's
out-edges over the run's data, since expressions (core/expressions.py) are evaluated in
activities, never in the workflow.

- `graphs_start`: loads the pinned definition, opens the execution (and, for a retry, copies
  the original's completed steps), records the start node.
- `graphs_noop`, `graphs_condition`, `graphs_transform`: pure nodes (local activities).
- `graphs_end`: the end node, the skipped nodes and the execution completed, in one transaction.
- `graphs_http`, `graphs_slack_message`, `graphs_notion_page`, `graphs_sheets_append`: one
  outside call each, then the step. Slack, Notion and Sheets writes go through the
  integrations' `key=` / `look_first=` convention with the key `graph:<root execution>:<node>`,
  so a retried activity, or a retried execution, makes one message, page or row. An HTTP
  request is sent with that key as its `Idempotency-Key` header; whether the target honours it
  is the target's business (HTTP nodes are at least once).
- `graphs_begin_step` / `graphs_finish_step`: around the nodes the workflow runs itself (delay,
  approval, child): render the parameters and record the step running, then completed.
- `graphs_finish`: a run that ended without running an end node; `graphs_fail`: a failed or
  cancelled run, its failed node and the running nodes it cancelled.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError
from temporalio import activity

from activities.deps import Deps
from activities.keys import may_have_written
from contracts.discussions import DiscussionInput
from contracts.graphs import (
    CHILD_WORKFLOWS,
    NODE_TYPES,
    BeginStepInput,
    BeginStepResult,
    ChildParams,
    ConditionParams,
    FailGraphInput,
    FinishGraphInput,
    FinishStepInput,
    GraphContext,
    GraphDefinition,
    HttpParams,
    NodeInput,
    NodeResult,
    NotionParams,
    ReusedStep,
    SheetsParams,
    SkippedNode,
    SlackParams,
    StartGraphInput,
    StartGraphResult,
    StartParams,
    TransformParams,
    outside_key,
)
from contracts.signals import IngestSignalsInput
from contracts.work_orders import IngestDocumentsInput
from core.errors import InvalidInputError, NotFoundError
from core.expressions import ExpressionError, evaluate, render
from db.repositories.graphs import DefinitionRepository, GraphExecutionRepository, GraphStepRepository
from db.uow import unit_of_work
from integrations.errors import PermanentIntegrationError, RetryableIntegrationError
from integrations.http import async_http_client
from integrations.notion import paragraph, title_property

CHILD_INPUTS: dict[str, type[BaseModel]] = {
    "discussion": DiscussionInput,
    "signals_ingest": IngestSignalsInput,
    "work_order_ingest": IngestDocumentsInput,
}
assert set(CHILD_INPUTS) == set(CHILD_WORKFLOWS)


class UnknownNodeTypeError(InvalidInputError):
    """A node's type is not in the registry (never worth retrying)."""


def _names(context: GraphContext) -> dict[str, Any]:
    return {"input": context.input, "nodes": context.nodes}


def _params(node_type: str, parameters: dict[str, Any], node_id: str) -> BaseModel:
    spec = NODE_TYPES.get(node_type)
    if spec is None:
        raise UnknownNodeTypeError(f"node {node_id}: unknown node type {node_type!r}")
    try:
        return spec.params.model_validate(parameters)
    except ValidationError as err:
        raise InvalidInputError.from_validation(f"node {node_id} ({node_type}): parameters", err) from None


def _routes(routes: list[str | bool | None], output: dict[str, Any], context: GraphContext, node_id: str) -> list[bool]:
    """Which out-edges the node takes: no condition, always; true/false, the condition's result;
    an expression, its truth over the run's data with this node's output in it."""
    names = {"input": context.input, "nodes": {**context.nodes, node_id: output}}
    taken: list[bool] = []
    for condition in routes:
        if condition is None:
            taken.append(True)
        elif isinstance(condition, bool):
            taken.append(bool(output.get("result")) is condition)
        else:
            taken.append(bool(evaluate(condition, names)))
    return taken


def _now() -> datetime:
    return datetime.now(UTC)


def _step(
    execution_id: str,
    node_id: str,
    node_type: str,
    *,
    status: str,
    started_at: datetime | None,
    **values: Any,
) -> dict[str, Any]:
    info = activity.info()
    return {
        "execution_id": uuid.UUID(execution_id),
        "node_id": node_id,
        "node_type": node_type,
        "status": status,
        "started_at": started_at or _now(),
        "attempts": info.attempt,
        "retry_state": {"attempts": info.attempt},
        **values,
    }


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, default=str)


class GraphActivities:
    def __init__(self, deps: Deps) -> None:
        self._sessions = deps.sessions
        self._services = deps.services
        self._definitions = DefinitionRepository()
        self._executions = GraphExecutionRepository()
        self._steps = GraphStepRepository()

    # -- recording ------------------------------------------------------------------------

    async def _complete(self, input: NodeInput, parameters: dict[str, Any], output: dict[str, Any]) -> NodeResult:
        routes = _routes(input.routes, output, input.context, input.node.id)
        async with unit_of_work(self._sessions) as session:
            await self._steps.record(
                session=session,
                steps=[
                    _step(
                        input.execution_id,
                        input.node.id,
                        input.node.type,
                        status="completed",
                        started_at=input.started_at,
                        input=parameters,
                        output=output,
                        validation={"valid": True},
                        routes=routes,
                        finished_at=_now(),
                    )
                ],
            )
        return NodeResult(output=output, routes=routes)

    # -- start and end --------------------------------------------------------------------

    @activity.defn(name="graphs_start")
    async def start(self, input: StartGraphInput) -> StartGraphResult:
        """Load the pinned definition, open the execution, record the start node; for a retry, copy
        the original's completed steps (not its start or end) as this execution's."""
        info = activity.info()
        execution_id = uuid.UUID(input.execution_id)
        async with unit_of_work(self._sessions) as session:
            if input.definition_version is None:
                row = await self._definitions.latest(input.definition_name, session=session)
            else:
                row = await self._definitions.version(input.definition_name, input.definition_version, session=session)
            if row is None:
                which = f" v{input.definition_version}" if input.definition_version is not None else ""
                raise NotFoundError(f"no workflow definition {input.definition_name}{which}")
            graph = GraphDefinition.model_validate(row.graph)
            start = graph.start_node()
            params = _params(start.type, start.parameters, start.id)
            assert isinstance(params, StartParams)
            missing = [field for field in params.required if field not in input.input]
            if missing:
                raise InvalidInputError(f"node {start.id} (start): the input lacks {', '.join(missing)}")
            root = execution_id
            reused: list[ReusedStep] = []
            copies: list[dict[str, Any]] = []
            if input.retried_from is not None:
                original = await self._executions.find_by_id(uuid.UUID(input.retried_from), session=session)
                if original is None:
                    raise NotFoundError(f"no graph execution {input.retried_from}")
                root = original.root_execution_id
                for step in await self._steps.completed(original.id, session=session):
                    if step.node_type in ("start", "end"):
                        continue
                    reused.append(ReusedStep(node_id=step.node_id, output=step.output or {}, routes=step.routes or []))
                    copies.append(
                        {
                            "execution_id": execution_id,
                            "node_id": step.node_id,
                            "node_type": step.node_type,
                            "status": "completed",
                            "input": step.input,
                            "output": step.output,
                            "validation": step.validation,
                            "routes": step.routes,
                            "retry_state": {**(step.retry_state or {}), "reused": True},
                            "attempts": 0,
                            "reused_from": step.id,
                            "started_at": step.started_at,
                            "finished_at": step.finished_at,
                        }
                    )
            await self._executions.open(
                session=session,
                execution_id=execution_id,
                definition=row,
                input=input.input,
                workflow_id=input.workflow_id,
                run_id=input.run_id,
                retried_from=uuid.UUID(input.retried_from) if input.retried_from else None,
                root_execution_id=root,
                started_at=input.started_at,
            )
            context = GraphContext(input=input.input)
            output = dict(input.input)
            routes = _routes([e.condition for e in graph.outgoing(start.id)], output, context, start.id)
            start_step = _step(
                input.execution_id,
                start.id,
                start.type,
                status="completed",
                started_at=input.started_at,
                input=start.parameters,
                output=output,
                validation={"valid": True},
                routes=routes,
                finished_at=_now(),
            )
            await self._steps.record(session=session, steps=[start_step, *copies])
        activity.logger.debug("graph execution %s opened (attempt %d)", execution_id, info.attempt)
        return StartGraphResult(
            definition=graph,
            root_execution_id=str(root),
            start_node=start.id,
            start_output=output,
            start_routes=routes,
            reused=reused,
        )

    @activity.defn(name="graphs_end")
    async def end(self, input: NodeInput) -> NodeResult:
        """The end node: its output, the skipped nodes and the execution completed, together."""
        names = _names(input.context)
        output_spec = input.node.parameters.get("output") or {}
        output = render(output_spec, names) if output_spec else dict(input.context.nodes)
        finished = _now()
        async with unit_of_work(self._sessions) as session:
            steps = [
                _step(
                    input.execution_id,
                    input.node.id,
                    input.node.type,
                    status="completed",
                    started_at=input.started_at,
                    input=input.node.parameters,
                    output=output,
                    validation={"valid": True},
                    routes=[],
                    finished_at=finished,
                ),
                *self._skipped(input.execution_id, input.skipped),
            ]
            await self._steps.record(session=session, steps=steps)
            await self._executions.finish(
                uuid.UUID(input.execution_id), session=session, status="completed", output=output, finished_at=finished
            )
        return NodeResult(output=output, routes=[])

    @activity.defn(name="graphs_finish")
    async def finish(self, input: FinishGraphInput) -> None:
        """A run that ended without its end node (none, or skipped): skipped nodes, completed."""
        async with unit_of_work(self._sessions) as session:
            await self._steps.record(session=session, steps=self._skipped(input.execution_id, input.skipped))
            await self._executions.finish(
                uuid.UUID(input.execution_id),
                session=session,
                status="completed",
                output=input.output,
                finished_at=input.finished_at,
            )

    @activity.defn(name="graphs_fail")
    async def fail(self, input: FailGraphInput) -> None:
        """The run failed (or was cancelled): its failed node, the nodes it cancelled, the execution."""
        steps: list[dict[str, Any]] = []
        finished = input.finished_at or _now()
        if input.failed is not None:
            steps.append(
                {
                    "execution_id": uuid.UUID(input.execution_id),
                    "node_id": input.failed.node_id,
                    "node_type": input.failed.node_type,
                    "status": "failed",
                    "error": input.failed.error,
                    "retry_state": {"state": input.failed.retry_state},
                    "finished_at": finished,
                }
            )
        why = f"cancelled: node {input.failed.node_id} failed" if input.failed is not None else "cancelled with the run"
        for node in input.cancelled:
            steps.append(
                {
                    "execution_id": uuid.UUID(input.execution_id),
                    "node_id": node.node_id,
                    "node_type": node.node_type,
                    "status": "failed",
                    "error": why,
                    "retry_state": {"state": "CANCELLED"},
                    "finished_at": finished,
                }
            )
        async with unit_of_work(self._sessions) as session:
            await self._steps.record(session=session, steps=steps)
            await self._executions.finish(
                uuid.UUID(input.execution_id),
                session=session,
                status=input.status,
                error=input.error,
                failed_node_id=input.failed.node_id if input.failed else None,
                finished_at=finished,
            )

    @staticmethod
    def _skipped(execution_id: str, skipped: list[SkippedNode]) -> list[dict[str, Any]]:
        return [
            {
                "execution_id": uuid.UUID(execution_id),
                "node_id": node.node_id,
                "node_type": node.node_type,
                "status": "skipped",
            }
            for node in skipped
        ]

    # -- pure nodes -----------------------------------------------------------------------

    @activity.defn(name="graphs_noop")
    async def noop(self, input: NodeInput) -> NodeResult:
        _params(input.node.type, input.node.parameters, input.node.id)
        return await self._complete(input, input.node.parameters, {})

    @activity.defn(name="graphs_condition")
    async def condition(self, input: NodeInput) -> NodeResult:
        params = _params(input.node.type, input.node.parameters, input.node.id)
        assert isinstance(params, ConditionParams)
        result = evaluate(params.expression, _names(input.context))
        return await self._complete(input, input.node.parameters, {"result": bool(result)})

    @activity.defn(name="graphs_transform")
    async def transform(self, input: NodeInput) -> NodeResult:
        params = _params(input.node.type, input.node.parameters, input.node.id)
        assert isinstance(params, TransformParams)
        names = _names(input.context)
        output: dict[str, Any] = {}
        if params.source is not None:
            source = evaluate(params.source, names)
            if not isinstance(source, dict):
                raise ExpressionError(
                    f"node {input.node.id} (transform): source {params.source!r} is a {type(source).__name__}, "
                    "not a mapping"
                )
            output = dict(source)
        for old, new in params.rename.items():
            if old in output:
                output[new] = output.pop(old)
        output.update(render(params.set, names))
        for field, expression in params.compute.items():
            output[field] = evaluate(
                expression, {"input": input.context.input, "nodes": input.context.nodes, **{"out": output}}
            )
        return await self._complete(input, input.node.parameters, json.loads(json.dumps(output, default=str)))

    # -- outside nodes --------------------------------------------------------------------

    def _rendered(self, input: NodeInput) -> tuple[BaseModel, dict[str, Any]]:
        _params(input.node.type, input.node.parameters, input.node.id)  # names an unknown type first
        rendered = render(input.node.parameters, _names(input.context))
        return _params(input.node.type, rendered, input.node.id), rendered

    def _look_first(self, input: NodeInput) -> bool:
        return may_have_written(earlier=input.is_retry)

    @activity.defn(name="graphs_http")
    async def http(self, input: NodeInput) -> NodeResult:
        params, rendered = self._rendered(input)
        assert isinstance(params, HttpParams)
        headers = {"Idempotency-Key": outside_key(input.root_execution_id, input.node.id), **params.headers}
        try:
            # A client per request: an HTTP node's targets vary, and nothing stays open after it.
            async with async_http_client() as http:
                response = await http.request(
                    params.method,
                    params.url,
                    headers=headers,
                    json=params.json_body,
                    timeout=params.timeout_seconds,
                )
        except httpx.HTTPError as err:
            raise RetryableIntegrationError(
                f"node {input.node.id} (http): {params.method} {params.url}: {type(err).__name__}: {err}",
                service="http",
                operation=params.method,
            ) from err
        expected = params.expect_status
        ok = response.status_code in expected if expected else 200 <= response.status_code < 300
        if not ok:
            message = f"node {input.node.id} (http): {params.method} {params.url} answered {response.status_code}"
            if response.status_code >= 500 or response.status_code in (408, 429):
                raise RetryableIntegrationError(message, service="http", operation=params.method)
            raise PermanentIntegrationError(
                message, service="http", operation=params.method, status=response.status_code
            )
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        output = {"status": response.status_code, "headers": dict(response.headers), "body": body}
        return await self._complete(input, rendered, output)

    @activity.defn(name="graphs_slack_message")
    async def slack_message(self, input: NodeInput) -> NodeResult:
        params, rendered = self._rendered(input)
        assert isinstance(params, SlackParams)
        posted = await self._services.slack.post_reply(
            params.channel,
            params.thread_ts,
            params.text,
            key=outside_key(input.root_execution_id, input.node.id),
            look_first=self._look_first(input),
        )
        output = {"channel": posted.channel, "ts": posted.ts, "created": posted.created}
        return await self._complete(input, rendered, output)

    @activity.defn(name="graphs_notion_page")
    async def notion_page(self, input: NodeInput) -> NodeResult:
        params, rendered = self._rendered(input)
        assert isinstance(params, NotionParams)
        made = await self._services.notion.create_page(
            params.database_id,
            properties={"Name": title_property(params.title)},
            children=[paragraph(params.body)] if params.body else [],
            key_property="Intake Key",
            key=outside_key(input.root_execution_id, input.node.id),
            look_first=self._look_first(input),
        )
        output = {"page_id": made.page.id, "url": made.page.url, "created": made.created}
        return await self._complete(input, rendered, output)

    @activity.defn(name="graphs_sheets_append")
    async def sheets_append(self, input: NodeInput) -> NodeResult:
        params, rendered = self._rendered(input)
        assert isinstance(params, SheetsParams)
        appended = await self._services.sheets.append_row(
            params.spreadsheet_id,
            params.sheet,
            [_cell(v) for v in params.values],
            key=outside_key(input.root_execution_id, input.node.id),
            look_first=self._look_first(input),
        )
        output = {"row_number": appended.row_number, "created": appended.created}
        return await self._complete(input, rendered, output)

    # -- around the nodes the workflow runs itself ----------------------------------------

    @activity.defn(name="graphs_begin_step")
    async def begin_step(self, input: BeginStepInput) -> BeginStepResult:
        """Render the parameters (a child's input checked against its pipeline's model too) and
        record the step running."""
        _params(input.node.type, input.node.parameters, input.node.id)
        rendered = render(input.node.parameters, _names(input.context))
        params = _params(input.node.type, rendered, input.node.id)
        if isinstance(params, ChildParams):
            try:
                CHILD_INPUTS[params.pipeline].model_validate(params.input)
            except ValidationError as err:
                raise InvalidInputError.from_validation(
                    f"node {input.node.id} (child {params.pipeline}): input", err
                ) from None
        async with unit_of_work(self._sessions) as session:
            await self._steps.record(
                session=session,
                steps=[
                    _step(
                        input.execution_id,
                        input.node.id,
                        input.node.type,
                        status="running",
                        started_at=input.started_at,
                        input=rendered,
                        validation={"valid": True},
                    )
                ],
            )
        return BeginStepResult(parameters=rendered)

    @activity.defn(name="graphs_finish_step")
    async def finish_step(self, input: FinishStepInput) -> NodeResult:
        routes = _routes(input.routes, input.output, input.context, input.node.id)
        async with unit_of_work(self._sessions) as session:
            await self._steps.record(
                session=session,
                steps=[
                    {
                        "execution_id": uuid.UUID(input.execution_id),
                        "node_id": input.node.id,
                        "node_type": input.node.type,
                        "status": "completed",
                        "input": input.parameters,
                        "output": input.output,
                        "routes": routes,
                        "started_at": input.started_at,
                        "finished_at": input.finished_at or _now(),
                    }
                ],
            )
        return NodeResult(output=input.output, routes=routes)
