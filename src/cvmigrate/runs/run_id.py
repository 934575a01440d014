"""Run IDs: `<luci_project>/<T>-<V>-<D>`, how they are made and taken apart (spec §3.3, §3.4).

A Run ID has seven parts:

1. `luci_project`: the LUCI project the Run belongs to. Everything before the first `/`.
   Why: keeps each project's Runs in one contiguous key range, so per-project queries
   (FetchActiveRuns, §4.7) are range scans.
2. `/`.
3. `T`: milliseconds from the Run's creation instant to the "end of the world"
   `2306-08-19T01:13:16.854775807Z` (= 2014-05-09T01:26:00Z, when the first LUCI design doc
   was written, plus 2^63-1 ns), truncated and zero-padded to 13 digits.
   Why: an inverted timestamp, so ascending key order lists the newest Run first.
4. `-`.
5. `V`: the digest version, always `1` in this era.
   Why: lets the digest scheme change without colliding with old IDs.
6. `-`.
7. `D`: the lower-case hex digest of the Run's triggered CLs (16 hex chars for version 1,
   `runs/attempt_key.py`). It is also CQDaemon's attempt key (§3.4).
   Why: two Runs created in the same millisecond in one project still get distinct IDs,
   and either side can compute the attempt key independently.

Example: `e2e-always-create-runs/9042331396854-1-0a6686c7f19a33a3`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = [
    "DIGEST_VERSION",
    "END_OF_THE_WORLD_NS",
    "InvalidRunID",
    "RunID",
    "RunIDRange",
    "make_run_id",
    "project_run_id_range",
]

_UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_LUCI_EPOCH: Final = datetime(2014, 5, 9, 1, 26, tzinfo=UTC)
_NS_PER_US: Final = 1_000
_NS_PER_MS: Final = 1_000_000


def _unix_ns(moment: datetime) -> int:
    """Nanoseconds since the Unix epoch, exactly (datetimes have microsecond precision)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: Run times must be timezone-aware")
    return (moment - _UNIX_EPOCH) // timedelta(microseconds=1) * _NS_PER_US


_LUCI_EPOCH_NS: Final = _unix_ns(_LUCI_EPOCH)

END_OF_THE_WORLD_NS: Final[int] = _LUCI_EPOCH_NS + (2**63 - 1)
"""2306-08-19T01:13:16.854775807Z as nanoseconds since the Unix epoch (spec §3.3)."""

DIGEST_VERSION: Final[int] = 1
"""The `V` part of every Run ID this service makes."""


class InvalidRunID(ValueError):
    """A string is not a Run ID: no `/`, empty project, no `-`, or ending in `-`."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid Run ID {text!r}: {reason}")
        self.text = text
        self.reason = reason


class RunID(str):
    """A Run ID, `<luci_project>/<T>-<V>-<D>` (see the module docstring for each part).

    A `str` so it can be a dict key, a SQL parameter or a proto field as it is; constructing
    one validates the text. Validation is exactly the set of cases CV could not handle
    (spec §3.3): no `/`, an empty project, no `-`, or a trailing `-`. It is deliberately no
    stricter, because CQDaemon may echo IDs this service did not make and CV accepted them.

    Raises:
        InvalidRunID: on construction from a malformed string.
    """

    __slots__ = ()

    def __new__(cls, text: str) -> RunID:
        slash = text.find("/")
        if slash < 0:
            raise InvalidRunID(text, "no '/' separating the LUCI project")
        if slash == 0:
            raise InvalidRunID(text, "empty LUCI project")
        if "-" not in text[slash + 1 :]:
            raise InvalidRunID(text, "no '-' before the attempt key")
        if text.endswith("-"):
            raise InvalidRunID(text, "ends with '-', so the attempt key is empty")
        return super().__new__(cls, text)

    @classmethod
    def parse(cls, text: str) -> RunID:
        """Validate `text` and return it as a RunID; same as `RunID(text)`.

        Raises:
            InvalidRunID: if `text` is not a Run ID.
        """
        return cls(text)

    def __repr__(self) -> str:
        return f"RunID({str(self)!r})"

    @property
    def project(self) -> str:
        """The LUCI project: everything before the first `/`."""
        return self[: self.index("/")]

    @property
    def inner(self) -> str:
        """Everything after `<project>/`: `<T>-<V>-<D>`."""
        return self[self.index("/") + 1 :]

    @property
    def attempt_key(self) -> str:
        """The text after the last `-`, i.e. `D`; equal to CQDaemon's attempt key (§3.4)."""
        return self[self.rindex("-") + 1 :]


def make_run_id(project: str, created_at: datetime, digest_hex: str) -> RunID:
    """Return the version-1 Run ID for a Run created at `created_at` (spec §3.3).

    `created_at` is the wall-clock instant the Run is created (not its trigger time).
    T is computed in integer nanoseconds, as CV did with Go durations, then truncated to
    milliseconds.

    Raises:
        ValueError: if `project` is empty or contains `/`, `digest_hex` is empty,
            `created_at` is naive, or `created_at` is not after 2014-05-09T01:26:00Z and at
            or before the end of the world (outside that range CV's duration overflows).
    """
    if not project or "/" in project:
        raise ValueError(f"invalid LUCI project {project!r}")
    if not digest_hex:
        raise ValueError("empty CL digest")
    remaining_ns = END_OF_THE_WORLD_NS - _unix_ns(created_at)
    if remaining_ns >= 2**63 - 1:
        raise ValueError(f"Run creation time {created_at.isoformat()} overflows the Run ID")
    if remaining_ns < 0:
        raise ValueError(f"Run creation time {created_at.isoformat()} is after the end of time")
    inverse_ms = remaining_ns // _NS_PER_MS
    return RunID(f"{project}/{inverse_ms:013d}-{DIGEST_VERSION}-{digest_hex}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunIDRange:
    """The open key interval (`after`, `before`) holding one project's Run IDs (spec §4.7).

    For project `p` it is (`"p/0"`, `"p/:"`): every ID that starts with `p/` followed by a
    digit, since `:` is the character after `9`. Compare as strings (SQLite's default
    BINARY collation orders them the same way): `after < run_id < before`.
    """

    after: str
    before: str

    def __contains__(self, run_id: object) -> bool:
        return isinstance(run_id, str) and self.after < run_id < self.before


def project_run_id_range(project: str) -> RunIDRange:
    """Return the key range FetchActiveRuns scans for `project`'s Runs.

    Raises:
        ValueError: if `project` is empty or contains `/`.
    """
    if not project or "/" in project:
        raise ValueError(f"invalid LUCI project {project!r}")
    return RunIDRange(after=f"{project}/0", before=f"{project}/:")
