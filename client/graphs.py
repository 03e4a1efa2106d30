"""Graph workflows from the outside: validate, apply, run, decide, cancel, retry, status.

Used by `intake graph` and by the API alike. Each refuses bad input with an InvalidInputError,
NotFoundError or ConflictError before anything is written or started.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)
from temporalio.service import RPCError

from contracts.graphs import (
    GraphDecisionInput,
    GraphDecisionResult,
    GraphDefinition,
    GraphRunInput,
    GraphRunResult,
    Node,
    StartParams,
    graph_problems,
    graph_schedule_id,
    graph_workflow_id,
)
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.expressions import expression_problem, template_problems
from db.models.graphs import GraphExecution, GraphStep, WorkflowDefinition
from db.repositories.graphs import DefinitionRepository, GraphExecutionRepository, GraphStepRepository
from db.uow import unit_of_work
from workflows.graphs import GraphWorkflow

GraphHandle = WorkflowHandle[GraphWorkflow, GraphRunResult]

# Parameters holding expressions (not templates), per node type.
EXPRESSION_PARAMETERS = {"condition": ("expression",), "transform": ("source",)}


class GraphInvalidError(InvalidInputError):
    """A definition failed validation; the message lists every problem, each naming its node or edge."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source} is not a valid graph: " + "; ".join(problems))
        self.problems = problems


def parse_definition(text: str, source: str) -> GraphDefinition:
    """A definition from YAML or JSON text (JSON is YAML), or InvalidInputError saying why not."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInputError(f"{source} is neither YAML nor JSON: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{source} must hold a mapping with name, nodes and edges")
    try:
        return GraphDefinition.model_validate(data)
    except ValidationError as err:
        raise InvalidInputError.from_validation(f"{source} is not a graph definition", err) from None


def load_definition(path: Path) -> GraphDefinition:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{path} is a directory, not a definition file") from None
    except (UnicodeDecodeError, OSError) as err:
        raise InvalidInputError(f"{path} cannot be read: {err}") from None
    return parse_definition(text, str(path))


def _expression_problems(node: Node) -> list[str]:
    problems: list[str] = []
    expressions = EXPRESSION_PARAMETERS.get(node.type, ())
    for name, value in node.parameters.items():
        if name in expressions and isinstance(value, str):
            problem = expression_problem(value)
            if problem:
                problems.append(f"node {node.id} ({node.type}): {name} {value!r}: {problem}")
        elif node.type == "transform" and name == "compute" and isinstance(value, dict):
            for field, expression in value.items():
                problem = expression_problem(str(expression))
                if problem:
                    problems.append(f"node {node.id} (transform): compute.{field} {expression!r}: {problem}")
        else:
            problems.extend(f"node {node.id} ({node.type}): {name}: {p}" for p in template_problems(value))
    return problems


def definition_problems(graph: GraphDefinition) -> list[str]:
    """Everything wrong with `graph`: its structure and parameters, then its expressions."""
    problems = graph_problems(graph)
    for node in graph.nodes:
        problems.extend(_expression_problems(node))
    for edge in graph.edges:
        if isinstance(edge.condition, str):
            problem = expression_problem(edge.condition)
            if problem:
                problems.append(f"{edge.label()}: condition {edge.condition!r}: {problem}")
    return problems


def validate_file(path: Path) -> GraphDefinition:
    """The file's definition when it is valid; GraphInvalidError listing every problem otherwise."""
    graph = load_definition(path)
    problems = definition_problems(graph)
    if problems:
        raise GraphInvalidError(str(path), problems)
    return graph


def definition_json(graph: GraphDefinition) -> dict[str, Any]:
    """What is stored: the definition as JSON, edges with `from` / `to`."""
    return graph.model_dump(mode="json", by_alias=True, exclude_none=True)


async def apply_definition(
    sessions: async_sessionmaker[AsyncSession], graph: GraphDefinition
) -> tuple[WorkflowDefinition, bool]:
    """Store `graph` as a new version of its name (nothing new when the latest is the same graph)."""
    problems = definition_problems(graph)
    if problems:
        raise GraphInvalidError(graph.name, problems)
    async with unit_of_work(sessions) as session:
        return await DefinitionRepository().add_version(
            graph.name, graph=definition_json(graph), description=graph.description, session=session
        )


async def list_definitions(sessions: async_sessionmaker[AsyncSession]) -> list[WorkflowDefinition]:
    async with sessions() as session:
        return await DefinitionRepository().names(session=session)


def parse_input(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"--input is not JSON: {err}") from None
    if not isinstance(value, dict):
        raise InvalidInputError("--input must be a JSON object")
    return value


def _check_input(definition: WorkflowDefinition, input: dict[str, Any]) -> None:
    graph = GraphDefinition.model_validate(definition.graph)
    start = StartParams.model_validate(graph.start_node().parameters)
    missing = [field for field in start.required if field not in input]
    if missing:
        raise InvalidInputError(
            f"{definition.name} v{definition.version} needs input fields {', '.join(missing)} (--input)"
        )


async def start_run(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    input: dict[str, Any],
    *,
    task_queue: str,
    version: int | None = None,
) -> tuple[str, GraphHandle]:
    """Start a run of `name` (its latest version unless `version`), pinned to that version."""
    async with sessions() as session:
        repo = DefinitionRepository()
        definition = (
            await repo.latest(name, session=session)
            if version is None
            else await repo.find_one(session=session, name=name, version=version)
        )
    if definition is None:
        which = name if version is None else f"{name} v{version}"
        raise NotFoundError(f"no workflow definition {which} (store one with `intake graph apply FILE`)")
    _check_input(definition, input)
    execution_id = str(uuid.uuid4())
    handle = await client.start_workflow(
        GraphWorkflow.run,
        GraphRunInput(
            execution_id=execution_id,
            definition_name=definition.name,
            definition_version=definition.version,
            input=input,
        ),
        id=graph_workflow_id(execution_id),
        task_queue=task_queue,
    )
    return execution_id, handle


def _execution_uuid(execution_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(execution_id)
    except ValueError:
        raise InvalidInputError(f"{execution_id!r} is not an execution id (a UUID)") from None


async def find_execution(sessions: async_sessionmaker[AsyncSession], execution_id: str) -> GraphExecution:
    async with sessions() as session:
        row = await GraphExecutionRepository().find_by_id(_execution_uuid(execution_id), session=session)
    if row is None:
        raise NotFoundError(f"no graph execution {execution_id}")
    return row


async def retry_run(
    client: Client, sessions: async_sessionmaker[AsyncSession], execution_id: str, *, task_queue: str
) -> tuple[str, GraphHandle]:
    """A new execution of a failed one's definition version and input, reusing its completed steps."""
    original = await find_execution(sessions, execution_id)
    if original.status != "failed":
        raise ConflictError(f"graph execution {execution_id} is {original.status}; only a failed one can be retried")
    new_id = str(uuid.uuid4())
    handle = await client.start_workflow(
        GraphWorkflow.run,
        GraphRunInput(
            execution_id=new_id,
            definition_name=original.definition_name,
            definition_version=original.definition_version,
            input=original.input,
            retried_from=str(original.id),
        ),
        id=graph_workflow_id(new_id),
        task_queue=task_queue,
    )
    return new_id, handle


async def cancel_run(client: Client, sessions: async_sessionmaker[AsyncSession], execution_id: str) -> None:
    """Ask the run to cancel (its running nodes are cancelled, the execution recorded cancelled)."""
    row = await find_execution(sessions, execution_id)
    if row.status in ("completed", "failed", "cancelled"):
        raise ConflictError(f"graph execution {execution_id} is {row.status} already")
    await client.get_workflow_handle(row.workflow_id).cancel()


async def decide(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    execution_id: str,
    node_id: str,
    *,
    approve: bool,
    by: str = "user",
    note: str | None = None,
) -> GraphDecisionResult:
    """Approve or reject a waiting approval node (refused by the workflow when it is not waiting)."""
    async with sessions() as session:
        row = await GraphExecutionRepository().find_by_id(_execution_uuid(execution_id), session=session)
    # A scheduled run's workflow id is the schedule's; a run that just started has no row yet.
    workflow_id = row.workflow_id if row is not None else graph_workflow_id(execution_id)
    handle = client.get_workflow_handle_for(GraphWorkflow.run, workflow_id)
    try:
        return await handle.execute_update(
            GraphWorkflow.decide, GraphDecisionInput(node_id=node_id, approve=approve, by=by, note=note)
        )
    except RPCError as err:
        raise NotFoundError(f"graph execution {execution_id} is not running: {err.message}") from None


async def run_status(sessions: async_sessionmaker[AsyncSession], execution_id: str) -> dict[str, Any]:
    """The execution and its steps, as JSON-ready data."""
    row = await find_execution(sessions, execution_id)
    async with sessions() as session:
        steps = await GraphStepRepository().of(row.id, session=session)
    return {
        "execution_id": str(row.id),
        "definition": row.definition_name,
        "version": row.definition_version,
        "status": row.status,
        "input": row.input,
        "output": row.output,
        "error": row.error,
        "failed_node_id": row.failed_node_id,
        "retried_from": str(row.retried_from) if row.retried_from else None,
        "workflow_id": row.workflow_id,
        "run_id": row.run_id,
        "started_at": row.started_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "steps": [_step(s) for s in steps],
    }


def _step(step: GraphStep) -> dict[str, Any]:
    return {
        "node_id": step.node_id,
        "node_type": step.node_type,
        "status": step.status,
        "attempts": step.attempts,
        "reused": step.reused_from is not None,
        "output": step.output,
        "error": step.error,
        "started_at": step.started_at.isoformat() if step.started_at else None,
        "finished_at": step.finished_at.isoformat() if step.finished_at else None,
    }


async def schedule_runs(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    input: dict[str, Any],
    *,
    every: timedelta,
    task_queue: str,
) -> ScheduleHandle:
    """Run `name` every `every` (a daily digest: one day) on a Temporal Schedule, each run on the
    latest version of the definition then; a run still going when the next is due makes the next
    one skip. Creates the schedule, or updates the one `name` has."""
    if every < timedelta(seconds=1):
        raise InvalidInputError("--every must be at least one second")
    async with sessions() as session:
        definition = await DefinitionRepository().latest(name, session=session)
    if definition is None:
        raise NotFoundError(f"no workflow definition {name} (store one with `intake graph apply FILE`)")
    _check_input(definition, input)
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            GraphWorkflow.run,
            GraphRunInput(definition_name=name, input=input),
            id=f"graph-scheduled/{name}",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    schedule_id = graph_schedule_id(name)
    try:
        return await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        async def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
        return handle


async def unschedule_runs(client: Client, name: str) -> None:
    """Delete the schedule of `name` (runs already started go on)."""
    try:
        await client.get_schedule_handle(graph_schedule_id(name)).delete()
    except RPCError as err:
        raise NotFoundError(f"{name} has no schedule: {err.message}") from None


async def executions_of(sessions: async_sessionmaker[AsyncSession], name: str, limit: int = 20) -> list[dict[str, Any]]:
    """The latest executions of the definition `name`, newest first."""
    async with sessions() as session:
        rows = await GraphExecutionRepository().find_many(
            session=session, definition_name=name, order_by=GraphExecution.started_at.desc(), limit=limit
        )
    return [
        {
            "execution_id": str(r.id),
            "version": r.definition_version,
            "status": r.status,
            "started_at": r.started_at.isoformat(),
            "error": r.error,
        }
        for r in rows
    ]
