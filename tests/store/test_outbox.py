"""The outbox: replacing unsent rows, never losing content replaced during an insert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cvmigrate.store import outbox

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_enqueue_replaces_unsent_row_but_not_a_sent_one(conn):
    assert outbox.enqueue_row(conn, "attempt-k", '{"v": 1}', NOW)
    assert outbox.enqueue_row(conn, "attempt-k", '{"v": 2}', NOW)
    (row,) = outbox.list_rows(conn)
    assert row.row_json == '{"v": 2}'
    outbox.mark_sent(conn, [row], NOW)
    assert not outbox.enqueue_row(conn, "attempt-k", '{"v": 3}', NOW)
    assert outbox.list_rows(conn)[0].row_json == '{"v": 2}'


def test_content_replaced_during_an_insert_stays_pending(conn):
    outbox.enqueue_row(conn, "attempt-k", '{"v": 1}', NOW)
    (in_flight,) = outbox.pending_batch(conn, NOW, 10)
    outbox.enqueue_row(conn, "attempt-k", '{"v": 2}', NOW + timedelta(seconds=1))
    outbox.mark_sent(conn, [in_flight], NOW)  # BigQuery accepted the old content
    outbox.mark_dead(conn, in_flight, "invalid")  # nor may a verdict on old content kill it
    (row,) = outbox.list_rows(conn)
    assert (row.state, row.row_json) == ("pending", '{"v": 2}')


def test_dead_rows_are_kept_and_revived(conn):
    outbox.enqueue_row(conn, "run-a", "{}", NOW)
    (row,) = outbox.pending_batch(conn, NOW, 10)
    outbox.mark_dead(conn, row, "invalid: no such field")
    status = outbox.outbox_status(conn)
    assert (status.pending, status.dead) == (0, 1)
    assert outbox.list_rows(conn, state="dead")[0].last_error == "invalid: no such field"
    assert outbox.revive_dead(conn, NOW) == 1
    assert outbox.outbox_status(conn).pending == 1
