"""Fixtures for export tests: a database, a clock, and one local BigQuery emulator per session
with a fresh table per test (insertId de-duplication is remembered per table)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from bq_emulator import LocalBigQuery
from export_support import emulator_settings
from google.cloud import bigquery
from support import T0, Clock

from cvmigrate.config import BigQuerySettings
from cvmigrate.export.sink import BigQuerySink, make_client


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(hours=1))


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBigQuery]:
    """The emulator on free loopback ports with a temporary data directory."""
    emulator = LocalBigQuery(tmp_path_factory.mktemp("bq") / "data").start()
    yield emulator
    emulator.stop()


@pytest.fixture
def bq_settings(bq_emulator: LocalBigQuery) -> BigQuerySettings:
    """Settings naming a new, created table (and its view) in the session emulator."""
    settings = emulator_settings(bq_emulator)
    sink = BigQuerySink(settings)
    try:
        sink.create_table()
    finally:
        sink.close()
    return settings


@pytest.fixture
def bq_client(bq_emulator: LocalBigQuery) -> Iterator[bigquery.Client]:
    """A client for reading what arrived (independent of the exporter's)."""
    client = make_client(emulator_settings(bq_emulator))
    yield client
    client.close()
