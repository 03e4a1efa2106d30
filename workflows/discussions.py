"""DiscussionWorkflow: a Slack or Figma thread becomes Notion tasks, in six stages.

1. ingestion        create the job (processing)                      } one local activity,
2. config loading   validate, load the team's source config, save    } one statement
                    the discussion, link job <-> discussion
3. thread building  fetch the whole thread (or reuse the stored one on a retry)
4. AI analysis      summary, key points, action items, detected tasks
5. task creation    one Notion page + one task record per detected task
6. notification     reply in the thread; discussion and job completed

The job is created with the discussion (one statement), then follows along:
its stage updates are best effort and never fail the run. On a failure the job
and the discussion are marked failed with the stage reached, the error and its
stack, and the run fails too, so Temporal and Postgres tell the same story.
Every activity is idempotent: a retry never makes a second page, task record
or reply.

The workflow id is derived from team + source + thread (`discussion_workflow_id`),
so a redelivered webhook finds the running pipeline instead of starting another.

CleanupJobsWorkflow deletes finished jobs past their retention; the daily
`cleanup-jobs` Schedule starts it, and its cutoff comes from the workflow's clock,
so a replay computes the same one.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from contracts.discussions import (
    AnalyzeThreadInput,
    BuildThreadInput,
    CleanupJobsInput,
    CleanupJobsResult,
    CreateTasksInput,
    DeleteOldJobsInput,
    DiscussionInput,
    DiscussionResult,
    FailDiscussionInput,
    NotifyThreadInput,
    OpenDiscussionInput,
    Stage,
    discussion_id_for,
)
from workflows.policies import DB_WRITE, OUTSIDE_CALL

with workflow.unsafe.imports_passed_through():
    from activities.discussions import DiscussionActivities


@workflow.defn
class DiscussionWorkflow:
    def __init__(self) -> None:
        self._stage: Stage = "ingestion"

    @workflow.query
    def stage(self) -> str:
        return self._stage

    @workflow.run
    async def run(self, input: DiscussionInput) -> DiscussionResult:
        started = workflow.now()
        info = workflow.info()
        # The job's id is chosen here (replay gives the same one), so the job is known even when
        # the activity that writes it fails, and a retry of that activity writes the same row.
        job_id = str(workflow.uuid4())
        discussion_id = str(discussion_id_for(input.team_id, input.source_type, input.source_thread_id))
        try:
            await workflow.execute_local_activity_method(
                DiscussionActivities.open_discussion,
                OpenDiscussionInput(
                    job_id=job_id,
                    workflow_id=info.workflow_id,
                    workflow_run_id=info.run_id,
                    started_at=started,
                    **input.model_dump(),
                ),
                **DB_WRITE,
            )

            # Each stage activity records its stage on the job as it starts (best effort).
            self._stage = "thread_building"
            await workflow.execute_activity_method(
                DiscussionActivities.build_thread,
                BuildThreadInput(discussion_id=discussion_id, job_id=job_id, reuse_stored=input.retry is not None),
                **OUTSIDE_CALL,
            )

            self._stage = "ai_analysis"
            await workflow.execute_activity_method(
                DiscussionActivities.analyze,
                AnalyzeThreadInput(discussion_id=discussion_id, job_id=job_id),
                **OUTSIDE_CALL,
            )

            self._stage = "task_creation"
            tasks = (
                await workflow.execute_activity_method(
                    DiscussionActivities.create_tasks,
                    CreateTasksInput(discussion_id=discussion_id, job_id=job_id),
                    **OUTSIDE_CALL,
                )
            ).tasks

            self._stage = "notification"
            done = await workflow.execute_activity_method(
                DiscussionActivities.notify,
                NotifyThreadInput(discussion_id=discussion_id, job_id=job_id, tasks=tasks),
                **OUTSIDE_CALL,
            )
        except FailureError as err:
            # A failed activity arrives as ActivityError (its cause is the activity's error);
            # a failed local activity may arrive as the activity's ApplicationError itself.
            cause = err.cause if isinstance(err, ActivityError) and err.cause is not None else err
            # The failure's own message (str() of a Temporal failure starts with its type's name).
            error = cause.message if isinstance(cause, FailureError) else str(cause)
            await workflow.execute_local_activity_method(
                DiscussionActivities.fail,
                FailDiscussionInput(
                    job_id=job_id,
                    discussion_id=discussion_id,
                    stage=self._stage,
                    error=error,
                    error_stack=_stack_of(cause),
                ),
                **DB_WRITE,
            )
            raise ApplicationError(
                f"discussion failed at stage {self._stage}: {error}",
                type="DiscussionFailed",
                non_retryable=True,
            ) from err

        return DiscussionResult(
            job_id=job_id,
            discussion_id=discussion_id,
            task_ids=[task.task_id for task in tasks],
            notion_page_urls=[task.notion_page_url for task in tasks if task.notion_page_url],
            reply_id=done.reply_id,
            processing_ms=done.processing_ms,
        )


def _stack_of(error: BaseException) -> str:
    """The failure's stack as Temporal carried it (the activity's traceback), else its chain."""
    lines: list[str] = []
    current: BaseException | None = error
    while current is not None:
        lines.append(f"{type(current).__name__}: {current}")
        stack = getattr(getattr(current, "failure", None), "stack_trace", "")
        if stack:
            lines.append(stack)
        current = current.__cause__
    return "\n".join(lines)


@workflow.defn
class CleanupJobsWorkflow:
    """Delete completed / failed discussion jobs older than the retention."""

    @workflow.run
    async def run(self, input: CleanupJobsInput) -> CleanupJobsResult:
        cutoff = workflow.now() - timedelta(days=input.retention_days)
        result = await workflow.execute_activity_method(
            DiscussionActivities.delete_old_jobs, DeleteOldJobsInput(cutoff=cutoff), **DB_WRITE
        )
        return CleanupJobsResult(cutoff=cutoff, deleted_job_ids=result.deleted_job_ids)
