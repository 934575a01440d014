"""`cvmigrate outbox status | list | retry | drain` and `cvmigrate bq create-table`, in-process."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from export_support import emulator_settings, table_rows
from harness import to_toml

from cvmigrate.cli import main
from cvmigrate.config import BigQuerySettings
from cvmigrate.store import outbox
from cvmigrate.store.migrate import apply_migrations

NOW = datetime.now(UTC)


def _config(tmp_path: Path, bigquery: BigQuerySettings | None = None) -> str:
    config: dict[str, Any] = {"database": {"path": str(tmp_path / "cv.db")}}
    if bigquery is not None:
        config["bigquery"] = bigquery.model_dump()
    path = tmp_path / "cvmigrate.toml"
    path.write_text(to_toml(config))
    return str(path)


def _row(key: str, **fields: Any) -> str:
    return json.dumps({"key": key, "luci_project": "chromium", "insert_id": key, **fields})


@pytest.fixture
def conn(tmp_path: Path):
    """The CLI's database with three rows: one sent, one dead, one pending (an hour old)."""
    connection = sqlite3.connect(tmp_path / "cv.db", isolation_level=None)
    apply_migrations(connection)
    hour_ago = NOW - timedelta(hours=1)
    outbox.enqueue_row(connection, "attempt-sent", _row("sent"), hour_ago)
    outbox.enqueue_row(connection, "attempt-dead", _row("dead"), hour_ago)
    outbox.enqueue_row(connection, "attempt-wait", _row("wait"), hour_ago)
    (sent, dead, _) = outbox.list_rows(connection)
    outbox.mark_sent(connection, [sent], NOW)
    outbox.mark_dead(connection, dead, "invalid at end_time: bad value")
    yield connection
    connection.close()


def _invoke(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_outbox_status_text_and_json(tmp_path, conn):
    config = _config(tmp_path)
    text = _invoke("outbox", "status", "--config", config).stdout
    assert "pending: 1" in text and "dead:    1" in text and "sent:    1" in text
    assert "(1h 0m ago)" in text or "(59m" in text
    document = json.loads(_invoke("outbox", "status", "--config", config, "--json").stdout)
    assert (document["pending"], document["dead"], document["sent"]) == (1, 1, 1)
    assert 3500 < document["oldest_pending_age_s"] < 3700


def test_outbox_list_shows_unsent_rows_and_filters(tmp_path, conn):
    config = _config(tmp_path)
    lines = _invoke("outbox", "list", "--config", config).stdout.splitlines()
    assert lines == [
        "attempt-dead\tdead\t1\tinvalid at end_time: bad value",
        "attempt-wait\tpending\t0\t",
    ]
    dead = _invoke("outbox", "list", "--config", config, "--dead").stdout.splitlines()
    assert [line.split("\t")[0] for line in dead] == ["attempt-dead"]
    everything = _invoke("outbox", "list", "--config", config, "--all").stdout.splitlines()
    assert [line.split("\t")[0] for line in everything] == [
        "attempt-sent",
        "attempt-dead",
        "attempt-wait",
    ]
    document = json.loads(_invoke("outbox", "list", "--config", config, "--json").stdout)
    assert [
        (r["dedup_key"], r["state"], r["attempts"], r["last_error"]) for r in document["rows"]
    ] == [
        ("attempt-dead", "dead", 1, "invalid at end_time: bad value"),
        ("attempt-wait", "pending", 0, ""),
    ]


def test_outbox_retry_puts_dead_rows_back_to_pending(tmp_path, conn):
    config = _config(tmp_path)
    assert "1 dead row(s) back to pending" in _invoke("outbox", "retry", "--config", config).stdout
    status = outbox.outbox_status(conn)
    assert (status.pending, status.dead) == (2, 0)


def test_outbox_drain_needs_a_project(tmp_path, conn):
    result = CliRunner().invoke(main, ["outbox", "drain", "--config", _config(tmp_path)])
    assert result.exit_code == 1 and "[bigquery] project" in result.output


def test_bq_create_table_then_outbox_drain_sends_everything_now(
    tmp_path, conn, bq_emulator, bq_client
):
    settings = emulator_settings(bq_emulator, enabled=False)  # drain works while disabled
    config = _config(tmp_path, settings)
    created = _invoke("bq", "create-table", "--config", config).stdout
    assert f"table {settings.project}.raw.{settings.table}: created" in created
    assert f"view {settings.project}.raw.{settings.table}_deduped" in created
    again = _invoke("bq", "create-table", "--config", config).stdout
    assert "already exists" in again

    # The pending row waits out a backoff: drain sends it anyway; the revived dead one too.
    (_, _, waiting) = outbox.list_rows(conn)
    outbox.mark_retry(conn, [waiting.id], "earlier failure", NOW + timedelta(hours=1))
    _invoke("outbox", "retry", "--config", config)
    drained = _invoke("outbox", "drain", "--config", config).stdout
    assert "sent 2, dead 0" in drained
    assert sorted(row["key"] for row in table_rows(bq_client, settings)) == ["dead", "wait"]
    assert outbox.outbox_status(conn).pending == 0


def test_outbox_drain_reports_a_transient_failure(tmp_path, conn, bq_emulator):
    settings = emulator_settings(bq_emulator, table="no_such_table", retry_deadline_s=0.5)
    result = CliRunner().invoke(main, ["outbox", "drain", "--config", _config(tmp_path, settings)])
    assert result.exit_code == 1
    assert "stopped: sending 1 row(s) failed, they stay pending" in result.output
    assert "NotFound: 404" in result.output
    assert outbox.outbox_status(conn).pending == 1
