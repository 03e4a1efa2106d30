"""The graph pipeline's contract: definitions (nodes and edges), their validation, the node-type
registry, and the Input/Result models of `GraphWorkflow` and its activities.

A definition is a graph: nodes (`id`, `type`, `parameters`) and edges (`from`, `to`, optional
`condition`). `graph_problems` says everything wrong with one, each problem naming its node or
edge: unknown node types, parameters that fail the type's schema, duplicate ids, dangling edges,
cycles, nodes no path from the start reaches, not exactly one start node, more than one end.
Expressions (conditions, `{{ ... }}` templates) are checked by `core.expressions`, which the
workflow sandbox does not load: they are evaluated inside activities.

The run's data, which expressions read: `input` (what the run was started with) and `nodes`
(each finished node's output by node id), e.g. `nodes.check.result`, `input.amount > 100`.

This module imports only the standard library and pydantic, so the workflow uses it as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ExecutionStatus = Literal["pending", "running", "paused", "completed", "failed", "cancelled"]
StepStatus = Literal["pending", "running", "completed", "failed", "skipped"]
EXECUTION_STATUSES: tuple[str, ...] = ("pending", "running", "paused", "completed", "failed", "cancelled")
STEP_STATUSES: tuple[str, ...] = ("pending", "running", "completed", "failed", "skipped")

# How the workflow runs a node: as a local activity (pure or one short transaction), as an
# activity calling an outside service, or in the workflow itself (a timer, an Update, a child
# workflow) between two local activities that record its step.
NodeKind = Literal["local", "outside", "delay", "approval", "child"]
# Which retry policy (workflows/policies.py) the node's activity runs under.
PolicyName = Literal["graph_local", "graph_outside", "graph_http"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- the node types' parameters -------------------------------------------------------------


class StartParams(_Params):
    """The run's input must carry these fields (top-level keys of `input`)."""

    required: list[str] = []


class EndParams(_Params):
    """The run's output: a mapping of templates (`{{ nodes.x.y }}`); empty: every node's output."""

    output: dict[str, Any] = {}


class NoopParams(_Params):
    """Does nothing; its output is empty."""


class ConditionParams(_Params):
    """A safe expression over the run's data; the output is `{"result": bool}`. Edges leaving it
    with `condition: true` / `false` follow the result."""

    expression: str = Field(min_length=1)


class TransformParams(_Params):
    """Builds a dict: a copy of `source` (an expression giving a dict; none: empty), its keys
    renamed by `rename`, then `set` (values, templates allowed) and `compute` (expressions, which
    may also read the dict built so far as `out`)."""

    source: str | None = None
    rename: dict[str, str] = {}
    set: dict[str, Any] = {}
    compute: dict[str, str] = {}


class DelayParams(_Params):
    """A durable timer: the run sleeps this long (it survives worker restarts)."""

    seconds: float = Field(gt=0, le=30 * 24 * 3600)


class ApprovalParams(_Params):
    """Waits for a decision (the `decide` Update, `intake graph approve`), or `timeout_seconds`.
    A rejection or a timeout fails the node unless `on_reject` / `on_timeout` is `continue`;
    the output is `{"decision": "approved"|"rejected"|"timed_out", "by": ..., "note": ...}`."""

    prompt: str = ""
    timeout_seconds: float | None = Field(None, gt=0)
    on_reject: Literal["fail", "continue"] = "fail"
    on_timeout: Literal["fail", "continue"] = "fail"


class HttpParams(_Params):
    """One HTTP request (templates allowed in url, headers and body); a status outside
    `expect_status` (default: any 2xx) fails the node. Output: status, headers, body (JSON or text)."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(min_length=1)
    headers: dict[str, str] = {}
    json_body: Any = None
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    expect_status: list[int] | None = None


class SlackParams(_Params):
    """A reply in a Slack thread, posted once per run and node."""

    channel: str = Field(min_length=1)
    thread_ts: str = Field(min_length=1)
    text: str = Field(min_length=1)


class NotionParams(_Params):
    """A page in a Notion database, made once per run and node (key in its "Intake Key" property)."""

    database_id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    body: str = ""


class SheetsParams(_Params):
    """A row appended to a sheet once per run and node (the key is its last cell)."""

    spreadsheet_id: str = Field(min_length=1)
    sheet: str = Field(min_length=1)
    values: list[Any] = Field(min_length=1)


ChildPipeline = Literal["discussion", "signals_ingest", "work_order_ingest"]


class ChildParams(_Params):
    """An existing pipeline started as a child workflow; `input` (templates allowed) is its input
    (DiscussionInput, IngestSignalsInput, IngestDocumentsInput). Output: the child's result."""

    pipeline: ChildPipeline
    input: dict[str, Any]


@dataclass(frozen=True)
class NodeType:
    params: type[_Params]
    kind: NodeKind
    policy: PolicyName
    # Whether its activity writes to an outside service (keyed, so retries write once).
    writes_outside: bool = False


NODE_TYPES: dict[str, NodeType] = {
    "start": NodeType(StartParams, "local", "graph_local"),
    "end": NodeType(EndParams, "local", "graph_local"),
    "noop": NodeType(NoopParams, "local", "graph_local"),
    "condition": NodeType(ConditionParams, "local", "graph_local"),
    "transform": NodeType(TransformParams, "local", "graph_local"),
    "delay": NodeType(DelayParams, "delay", "graph_local"),
    "approval": NodeType(ApprovalParams, "approval", "graph_local"),
    "http": NodeType(HttpParams, "outside", "graph_http"),
    "slack_message": NodeType(SlackParams, "outside", "graph_outside", writes_outside=True),
    "notion_page": NodeType(NotionParams, "outside", "graph_outside", writes_outside=True),
    "sheets_append": NodeType(SheetsParams, "outside", "graph_outside", writes_outside=True),
    "child": NodeType(ChildParams, "child", "graph_local"),
}

# Which workflow each child pipeline runs (by its registered name).
CHILD_WORKFLOWS: dict[str, str] = {
    "discussion": "DiscussionWorkflow",
    "signals_ingest": "IngestSignalsWorkflow",
    "work_order_ingest": "WorkOrderIngestWorkflow",
}


# -- the definition -------------------------------------------------------------------------


class RetryOverride(_Params):
    """A node's own bound on its activity's attempts (its type's policy gives the rest)."""

    maximum_attempts: int = Field(ge=1, le=50)


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    type: str = Field(min_length=1)
    parameters: dict[str, Any] = {}
    retry: RetryOverride | None = None


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from")
    target: str = Field(alias="to")
    # An expression over the run's data, or true / false on an edge leaving a condition node.
    condition: str | bool | None = None

    @field_validator("condition")
    @classmethod
    def _not_blank(cls, value: str | bool | None) -> str | bool | None:
        if isinstance(value, str) and not value.strip():
            raise ValueError("an edge condition must not be blank")
        return value

    def label(self) -> str:
        return f"edge {self.source} -> {self.target}"


class GraphDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    nodes: list[Node] = Field(min_length=1)
    edges: list[Edge] = []

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def start_node(self) -> Node:
        return next(n for n in self.nodes if n.type == "start")

    def end_node(self) -> Node | None:
        return next((n for n in self.nodes if n.type == "end"), None)

    def outgoing(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if e.source == node_id]

    def incoming(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if e.target == node_id]


def params_problem(node: Node) -> str | None:
    """Why the node's parameters fail its type's schema (None: they pass, or the type is unknown)."""
    spec = NODE_TYPES.get(node.type)
    if spec is None:
        return None
    try:
        spec.params.model_validate(node.parameters)
    except ValidationError as err:
        detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'parameters'}: {e['msg']}" for e in err.errors())
        return f"node {node.id} ({node.type}): parameters: {detail}"
    return None


def graph_problems(graph: GraphDefinition) -> list[str]:
    """Everything structurally wrong with `graph`, each naming its node or edge (empty: valid)."""
    problems: list[str] = []
    ids = [n.id for n in graph.nodes]
    seen: set[str] = set()
    for node_id in ids:
        if node_id in seen:
            problems.append(f"node {node_id}: the id is used by more than one node")
        seen.add(node_id)
    for node in graph.nodes:
        if node.type not in NODE_TYPES:
            known = ", ".join(sorted(NODE_TYPES))
            problems.append(f"node {node.id}: unknown node type {node.type!r} (known: {known})")
            continue
        problem = params_problem(node)
        if problem:
            problems.append(problem)
    starts = [n.id for n in graph.nodes if n.type == "start"]
    if not starts:
        problems.append("the graph has no start node (one node of type start)")
    elif len(starts) > 1:
        problems.append(f"the graph has {len(starts)} start nodes ({', '.join(starts)}); it needs exactly one")
    ends = [n.id for n in graph.nodes if n.type == "end"]
    if len(ends) > 1:
        problems.append(f"the graph has {len(ends)} end nodes ({', '.join(ends)}); it may have one")
    types = {n.id: n.type for n in graph.nodes}
    pairs: set[tuple[str, str]] = set()
    good_edges: list[Edge] = []
    for edge in graph.edges:
        missing = [end for end in (edge.source, edge.target) if end not in seen]
        if missing:
            problems.append(f"{edge.label()}: dangling, no node {' and no node '.join(sorted(set(missing)))}")
            continue
        if (edge.source, edge.target) in pairs:
            problems.append(f"{edge.label()}: appears twice")
            continue
        pairs.add((edge.source, edge.target))
        if isinstance(edge.condition, bool) and types[edge.source] != "condition":
            problems.append(f"{edge.label()}: condition {edge.condition} needs a condition node at its start")
        if types[edge.target] == "start":
            problems.append(f"{edge.label()}: leads into the start node")
        if types[edge.source] == "end":
            problems.append(f"{edge.label()}: leaves the end node")
        good_edges.append(edge)
    cycle = _find_cycle(ids, good_edges)
    if cycle:
        problems.append(f"cycle: {' -> '.join(cycle)} (edge {cycle[-2]} -> {cycle[-1]} closes it)")
    if len(starts) == 1:
        reached = _reachable(starts[0], good_edges)
        for node_id in ids:
            if node_id not in reached:
                problems.append(f"node {node_id}: no path from the start node {starts[0]} reaches it")
    return problems


def _find_cycle(ids: list[str], edges: list[Edge]) -> list[str] | None:
    """One cycle as a path that returns to its first node, or None."""
    successors: dict[str, list[str]] = {i: [] for i in ids}
    for edge in edges:
        successors[edge.source].append(edge.target)
    colour: dict[str, int] = dict.fromkeys(ids, 0)  # 0 new, 1 on the path, 2 done
    for root in ids:
        if colour[root]:
            continue
        path: list[str] = [root]
        stack: list[tuple[str, int]] = [(root, 0)]
        colour[root] = 1
        while stack:
            node, index = stack[-1]
            if index < len(successors[node]):
                stack[-1] = (node, index + 1)
                nxt = successors[node][index]
                if colour[nxt] == 1:
                    return [*path[path.index(nxt) :], nxt]
                if colour[nxt] == 0:
                    colour[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, 0))
            else:
                colour[node] = 2
                path.pop()
                stack.pop()
    return None


def _reachable(start: str, edges: list[Edge]) -> set[str]:
    reached = {start}
    frontier = [start]
    while frontier:
        node = frontier.pop()
        for edge in edges:
            if edge.source == node and edge.target not in reached:
                reached.add(edge.target)
                frontier.append(edge.target)
    return reached


def graph_schedule_id(name: str) -> str:
    """The Temporal Schedule that runs the definition `name` (`intake graph schedule`)."""
    return f"graph-schedule/{name}"


def graph_workflow_id(execution_id: str) -> str:
    """One workflow id per execution (a retry is a new execution, so a new id)."""
    return f"graph/{execution_id}"


def outside_key(root_execution_id: str, node_id: str) -> str:
    """The key of a node's outside write: the same for every retry of the execution, so a retried
    execution finds what its original wrote."""
    return f"graph:{root_execution_id}:{node_id}"


# -- the workflow ---------------------------------------------------------------------------


class GraphRunInput(BaseModel):
    # Chosen by the client; a scheduled run (one input for every run) leaves it to the workflow.
    execution_id: str | None = None
    definition_name: str
    # Pinned when the run starts (by the client, or for a scheduled run by its first activity,
    # to the latest version then): later versions never change a running execution.
    definition_version: int | None = None
    input: dict[str, Any] = {}
    # A retry: the failed execution whose completed steps are reused.
    retried_from: str | None = None


class GraphRunResult(BaseModel):
    execution_id: str
    status: Literal["completed"]
    output: dict[str, Any]
    nodes_run: list[str]
    nodes_reused: list[str]
    nodes_skipped: list[str]


class GraphDecisionInput(BaseModel):
    """The `decide` Update: approve or reject a waiting approval node."""

    node_id: str
    approve: bool
    by: str = "user"
    note: str | None = None


class GraphDecisionResult(BaseModel):
    execution_id: str
    node_id: str
    decision: Literal["approved", "rejected"]


# -- the activities -------------------------------------------------------------------------


class GraphContext(BaseModel):
    """The run's data that expressions read."""

    input: dict[str, Any] = {}
    nodes: dict[str, dict[str, Any]] = {}


class StartGraphInput(BaseModel):
    execution_id: str
    workflow_id: str
    run_id: str
    definition_name: str
    definition_version: int | None  # None: the latest live version
    input: dict[str, Any]
    retried_from: str | None = None
    started_at: datetime | None = None  # workflow.now(): a replay gives the same


class ReusedStep(BaseModel):
    node_id: str
    output: dict[str, Any]
    routes: list[bool]


class StartGraphResult(BaseModel):
    definition: GraphDefinition
    root_execution_id: str
    start_node: str
    start_output: dict[str, Any]
    start_routes: list[bool]
    reused: list[ReusedStep] = []


class SkippedNode(BaseModel):
    node_id: str
    node_type: str


class NodeInput(BaseModel):
    """What every node activity gets: the node, the run's data, its out-edges' conditions."""

    execution_id: str
    root_execution_id: str
    node: Node
    context: GraphContext
    routes: list[str | bool | None] = []
    started_at: datetime | None = None
    # A retried execution: outside writes look for what the original may have made.
    is_retry: bool = False
    # The end node only: the nodes the run skipped, recorded with the run's end.
    skipped: list[SkippedNode] = []


class NodeResult(BaseModel):
    output: dict[str, Any]
    routes: list[bool]


class BeginStepInput(BaseModel):
    execution_id: str
    node: Node
    context: GraphContext
    started_at: datetime | None = None


class BeginStepResult(BaseModel):
    """The node's parameters with templates rendered (a child's input validated too)."""

    parameters: dict[str, Any]


class FinishStepInput(BaseModel):
    execution_id: str
    node: Node
    parameters: dict[str, Any]
    output: dict[str, Any]
    context: GraphContext
    routes: list[str | bool | None] = []
    started_at: datetime | None = None
    finished_at: datetime | None = None


class FinishGraphInput(BaseModel):
    """The end of a run without an end node that ran: the output, the skipped nodes."""

    execution_id: str
    output: dict[str, Any]
    skipped: list[SkippedNode] = []
    finished_at: datetime | None = None


class FailedNode(BaseModel):
    node_id: str
    node_type: str
    error: str
    retry_state: str | None = None


class FailGraphInput(BaseModel):
    execution_id: str
    status: Literal["failed", "cancelled"]
    error: str
    failed: FailedNode | None = None
    # Running siblings cancelled by the failure (or by the run's cancellation).
    cancelled: list[SkippedNode] = []
    finished_at: datetime | None = None
