"""The admin API under /api/v1: every route takes a team's bearer token and sees only that team's rows."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import approvals, discussions, work_orders

router = APIRouter(prefix="/api/v1")
for part in (discussions, approvals, work_orders):
    router.include_router(part.router)
