"""The BigQuery row of an ended attempt (spec §7.3): statuses, submit statuses, CQDaemon's
reports reconciled, group keys, and the JSON shape of attempts.json."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support import T0, change_info, create_run

from cvmigrate.export.rows import (
    attempt_to_row,
    enqueue_finished_attempt_row,
    enqueue_run_row,
    run_attempt,
)
from cvmigrate.export.schema import SCHEMA_PATH
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.runs.end import end_run
from cvmigrate.runs.model import Run, Submission
from cvmigrate.runs.status import Status
from cvmigrate.store import outbox, reports
from cvmigrate.store.migrate import apply_migrations

FOO_HOST = "foo-review.googlesource.com"
END = T0 + timedelta(minutes=30)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "rows.db", isolation_level=None)
    apply_migrations(connection)
    connection.execute("PRAGMA foreign_keys = ON")
    yield connection
    connection.close()


def _ended(
    conn: sqlite3.Connection,
    status: Status,
    *,
    mode: str = "DRY_RUN",
    changes: int = 1,
    submission: Submission | None = None,
    finalized_by_cqd: bool = False,
) -> Run:
    run = create_run(conn, changes=[change_info(n + 1) for n in range(changes)], mode=mode)
    return end_run(conn, run, status, END, submission=submission, finalized_by_cqd=finalized_by_cqd)


def _queued_row(conn: sqlite3.Connection, dedup_key: str) -> dict:
    (row,) = [row for row in outbox.list_rows(conn) if row.dedup_key == dedup_key]
    return json.loads(row.row_json)


@pytest.mark.parametrize(
    ("status", "submission", "expected"),
    [
        pytest.param(Status.SUCCEEDED, None, "SUCCESS", id="succeeded"),
        pytest.param(Status.FAILED, None, "FAILURE", id="failed-checks"),
        pytest.param(
            Status.FAILED,
            Submission(cls=(1, 2), submitted_cls=(1,), failed_cls=(2,)),
            "SUCCESS",
            id="failed-submission-counts-as-success",
        ),
        pytest.param(
            Status.FAILED,
            Submission(cls=(1, 2), submitted_cls=(1, 2)),
            "FAILURE",
            id="failed-after-all-submitted",
        ),
        pytest.param(Status.CANCELLED, None, "ABORTED", id="cancelled"),
    ],
)
def test_status_mapping(conn, status, submission, expected):
    run = _ended(conn, status, mode="FULL_RUN", changes=2, submission=submission)
    row = _queued_row(conn, f"run-{run.id}")
    assert (row["status"], row["substatus"]) == (expected, "NO_SUBSTATUS")


def test_status_of_a_run_that_has_not_ended_is_refused(conn):
    run = create_run(conn, changes=[change_info(1)])
    with pytest.raises(ValueError, match="has not ended"):
        run_attempt(conn, run)


def test_submit_status_of_a_dry_run_is_pending(conn):
    run = _ended(conn, Status.SUCCEEDED, changes=2)
    row = _queued_row(conn, f"run-{run.id}")
    assert [gc["submit_status"] for gc in row["gerrit_changes"]] == ["PENDING", "PENDING"]
    assert [gc["mode"] for gc in row["gerrit_changes"]] == ["DRY_RUN", "DRY_RUN"]


def test_submit_status_of_a_full_run_per_cl(conn):
    run = create_run(conn, changes=[change_info(n) for n in (1, 2, 3)], mode="FULL_RUN")
    first, second, _ = run.cl_ids
    submission = Submission(cls=run.cl_ids, submitted_cls=(first,), failed_cls=(second,))
    end_run(conn, run, Status.FAILED, END, submission=submission)
    row = _queued_row(conn, f"run-{run.id}")
    # 0ce9eb295f: FAILURE only for CLs whose submission failed; never-tried CLs are PENDING.
    assert [(gc["change"], gc["submit_status"]) for gc in row["gerrit_changes"]] == [
        (1, "SUCCESS"),
        (2, "FAILURE"),
        (3, "PENDING"),
    ]
    assert {gc["mode"] for gc in row["gerrit_changes"]} == {"FULL_RUN"}


def test_row_fields_come_from_the_run_and_its_cls(conn):
    run = _ended(conn, Status.SUCCEEDED, changes=2)
    row = _queued_row(conn, f"run-{run.id}")
    assert row["key"] == run.attempt_key
    assert row["luci_project"] == "chromium"
    assert row["config_group"] == "main"
    assert row["start_time"] == "2026-11-01T12:00:00.000000Z"  # trigger time, not creation
    assert row["end_time"] == "2026-11-01T12:30:00.000000Z"
    assert row["builds"] == []
    assert row["has_custom_requirement"] is False
    assert row["insert_id"] == f"run-{run.id}"
    first = row["gerrit_changes"][0]
    assert first == {
        "host": "chromium-review.googlesource.com",
        "project": "chromium/src",
        "change": 1,
        "patchset": 1,
        "earliest_equivalent_patchset": 1,
        "trigger_time": "2026-11-01T12:00:00.000000Z",
        "mode": "DRY_RUN",
        "submit_status": "PENDING",
    }


def test_cl_group_keys_match_the_spec_vectors(conn):
    run = create_run(conn, changes=[change_info(111, patchset=2)], host=FOO_HOST)
    end_run(conn, run, Status.SUCCEEDED, END)
    row = _queued_row(conn, f"run-{run.id}")
    assert row["cl_group_key"] == "331ea2a6a5d5f3b3"
    assert row["equivalent_cl_group_key"] == "47337d4707144297"


def _cqd_attempt(status: bigquery_pb.AttemptStatus) -> bigquery_pb.Attempt:
    return bigquery_pb.Attempt(
        key="ignored",
        status=status,
        substatus=bigquery_pb.AttemptSubstatus.FAILED_TRYJOBS,
        has_custom_requirement=True,
        builds=[
            bigquery_pb.Build(
                id=8_800_000_000_000_000_001,
                host="cr-buildbucket.appspot.com",
                origin=bigquery_pb.BuildOrigin.REUSED,
                critical=True,
            )
        ],
    )


def test_verified_report_overrides_builds_and_statuses(conn):
    run = create_run(conn, changes=[change_info(1)])
    verified = migration_pb.ReportVerifiedRunRequest(
        run=migration_pb.ReportedRun(attempt=_cqd_attempt(bigquery_pb.AttemptStatus.FAILURE))
    )
    reports.insert_verified_if_absent(conn, run.id, bytes(verified), T0)
    end_run(conn, run, Status.SUCCEEDED, END)  # CV says SUCCEEDED; CQDaemon's data wins
    row = _queued_row(conn, f"run-{run.id}")
    assert (row["status"], row["substatus"], row["has_custom_requirement"]) == (
        "FAILURE",
        "FAILED_TRYJOBS",
        True,
    )
    assert row["builds"] == [
        {
            "id": 8_800_000_000_000_000_001,
            "host": "cr-buildbucket.appspot.com",
            "origin": "REUSED",
            "critical": True,
        }
    ]
    assert row["key"] == run.attempt_key  # the rest stays CV's


def test_finished_report_wins_when_cqdaemon_finalized_the_run(conn):
    run = create_run(conn, changes=[change_info(1)])
    verified = migration_pb.ReportVerifiedRunRequest(
        run=migration_pb.ReportedRun(attempt=_cqd_attempt(bigquery_pb.AttemptStatus.FAILURE))
    )
    reports.insert_verified_if_absent(conn, run.id, bytes(verified), T0)
    finished = migration_pb.ReportedRun(
        id=run.id, attempt=_cqd_attempt(bigquery_pb.AttemptStatus.INFRA_FAILURE)
    )
    reports.upsert_finished(conn, run.attempt_key, run.id, bytes(finished), T0)
    end_run(conn, run, Status.FAILED, END, finalized_by_cqd=True)
    assert _queued_row(conn, f"run-{run.id}")["status"] == "INFRA_FAILURE"


def test_without_reports_cv_computes_the_status(conn):
    run = _ended(conn, Status.CANCELLED)
    row = _queued_row(conn, f"run-{run.id}")
    assert (row["status"], row["builds"], row["has_custom_requirement"]) == (
        "ABORTED",
        [],
        False,
    )


def test_finished_attempt_without_run_is_queued_as_reported(conn):
    attempt = bigquery_pb.Attempt(
        key="00000000000000aa",
        luci_project="v8",
        status=bigquery_pb.AttemptStatus.SUCCESS,
        end_time=END,
        gerrit_changes=[bigquery_pb.GerritChange(host=FOO_HOST, change=7, mode=2)],
    )
    enqueue_finished_attempt_row(conn, attempt, T0)
    row = _queued_row(conn, "attempt-00000000000000aa")
    assert row["insert_id"] == "attempt-00000000000000aa"
    assert (row["luci_project"], row["status"]) == ("v8", "SUCCESS")
    assert row["gerrit_changes"][0]["mode"] == "FULL_RUN"
    assert row["start_time"] is None  # not reported: NULL, not a made-up time


def test_enum_values_unknown_to_this_code_are_kept_as_numbers():
    attempt = bigquery_pb.Attempt.parse(
        bytes(bigquery_pb.Attempt(key="k")) + bytes([0x48, 42])  # field 9 (status) = 42
    )
    assert attempt_to_row(attempt)["status"] == "42"


def test_enqueue_run_row_for_a_missing_run_raises(conn):
    with pytest.raises(LookupError):
        enqueue_run_row(conn, "chromium/1-1-abc", T0)


def _schema_names(fields: list[dict]) -> dict[str, object]:
    return {
        field["name"]: _schema_names(field["fields"]) if "fields" in field else None
        for field in fields
    }


def _row_names(row: dict) -> dict[str, object]:
    names: dict[str, object] = {}
    for name, value in row.items():
        names[name] = _row_names(value[0]) if isinstance(value, list) and value else None
    return names


def test_row_has_exactly_the_columns_of_attempts_json(conn):
    run = create_run(conn, changes=[change_info(1)])
    verified = migration_pb.ReportVerifiedRunRequest(
        run=migration_pb.ReportedRun(attempt=_cqd_attempt(bigquery_pb.AttemptStatus.SUCCESS))
    )
    reports.insert_verified_if_absent(conn, run.id, bytes(verified), T0)
    end_run(conn, run, Status.SUCCEEDED, END)
    row = _queued_row(conn, f"run-{run.id}")  # with a build, so both records are filled
    schema = json.loads(SCHEMA_PATH.read_text())["schema"]["fields"]
    assert _row_names(row) == _schema_names(schema)
