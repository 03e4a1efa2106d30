"""The sandbox's reject fault: each service's own "invalid request" answer, which every client
must report as a permanent error (retrying a request the service refuses cannot help)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from core.settings import Settings
from integrations.errors import PermanentIntegrationError
from integrations.factory import ServiceClients, build_clients
from integrations.llm import ThreadLine
from sandbox.control import SandboxControl

Call = Callable[[ServiceClients, dict], Awaitable[object]]

CASES: list[tuple[str, str, Call]] = [
    ("slack", "chat.postMessage", lambda c, f: c.slack.post_reply("C0PRODUCT", "1718010000.000100", "hi", key="k")),
    (
        "notion",
        "pages.create",
        lambda c, f: c.notion.create_page(
            f["notion"]["database_id"], properties={}, children=[], key_property="Intake Key", key="k"
        ),
    ),
    ("figma", "comments.list", lambda c, f: c.figma.list_comments(f["figma"]["file_key"])),
    ("llm", "chat.completions.create", lambda c, f: c.llm.analyse_thread([ThreadLine(author="a", text="b")])),
]


@pytest.mark.parametrize("service, operation, call", CASES, ids=[c[0] for c in CASES])
async def test_a_refused_request_is_a_permanent_error_and_writes_nothing(
    sandbox_settings: Settings,
    control: SandboxControl,
    fixtures: dict,
    service: str,
    operation: str,
    call: Call,
) -> None:
    await control.set_fault(service, operation, reject_rate=1.0)
    clients = build_clients(sandbox_settings)
    try:
        with pytest.raises(PermanentIntegrationError) as refused:
            await call(clients, fixtures)
    finally:
        await clients.aclose()
    assert refused.value.service == service
    assert await control.created("slack", "messages") == []
    assert await control.created("notion", "pages") == []
