"""`intake demo`: every pipeline end to end on the embedded stack, printed as it goes."""

from __future__ import annotations

import asyncio

from rich.panel import Panel

from cli.output import console
from core.settings import Settings
from core.state import read_state
from core.temporal import connect, ui_link


def run_demo(settings: Settings) -> None:
    from stack.embedded import EmbeddedStack, StackConfig

    stack = None
    if settings.database_url is None and read_state(settings.state_dir.resolve()) is None:
        console.rule("starting the embedded stack")
        stack = EmbeddedStack(StackConfig(
            state_dir=settings.state_dir, task_queue=settings.task_queue,
            namespace=settings.temporal_namespace,
        ), say=console.print)
        stack.start()
        settings = Settings()  # now reads the stack's state file
    else:
        console.print("using the running stack")
    try:
        asyncio.run(_pipelines(settings))
    finally:
        if stack is not None:
            console.rule("stopping the embedded stack")
            stack.stop()
    console.print("[bold green]demo finished[/]")


async def _pipelines(settings: Settings) -> None:
    from client.health import start_health_check

    client = await connect(settings)

    console.rule("health check: Temporal -> worker -> PostgreSQL")
    handle = await start_health_check(client, task_queue=settings.task_queue, pause_seconds=0.5)
    result = await handle.result()
    console.print(Panel.fit(
        f"workflow   {handle.id}\n"
        f"row        health_checks.id = {result.row_id}\n"
        f"postgres   {result.database_version}\n"
        f"recorded   {result.recorded_at:%Y-%m-%d %H:%M:%S.%f}\n"
        f"confirmed  {result.confirmed_at:%Y-%m-%d %H:%M:%S.%f}",
        title="HealthCheckWorkflow completed",
    ))
    console.print(f"Temporal UI: {settings.resolved_temporal_ui_url()}")
    console.print(f"this run:    {ui_link(settings, handle.id)}")
