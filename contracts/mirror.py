"""The engine mirror's maintenance workflow: its input, result and activity models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

PRUNE_MIRROR_WORKFLOW_ID = "prune-mirror"


class PruneMirrorInput(BaseModel):
    retention_days: int = Field(30, ge=1)


class PruneMirrorResult(BaseModel):
    cutoff: datetime
    executions_deleted: int
    attempts_deleted: int


class DeleteOldMirrorRowsInput(BaseModel):
    cutoff: datetime


class DeleteOldMirrorRowsResult(BaseModel):
    executions_deleted: int
    attempts_deleted: int
