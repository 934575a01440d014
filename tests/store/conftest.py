"""Store tests: a migrated SQLite file, used synchronously (no service)."""

from __future__ import annotations

import sqlite3

import pytest

from cvmigrate.store.migrate import apply_migrations


@pytest.fixture
def conn(tmp_path):
    connection = sqlite3.connect(tmp_path / "cv.db", isolation_level=None)
    apply_migrations(connection)
    yield connection
    connection.close()
