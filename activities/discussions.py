"""Activities of the discussion pipeline.

Each activity reads what it needs in one statement (recording the job's stage
with it), makes its outside calls, and writes in one statement; every one is
safe to retry:
- database writes are upserts keyed by the job / discussion / task index, or
  updates guarded by state (only a running job is finished, only a processing
  discussion its job took over), so a repeat changes nothing;
- outside writes look before they create: a Notion page carries our key in a
  property and is found by it, a Slack / Figma reply carries our key and is
  found by it, so an attempt that fails after the write does not write again.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from temporalio import activity

from activities.deps import Deps
from activities.discussion_pages import (
    DEFAULT_FIELD_MAPPING,
    PageSource,
    ThreadData,
    ThreadMessage,
    page_body,
    page_properties,
)
from activities.keys import may_have_written
from contracts.discussions import (
    AnalyzeThreadInput,
    AnalyzeThreadResult,
    BuildThreadInput,
    BuildThreadResult,
    CreateTasksInput,
    CreateTasksResult,
    DeleteOldJobsInput,
    DeleteOldJobsResult,
    FailDiscussionInput,
    NotifyThreadInput,
    NotifyThreadResult,
    OpenDiscussionInput,
    OpenDiscussionResult,
    StageInput,
    TaskRef,
    discussion_id_for,
    no_source_config_problem,
    thread_id_problem,
)
from core.errors import IntakeError, InvalidInputError, NotFoundError
from db.repositories.discussions import JobRepository
from db.stores.discussions import DiscussionStore, DiscussionView
from db.uow import unit_of_work
from integrations.errors import PermanentIntegrationError
from integrations.llm import ThreadAnalysis, ThreadLine

T = TypeVar("T")


# Status reactions on the source message (Slack): received, processing, done, failed.
REACTION_RECEIVED, REACTION_PROCESSING, REACTION_DONE, REACTION_FAILED = (
    "eyes",
    "hourglass_flowing_sand",
    "white_check_mark",
    "x",
)


# -- the activities -------------------------------------------------------------------------


# A user mention in Slack's message text: <@U012AB3CD> or <@U012AB3CD|name>.
SLACK_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def _named_mentions(text: str, names: dict[str, str]) -> str:
    """Slack's <@U...> mentions as @name (the id stays where Slack cannot name the user)."""
    return SLACK_MENTION.sub(lambda m: f"@{names.get(m.group(1), m.group(1))}", text)


class DiscussionActivities:
    """Each activity reads and writes through `DiscussionStore`: one statement per step, so a
    stage costs one round trip to read (recording the job's stage with it) and one to write."""

    def __init__(self, deps: Deps) -> None:
        self._sessions = deps.sessions
        self._services = deps.services
        self._store = DiscussionStore(deps.engine)
        self._jobs = JobRepository()

    # Stages 1 and 2 -------------------------------------------------------------------------

    @activity.defn(name="discussion_open")
    async def open_discussion(self, input: OpenDiscussionInput) -> OpenDiscussionResult:
        """Create the run's job (processing, stage ingestion); validate; load the team's config;
        save the discussion and link it with the job. One statement, so all or nothing.

        The job is written even when the input is invalid or the team has no config, so the
        failure is recorded on it (the workflow marks it failed); the discussion is not.
        """
        metadata: dict[str, Any] = {"startTimestamp": input.started_at.isoformat()}
        if input.retry is not None:
            metadata |= {
                "isRetry": True,
                "retriedBy": input.retry.retried_by,
                "originalDiscussionId": input.retry.original_discussion_id,
            }
        problem = thread_id_problem(input.source_type, input.source_thread_id)
        valid = problem is None
        opened = await self._store.open(
            job_id=uuid.UUID(input.job_id),
            valid=valid,
            team_id=input.team_id,
            source_type=input.source_type,
            source_thread_id=input.source_thread_id,
            discussion_id=discussion_id_for(input.team_id, input.source_type, input.source_thread_id),
            workflow_id=input.workflow_id,
            workflow_run_id=input.workflow_run_id,
            job_metadata=metadata,
            title=input.title or f"{input.source_type} thread {input.source_thread_id}",
            content=input.content or "",
            author_handle=input.author_handle,
            source_url=input.source_url,
        )
        if problem is not None:
            raise InvalidInputError(problem)
        if opened.discussion_id is None or opened.source_config_id is None:
            raise NotFoundError(no_source_config_problem(input.team_id, input.source_type))
        return OpenDiscussionResult(
            discussion_id=str(opened.discussion_id), source_config_id=str(opened.source_config_id)
        )

    # Stage 3 ------------------------------------------------------------------------------

    @activity.defn(name="discussion_build_thread")
    async def build_thread(self, input: BuildThreadInput) -> BuildThreadResult:
        """Fetch the whole thread and store it; a retry of a failed discussion reuses the stored one."""
        discussion = await self._view(input, "thread_building")
        if input.reuse_stored and discussion.thread_data:
            thread = ThreadData.model_validate(discussion.thread_data)
            return BuildThreadResult(
                message_count=len(thread.messages), participants=thread.participants, fetched=False
            )
        await self._react(discussion, REACTION_RECEIVED, REACTION_PROCESSING)
        thread = await self._fetch_thread(discussion.source_type, discussion.source_thread_id)
        first = thread.messages[0]
        given = bool(discussion.content)  # the webhook gave the first message; else it is the thread's
        await self._store.save_thread(
            discussion.id,
            thread_data=thread.model_dump(mode="json"),
            content=discussion.content if given else first.text,
            title=discussion.title if given else _title_from(first.text),
            author_handle=discussion.author_handle or first.author,
        )
        return BuildThreadResult(message_count=len(thread.messages), participants=thread.participants, fetched=True)

    async def _fetch_thread(self, source_type: str, thread_id: str) -> ThreadData:
        left, right = thread_id.split(":", 1)
        try:
            if source_type == "slack":
                slack_thread = await self._services.slack.fetch_thread(left, right)
                # People by the names Slack shows, not their ids: authors and <@U...> mentions alike.
                ids = {m.user for m in slack_thread.messages if m.user}
                ids.update(found for m in slack_thread.messages for found in SLACK_MENTION.findall(m.text))
                names = await self._services.slack.user_names(sorted(ids))
                messages = [
                    ThreadMessage(
                        id=m.ts,
                        author=names.get(m.user, m.user) if m.user else (m.bot_id or "unknown"),
                        text=_named_mentions(m.text, names),
                    )
                    for m in slack_thread.messages
                ]
            else:
                comments = await self._services.figma.fetch_thread(left, right)
                messages = [
                    ThreadMessage(id=c.id, author=c.user_handle or c.user_id or "unknown", text=c.message)
                    for c in comments
                ]
        except PermanentIntegrationError as err:
            # Slack answers thread_not_found (or channel_not_found), Figma 404: say which thread.
            if err.code in ("thread_not_found", "channel_not_found") or err.status == 404:
                raise NotFoundError(f"{source_type} thread {thread_id} not found") from err
            raise
        if not messages:
            raise NotFoundError(f"{source_type} thread {thread_id} has no messages")
        return ThreadData(source_type=source_type, messages=messages)

    # Stage 4 ------------------------------------------------------------------------------

    @activity.defn(name="discussion_analyze")
    async def analyze(self, input: AnalyzeThreadInput) -> AnalyzeThreadResult:
        """Ask the LLM for summary, key points, action items and tasks; store them on the discussion."""
        discussion = await self._view(input, "ai_analysis")
        if not discussion.thread_data:
            raise NotFoundError(f"discussion {discussion.id} has no thread to analyse")
        thread = ThreadData.model_validate(discussion.thread_data)
        analysis = await self._services.llm.analyse_thread(
            [ThreadLine(author=m.author, text=m.text) for m in thread.messages]
        )
        await self._store.save_analysis(
            discussion.id,
            summary=analysis.summary,
            action_items=analysis.action_items,
            analysis=analysis.model_dump(mode="json"),
        )
        return AnalyzeThreadResult(task_count=len(analysis.tasks), summary=analysis.summary)

    # Stage 5 ------------------------------------------------------------------------------

    @activity.defn(name="discussion_create_tasks")
    async def create_tasks(self, input: CreateTasksInput) -> CreateTasksResult:
        """A Notion page per detected task, then the task records: once, however often retried.

        Each page carries `<discussion id>#<index>` in its key property, and the
        records are upserts on (discussion, index). When an earlier attempt (or an
        earlier job of the discussion) may have made pages, the Notion client looks
        for the page by its key before creating it; a first attempt skips that query.
        """
        discussion = await self._view(input, "task_creation")
        if discussion.notion_database_id is None or not discussion.ai_analysis:
            raise NotFoundError(f"discussion {discussion.id} has no config or no analysis")
        analysis = ThreadAnalysis.model_validate(discussion.ai_analysis)
        thread = ThreadData.model_validate(discussion.thread_data or {"source_type": "", "messages": []})
        mapping = {**DEFAULT_FIELD_MAPPING, **discussion.notion_field_mapping}
        source = PageSource(
            source_type=discussion.source_type,
            source_thread_id=discussion.source_thread_id,
            source_url=discussion.source_url,
        )
        look_first = may_have_written(earlier=discussion.earlier_jobs)
        pages = await _all(
            self._services.notion.create_page(
                discussion.notion_database_id,
                properties=page_properties(task, source, mapping),
                children=page_body(task, analysis, thread, source),
                key_property=mapping["key"],
                key=f"{discussion.id}#{index}",
                look_first=look_first,
            )
            for index, task in enumerate(analysis.tasks)
        )
        saved = await self._store.save_tasks(
            discussion.id,
            team_id=discussion.team_id,
            job_id=uuid.UUID(input.job_id),
            summary=analysis.summary,
            source_url=discussion.source_url,
            tasks=[
                {
                    "task_index": index,
                    "notion_page_id": created.page.id,
                    "notion_page_url": created.page.url or None,
                    "title": task.title,
                    "description": task.description,
                    "priority": task.priority,
                    "assignee": task.assignee,
                }
                for index, (task, created) in enumerate(zip(analysis.tasks, pages, strict=True))
            ],
        )
        return CreateTasksResult(
            tasks=[
                TaskRef(
                    task_id=str(t.id), title=t.title, notion_page_id=t.notion_page_id, notion_page_url=t.notion_page_url
                )
                for t in saved
            ]
        )

    # Stage 6 ------------------------------------------------------------------------------

    @activity.defn(name="discussion_notify")
    async def notify(self, input: NotifyThreadInput) -> NotifyThreadResult:
        """Reply in the source thread with the tasks made (one reply per discussion, ever); then the
        discussion and the job are completed, with the processing time and the task ids."""
        discussion = await self._view(input, "notification")
        reply_id = None
        if discussion.reply_enabled:
            key = f"intake:{discussion.id}"
            tasks = input.tasks
            lines = [
                f"intake made {len(tasks)} task(s) from this thread:"
                if tasks
                else "intake read this thread and found no tasks in it."
            ]
            lines += [f"- {t.title + ': ' if t.title else ''}{t.notion_page_url or t.notion_page_id}" for t in tasks]
            left, right = discussion.source_thread_id.split(":", 1)
            look_first = may_have_written(earlier=discussion.earlier_jobs)
            if discussion.source_type == "slack":
                posted = await self._services.slack.post_reply(
                    left, right, "\n".join(lines), key=key, look_first=look_first
                )
                reply_id = posted.ts
            else:
                reply = await self._services.figma.post_reply(
                    left, right, "\n".join(lines), key=key, look_first=look_first
                )
                reply_id = reply.comment.id
        await self._react(discussion, REACTION_DONE, remove=REACTION_PROCESSING)
        processing_ms = await self._store.complete(
            discussion.id, job_id=uuid.UUID(input.job_id), task_ids=[task.task_id for task in input.tasks]
        )
        return NotifyThreadResult(reply_id=reply_id, processing_ms=processing_ms)

    # Failure ----------------------------------------------------------------------------------

    @activity.defn(name="discussion_fail")
    async def fail(self, input: FailDiscussionInput) -> None:
        """Job failed (stage reached, error, stack, completed_at); discussion failed with the error."""
        finished = await self._store.fail(
            uuid.UUID(input.job_id),
            discussion_id=uuid.UUID(input.discussion_id),
            stage=input.stage,
            error=input.error,
            error_stack=input.error_stack,
        )
        if finished.source is not None:
            await self._react_on(*finished.source, REACTION_FAILED, remove=REACTION_PROCESSING)

    # Maintenance ------------------------------------------------------------------------------

    @activity.defn(name="discussion_delete_old_jobs")
    async def delete_old_jobs(self, input: DeleteOldJobsInput) -> DeleteOldJobsResult:
        """Delete completed/failed jobs finished before the cutoff, in one transaction.

        Idempotent by nature: a retry after the commit finds nothing left to delete.
        """
        async with unit_of_work(self._sessions) as session:
            deleted = await self._jobs.delete_finished_before(input.cutoff, session=session)
        activity.logger.info("deleted %d jobs finished before %s", len(deleted), input.cutoff)
        return DeleteOldJobsResult(deleted_job_ids=[str(job_id) for job_id in deleted])

    # helpers ----------------------------------------------------------------------------------

    async def _view(self, work: StageInput, stage: str) -> DiscussionView:
        """The discussion as the stage needs it; records the stage on the job (best effort)."""
        discussion = await self._store.view(uuid.UUID(work.discussion_id), job_id=uuid.UUID(work.job_id), stage=stage)
        if discussion is None:
            raise NotFoundError(f"discussion {work.discussion_id} does not exist")
        return discussion

    async def _react(self, discussion: DiscussionView, add: str, *more: str, remove: str | None = None) -> None:
        await self._react_on(discussion.source_type, discussion.source_thread_id, add, *more, remove=remove)

    async def _react_on(
        self, source_type: str, thread_id: str, add: str, *more: str, remove: str | None = None
    ) -> None:
        """Status reactions on a Slack thread's first message; best effort, never fails the stage."""
        if source_type != "slack":
            return
        channel, ts = thread_id.split(":", 1)
        try:
            if remove is not None:
                await self._services.slack.remove_reaction(channel, ts, remove)
            for name in (add, *more):
                await self._services.slack.add_reaction(channel, ts, name)
        except IntakeError as err:
            activity.logger.warning("could not set reaction on %s: %s", thread_id, err)


def _title_from(text: str, limit: int = 80) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "untitled thread"
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


async def _all(calls: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run the calls concurrently; if one fails, cancel the rest and raise its error (not a group)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except* Exception as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]
