"""The discussion pipeline's hot path: each step of DiscussionWorkflow reads and writes through
ONE statement (data-modifying CTEs where a step touches several tables), built with Core and
compiled once per engine (db/compiled.py). Run on their own they need no BEGIN/COMMIT: a
statement is atomic. Every read and write is team-scoped.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Boolean,
    Select,
    Text,
    Update,
    bindparam,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    null,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.availability import is_lost_connection
from db.base import SYSTEM_USER_ID, table_of
from db.compiled import CompiledStatement
from db.models.discussions import Discussion, Job, SourceConfig, Task
from db.stores import conflicts_as_domain_errors

log = logging.getLogger(__name__)


# -- the pipeline's own statements ---------------------------------------------------------------
#
# Each step of DiscussionWorkflow reads and writes through ONE statement (data-modifying CTEs
# where a step touches several tables), built with Core and compiled once per engine
# (db/compiled.py). Run on their own they need no BEGIN/COMMIT: a statement is atomic.

_configs, _discussions, _jobs, _tasks = (table_of(SourceConfig), table_of(Discussion), table_of(Job), table_of(Task))
_SYSTEM = literal(SYSTEM_USER_ID, Text)


def _param(name: str, type_: Any = Text) -> BindParameter[Any]:
    return bindparam(name, type_=type_)


_ID = _jobs.c.id.type  # every id column is a UUID
_TEAM_ID, _SOURCE_TYPE = _param("team_id"), _param("source_type")
_JOB_ID, _DISCUSSION_ID = _param("job_id", _ID), _param("discussion_id", _ID)


def _open_statement() -> Select[Any]:
    """The run's job, and (when the input is valid and the team has a live, enabled config for the
    source) the thread's discussion taken over by that job, linked both ways."""
    config = (
        select(_configs.c.id)
        .where(
            _configs.c.team_id == _TEAM_ID,
            _configs.c.source_type == _SOURCE_TYPE,
            _configs.c.enabled,
            _configs.c.deleted_at.is_(None),
            _param("valid", Boolean),
        )
        .cte("config")
    )
    taking_over = {
        "status": literal("processing", Text),
        "sync_job_id": _JOB_ID,
        "source_config_id": config.c.id,
        "error": null(),
        "completed_at": null(),
    }
    thread = {
        "id": _DISCUSSION_ID,
        "team_id": _TEAM_ID,
        "source_type": _SOURCE_TYPE,
        "source_thread_id": _param("source_thread_id"),
        "source_url": _param("source_url"),
        "title": _param("title"),
        "content": _param("content"),
        "author_handle": _param("author_handle"),
        "created_by": _SYSTEM,
        "updated_by": _SYSTEM,
    }
    new_discussion = insert(_discussions).from_select(
        [*thread, *taking_over], select(*thread.values(), *taking_over.values()).select_from(config)
    )
    discussion = (
        new_discussion.on_conflict_do_update(
            index_elements=[_discussions.c.team_id, _discussions.c.source_type, _discussions.c.source_thread_id],
            set_={
                **{name: new_discussion.excluded[name] for name in taking_over},
                "updated_by": _SYSTEM,
                "updated_at": func.now(),
            },
        )
        .returning(_discussions.c.id, _discussions.c.source_config_id)
        .cte("discussion")
    )
    new_job = insert(_jobs).values(
        {
            _jobs.c.id: _JOB_ID,
            _jobs.c.team_id: _TEAM_ID,
            _jobs.c.source_type: _SOURCE_TYPE,
            _jobs.c.status: "processing",
            _jobs.c.stage: "ingestion",
            _jobs.c.workflow_id: _param("workflow_id"),
            _jobs.c.workflow_run_id: _param("workflow_run_id"),
            _jobs.c["metadata"]: _param("job_metadata", JSONB),
            _jobs.c.discussion_id: select(discussion.c.id).scalar_subquery(),
            _jobs.c.source_config_id: select(discussion.c.source_config_id).scalar_subquery(),
            _jobs.c.created_by: _SYSTEM,
            _jobs.c.updated_by: _SYSTEM,
        }
    )
    job = (
        new_job.on_conflict_do_update(
            index_elements=[_jobs.c.workflow_run_id],
            set_={
                "discussion_id": new_job.excluded.discussion_id,
                "source_config_id": new_job.excluded.source_config_id,
            },
        )
        .returning(_jobs.c.id)
        .cte("job")
    )
    return select(
        select(job.c.id).scalar_subquery(),
        select(discussion.c.id).scalar_subquery(),
        select(config.c.id).scalar_subquery(),
    )


def _view_statement(*, with_stage: bool) -> Select[Any]:
    """The discussion with its config, and whether another job of it ran before; with_stage: also
    record the job's stage (an UPDATE in a CTE)."""
    # The discussion is older than the job: an earlier job (since cleaned up, perhaps) had it. The
    # first job inserts both in one statement, so both have the same created_at (now()).
    job_created = select(_jobs.c.created_at).where(_jobs.c.id == _JOB_ID).scalar_subquery()
    earlier_jobs = func.coalesce(_discussions.c.created_at < job_created, true())
    view = (
        select(
            _discussions.c.id,
            _discussions.c.team_id,
            _discussions.c.source_type,
            _discussions.c.source_thread_id,
            _discussions.c.source_url,
            _discussions.c.title,
            _discussions.c.content,
            _discussions.c.author_handle,
            _discussions.c.thread_data,
            _discussions.c.ai_analysis,
            _configs.c.notion_database_id,
            _configs.c.notion_field_mapping,
            _configs.c.reply_enabled,
            earlier_jobs,
        )
        .select_from(_discussions.outerjoin(_configs, _configs.c.id == _discussions.c.source_config_id))
        .where(_discussions.c.id == _DISCUSSION_ID)
    )
    if not with_stage:
        return view
    stage = (
        update(_jobs)
        .where(_jobs.c.id == _JOB_ID, _jobs.c.status == "processing")
        .values(stage=_param("stage"), updated_by=_SYSTEM)
        .returning(_jobs.c.id)
        .cte("stage")
    )
    return view.add_cte(stage)


def _save_discussion_statement(*columns: str) -> Update:
    return (
        update(_discussions)
        .where(_discussions.c.id == _DISCUSSION_ID)
        .values(**{name: _param(name, _discussions.c[name].type) for name in columns}, updated_by=_SYSTEM)
    )


_TASK_COLUMNS = ("task_index", "notion_page_id", "notion_page_url", "title", "description", "priority", "assignee")


def _save_tasks_statement() -> Select[Any]:
    """The task records (one per (discussion, index): inserted once, refreshed on a repeat) and
    the discussion's notion_task_ids, in one statement; the records come back in index order."""
    given = (
        func.jsonb_to_recordset(_param("tasks", JSONB))
        .table_valued(*(column(name, _tasks.c[name].type) for name in _TASK_COLUMNS))
        .render_derived(name="given", with_types=True)
    )
    shared = {
        "discussion_id": _DISCUSSION_ID,
        "team_id": _TEAM_ID,
        "job_id": _JOB_ID,
        "summary": _param("summary"),
        "source_url": _param("source_url"),
        "is_multi_task_child": _param("is_multi_task_child", Boolean),
        "status": literal("open", Text),
        "created_by": _SYSTEM,
        "updated_by": _SYSTEM,
    }
    rows = insert(_tasks).from_select(
        [*shared, *_TASK_COLUMNS], select(*shared.values(), *(given.c[name] for name in _TASK_COLUMNS))
    )
    refreshed = ("job_id", "summary", "source_url", "is_multi_task_child", *_TASK_COLUMNS[1:])
    saved = (
        rows.on_conflict_do_update(
            index_elements=[_tasks.c.discussion_id, _tasks.c.task_index],
            set_={**{name: rows.excluded[name] for name in refreshed}, "updated_by": _SYSTEM, "updated_at": func.now()},
        )
        .returning(_tasks.c.id, _tasks.c.task_index, _tasks.c.notion_page_id, _tasks.c.notion_page_url, _tasks.c.title)
        .cte("saved")
    )
    task_ids = func.jsonb_agg(aggregate_order_by(cast(saved.c.id, Text), saved.c.task_index))
    linked = (
        update(_discussions)
        .where(_discussions.c.id == _DISCUSSION_ID)
        .values(
            notion_task_ids=select(func.coalesce(task_ids, literal_column("'[]'::jsonb"))).scalar_subquery(),
            updated_by=_SYSTEM,
        )
        .cte("linked")
    )
    return select(saved).order_by(saved.c.task_index).add_cte(linked)


def _finish_statement(*, with_job: bool) -> Select[Any]:
    """Job and discussion end together: completed (with the task ids) or failed (with the error).

    Only a running job is finished, and only a processing discussion this job took over: a late
    or repeated call changes nothing. The processing time is measured on the database's clock,
    from the job's creation; the row answers with it (the stored one when the job had already
    finished) and, when the discussion was finished here, its source (for the status reaction).
    without `with_job`: the discussion alone (job updates are best effort).
    """
    status, error = _param("status"), _param("error")
    elapsed_ms = cast(func.floor(func.extract("epoch", func.now() - _jobs.c.created_at) * 1000), BigInteger)
    discussion = (
        update(_discussions)
        .where(
            _discussions.c.id == _DISCUSSION_ID,
            _discussions.c.sync_job_id == _JOB_ID,
            _discussions.c.status == "processing",
        )
        .values(
            status=status,
            error=error,
            completed_at=case((status == literal("completed", Text), func.now())),
            notion_task_ids=func.coalesce(_param("task_ids", JSONB(none_as_null=True)), _discussions.c.notion_task_ids),
            updated_by=_SYSTEM,
        )
        .returning(_discussions.c.source_type, _discussions.c.source_thread_id)
        .cte("finished_discussion")
    )
    job_now = select(elapsed_ms).where(_jobs.c.id == _JOB_ID).scalar_subquery()
    columns = [
        select(discussion.c.source_type).scalar_subquery(),
        select(discussion.c.source_thread_id).scalar_subquery(),
    ]
    if not with_job:
        return select(job_now, *columns)
    job = (
        update(_jobs)
        .where(_jobs.c.id == _JOB_ID, _jobs.c.status == "processing")
        .values(
            {
                _jobs.c.status: status,
                _jobs.c.stage: _param("stage"),
                _jobs.c.completed_at: func.now(),
                _jobs.c.error: error,
                _jobs.c.error_stack: _param("error_stack"),
                _jobs.c.updated_by: _SYSTEM,
                _jobs.c["metadata"]: _jobs.c["metadata"]
                .op("||")(_param("job_metadata", JSONB))
                .op("||")(func.jsonb_build_object("processingTime", elapsed_ms)),
            }
        )
        .returning(_jobs.c["metadata"]["processingTime"].astext.label("processing_ms"))
        .cte("finished_job")
    )
    stored = select(_jobs.c["metadata"]["processingTime"].astext).where(_jobs.c.id == _JOB_ID).scalar_subquery()
    processing_ms = cast(func.coalesce(select(job.c.processing_ms).scalar_subquery(), stored), BigInteger)
    return select(processing_ms, *columns)


@dataclass(frozen=True)
class DiscussionView:
    """What a stage reads of its discussion: the thread, what was learnt, the team's config."""

    id: uuid.UUID
    team_id: str
    source_type: str
    source_thread_id: str
    source_url: str | None
    title: str
    content: str
    author_handle: str | None
    thread_data: dict[str, Any] | None
    ai_analysis: dict[str, Any] | None
    notion_database_id: str | None
    notion_field_mapping: dict[str, Any]
    reply_enabled: bool
    earlier_jobs: bool  # an earlier job had the discussion (it may have written outside)


@dataclass(frozen=True)
class OpenedJob:
    job_id: uuid.UUID
    discussion_id: uuid.UUID | None  # None: the input was invalid or the team has no config
    source_config_id: uuid.UUID | None


@dataclass(frozen=True)
class Finished:
    processing_ms: int
    source: tuple[str, str] | None  # (source_type, source_thread_id) when the discussion was finished


@dataclass(frozen=True)
class SavedTask:
    id: uuid.UUID
    task_index: int
    notion_page_id: str
    notion_page_url: str | None
    title: str


_OPEN = CompiledStatement(_open_statement())
_VIEW = CompiledStatement(_view_statement(with_stage=False))
_VIEW_AT_STAGE = CompiledStatement(_view_statement(with_stage=True))
_SAVE_THREAD = CompiledStatement(_save_discussion_statement("thread_data", "title", "content", "author_handle"))
_SAVE_ANALYSIS = CompiledStatement(_save_discussion_statement("ai_summary", "ai_action_items", "ai_analysis"))
_SAVE_TASKS = CompiledStatement(_save_tasks_statement())
_FINISH = CompiledStatement(_finish_statement(with_job=True))
_FINISH_DISCUSSION = CompiledStatement(_finish_statement(with_job=False))


class DiscussionStore:
    """The discussion pipeline's reads and writes, each one statement on its own (autocommit)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def open(
        self,
        *,
        job_id: uuid.UUID,
        discussion_id: uuid.UUID,
        valid: bool,
        team_id: str,
        source_type: str,
        source_thread_id: str,
        workflow_id: str,
        workflow_run_id: str,
        job_metadata: dict[str, Any],
        title: str,
        content: str,
        source_url: str | None = None,
        author_handle: str | None = None,
    ) -> OpenedJob:
        """Stages 1-2: the run's job (processing, at ingestion) and, when `valid` and the team has an
        enabled config for the source, the discussion taken over by the job, linked both ways.

        A repeat (an activity retry) finds the same job: it is keyed by `workflow_run_id`.
        """
        with conflicts_as_domain_errors():
            row = await _OPEN.first_alone(
                self._engine,
                {
                    "job_id": job_id,
                    "discussion_id": discussion_id,
                    "valid": valid,
                    "team_id": team_id,
                    "source_type": source_type,
                    "source_thread_id": source_thread_id,
                    "workflow_id": workflow_id,
                    "workflow_run_id": workflow_run_id,
                    "job_metadata": job_metadata,
                    "title": title,
                    "content": content,
                    "source_url": source_url,
                    "author_handle": author_handle,
                },
            )
        return OpenedJob(*row)

    async def view(self, discussion_id: uuid.UUID, *, job_id: uuid.UUID, stage: str) -> DiscussionView | None:
        """The discussion as a stage needs it, recording `stage` on the job in the same statement.

        Recording the stage is best effort: if the database refuses the statement, the
        refusal is logged and the discussion is read without it. A lost connection is no refusal:
        it is raised (the step runs again once the database answers), never read past.
        """
        values = {"discussion_id": discussion_id, "job_id": job_id, "stage": stage}
        try:
            row = await _VIEW_AT_STAGE.first_alone(self._engine, values)
        except DBAPIError as err:
            if is_lost_connection(err):
                raise
            log.warning("job %s: could not record stage %s: %s", job_id, stage, err.orig)
            row = await _VIEW.first_alone(self._engine, values)
        return None if row is None else DiscussionView(*row)

    async def save_thread(
        self,
        discussion_id: uuid.UUID,
        *,
        thread_data: dict[str, Any],
        title: str,
        content: str,
        author_handle: str | None,
    ) -> None:
        with conflicts_as_domain_errors():
            await _SAVE_THREAD.first_alone(
                self._engine,
                {
                    "discussion_id": discussion_id,
                    "thread_data": thread_data,
                    "title": title,
                    "content": content,
                    "author_handle": author_handle,
                },
            )

    async def save_analysis(
        self, discussion_id: uuid.UUID, *, summary: str, action_items: list[str], analysis: dict[str, Any]
    ) -> None:
        with conflicts_as_domain_errors():
            await _SAVE_ANALYSIS.first_alone(
                self._engine,
                {
                    "discussion_id": discussion_id,
                    "ai_summary": summary,
                    "ai_action_items": action_items,
                    "ai_analysis": analysis,
                },
            )

    async def save_tasks(
        self,
        discussion_id: uuid.UUID,
        *,
        team_id: str,
        job_id: uuid.UUID,
        summary: str | None,
        source_url: str | None,
        tasks: list[dict[str, Any]],
    ) -> list[SavedTask]:
        """Stage 5's records: one per (discussion, task_index) (`tasks` are dicts of the task columns:
        task_index, notion_page_id, notion_page_url, title, description, priority, assignee), and
        the discussion's notion_task_ids. Returned in task_index order."""
        with conflicts_as_domain_errors():
            rows = await _SAVE_TASKS.all_alone(
                self._engine,
                {
                    "discussion_id": discussion_id,
                    "team_id": team_id,
                    "job_id": job_id,
                    "summary": summary,
                    "source_url": source_url,
                    "is_multi_task_child": len(tasks) > 1,
                    "tasks": tasks,
                },
            )
        return [SavedTask(*row) for row in rows]

    async def complete(self, discussion_id: uuid.UUID, *, job_id: uuid.UUID, task_ids: list[str]) -> int:
        """Stage 6: discussion completed with its task ids, job completed with the processing time
        and the task ids in its metadata. Returns the processing time (ms)."""
        finished = await self._finish(
            {
                "discussion_id": discussion_id,
                "job_id": job_id,
                "status": "completed",
                "stage": "notification",
                "error": None,
                "error_stack": None,
                "task_ids": task_ids,
                "job_metadata": {"taskIds": task_ids},
            }
        )
        return finished.processing_ms

    async def fail(
        self, job_id: uuid.UUID, *, discussion_id: uuid.UUID | None, stage: str, error: str, error_stack: str
    ) -> Finished:
        """Job failed with the stage reached, the error and its stack; the discussion (when this job
        had taken it over) failed with the error."""
        return await self._finish(
            {
                "discussion_id": discussion_id,
                "job_id": job_id,
                "status": "failed",
                "stage": stage,
                "error": error,
                "error_stack": error_stack,
                "task_ids": None,
                "job_metadata": {},
            }
        )

    async def _finish(self, values: dict[str, Any]) -> Finished:
        """Job and discussion in one statement; if the database refuses it, the discussion alone (job
        updates are best effort: a refused one is logged and never fails the pipeline).

        A lost connection is raised instead: the statement may not have run, and finishing the
        discussion alone on a fresh connection would leave its job processing for ever. The caller
        fails and runs again once the database answers; the guards make the repeat safe.
        """
        try:
            row = await _FINISH.first_alone(self._engine, values)
        except DBAPIError as err:
            if is_lost_connection(err):
                raise
            log.warning("job %s: could not finish it (%s): %s", values["job_id"], values["status"], err.orig)
            row = await _FINISH_DISCUSSION.first_alone(self._engine, values)
        processing_ms, source_type, source_thread_id = row
        return Finished(
            processing_ms=processing_ms or 0, source=None if source_type is None else (source_type, source_thread_id)
        )
