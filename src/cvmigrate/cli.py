"""`cvmigrate serve | config check | db | runs | outbox | bq | token | secret-key ...`."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import click

from cvmigrate.cli_common import config_option as _config_option
from cvmigrate.cli_common import load_config as _load
from cvmigrate.cli_common import run_db as _run_db
from cvmigrate.config import ConfigError, Settings, load_settings, parse_bind
from cvmigrate.export.commands import bq, outbox

__all__ = ["main"]

log = logging.getLogger("cvmigrate")


@click.group()
@click.version_option(package_name="cvmigrate")
def main() -> None:
    """cvmigrate: CV's side of the migration.Migration API."""


main.add_command(outbox)
main.add_command(bq)


@main.command()
@_config_option
@click.option("--bind", default=None, help="HOST:PORT to listen on (overrides server.bind).")
@click.option(
    "--port-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the bound port here once listening (useful with port 0).",
)
def serve(config_path: str | None, bind: str | None, port_file: str | None) -> None:
    """Run the service."""
    from cvmigrate.telemetry import configure_logging

    configure_logging()
    if bind is not None:
        try:
            parse_bind(bind)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--bind") from None
    settings = _load(config_path, **({"bind": bind} if bind else {}))
    from cvmigrate.app import UnsafeConfiguration, preflight
    from cvmigrate.secretbox import SecretKeyError
    from cvmigrate.store.db import StoreError
    from cvmigrate.store.migrate import SchemaTooNew

    try:
        asyncio.run(preflight(settings))
    except (UnsafeConfiguration, SecretKeyError, SchemaTooNew, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    from cvmigrate.telemetry import configure_telemetry

    try:
        telemetry = configure_telemetry(settings.telemetry)
    except ValueError as exc:
        raise click.ClickException(f"telemetry: {exc}") from None
    try:
        asyncio.run(_serve(settings, port_file))
    finally:
        telemetry.shutdown()


def _listen(bind: str) -> socket.socket:
    host, port = parse_bind(bind)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot bind {bind}: {exc.strerror}") from None
    sock.listen(1024)
    return sock


async def _serve(settings: Settings, port_file: str | None) -> None:
    import hypercorn.asyncio
    import hypercorn.config

    from cvmigrate.app import create_app

    app = create_app(settings)
    sock = _listen(settings.server.bind)
    host, port = sock.getsockname()[:2]
    config = hypercorn.config.Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    # Slow clients: a connection without complete request headers (or idle between
    # requests) is closed after keep_alive_timeout, one that stops sending after read_timeout.
    config.keep_alive_timeout = settings.server.keep_alive_timeout_s
    config.read_timeout = settings.server.read_timeout_s  # type: ignore[assignment]
    config.graceful_timeout = 10

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("listening on http://%s:%d", host if ":" not in host else f"[{host}]", port)
    if port_file:
        Path(port_file).write_text(f"{port}\n", encoding="utf-8")  # noqa: ASYNC240 (once, tiny)
    # What exists now (modules, the app) lives as long as the process: keep it out of the
    # cyclic GC's full passes, which otherwise walk it all (~70k objects, 25-40 ms with every
    # thread stopped) a few times a minute under load (measured in bench/, issue 8).
    gc.freeze()
    await hypercorn.asyncio.serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


@main.group()
def config() -> None:
    """Configuration tools."""


@config.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def config_check(path: str) -> None:
    """Validate a configuration file; exit 1 with the offending key on error."""
    try:
        load_settings(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"{path}: ok")


@main.group()
def db() -> None:
    """Database tools."""


@db.command("upgrade")
@_config_option
def db_upgrade(config_path: str | None) -> None:
    """Create the database or apply pending schema migrations."""
    from cvmigrate.store.migrate import SchemaTooNew, upgrade_database

    settings = _load(config_path)
    try:
        applied, version = upgrade_database(settings.database.path)
    except SchemaTooNew as exc:
        raise click.ClickException(str(exc)) from None
    done = f"applied {', '.join(map(str, applied))}" if applied else "already up to date"
    click.echo(f"{settings.database.path}: schema version {version} ({done})")


@main.group()
def runs() -> None:
    """Inspect Runs."""


def _format_time(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


@runs.command("list")
@_config_option
@click.option("--project", default=None, help="Only this LUCI project.")
@click.option("--status", "status_name", default=None, help="Only this status, e.g. RUNNING.")
@click.option("--limit", default=100, show_default=True, help="At most this many Runs.")
def runs_list(
    config_path: str | None, project: str | None, status_name: str | None, limit: int
) -> None:
    """List Runs, newest first within each project."""
    from cvmigrate.runs.status import Status
    from cvmigrate.store import runs as runs_store

    statuses = None
    if status_name:
        try:
            statuses = [Status[status_name.upper()]]
        except KeyError:
            names = ", ".join(s.name for s in Status)
            raise click.BadParameter(f"unknown status; one of {names}") from None
    settings = _load(config_path)
    found = _run_db(
        settings, lambda c: runs_store.list_runs(c, project=project, statuses=statuses, limit=limit)
    )
    for run in found:
        click.echo(
            f"{run.id}\t{run.status.name}\t{run.mode}\t{_format_time(run.create_time)}"
            f"\t{len(run.cl_ids)} CL(s)"
        )
    if not found:
        click.echo("no runs", err=True)


@runs.command("show")
@_config_option
@click.argument("run_id")
def runs_show(config_path: str | None, run_id: str) -> None:
    """Show one Run with its CLs, reports and events."""
    import sqlite3

    from cvmigrate.store import events, reports
    from cvmigrate.store import runs as runs_store

    def load(conn: sqlite3.Connection) -> Any:
        run = runs_store.get_run(conn, run_id)
        if run is None:
            return None
        return (
            run,
            runs_store.load_run_cls(conn, run_id),
            reports.get_verified(conn, run_id) is not None,
            events.list_events(conn, run_id=run_id),
        )

    found = _run_db(_load(config_path), load)
    if found is None:
        raise click.ClickException(f"no Run {run_id}")
    run, run_cls, verified, run_events = found
    click.echo(f"id:            {run.id}")
    click.echo(f"project:       {run.project}")
    click.echo(f"attempt key:   {run.attempt_key}")
    click.echo(f"mode:          {run.mode}")
    click.echo(f"status:        {run.status.name}")
    click.echo(f"config group:  {run.config_group}")
    click.echo(f"created:       {_format_time(run.create_time)}")
    click.echo(f"ended:         {_format_time(run.end_time)}")
    click.echo(f"verified:      {'yes' if verified else 'no'}")
    click.echo(f"finalized by CQDaemon: {'yes' if run.finalized_by_cqd else 'no'}")
    for cl in run_cls:
        click.echo(
            f"CL {cl.cl_id}: triggered {_format_time(cl.trigger.time)} by account "
            f"{cl.trigger.gerrit_account_id} ({cl.trigger.mode})"
        )
    for event in run_events:
        state = "done" if event.done_time else f"pending (attempts {event.attempts})"
        click.echo(f"event {event.id}: {event.kind} {state}")
        if event.last_error:
            click.echo(f"  last error: {event.last_error}")


@runs.command("divergence")
@_config_option
@click.argument("project")
def runs_divergence(config_path: str | None, project: str) -> None:
    """Compare CQDaemon's last ReportRuns with CV's RUNNING Runs of PROJECT."""
    import sqlite3

    from cvmigrate.runs.divergence import divergence
    from cvmigrate.runs.status import Status
    from cvmigrate.store import reports
    from cvmigrate.store import runs as runs_store

    def load(conn: sqlite3.Connection) -> Any:
        report = reports.get_reported_attempt_keys(conn, project)
        running = runs_store.list_runs(
            conn, project=project, statuses=[Status.RUNNING], limit=100000
        )
        return report, running

    report, running = _run_db(_load(config_path), load)
    if report is None:
        raise click.ClickException(f"CQDaemon has not reported runs for {project}")
    keys, _ = report
    result = divergence(keys, running)
    click.echo(f"only in CQDaemon: {len(result.only_cqdaemon)}")
    for key in result.only_cqdaemon:
        click.echo(f"  attempt {key}")
    click.echo(f"only in CV:       {len(result.only_cv)}")
    for run_id in result.only_cv:
        click.echo(f"  run {run_id}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@_config_option
@click.argument("identity")
def token_create(config_path: str | None, identity: str) -> None:
    """Create a bearer token for IDENTITY (project:P, user:EMAIL or service:NAME).

    The token is printed once; only its SHA-256 digest is stored.
    """
    from datetime import UTC, datetime

    from cvmigrate.auth import new_token, token_digest
    from cvmigrate.config import TokenEntry
    from cvmigrate.store import credentials

    try:
        TokenEntry(identity=identity, sha256="0" * 64)
    except ValueError:
        raise click.BadParameter(
            "must be project:<name>, user:<email> or service:<name>", param_hint="IDENTITY"
        ) from None
    value = new_token()
    digest = token_digest(value)
    now = datetime.now(UTC)
    _run_db(_load(config_path), credentials.add_api_token, digest, identity, now, write=True)
    click.echo(value)
    click.echo(f"token for {identity} created; it is shown only once", err=True)


@main.command("secret-key")
def secret_key() -> None:
    """Print a new key for $CVMIGRATE_SECRET_KEY (encrypts netrc tokens at rest)."""
    from cvmigrate.secretbox import new_secret_key

    click.echo(new_secret_key())
