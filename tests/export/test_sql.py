"""The analyst SQL in sql/bigquery/, run in the local emulator on rows with known answers.

The rows (D1 and D2 are two recent days; times UTC; E* are equivalent CL group keys):

| key | project | day | start–end | status | substatus | mode | CLs | eq | rows |
|---|---|---|---|---|---|---|---|---|---|
| a1 | chromium | D1 | 10:00–10:30 | FAILURE | FAILED_TRYJOBS | DRY | 1 | E1 | |
| a2 | chromium | D1 | 11:00–11:20 | SUCCESS | | DRY | 1 | E1 | |
| a3 | chromium | D1 | 12:00–12:05 | ABORTED | MANUAL_CANCEL | FULL | 2 | E3 | |
| a4 | chromium | D1 | 13:00–14:00 | FAILURE | FAILED_LINT | FULL | 2 | E4 | |
| a9 | chromium | D1 | 13:30–14:30 | SUCCESS | | FULL | 2 | E4 | started before a4 ended |
| a5 | v8 | D1 | 10:00–11:00 | SUCCESS | | FULL | 2 | E4 | another project |
| a6 | chromium | D2 | 09:00–09:10 | SUCCESS | | DRY | 1 | E6 | + a CQDaemon row, FAILURE, 09:30 |
| a7 | chromium | D2 | 10:00–10:40 | SUCCESS | | DRY | 1 | E1 | twice (insertId dedup missed) |
| a8 | chromium | D2 | 11:00–11:45 | INFRA_FAILURE | | DRY | 1 | E8 | + another Run's, 11:30 |
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from export_support import emulator_settings
from support import HOST

from cvmigrate.config import BigQuerySettings
from cvmigrate.export.rows import attempt_to_row
from cvmigrate.export.schema import SQL_DIR, load_sql
from cvmigrate.export.sink import BigQuerySink
from cvmigrate.proto import bigquery as bigquery_pb

_TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
D1 = _TODAY - timedelta(days=3)
D2 = _TODAY - timedelta(days=2)
QUERIES = sorted(path.name for path in SQL_DIR.glob("*.sql"))


def _at(day: datetime, hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return day + timedelta(hours=int(hours), minutes=int(minutes))


def _row(
    key: str,
    day: datetime,
    span: str,
    status: str,
    *,
    project: str = "chromium",
    substatus: str = "NO_SUBSTATUS",
    mode: str = "DRY_RUN",
    cls: int = 1,
    eq: str,
    insert_id: str = "",
) -> dict[str, Any]:
    start, end = span.split("-")
    attempt = bigquery_pb.Attempt(
        key=key,
        luci_project=project,
        cl_group_key=f"cl-{key}",
        equivalent_cl_group_key=eq,
        start_time=_at(day, start),
        end_time=_at(day, end),
        gerrit_changes=[
            bigquery_pb.GerritChange(
                host=HOST,
                project="src",
                change=100 + n,
                patchset=1,
                earliest_equivalent_patchset=1,
                trigger_time=_at(day, start),
                mode=bigquery_pb.Mode[mode],
                submit_status=bigquery_pb.GerritChangeSubmitStatus.PENDING,
            )
            for n in range(cls)
        ],
        status=bigquery_pb.AttemptStatus[status],
        substatus=bigquery_pb.AttemptSubstatus[substatus],
        config_group="main",
    )
    return attempt_to_row(attempt, insert_id=insert_id or f"run-{project}/1-1-{key}")


ROWS = [
    _row("a1", D1, "10:00-10:30", "FAILURE", substatus="FAILED_TRYJOBS", eq="E1"),
    _row("a2", D1, "11:00-11:20", "SUCCESS", eq="E1"),
    _row(
        "a3",
        D1,
        "12:00-12:05",
        "ABORTED",
        substatus="MANUAL_CANCEL",
        mode="FULL_RUN",
        cls=2,
        eq="E3",
        insert_id="attempt-a3",
    ),
    _row(
        "a4", D1, "13:00-14:00", "FAILURE", substatus="FAILED_LINT", mode="FULL_RUN", cls=2, eq="E4"
    ),
    _row("a9", D1, "13:30-14:30", "SUCCESS", mode="FULL_RUN", cls=2, eq="E4"),
    _row("a5", D1, "10:00-11:00", "SUCCESS", project="v8", mode="FULL_RUN", cls=2, eq="E4"),
    _row("a6", D2, "09:00-09:10", "SUCCESS", eq="E6"),
    _row("a6", D2, "09:00-09:30", "FAILURE", eq="E6", insert_id="attempt-a6"),
    _row("a7", D2, "10:00-10:40", "SUCCESS", eq="E1", insert_id="attempt-a7"),
    _row(
        "a8",
        D2,
        "11:00-11:30",
        "FAILURE",
        substatus="FAILED_TRYJOBS",
        eq="E8",
        insert_id="run-chromium/2-1-a8",
    ),
    _row("a8", D2, "11:00-11:45", "INFRA_FAILURE", eq="E8", insert_id="run-chromium/1-1-a8"),
]


@pytest.fixture(scope="module")
def loaded(bq_emulator) -> BigQuerySettings:
    """One table with ROWS (and a7's duplicate), created once for the module's queries."""
    settings = emulator_settings(bq_emulator)
    sink = BigQuerySink(settings)
    try:
        sink.create_table()
        assert sink.insert_rows(ROWS, [row["insert_id"] for row in ROWS]) == []
        # A copy that insertId de-duplication missed (as after its window): no insertId.
        copy = next(row for row in ROWS if row["key"] == "a7")
        assert sink.client.insert_rows_json(sink.table_id, [copy], row_ids=[None]) == []
    finally:
        sink.close()
    return settings


def _query(settings: BigQuerySettings, name: str) -> list[dict[str, Any]]:
    sql = load_sql(name, project=settings.project, dataset=settings.dataset, table=settings.table)
    sink = BigQuerySink(settings)
    try:
        return [dict(row) for row in sink.client.query(sql).result()]
    finally:
        sink.close()


@pytest.mark.parametrize("name", QUERIES)
def test_every_query_starts_with_a_header_comment(name):
    lines = (SQL_DIR / name).read_text().splitlines()
    header = list(itertools.takewhile(lambda line: line.startswith("--"), lines))
    assert len(header) >= 3, "say what the query answers and what each column means"


def test_raw_table_keeps_every_copy(loaded):
    sink = BigQuerySink(loaded)
    try:
        table = f"`{sink.table_id}`"
        (count,) = next(iter(sink.client.query(f"SELECT COUNT(*) FROM {table}").result()))  # noqa: S608
    finally:
        sink.close()
    assert count == len(ROWS) + 1


def test_deduped_view_keeps_one_row_per_key_preferring_runs_then_latest(loaded):
    sink = BigQuerySink(loaded)
    try:
        view = f"`{sink.table_id}_deduped`"
        rows = sink.client.query(f"SELECT key, status, insert_id FROM {view} ORDER BY key")  # noqa: S608
        found = [tuple(row.values()) for row in rows.result()]
    finally:
        sink.close()
    assert found == [
        ("a1", "FAILURE", "run-chromium/1-1-a1"),
        ("a2", "SUCCESS", "run-chromium/1-1-a2"),
        ("a3", "ABORTED", "attempt-a3"),
        ("a4", "FAILURE", "run-chromium/1-1-a4"),
        ("a5", "SUCCESS", "run-v8/1-1-a5"),
        ("a6", "SUCCESS", "run-chromium/1-1-a6"),  # the Run's row, though the other ended later
        ("a7", "SUCCESS", "attempt-a7"),  # one of the two copies
        ("a8", "INFRA_FAILURE", "run-chromium/1-1-a8"),  # the later of two Runs' rows
        ("a9", "SUCCESS", "run-chromium/1-1-a9"),
    ]


def test_attempts_and_success_rate_per_project_per_day(loaded):
    assert _query(loaded, "attempts_per_project_day.sql") == [
        {
            "luci_project": "chromium",
            "day": D1.date(),
            "attempts": 5,
            "succeeded": 2,
            "failed": 2,
            "aborted": 1,
            "success_rate": 0.5,
        },
        {
            "luci_project": "chromium",
            "day": D2.date(),
            "attempts": 3,
            "succeeded": 2,
            "failed": 1,
            "aborted": 0,
            "success_rate": 0.6667,
        },
        {
            "luci_project": "v8",
            "day": D1.date(),
            "attempts": 1,
            "succeeded": 1,
            "failed": 0,
            "aborted": 0,
            "success_rate": 1.0,
        },
    ]


def test_run_duration_percentiles_by_mode(loaded):
    found = {
        (r["luci_project"], r["mode"]): r for r in _query(loaded, "run_duration_percentiles.sql")
    }
    assert list(found) == [("chromium", "DRY_RUN"), ("chromium", "FULL_RUN"), ("v8", "FULL_RUN")]
    dry = found["chromium", "DRY_RUN"]  # a1 1800, a2 1200, a6 600, a7 2400, a8 2700 seconds
    assert (dry["attempts"], dry["p50_s"], dry["p99_s"], dry["max_s"]) == (5, 1800, 2700, 2700)
    assert dry["p50_s"] <= dry["p90_s"] <= dry["p99_s"]
    full = found["chromium", "FULL_RUN"]  # a3 300, a4 3600, a9 3600
    assert (full["attempts"], full["p50_s"], full["max_s"]) == (3, 3600, 3600)
    assert found["v8", "FULL_RUN"]["p50_s"] == 3600


def test_failure_substatus_breakdown(loaded):
    assert _query(loaded, "failure_substatus.sql") == [
        {
            "luci_project": "chromium",
            "status": "FAILURE",
            "substatus": "FAILED_LINT",
            "attempts": 1,
            "share": 0.3333,
        },
        {
            "luci_project": "chromium",
            "status": "FAILURE",
            "substatus": "FAILED_TRYJOBS",
            "attempts": 1,
            "share": 0.3333,
        },
        {
            "luci_project": "chromium",
            "status": "INFRA_FAILURE",
            "substatus": "NO_SUBSTATUS",
            "attempts": 1,
            "share": 0.3333,
        },
    ]


def test_cls_per_attempt(loaded):
    assert _query(loaded, "cls_per_attempt.sql") == [
        {"luci_project": "chromium", "cls": 1, "attempts": 5, "share": 0.625},
        {"luci_project": "chromium", "cls": 2, "attempts": 3, "share": 0.375},
        {"luci_project": "v8", "cls": 2, "attempts": 1, "share": 1.0},
    ]


def test_false_rejections(loaded):
    # a1 failed and a2 (then a7) passed on the same equivalent CLs: one false rejection, with
    # the first success. a4 is none: a9 started before a4 ended, a5 is another project's.
    assert _query(loaded, "false_rejections.sql") == [
        {
            "luci_project": "chromium",
            "failed_key": "a1",
            "failed_status": "FAILURE",
            "failed_substatus": "FAILED_TRYJOBS",
            "failed_end_time": _at(D1, "10:30"),
            "success_key": "a2",
            "success_end_time": _at(D1, "11:20"),
            "hours_to_success": 0.83,
        }
    ]
