"""Connecting to Temporal: one place, so the worker and every client use the same converter."""

from __future__ import annotations

from urllib.parse import quote

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from core.settings import Settings


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """A client for TEMPORAL_ADDRESS (or the embedded stack) that speaks pydantic models.

    `lazy`: connect on first use instead of now (a server that answers requests while
    Temporal is away, and says so in its readiness, is built on one).
    """
    return await Client.connect(
        settings.require_temporal_address(),
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        lazy=lazy,
    )


def ui_link(settings: Settings, workflow_id: str, run_id: str | None = None) -> str | None:
    """The Temporal UI page of one run (of the workflow's latest run without `run_id`), when the UI is known.

    The UI's route is /namespaces/<namespace>/workflows/<workflow id>/<run id>, each a single path
    segment, so every part is percent-encoded whole (`/` as %2F, `:` as %3A, like the UI's own
    encodeURIComponent): our workflow ids contain both, and an id left as it is opens the UI's 404 page.
    """
    base = settings.resolved_temporal_ui_url()
    if base is None:
        return None
    link = f"{base.rstrip('/')}/namespaces/{_segment(settings.temporal_namespace)}/workflows/{_segment(workflow_id)}"
    return f"{link}/{_segment(run_id)}" if run_id else link


def ui_list_link(settings: Settings, query: str) -> str | None:
    """The Temporal UI's workflow list filtered by a visibility query, when the UI is known."""
    base = settings.resolved_temporal_ui_url()
    if base is None:
        return None
    return f"{base.rstrip('/')}/namespaces/{_segment(settings.temporal_namespace)}/workflows?query={_segment(query)}"


def _segment(value: str) -> str:
    return quote(value, safe="")
