"""Attempt keys: the version-1 digest of a Run's triggered CLs (spec §3.4).

The attempt key is CQDaemon's `attempt_key_hash` for a set of triggered CLs, and the `D`
part of the Run ID (`runs/run_id.py`), so CV and CQDaemon compute the same key for the same
attempt without talking to each other.

Digest version 1, byte for byte:

1. Sort the CLs by (Gerrit host, change number), ascending.
2. For each CL, the six fields joined by a single NUL byte::

       host 0x00 change 0x00 current_revision 0x00 trigger_time_us 0x00 mode 0x00 account_id

   numbers in decimal ASCII, `trigger_time_us` = whole microseconds since the Unix epoch
   (CQDaemon kept microsecond precision; CV computed `seconds*1e6 + nanos/1000`).
3. Consecutive CLs are separated by one more NUL byte (none before the first or after
   the last), and the SHA-256 of the whole is taken.
4. The key is the first 8 bytes of the hash as 16 lower-case hex characters.

Test vector: `g-review`, 33, `rev-000033-001`, 2020-02-02T10:30:00Z, `DRY_RUN`, account 2
hashes `g-review\\x0033\\x00rev-000033-001\\x001580639400000000\\x00DRY_RUN\\x002` to
`0a6686c7f19a33a3`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["ATTEMPT_KEY_LENGTH", "TriggeredCL", "compute_attempt_key"]

ATTEMPT_KEY_LENGTH: Final[int] = 16
"""Hex characters in a version-1 attempt key (8 bytes of SHA-256)."""

_UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SEPARATOR: Final = b"\x00"


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggeredCL:
    """One CL of a Run as the attempt key sees it: the change, its revision and trigger.

    `mode` is the trigger's mode string (`DRY_RUN`, `FULL_RUN`, `QUICK_DRY_RUN` or another
    configured additional mode); `trigger_time` must be timezone-aware.
    """

    host: str
    change: int
    current_revision: str
    trigger_time: datetime
    mode: str
    gerrit_account_id: int


def _unix_us(moment: datetime) -> int:
    """Whole microseconds since the Unix epoch, exactly (floor, as a normalised Timestamp)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: trigger times must be timezone-aware")
    return (moment - _UNIX_EPOCH) // timedelta(microseconds=1)


def _cl_bytes(cl: TriggeredCL) -> bytes:
    fields = (
        cl.host,
        str(cl.change),
        cl.current_revision,
        str(_unix_us(cl.trigger_time)),
        str(cl.mode),
        str(cl.gerrit_account_id),
    )
    return _SEPARATOR.join(field.encode("utf-8") for field in fields)


def compute_attempt_key(cls: Sequence[TriggeredCL]) -> str:
    """Return the version-1 attempt key (16 lower-case hex chars) of a Run's CLs (spec §3.4).

    The input order does not matter; CLs are sorted by (host, change) first.

    Raises:
        ValueError: if `cls` is empty (a Run has at least one CL) or a trigger time is naive.
    """
    if not cls:
        raise ValueError("an attempt key needs at least one CL")
    ordered = sorted(cls, key=lambda cl: (cl.host, cl.change))
    digest = hashlib.sha256(_SEPARATOR.join(_cl_bytes(cl) for cl in ordered)).digest()
    return digest[: ATTEMPT_KEY_LENGTH // 2].hex()
