"""already_posted: the message de-duplication CV relies on (spec §4.5, §5.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cvmigrate.gerrit.dedup import already_posted
from cvmigrate.gerrit.truncate import truncate_message
from cvmigrate.proto import gerrit

T = datetime(2026, 11, 1, 12, tzinfo=UTC)


def change(*messages: tuple[datetime | None, str]) -> gerrit.ChangeInfo:
    return gerrit.ChangeInfo(
        messages=[gerrit.ChangeMessageInfo(date=d, message=m) for d, m in messages]
    )


def test_contained_trimmed_text_at_or_after_since_counts():
    info = change((T, "Patch Set 1:\n\nCQ is trying the patch."))
    assert already_posted(info, "  CQ is trying the patch.\n", T)
    assert not already_posted(info, "CQ is trying the patch.", T + timedelta(microseconds=1))


def test_messages_before_since_or_without_date_do_not_count():
    info = change((T - timedelta(seconds=1), "hello"), (None, "hello"))
    assert not already_posted(info, "hello", T)


def test_truncated_form_counts_for_long_text():
    text = "x" * 20_000
    info = change((T, "Patch Set 1:\n\n" + truncate_message(text)))
    assert already_posted(info, text, T)
