"""`intake webhooks ...`: connect the Slack, Figma and Notion webhooks to a team.

- `link` puts a Slack workspace id (T...) or a Figma webhook id on the team's source
  config: the webhook maps its events to the team by it.
- `notion add` makes a Notion integration of the team and prints its subscription URL;
  `notion token` shows the verification token Notion sent to it (to paste into Notion's
  Verify dialog); `notion reset` forgets it, for a recreated subscription.
- `inbox` shows the acknowledged Slack and Figma events whose workflow is not started yet
  (the API's starter starts them; a start Temporal refused is tried again, and says why).
"""

from __future__ import annotations

import typer
from rich.table import Table

from cli.output import clip, console, print_json
from cli.runtime import with_sessions
from client.webhook_inbox import inbox_report
from client.webhooks import (
    EXTERNAL_ID_NAMES,
    add_notion_integration,
    link_source,
    notion_integration,
    reset_notion_token,
)
from core.errors import InvalidInputError
from core.settings import Settings

app = typer.Typer(help="Connect the Slack, Figma and Notion webhooks to a team.", no_args_is_help=True)
notion_app = typer.Typer(help="Notion webhook subscriptions: add, token, reset.", no_args_is_help=True)
app.add_typer(notion_app, name="notion")


def _url(settings: Settings, path: str) -> str:
    return f"{settings.resolved_api_url() or '<the API URL>'}{path}"


@app.command("link")
def link(
    team: str = typer.Option(..., "--team", help="The team whose source config the webhook's events go to."),
    source: str = typer.Option(..., "--source", help="slack or figma."),
    external_id: str = typer.Option(
        ..., "--id", help="Slack: the workspace id (team_id, T...). Figma: the webhook id POST /v2/webhooks returned."
    ),
) -> None:
    """Map a Slack workspace or a Figma webhook to the team's source config."""
    if source not in EXTERNAL_ID_NAMES:
        raise InvalidInputError(f"--source must be slack or figma, not {source!r}")
    settings = Settings()
    config_id = with_sessions(
        settings,
        lambda sessions: link_source(sessions, team_id=team, source_type=source, external_id=external_id),
    )
    path = "/webhooks/slack/events" if source == "slack" else "/webhooks/figma"
    console.print(
        f"{EXTERNAL_ID_NAMES[source]} {external_id} -> team {team} (source config {config_id}); "
        f"events arrive at {_url(settings, path)}"
    )


@notion_app.command("add")
def notion_add(
    team: str = typer.Option(..., "--team", help="The team the integration's events belong to."),
    name: str = typer.Option("", help="A note to tell integrations apart."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Make a Notion integration of the team and print the URL to give Notion's subscription."""
    settings = Settings()
    row = with_sessions(settings, lambda sessions: add_notion_integration(sessions, team_id=team, name=name))
    url = _url(settings, f"/webhooks/notion/{row.id}")
    if as_json:
        print_json({"id": str(row.id), "team_id": row.team_id, "name": row.name, "url": url})
        return
    console.print(f"Notion integration {row.id} of team {row.team_id}; its webhook URL:")
    print(url)


@notion_app.command("token")
def notion_token(integration_id: str = typer.Argument(..., help="The integration's id (from `notion add`).")) -> None:
    """Print the verification token Notion sent the integration, to paste into Notion's Verify dialog."""
    row = with_sessions(Settings(), lambda sessions: notion_integration(sessions, integration_id))
    if row.verification_token is None:
        console.print(f"Notion has not sent integration {row.id} a verification token yet")
        raise typer.Exit(1)
    print(row.verification_token)


@notion_app.command("reset")
def notion_reset(integration_id: str = typer.Argument(..., help="The integration's id (from `notion add`).")) -> None:
    """Forget the integration's verification token (its subscription was recreated in Notion)."""
    with_sessions(Settings(), lambda sessions: reset_notion_token(sessions, integration_id))
    console.print(f"Notion integration {integration_id}: token forgotten; the next verification request is kept")


@app.command("inbox")
def inbox(
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="Pending events to list, oldest first."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Acknowledged Slack and Figma events whose workflow is not started yet, and why."""
    summary, pending = with_sessions(Settings(), lambda sessions: inbox_report(sessions, limit=limit))
    rows = [
        {
            "workflow_id": row.workflow_id,
            "team_id": row.team_id,
            "source": row.source_type,
            "received_at": row.received_at.isoformat(),
            "attempts": row.attempts,
            "next_attempt_at": row.next_attempt_at.isoformat(),
            "last_error": row.last_error,
        }
        for row in pending
    ]
    if as_json:
        print_json(
            {
                "pending": summary.pending,
                "retrying": summary.retrying,
                "oldest_pending_seconds": summary.oldest_pending_seconds,
                "settled": summary.settled,
                "oldest": rows,
            }
        )
        return
    oldest = f", the oldest for {summary.oldest_pending_seconds:.0f} s" if summary.oldest_pending_seconds else ""
    console.print(
        f"webhook inbox: {summary.pending} pending ({summary.retrying} after a failed start){oldest}; "
        f"{summary.settled} started and kept for dedupe"
    )
    if not pending:
        return
    table = Table("workflow", "source", "received", "attempts", "next attempt", "last error")
    for row in pending:
        table.add_row(
            row.workflow_id,
            row.source_type,
            f"{row.received_at:%Y-%m-%d %H:%M:%S}",
            str(row.attempts),
            f"{row.next_attempt_at:%H:%M:%S}",
            clip(row.last_error, 60),
        )
    console.print(table)
