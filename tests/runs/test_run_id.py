"""Run IDs are `<project>/<inverted ms>-1-<digest>` and parse back into parts (spec §3.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cvmigrate.runs.run_id import (
    DIGEST_VERSION,
    END_OF_THE_WORLD_NS,
    InvalidRunID,
    RunID,
    make_run_id,
    project_run_id_range,
)

E2E_ID = "e2e-always-create-runs/9042331396854-1-0a6686c7f19a33a3"
LUCI_EPOCH = datetime(2014, 5, 9, 1, 26, tzinfo=UTC)


def test_make_run_id_matches_cv_e2e_vector() -> None:
    run_id = make_run_id(
        "e2e-always-create-runs", datetime(2020, 2, 2, 10, 30, tzinfo=UTC), "0a6686c7f19a33a3"
    )
    assert run_id == E2E_ID
    assert isinstance(run_id, RunID)


def test_end_of_the_world_is_luci_epoch_plus_max_int64_ns() -> None:
    # 2306-08-19T01:13:16.854775807Z
    eow_us, eow_ns_rest = divmod(END_OF_THE_WORLD_NS, 1000)
    eow = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=eow_us)
    assert eow == datetime(2306, 8, 19, 1, 13, 16, 854775, tzinfo=UTC)
    assert eow_ns_rest == 807


def test_make_run_id_same_instant_in_other_timezone_gives_same_id() -> None:
    plus_two = timezone(timedelta(hours=2))
    created = datetime(2020, 2, 2, 12, 30, tzinfo=plus_two)
    assert make_run_id("e2e-always-create-runs", created, "0a6686c7f19a33a3") == E2E_ID


def test_make_run_id_truncates_to_milliseconds() -> None:
    # EOW ends in .854775807 s: from a whole second, 775807 ns remain in T's last
    # millisecond, so T drops by one only once 776 us have passed.
    base = datetime(2020, 2, 2, 10, 30, tzinfo=UTC)
    t0 = make_run_id("p", base, "aa").inner.split("-")[0]
    later_same_ms = make_run_id("p", base + timedelta(microseconds=775), "aa")
    next_ms = make_run_id("p", base + timedelta(microseconds=776), "aa")
    assert later_same_ms.inner.split("-")[0] == t0
    assert int(next_ms.inner.split("-")[0]) == int(t0) - 1


def test_make_run_id_newer_runs_sort_first() -> None:
    older = make_run_id("p", datetime(2021, 1, 1, tzinfo=UTC), "ffff")
    newer = make_run_id("p", datetime(2021, 1, 1, 0, 0, 1, tzinfo=UTC), "0000")
    assert newer < older


def test_make_run_id_zero_pads_to_13_digits() -> None:
    near_end = datetime(2306, 8, 19, 1, 13, 16, tzinfo=UTC)
    run_id = make_run_id("p", near_end, "ab")
    assert run_id == "p/0000000000854-1-ab"


def test_make_run_id_uses_digest_version_1() -> None:
    assert DIGEST_VERSION == 1
    assert make_run_id("p", datetime(2021, 1, 1, tzinfo=UTC), "ab").inner.split("-")[1] == "1"


def test_make_run_id_rejects_creation_before_luci_epoch_overflow() -> None:
    with pytest.raises(ValueError, match="overflows"):
        make_run_id("p", LUCI_EPOCH, "ab")
    assert make_run_id("p", LUCI_EPOCH + timedelta(microseconds=1), "ab").startswith(
        "p/9223372036854-"
    )


def test_make_run_id_rejects_creation_after_end_of_the_world() -> None:
    with pytest.raises(ValueError, match="end of time"):
        make_run_id("p", datetime(2306, 8, 19, 1, 13, 17, tzinfo=UTC), "ab")


@pytest.mark.parametrize(
    ("project", "created", "digest", "error"),
    [
        ("", datetime(2021, 1, 1, tzinfo=UTC), "ab", "invalid LUCI project"),
        ("a/b", datetime(2021, 1, 1, tzinfo=UTC), "ab", "invalid LUCI project"),
        ("p", datetime(2021, 1, 1, tzinfo=UTC), "", "empty CL digest"),
        ("p", datetime(2021, 1, 1), "ab", "naive"),  # noqa: DTZ001 - naive on purpose
    ],
    ids=["empty-project", "slash-in-project", "empty-digest", "naive-time"],
)
def test_make_run_id_rejects_bad_input(
    project: str, created: datetime, digest: str, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        make_run_id(project, created, digest)


def test_run_id_parts() -> None:
    run_id = RunID.parse(E2E_ID)
    assert run_id.project == "e2e-always-create-runs"
    assert run_id.inner == "9042331396854-1-0a6686c7f19a33a3"
    assert run_id.attempt_key == "0a6686c7f19a33a3"
    assert run_id == E2E_ID
    assert repr(run_id) == f"RunID({E2E_ID!r})"


def test_run_id_project_is_before_first_slash_and_key_after_last_dash() -> None:
    # Projects may contain '-', and hyphens before the digest do not matter.
    run_id = RunID("chromium-m100/1-2-3-abc")
    assert run_id.project == "chromium-m100"
    assert run_id.attempt_key == "abc"


def test_run_id_accepts_short_ids_cv_accepted() -> None:
    assert RunID("p/1-a").attempt_key == "a"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no-slash-1-abc", "no '/'"),
        ("/9042331396854-1-abc", "empty LUCI project"),
        ("p/9042331396854", "no '-'"),
        ("p-1/9042331396854", "no '-'"),
        ("p/9042331396854-1-", "ends with '-'"),
        ("", "no '/'"),
    ],
    ids=["no-slash", "empty-project", "no-dash", "dash-only-in-project", "trailing-dash", "empty"],
)
def test_run_id_parse_rejects_malformed(text: str, reason: str) -> None:
    with pytest.raises(InvalidRunID, match=reason) as info:
        RunID.parse(text)
    assert info.value.text == text
    assert isinstance(info.value, ValueError)


def test_project_range_holds_the_projects_run_ids_only() -> None:
    key_range = project_run_id_range("p")
    assert (key_range.after, key_range.before) == ("p/0", "p/:")
    assert "p/9042331396854-1-ab" in key_range
    assert "p/0000000000001-1-ab" in key_range
    assert "p/9" in key_range
    assert "p/a-1-ab" not in key_range
    assert "p/" not in key_range
    assert "pp/9042331396854-1-ab" not in key_range
    assert "p-dev/9042331396854-1-ab" not in key_range
    assert "o/9042331396854-1-ab" not in key_range
    assert 5 not in key_range


def test_project_range_of_prefix_project_excludes_longer_project() -> None:
    # "p" and "p-x" share a prefix, but '/' separates them in the key space.
    assert "p-x/9042331396854-1-ab" not in project_run_id_range("p")
    assert "p/9042331396854-1-ab" not in project_run_id_range("p-x")


def test_project_range_rejects_bad_project() -> None:
    with pytest.raises(ValueError, match="invalid LUCI project"):
        project_run_id_range("")
    with pytest.raises(ValueError, match="invalid LUCI project"):
        project_run_id_range("a/b")
