"""Spec §3.6 lookups: locate_run and its light form locate_run_ref find the same Run."""

from __future__ import annotations

from support import change_info, create_run, set_status

from cvmigrate.runs.status import Status
from cvmigrate.store import runs as runs_store


def test_locate_run_ref_finds_what_locate_run_finds(conn):
    # The same CLs and triggers in two projects: two Runs sharing one attempt key.
    v8 = create_run(conn, project="v8", changes=[change_info(7)], mode="FULL_RUN")
    chromium = create_run(conn, project="chromium", changes=[change_info(7)], mode="FULL_RUN")
    set_status(conn, chromium.id, Status.SUCCEEDED)
    assert v8.attempt_key == chromium.attempt_key
    lookups = [
        (v8.id, ""),
        (chromium.id, ""),
        ("", v8.attempt_key),  # key order: "chromium/…" first
        (v8.id, "0000000000000000"),  # an ID, when given, wins over the key
        ("chromium/1-1-ffffffffffffffff", ""),  # no such Run
        ("", "ffffffffffffffff"),
        ("", ""),
    ]
    for run_id, key in lookups:
        full = runs_store.locate_run(conn, run_id, key)
        ref = runs_store.locate_run_ref(conn, run_id, key)
        if full is None:
            assert ref is None, (run_id, key)
            continue
        assert ref == (full.id, full.project, full.mode, full.status), (run_id, key)
        assert ref.is_ended == full.is_ended
    found = runs_store.locate_run_ref(conn, "", v8.attempt_key)
    assert found is not None
    assert found.id == chromium.id
    assert found.status is Status.SUCCEEDED
    assert found.is_ended
