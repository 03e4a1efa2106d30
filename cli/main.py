"""The `intake` command line."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import traceback

import typer
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError

try:  # Typer vendors Click (0.2x); earlier releases use Click itself
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click.exceptions import ClickException, NoArgsIsHelpError, UsageError  # type: ignore[assignment]

from cli import api as api_commands
from cli import batches as batch_commands
from cli import db as db_commands
from cli import discussions as discussion_commands
from cli import fm_profiles as fm_profile_commands
from cli import graphs as graph_commands
from cli import mirror as mirror_commands
from cli import report as report_commands
from cli import schedules as schedule_commands
from cli import signals as signal_commands
from cli import webhooks as webhook_commands
from cli import work_orders as work_order_commands
from cli.output import console, fail, print_error, print_json
from client.runs import failure_error
from core.errors import IntakeError, RunFailedError, ServiceUnavailableError
from core.settings import Settings

app = typer.Typer(
    help="intake: durable intake pipelines on Temporal and PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
# Every command group is a Typer app of its module, added here (no name: its commands sit at the top).
work_order_commands.workorder_app.add_typer(fm_profile_commands.app, name="profile")
for group, name in (
    (db_commands.app, "db"),
    (schedule_commands.app, "schedules"),
    (discussion_commands.app, "discussion"),
    (signal_commands.ingest_app, "ingest"),
    (signal_commands.inbox_app, "inbox"),
    (signal_commands.decisions_app, None),
    (work_order_commands.workorder_app, "workorder"),
    (work_order_commands.signed_app, "signed"),
    (work_order_commands.export_app, "export"),
    (batch_commands.app, "batch"),
    (report_commands.app, "report"),
    (api_commands.app, "api"),
    (graph_commands.app, "graph"),
    (mirror_commands.workflow_app, "workflow"),
    (mirror_commands.activity_app, "activity"),
    (mirror_commands.mirror_app, "mirror"),
    (webhook_commands.app, "webhooks"),
):
    app.add_typer(group, name=name)


@app.command()
def up(
    postgres_port: int = typer.Option(None, envvar="INTAKE_POSTGRES_PORT", help="Default: a free port."),
    temporal_port: int = typer.Option(None, envvar="INTAKE_TEMPORAL_PORT", help="Default: a free port."),
    ui_port: int = typer.Option(None, envvar="INTAKE_UI_PORT", help="Default: a free port."),
    sandbox_port: int = typer.Option(None, envvar="INTAKE_SANDBOX_PORT", help="Default: a free port."),
    api_port: int = typer.Option(None, help="Default: a free port."),
    worker: bool = typer.Option(True, help="Start the worker too."),
    api: bool = typer.Option(True, help="Start the HTTP API too."),
    mirror: bool = typer.Option(True, help="Start the engine mirror's feed too (intake mirror run)."),
) -> None:
    """Run the embedded stack (PostgreSQL, Temporal + UI, sandbox, API, worker, mirror) until Ctrl-C."""
    _require_embedded()
    from stack.embedded import EmbeddedStack, StackConfig

    settings = Settings()
    stack = EmbeddedStack(
        StackConfig(
            state_dir=settings.state_dir,
            postgres_port=postgres_port,
            temporal_port=temporal_port,
            ui_port=ui_port,
            sandbox_port=sandbox_port,
            api_port=api_port,
            task_queue=settings.task_queue,
            namespace=settings.temporal_namespace,
            worker=worker,
            api=api,
            mirror=mirror,
        ),
        say=console.print,
    )
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    state = stack.start()
    api_part = (
        f", the API at [link]{state.api_url}[/link], the dashboard at [link]{state.api_url}/ui/[/link]"
        if state.api_url
        else ""
    )
    console.print(
        "[bold]intake is up[/]: the Temporal UI is at "
        f"[link]{state.temporal_ui_url}[/link]{api_part}; Ctrl-C (or `intake down`) stops it"
    )
    crash = None
    try:
        while not stopping and crash is None:
            time.sleep(0.25)
            crash = stack.crashed()
    finally:
        console.print("stopping ...")
        stack.stop()
    if crash:
        fail(crash, code=1)
    console.print("stopped")


def _require_embedded() -> None:
    """The embedded stack's binaries are an extra (`intake[embedded]`, which `make install` installs);
    the container image leaves them out. Say so in one line rather than with an ImportError."""
    try:
        import stack.embedded  # noqa: F401
    except ModuleNotFoundError as err:
        fail(
            f"the embedded stack is not installed here ({err.name} is missing): "
            "`pip install 'intake[embedded]'` (or `make install`) adds it"
        )


@app.command()
def down() -> None:
    """Stop the stack that `intake up` runs from this directory's state folder."""
    from stack.embedded import stop_running

    if stop_running(Settings().state_dir):
        console.print("stopped")
    else:
        console.print("no intake stack is running")


@app.command("worker")
def run_worker(
    count: int = typer.Option(1, "--count", "-n", min=1, max=64, help="Worker processes to run on this host."),
    restart: bool = typer.Option(
        True, help="With --count: start a worker that dies (not one stopped by SIGTERM) again, with a growing delay."
    ),
) -> None:
    """Run worker(s) against DATABASE_URL / TEMPORAL_ADDRESS (or the running stack), waiting for both."""
    if count == 1:
        import worker

        worker.main()
        return
    from cli.workers import run_workers

    raise typer.Exit(run_workers(count, restart=restart))


@app.command()
def sandbox(
    port: int = typer.Option(0, help="Default: a free port."),
    host: str = typer.Option("127.0.0.1"),
) -> None:
    """Run the local sandbox of the outside services (Slack, Notion, Gmail, ...)."""
    os.execv(sys.executable, [sys.executable, "-m", "sandbox", "--host", host, "--port", str(port)])


@app.command()
def health(
    pause: float = typer.Option(0.0, help="Seconds the workflow waits between its two writes."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run HealthCheckWorkflow: Temporal -> worker -> PostgreSQL, and print its result."""
    from client.health import start_health_check
    from core.temporal import connect, ui_link

    settings = Settings()

    async def run() -> None:
        client = await connect(settings)
        handle = await start_health_check(client, task_queue=settings.task_queue, pause_seconds=pause)
        result = await handle.result()
        if as_json:
            print_json({**result.model_dump(mode="json"), "ui": ui_link(settings, handle.id, handle.result_run_id)})
            return
        console.print(
            f"[green]healthy[/] row {result.row_id} in PostgreSQL {result.database_version}, "
            f"recorded {result.recorded_at:%H:%M:%S.%f}, confirmed {result.confirmed_at:%H:%M:%S.%f}"
        )
        if link := ui_link(settings, handle.id, handle.result_run_id):
            console.print(f"run: {link}")

    asyncio.run(run())


@app.command()
def demo(
    as_json: bool = typer.Option(False, "--json", help="Print what happened as JSON; the narration goes to stderr."),
) -> None:
    """Bring the embedded stack up (or use the running one), run every pipeline, print what happened."""
    _require_embedded()
    from cli.demo import run_demo

    run_demo(Settings(), as_json=as_json)


def _telemetry() -> None:
    """A command's traces (its client's spans start each run's trace) and, with INTAKE_LOG_FORMAT=json,
    its log lines as JSON; both only when configured. A bad setting is left for the command to report."""
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError:
        return
    # Named after the command: intake-worker, intake-api, intake-demo, ...
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    service = f"intake-{command}" if command else "intake-cli"
    if settings.log_format == "json":
        from telemetry.logs import configure_logging

        configure_logging(settings, service=service)
    if settings.tracing_enabled:
        from telemetry.tracing import setup_tracing

        setup_tracing(settings, service=service)


def main() -> None:
    code = 0
    _telemetry()
    try:
        # Not standalone: Click's usage errors come back here and are said in one line, like ours.
        code = _exit_code(app(standalone_mode=False, prog_name="intake"))
    except NoArgsIsHelpError as err:
        err.show()  # the group's help, as `intake GROUP` alone asks for
        code = err.exit_code
    except UsageError as err:
        command = err.ctx.command_path if err.ctx is not None else "intake"
        print_error(f"{' '.join(err.format_message().split())} (see `{command} --help`)")
        code = 2
    except typer.Abort:
        print_error("aborted")
        code = 1
    except ClickException as err:
        print_error(" ".join(err.format_message().split()))
        code = err.exit_code
    except SystemExit as exit_:
        code = _exit_code(exit_.code)
    except (WorkflowFailureError, WorkflowUpdateFailedError) as err:
        code = _report(failure_error(err))
    except IntakeError as err:
        code = _report(err)
    except Exception as err:  # PostgreSQL or Temporal away: one line; any other error: its traceback
        unavailable = _unavailable(err)
        if unavailable is None:
            traceback.print_exc()
            code = 1
        else:
            code = _report(unavailable)
    # The Temporal client's native threads can still be finishing when the interpreter
    # finalizes, which then aborts (SIGABRT, "PyGILState_Release ... finalizing") after the
    # command's work is done and printed. A command line has nothing left to clean up here:
    # flush and leave without interpreter finalization, keeping the exit code.
    from telemetry.tracing import shutdown_tracing

    shutdown_tracing()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _report(err: IntakeError) -> int:
    """One line on stderr; the exit code says which kind: 1 a run failed, 2 the input was refused,
    3 PostgreSQL or Temporal did not answer."""
    print_error(" ".join(str(err).split()))
    if isinstance(err, ServiceUnavailableError):
        return 3
    return 1 if isinstance(err, RunFailedError) else 2


def _unavailable(err: Exception) -> IntakeError | None:
    from client.readiness import unavailable_service

    try:
        settings = Settings()
    except Exception:  # the settings themselves are wrong: the traceback says more
        return None
    return unavailable_service(err, settings)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    main()
