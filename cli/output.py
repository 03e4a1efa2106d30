"""Console output shared by the commands: one rich console, error lines, JSON."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> None:
    import typer

    print_error(message)
    raise typer.Exit(code)


def print_error(message: str) -> None:
    """`error: MESSAGE` on stderr, never wrapped at the terminal's width, the message shown as it is."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def print_json(data: Any) -> None:
    console.out(json.dumps(data, indent=2, default=str))
