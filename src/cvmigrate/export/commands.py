"""`cvmigrate outbox status | list | retry | drain` and `cvmigrate bq create-table`."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from cvmigrate.cli_common import config_option, load_config, run_db, with_db
from cvmigrate.store import outbox as outbox_store

if TYPE_CHECKING:
    from cvmigrate.config import BigQuerySettings
    from cvmigrate.export.sink import BigQuerySink
    from cvmigrate.store.db import Database
    from cvmigrate.store.outbox import OutboxRow

__all__ = ["bq", "outbox"]


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _age(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _sink(settings: BigQuerySettings) -> BigQuerySink:
    if not settings.project:
        raise click.ClickException("set [bigquery] project (and api_endpoint for the emulator)")
    from google.auth.exceptions import DefaultCredentialsError

    from cvmigrate.export.sink import BigQuerySink

    try:
        return BigQuerySink(settings)
    except DefaultCredentialsError as exc:
        raise click.ClickException(f"no Google credentials: {exc}") from None


@click.group()
def outbox() -> None:
    """The BigQuery outbox: rows waiting to be sent, and rows BigQuery rejected."""


@outbox.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def outbox_status(config_path: str | None, as_json: bool) -> None:
    """Pending and dead rows, and the age of the oldest pending row."""
    status = run_db(load_config(config_path), outbox_store.outbox_status)
    oldest = status.oldest_pending
    age = (_now() - oldest).total_seconds() if oldest else None
    if as_json:
        document = {
            "pending": status.pending,
            "dead": status.dead,
            "sent": status.sent,
            "oldest_pending": _iso(oldest),
            "oldest_pending_age_s": age,
        }
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(f"pending: {status.pending}")
    click.echo(f"dead:    {status.dead}")
    click.echo(f"sent:    {status.sent}")
    if oldest is not None and age is not None:
        click.echo(f"oldest pending: {_iso(oldest)} ({_age(age)} ago)")


def _row_document(row: OutboxRow) -> dict[str, Any]:
    return {
        "dedup_key": row.dedup_key,
        "state": row.state,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created": _iso(row.create_time),
        "sent": _iso(row.sent_time),
    }


@outbox.command("list")
@config_option
@click.option("--dead", "dead_only", is_flag=True, help="Only rows BigQuery rejected.")
@click.option("--all", "include_sent", is_flag=True, help="Sent rows too.")
@click.option("--limit", default=1000, show_default=True, help="At most this many rows.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def outbox_list(
    config_path: str | None, dead_only: bool, include_sent: bool, limit: int, as_json: bool
) -> None:
    """Rows not sent yet (pending and dead), oldest first."""

    def load(conn: sqlite3.Connection) -> list[OutboxRow]:
        if dead_only:
            return outbox_store.list_rows(conn, state="dead", limit=limit)
        rows = (
            outbox_store.list_rows(conn, limit=limit)
            if include_sent
            else [
                *outbox_store.list_rows(conn, state="pending", limit=limit),
                *outbox_store.list_rows(conn, state="dead", limit=limit),
            ]
        )
        return sorted(rows, key=lambda row: row.id)[:limit]

    rows = run_db(load_config(config_path), load)
    if as_json:
        click.echo(json.dumps({"rows": [_row_document(row) for row in rows]}, indent=2))
        return
    for row in rows:
        error = row.last_error.replace("\n", " ")
        click.echo(f"{row.dedup_key}\t{row.state}\t{row.attempts}\t{error}")
    if not rows:
        click.echo("no rows", err=True)


@outbox.command("retry")
@config_option
def outbox_retry(config_path: str | None) -> None:
    """Put dead rows back to pending (after fixing what BigQuery rejected)."""
    now = _now()
    revived = run_db(load_config(config_path), outbox_store.revive_dead, now, write=True)
    click.echo(f"{revived} dead row(s) back to pending")


@outbox.command("drain")
@config_option
def outbox_drain(config_path: str | None) -> None:
    """Send every pending row now, ignoring backoff; stop at the first transient failure.

    Safe while the service runs: a row sent twice carries the same insertId.
    """
    from cvmigrate.export.exporter import run_once

    settings = load_config(config_path)
    sink = _sink(settings.bigquery)
    # Rows waiting out a backoff are due too: the operator asked for now.
    due_by = datetime(9999, 1, 1, tzinfo=UTC)

    async def drain(db: Database) -> Any:
        status = await db.read(outbox_store.outbox_status)
        with click.progressbar(length=status.pending, label="sending") as bar:
            return await run_once(
                db, sink, settings.bigquery, clock=_now, due_by=due_by, on_progress=bar.update
            )

    try:
        result = with_db(settings, drain)
    finally:
        sink.close()
    click.echo(f"sent {result.sent}, dead {result.dead}")
    if result.error:
        raise click.ClickException(
            f"stopped: sending {result.retried} row(s) failed, they stay pending "
            f"(`outbox status`): {result.error}"
        )


@click.group()
def bq() -> None:
    """The BigQuery table."""


@bq.command("create-table")
@config_option
def bq_create_table(config_path: str | None) -> None:
    """Create the dataset, the table and its de-duplicating view (idempotent)."""
    settings = load_config(config_path).bigquery
    sink = _sink(settings)
    from google.api_core.exceptions import GoogleAPIError
    from requests.exceptions import RequestException

    try:
        setup = sink.create_table()
    except (GoogleAPIError, RequestException) as exc:
        raise click.ClickException(f"cannot create {sink.table_id}: {exc}") from None
    finally:
        sink.close()
    state = "created" if setup.table_created else "already exists"
    click.echo(f"table {sink.table_id}: {state}")
    if setup.added_columns:
        click.echo(f"added columns: {', '.join(setup.added_columns)}")
    click.echo(f"view {setup.view}: created or replaced")
