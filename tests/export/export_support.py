"""Helpers for export tests: a hand-moved clock, emulator settings, reading a table."""

from __future__ import annotations

import itertools
from typing import Any

from bq_emulator import LocalBigQuery
from google.cloud import bigquery

from cvmigrate.config import BigQuerySettings

_TABLES = itertools.count(1)


def emulator_settings(emulator: LocalBigQuery, **overrides: Any) -> BigQuerySettings:
    """Settings for a new table in `emulator`, with retry timings short enough for tests."""
    values: dict[str, Any] = {
        "enabled": True,
        "project": emulator.project,
        "dataset": "raw",
        "table": f"attempts_{next(_TABLES)}",
        "api_endpoint": emulator.endpoint,
        "retry_deadline_s": 1.0,
        "request_timeout_s": 5.0,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        "poll_interval_s": 0.02,
    }
    return BigQuerySettings(**{**values, **overrides})


def table_rows(client: bigquery.Client, settings: BigQuerySettings) -> list[dict[str, Any]]:
    """Every row of the settings' table, ordered by insert_id then end_time."""
    table = f"`{settings.project}.{settings.dataset}.{settings.table}`"
    query = f"SELECT * FROM {table} ORDER BY insert_id, end_time"  # noqa: S608 (test names)
    return [dict(row) for row in client.query(query).result()]
