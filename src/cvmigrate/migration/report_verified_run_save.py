"""ReportVerifiedRun's work in the database writer process: decode, check and store.

As migration/report_runs_save.py: the event loop hands the request over as it arrived, and
this module, run by the writer process, imports only what decoding and storing need.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import NamedTuple

from cvmigrate.proto import migration as migration_pb
from cvmigrate.proto.migration import migration_pb2
from cvmigrate.rpc.upb_codec import decode_binary_upb
from cvmigrate.runs.event_kinds import CQD_VERIFICATION_COMPLETED
from cvmigrate.store import reports

__all__ = ["Verified", "save_verified"]


class Verified(NamedTuple):
    """What the request named and the Run it found, as (Run ID, LUCI project) (None:
    none; `invalid`: neither a Run ID nor an attempt key, nothing looked up). Plain
    strings: this crosses back to the event loop, where unpickling a RunRef and its
    Status cost more than the rest of the answer (bench/, issue 8)."""

    run_id: str
    attempt_key: str
    found: tuple[str, str] | None
    invalid: bool = False


def save_verified(
    conn: sqlite3.Connection,
    message: bytes,
    only_project: str | None,
    now: datetime,
    trace_context: str,
) -> Verified:
    """Decode the ReportVerifiedRunRequest (DecodeError if invalid) and store it with its
    event unless one is stored (reports.save_verified_run: first write wins), the Run is
    missing, or it is not of `only_project` (None: any)."""
    request = decode_binary_upb(
        migration_pb.ReportVerifiedRunRequest, migration_pb2.ReportVerifiedRunRequest, message
    )
    run = request.run
    attempt_key = run.attempt.key  # "" when unset (upb reads defaults through)
    run_id = run.id
    # Spec §10.1: the original required run.id, then the attempt key, then run.id again.
    # We accept either and require at least one.
    if not (run_id or attempt_key):
        return Verified(run_id, attempt_key, None, invalid=True)
    # Stored without run.id: the Run ID is the key (as CV's VerifiedCQDRun).
    run.id = ""
    found = reports.save_verified_run(
        conn,
        run_id,
        attempt_key,
        only_project,
        request.SerializeToString(),
        now,
        CQD_VERIFICATION_COMPLETED,
        {"action": int(request.action)},
        trace_context,
    )
    return Verified(run_id, attempt_key, None if found is None else (found.id, found.project))
