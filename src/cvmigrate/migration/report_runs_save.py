"""ReportRuns' work in the database writer process: decode, check and store the report.

The event loop hands the request over as it arrived (binary) with what it knows of the
caller; this module runs in the writer process (store/writer.py), so it imports only what
decoding and storing need, not the handlers and their clients. Decoding a 50-run report
and walking its runs cost the event loop more than the rest of the call (bench/, issue 8).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import datetime
from typing import NamedTuple

from cvmigrate.proto import migration as migration_pb
from cvmigrate.proto.migration import migration_pb2
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.upb_codec import decode_binary_upb
from cvmigrate.store import reports

__all__ = ["Refused", "save_report"]


class Refused(NamedTuple):
    """The report was not stored. `project` set: the caller may not act on it (the event
    loop's ACL check words the answer); else `code` and `message` are the answer."""

    code: Code
    message: str
    project: str = ""


def save_report(
    conn: sqlite3.Connection,
    message: bytes,
    caller_project: str | None,
    only_project: str | None,
    now: datetime,
) -> list[str] | Refused:
    """Decode the ReportRunsRequest (DecodeError if invalid), check each run in order
    (an attempt, and a project: its own, the Run ID's, or the caller's), refuse a project
    other than `only_project` (None: any), and replace each project's stored report.
    Returns the projects reported (the caller's own even with no runs)."""
    request = decode_binary_upb(
        migration_pb.ReportRunsRequest, migration_pb2.ReportRunsRequest, message
    )
    by_project: dict[str, list[migration_pb2.ReportedRun]] = defaultdict(list)
    keys_by_project: dict[str, list[str]] = defaultdict(list)
    if caller_project:
        by_project.setdefault(caller_project, [])  # an empty report says: nothing running
        keys_by_project.setdefault(caller_project, [])
    for index, run in enumerate(request.runs):
        attempt = run.attempt  # each access builds a wrapper: read it once
        project = attempt.luci_project
        if not project:  # (a luci_project set means the attempt is there: no HasField)
            # CV's handler crashed on a run without attempt (INTERNAL); we name the entry.
            if not run.HasField("attempt"):
                return Refused(Code.INVALID_ARGUMENT, f"runs[{index}]: attempt is required")
            project = run.id.partition("/")[0] or caller_project
            if not project:
                return Refused(
                    Code.INVALID_ARGUMENT, f"runs[{index}]: attempt.luci_project is required"
                )
        by_project[project].append(run)
        if key := attempt.key:
            keys_by_project[project].append(key)
    for project in by_project:
        if only_project is not None and project != only_project:
            return Refused(Code.PERMISSION_DENIED, "", project)
    for project, runs in by_project.items():
        # The report of one project (CQDaemon's always is) is stored as it came.
        payload = (
            message
            if len(by_project) == 1
            else migration_pb2.ReportRunsRequest(runs=runs).SerializeToString()
        )
        reports.put_reported_runs(conn, project, keys_by_project[project], payload, now)
    return list(by_project)
