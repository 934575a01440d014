"""Schema migrations: the files `sql/sqlite/NNNN_*.sql`, applied in order, each once."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MIGRATIONS_DIR",
    "Migration",
    "SchemaTooNew",
    "apply_migrations",
    "known_migrations",
    "upgrade_database",
]

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "sql" / "sqlite"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNew(Exception):
    """The database was written by a newer cvmigrate; refusing to touch it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    version: int
    name: str
    sql: str


def known_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file, by version; raises if versions are not 1..N without gaps."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name {path.name!r} is not NNNN_name.sql")
        migrations.append(
            Migration(version=int(match[1]), name=path.name, sql=path.read_text(encoding="utf-8"))
        )
    if [m.version for m in migrations] != list(range(1, len(migrations) + 1)):
        raise ValueError(f"migrations in {directory} must be numbered 0001.. without gaps")
    return migrations


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a new one)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied INTEGER)"
    )
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def apply_migrations(conn: sqlite3.Connection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply pending migrations, each in its own transaction; return the versions applied.

    Raises SchemaTooNew when the database records a version this code does not know.
    """
    migrations = known_migrations(directory)
    latest = migrations[-1].version if migrations else 0
    version = current_version(conn)
    if version > latest:
        raise SchemaTooNew(
            f"database schema version {version} is newer than this cvmigrate knows ({latest}); "
            "upgrade cvmigrate instead"
        )
    applied = []
    for migration in migrations:
        if migration.version <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, applied) "
                "VALUES (?, CAST(strftime('%s','now') AS INTEGER) * 1000000)",
                (migration.version,),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3.complete_statement aware)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in current.splitlines()
    ):
        raise ValueError("migration script ends with an incomplete statement")
    return statements


def upgrade_database(path: str | Path) -> tuple[list[int], int]:
    """Create or upgrade the database file; returns (versions applied, current version)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        applied = apply_migrations(conn)
        return applied, current_version(conn)
    finally:
        conn.close()
