"""`intake workorder profile set|list`: a workspace's FM profiles, with the date order of each sender."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from cli.output import console, print_json
from cli.runtime import with_sessions
from client.fm_profiles import list_fm_profiles, parse_field_patterns, set_fm_profile
from core.settings import Settings
from db.models.work_orders import FmProfile

app = typer.Typer(help="FM profiles: how each facility manager's PDFs are read.", no_args_is_help=True)

WORKSPACE = typer.Option("default", "--workspace", "-w", help="Workspace slug; created on first use.")


@app.command("set")
def set_profile(
    fm_key: str = typer.Argument(..., help="The profile's key, e.g. acme."),
    workspace: str = WORKSPACE,
    spreadsheet: str = typer.Option(
        None, envvar="INTAKE_SPREADSHEET_ID", help="Spreadsheet a NEW workspace exports to (none: no export)."
    ),
    name: str = typer.Option(None, "--name", help="Display name (a new profile: the key)."),
    sender_domain: list[str] = typer.Option(
        None, "--sender-domain", help="A sender's email domain (repeat; replaces the stored list)."
    ),
    marker: list[str] = typer.Option(
        None, "--marker", help="Text marking a PDF as this FM's (repeat; replaces the stored list)."
    ),
    pattern: list[str] = typer.Option(None, "--pattern", help="FIELD=REGEX with one group (repeat)."),
    date_order: str = typer.Option(
        None,
        "--date-order",
        metavar="day_first|month_first|none",
        help="How this FM writes 04/07/2024; none: as INTAKE_DATE_ORDER says.",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create or update an FM profile; options left out keep their stored values."""
    patterns = parse_field_patterns(pattern) if pattern else None
    profile = with_sessions(
        Settings(),
        lambda sessions: set_fm_profile(
            sessions,
            workspace=workspace,
            fm_key=fm_key,
            spreadsheet_id=spreadsheet,
            display_name=name,
            sender_domains=list(sender_domain) if sender_domain else None,
            text_markers=list(marker) if marker else None,
            field_patterns=patterns,
            date_order=date_order,
        ),
    )
    if as_json:
        print_json(_row(profile))
        return
    console.print(
        f"{workspace}/{profile.fm_key}: {profile.display_name}, date order "
        f"{profile.date_order or 'unset (INTAKE_DATE_ORDER)'}"
    )


@app.command("list")
def list_profiles(workspace: str = WORKSPACE, as_json: bool = typer.Option(False, "--json")) -> None:
    """The workspace's FM profiles; an unset date order falls back to INTAKE_DATE_ORDER."""
    settings = Settings()
    profiles = with_sessions(settings, lambda sessions: list_fm_profiles(sessions, workspace=workspace))
    if as_json:
        print_json([_row(profile) for profile in profiles])
        return
    fallback = f"({settings.date_order or 'none'})"
    table = Table("fm key", "name", "sender domains", "text markers", "patterns", "date order")
    for p in profiles:
        table.add_row(
            p.fm_key + (" (default)" if p.is_default else ""),
            p.display_name,
            ", ".join(p.sender_domains),
            ", ".join(p.text_markers),
            ", ".join(sorted(p.field_patterns)),
            p.date_order or fallback,
        )
    console.print(table)


def _row(profile: FmProfile) -> dict[str, Any]:
    return {
        "fm_key": profile.fm_key,
        "display_name": profile.display_name,
        "sender_domains": profile.sender_domains,
        "text_markers": profile.text_markers,
        "field_patterns": profile.field_patterns,
        "is_default": profile.is_default,
        "date_order": profile.date_order,
    }
