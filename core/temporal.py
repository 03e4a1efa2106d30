"""Connecting to Temporal: one place, so the worker and every client use the same converter."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from core.settings import Settings


async def connect(settings: Settings) -> Client:
    """A client for TEMPORAL_ADDRESS (or the embedded stack) that speaks pydantic models."""
    return await Client.connect(
        settings.require_temporal_address(),
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


def ui_link(settings: Settings, workflow_id: str, run_id: str | None = None) -> str | None:
    """The Temporal UI page of one run, when the UI's address is known."""
    base = settings.resolved_temporal_ui_url()
    if base is None:
        return None
    link = f"{base.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}"
    return f"{link}/{run_id}" if run_id else link
