"""Stored credentials: netrc tokens (encrypted elsewhere, stored here) and API token digests."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from cvmigrate.store.timeutil import to_us

__all__ = [
    "add_api_token",
    "get_netrc_ciphertext",
    "has_api_tokens",
    "identity_for_token_digest",
    "put_netrc_ciphertext",
]


def put_netrc_ciphertext(
    conn: sqlite3.Connection, gerrit_host: str, ciphertext: bytes, now: datetime
) -> None:
    """Store the encrypted netrc token for a Gerrit host (last write wins)."""
    conn.execute(
        "INSERT INTO netrc_tokens (gerrit_host, ciphertext, update_time) VALUES (?, ?, ?)"
        " ON CONFLICT (gerrit_host) DO UPDATE SET ciphertext = excluded.ciphertext,"
        " update_time = excluded.update_time",
        (gerrit_host, ciphertext, to_us(now)),
    )


def get_netrc_ciphertext(conn: sqlite3.Connection, gerrit_host: str) -> bytes | None:
    """The encrypted netrc token for the host, or None."""
    row = conn.execute(
        "SELECT ciphertext FROM netrc_tokens WHERE gerrit_host = ?", (gerrit_host,)
    ).fetchone()
    return bytes(row[0]) if row else None


def add_api_token(conn: sqlite3.Connection, sha256_hex: str, identity: str, now: datetime) -> None:
    """Record an API token by its digest (the token itself is never stored)."""
    conn.execute(
        "INSERT INTO api_tokens (sha256, identity, create_time) VALUES (?, ?, ?)",
        (sha256_hex, identity, to_us(now)),
    )


def identity_for_token_digest(conn: sqlite3.Connection, sha256_hex: str) -> str | None:
    """The identity of a stored API token digest, or None."""
    row = conn.execute("SELECT identity FROM api_tokens WHERE sha256 = ?", (sha256_hex,)).fetchone()
    return str(row[0]) if row else None


def has_api_tokens(conn: sqlite3.Connection) -> bool:
    """True once any API token was created with `cvmigrate token create`."""
    return conn.execute("SELECT 1 FROM api_tokens LIMIT 1").fetchone() is not None
