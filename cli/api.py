"""`intake api`: serve the HTTP API; `intake api token ...`: the teams' bearer tokens."""

from __future__ import annotations

import typer
from rich.table import Table

from cli.output import console, print_json
from cli.runtime import with_sessions
from client.api_tokens import TokenInfo, create_token, list_tokens, revoke_token
from core.settings import Settings

app = typer.Typer(
    help="The HTTP API (webhooks, admin API): `intake api` serves it; `intake api token` manages team tokens.",
    invoke_without_command=True,
)
token_app = typer.Typer(help="Team API tokens: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.callback()
def api(
    ctx: typer.Context,
    host: str = typer.Option(None, help="Default: INTAKE_API_HOST (127.0.0.1)."),
    port: int = typer.Option(None, min=0, max=65535, help="Default: INTAKE_API_PORT (8000)."),
) -> None:
    """Serve the API with uvicorn until Ctrl-C (a subcommand instead manages tokens)."""
    if ctx.invoked_subcommand is not None:
        return
    from api.serve import serve

    serve(Settings(), host=host, port=port)


def _as_json(info: TokenInfo) -> dict[str, str | None]:
    return {
        "id": str(info.id),
        "team_id": info.team_id,
        "name": info.name,
        "prefix": info.prefix,
        "created_at": info.created_at.isoformat(),
        "last_used_at": info.last_used_at.isoformat() if info.last_used_at else None,
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
    }


@token_app.command("create")
def create(
    team: str = typer.Option(..., "--team", help="The team the token acts for."),
    name: str = typer.Option("", help="A note to tell tokens apart (who or what uses it)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a token for a team and print it, once: only its hash is kept."""
    token, info = with_sessions(Settings(), lambda sessions: create_token(sessions, team_id=team, name=name))
    if as_json:
        print_json({**_as_json(info), "token": token})
        return
    console.print(f"token for team {info.team_id} (id {info.id}); it is shown only now:")
    print(token)


@token_app.command("list")
def list_(
    team: str = typer.Option(None, "--team", help="Only this team's tokens."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Tokens, oldest first: their id, team, first characters, last use; never the tokens."""
    infos = with_sessions(Settings(), lambda sessions: list_tokens(sessions, team_id=team))
    if as_json:
        print_json([_as_json(info) for info in infos])
        return
    if not infos:
        console.print(
            "no API tokens"
            + (f" for team {team}" if team else "")
            + "; create one with `intake api token create --team T`"
        )
        return
    table = Table("id", "team", "name", "starts", "created", "last used", "revoked")
    for info in infos:
        table.add_row(
            str(info.id),
            info.team_id,
            info.name,
            info.prefix + "…",
            f"{info.created_at:%Y-%m-%d %H:%M}",
            f"{info.last_used_at:%Y-%m-%d %H:%M}" if info.last_used_at else "never",
            f"{info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "",
        )
    console.print(table)


@token_app.command("revoke")
def revoke(token_id: str = typer.Argument(..., help="The token's id (from `intake api token list`).")) -> None:
    """Revoke a token: requests with it are refused from now on."""
    info = with_sessions(Settings(), lambda sessions: revoke_token(sessions, token_id))
    console.print(f"revoked token {info.id} of team {info.team_id} at {info.revoked_at:%Y-%m-%d %H:%M:%S}")
