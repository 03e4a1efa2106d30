"""Console output shared by the commands: one rich console, error lines, JSON."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn, TextIO

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

# Piped, redirected or in CI, rich would lay output out for 80 columns: run links broken
# mid-id, ids in table cells cut ("WO-100…"). Output that is not a terminal gets a console as
# wide as its tables need (tables never stretch to the console's width), and every console
# prints plain lines unwrapped, so a link or an id is always whole on one line.
UNBOUNDED_WIDTH = 100_000
RULE_WIDTH = 80  # a section rule when the console is unbounded


def _console(stream: TextIO) -> Console:
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        terminal = False
    return Console(
        stderr=stream is sys.stderr, highlight=False, soft_wrap=True, width=None if terminal else UNBOUNDED_WIDTH
    )


console = _console(sys.stdout)
err_console = _console(sys.stderr)


def rule(title: str, out: Console = console) -> None:
    """A section heading across the terminal, or RULE_WIDTH wide when not a terminal."""
    out.print(Rule(title), width=RULE_WIDTH if out.width >= UNBOUNDED_WIDTH else None)


def clip(text: str | None, width: int, out: Console = console) -> str:
    """Free text (an error, an address) cut to `width` in a terminal's table; whole when the output
    is not a terminal, where nothing is cut. Never for ids or links: those are always whole."""
    text = text or ""
    if out.width >= UNBOUNDED_WIDTH or len(text) <= width:
        return text
    return text[: width - 1] + "…"


def fail(message: str, code: int = 2) -> NoReturn:
    import typer

    print_error(message)
    raise typer.Exit(code)


def print_error(message: str) -> None:
    """`error: MESSAGE` on stderr, never wrapped at the terminal's width, the message shown as it is."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def print_json(data: Any) -> None:
    console.out(json.dumps(data, indent=2, default=str))
