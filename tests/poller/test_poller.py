"""The poller against the loopback fake Gerrit with a real on-disk database."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime, timedelta

from fakes.gerrit import FakeGerrit, FileSpec
from poller_support import HOST, OWNER, VOTER, all_runs, run_cl
from support import Clock

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.runs.attempt_key import TriggeredCL, compute_attempt_key
from cvmigrate.runs.event_kinds import CQD_FINISHED
from cvmigrate.runs.model import Run
from cvmigrate.runs.run_id import make_run_id
from cvmigrate.runs.status import Status
from cvmigrate.store import cls as cls_store
from cvmigrate.store import events, outbox, reports
from cvmigrate.store import runs as runs_store
from cvmigrate.store.db import Database


def voted_change(fake: FakeGerrit, value: int = 1, **kwargs):
    change = fake.add_change(owner=OWNER, **kwargs)
    fake.vote(change.number, "Commit-Queue", VOTER, value)
    return change


def gerrit_writes(fake: FakeGerrit) -> list[str]:
    return [r.path for r in fake.requests if r.method != "GET"]


async def active_run_ids(db: Database) -> list[str]:
    rows = await db.read(lambda conn: runs_store.load_active_runs(conn, "chromium"))
    return [row.run_id for row in rows]


async def test_vote_creates_one_running_run_with_a_frozen_snapshot(
    fake: FakeGerrit, db: Database, make_poller, clock: Clock
) -> None:
    change = voted_change(fake, 2, files={"b.cc": FileSpec(), "a.cc": FileSpec()})
    poller = make_poller()

    report = await poller.run_once()

    (run,) = await all_runs(db)
    vote = change.current.votes["Commit-Queue"][VOTER]
    trigger_time = max(vote.date, change.current.created)
    key = compute_attempt_key(
        [
            TriggeredCL(
                host=HOST,
                change=change.number,
                current_revision=change.current.revision,
                trigger_time=trigger_time,
                mode="FULL_RUN",
                gerrit_account_id=VOTER,
            )
        ]
    )
    assert report.outcome.created == [run.id]
    assert run.id == str(make_run_id("chromium", clock.now, key))
    assert (run.attempt_key, run.status, run.mode, run.config_group) == (
        key,
        Status.RUNNING,
        "FULL_RUN",
        "main",
    )
    assert (run.create_time, run.start_time) == (trigger_time, clock.now)
    frozen = await run_cl(db, run.id)
    assert frozen.gc == bigquery_pb.GerritChange(
        host=HOST,
        project="chromium/src",
        change=change.number,
        patchset=1,
        earliest_equivalent_patchset=1,
        mode=bigquery_pb.Mode.FULL_RUN,
    )
    assert list(frozen.files) == ["a.cc", "b.cc"]
    assert (frozen.trigger.account_id, frozen.trigger.email, frozen.trigger.time) == (
        VOTER,
        "bob@example.com",
        trigger_time,
    )
    assert frozen.info.current_revision == change.current.revision
    assert await active_run_ids(db) == [run.id]
    assert gerrit_writes(fake) == []

    again = await poller.run_once()
    assert again.outcome.created == [] and len(await all_runs(db)) == 1


async def test_changes_outside_the_config_groups_get_no_run(
    fake: FakeGerrit, db: Database, make_poller
) -> None:
    voted_change(fake, branch="dev")
    voted_change(fake, project="v8/v8")
    await make_poller().run_once()
    assert await all_runs(db) == []


async def test_vote_removed_cancels_at_once_when_cv_is_in_charge(
    fake: FakeGerrit, db: Database, make_poller
) -> None:
    change = voted_change(fake)
    poller = make_poller("cv")
    await poller.run_once()
    fake.vote(change.number, "Commit-Queue", VOTER, 0)

    report = await poller.run_once()

    (run,) = await all_runs(db)
    assert report.outcome.cancelled == [run.id]
    assert run.status is Status.CANCELLED
    assert run.end_message == f"the trigger on {HOST}/{change.number} has been removed"
    rows = await db.read(lambda conn: outbox.list_rows(conn))
    assert [row.dedup_key for row in rows] == [f"run-{run.id}"]
    assert gerrit_writes(fake) == []  # CV in charge cancels without Gerrit calls (§5.6)


async def test_vote_removed_delays_the_cancel_when_cqdaemon_is_in_charge(
    fake: FakeGerrit, db: Database, make_poller, clock: Clock
) -> None:
    change = voted_change(fake)
    poller = make_poller("cqdaemon")
    await poller.run_once()
    fake.vote(change.number, "Commit-Queue", VOTER, 0)

    report = await poller.run_once()

    (run,) = await all_runs(db)
    assert report.outcome.delayed == [run.id]
    assert (run.status, run.delay_cancel_until) == (
        Status.RUNNING,
        clock.now + timedelta(minutes=20),
    )
    assert await active_run_ids(db) == []  # hidden from FetchActiveRuns (§4.7)

    clock.advance(minutes=19, seconds=59)
    await poller.run_once()
    assert (await all_runs(db))[0].status is Status.RUNNING

    clock.advance(seconds=1)
    report = await poller.run_once()
    (run,) = await all_runs(db)
    assert report.outcome.cancelled == [run.id]
    assert run.status is Status.CANCELLED and "has been removed" in run.end_message
    assert gerrit_writes(fake) == []


async def test_delayed_run_with_a_cqdaemon_report_is_left_to_the_run_manager(
    fake: FakeGerrit, db: Database, make_poller, clock: Clock
) -> None:
    change = voted_change(fake)
    poller = make_poller("cqdaemon")
    await poller.run_once()
    fake.vote(change.number, "Commit-Queue", VOTER, 0)
    await poller.run_once()
    (run,) = await all_runs(db)
    # ReportFinishedRun bound the report to the Run (and queued cqd_finished).
    await db.write(reports.upsert_finished, run.attempt_key, run.id, b"", clock())

    clock.advance(minutes=21)
    report = await poller.run_once()

    assert report.outcome.cancelled == []
    assert (await all_runs(db))[0].status is Status.RUNNING


async def test_delayed_run_claims_a_report_saved_before_it_existed(
    fake: FakeGerrit, db: Database, make_poller, clock: Clock
) -> None:
    change = voted_change(fake)
    poller = make_poller("cqdaemon")
    await poller.run_once()
    fake.vote(change.number, "Commit-Queue", VOTER, 0)
    await poller.run_once()
    (run,) = await all_runs(db)
    # Saved unclaimed (run_id NULL), e.g. after a restart lost the binding.
    await db.write(reports.upsert_finished, run.attempt_key, "", b"x", clock())

    clock.advance(minutes=21)
    report = await poller.run_once()

    assert report.outcome.claimed == [run.id] and report.outcome.cancelled == []
    finished = await db.read(lambda conn: reports.get_finished(conn, run.attempt_key))
    assert finished == (run.id, b"x")


async def test_new_patchset_cancels_the_run(fake: FakeGerrit, db: Database, make_poller) -> None:
    change = voted_change(fake)
    poller = make_poller("cv")
    await poller.run_once()

    fake.new_patchset(change.number)  # votes are not copied
    report = await poller.run_once()

    (run,) = await all_runs(db)
    assert report.outcome.cancelled == [run.id]
    assert "the patchset of" in run.end_message and "from 1 to 2" in run.end_message
    assert report.outcome.created == []


async def test_new_patchset_with_copied_vote_starts_a_new_run(
    fake: FakeGerrit, db: Database, make_poller, clock: Clock
) -> None:
    change = voted_change(fake)
    poller = make_poller("cv")
    await poller.run_once()
    (first,) = await all_runs(db)

    patchset = fake.new_patchset(change.number, keep_votes=["Commit-Queue"])
    clock.advance(seconds=10)  # a later creation instant: the new Run ID sorts first
    report = await poller.run_once()

    second, cancelled = await all_runs(db)  # newest first
    assert cancelled.id == first.id and cancelled.status is Status.CANCELLED
    assert report.outcome.created == [second.id] and second.status is Status.RUNNING
    assert second.create_time == patchset.created  # trigger time = upload of the new patch set
    assert second.attempt_key != first.attempt_key
    assert (await run_cl(db, second.id)).gc.patchset == 2


async def test_ref_change_cancels_the_run(fake: FakeGerrit, db: Database, make_poller) -> None:
    change = voted_change(fake)
    poller = make_poller("cv")
    await poller.run_once()

    change.branch = "dev"
    fake.touch(change)
    report = await poller.run_once()

    (run,) = await all_runs(db)
    assert report.outcome.cancelled == [run.id]
    assert "has moved from refs/heads/main to refs/heads/dev" in run.end_message


def _mark_submitting_and_verified(
    conn: sqlite3.Connection, submitting: Run, verified_id: str, now: datetime
) -> None:
    runs_store.update_run(conn, dataclasses.replace(submitting, status=Status.SUBMITTING), now)
    reports.insert_verified_if_absent(conn, verified_id, b"", now)


async def test_submitting_and_verified_runs_are_never_cancelled(
    fake: FakeGerrit, db: Database, make_poller, clock: Clock
) -> None:
    submitting, verified = voted_change(fake), voted_change(fake)
    poller = make_poller("cv")
    await poller.run_once()
    runs = {run.cl_ids[0]: run for run in await all_runs(db)}
    clids = await db.read(
        lambda conn: {
            n: cls_store.get_cl(conn, HOST, n).id for n in (submitting.number, verified.number)
        }
    )
    now = clock()

    await db.write(
        _mark_submitting_and_verified,
        runs[clids[submitting.number]],
        runs[clids[verified.number]].id,
        now,
    )
    for change in (submitting, verified):
        fake.vote(change.number, "Commit-Queue", VOTER, 0)

    report = await poller.run_once()

    assert report.outcome.cancelled == [] and report.outcome.delayed == []
    assert sorted(run.status for run in await all_runs(db)) == [Status.RUNNING, Status.SUBMITTING]


async def test_gerrit_failures_never_cancel_and_the_next_pass_recovers(
    fake: FakeGerrit, db: Database, make_poller
) -> None:
    change = voted_change(fake)
    poller = make_poller("cv")
    await poller.run_once()
    fake.vote(change.number, "Commit-Queue", VOTER, 0)

    fake.fail_next(10, 500, path_contains=f"/changes/chromium%2Fsrc~{change.number}")
    report = await poller.run_once()
    assert report.fetch_failures == [(HOST, change.number)] and not report.gerrit_ok
    assert report.outcome.cancelled == []
    assert (await all_runs(db))[0].status is Status.RUNNING

    fake.clear_faults()
    fake.fail_next(10, 503)  # the whole of Gerrit is down: queries fail too
    report = await poller.run_once()
    assert report.query_failures == [HOST] and report.outcome.cancelled == []
    assert (await all_runs(db))[0].status is Status.RUNNING

    fake.clear_faults()
    report = await poller.run_once()
    assert report.gerrit_ok
    (run,) = await all_runs(db)
    assert report.outcome.cancelled == [run.id] and run.status is Status.CANCELLED


async def test_failed_fetch_of_a_new_vote_is_retried_next_pass(
    fake: FakeGerrit, db: Database, make_poller
) -> None:
    poller = make_poller("cv")
    await poller.run_once()
    change = voted_change(fake)
    fake.fail_next(2, 500, path_contains="/related")

    first = await poller.run_once()
    assert first.fetch_failures == [(HOST, change.number)] and await all_runs(db) == []

    second = await poller.run_once(full=False)
    assert len(second.outcome.created) == 1


async def test_incremental_queries_start_from_the_newest_update_seen(
    fake: FakeGerrit, make_poller
) -> None:
    change = voted_change(fake)
    poller = make_poller()
    await poller.run_once()
    await poller.run_once()

    first, second = [
        r.param("q")[0] for r in fake.requests_matching("GET", "/changes/") if r.param("q")
    ]
    assert "after:" not in first  # the first pass is a full sweep
    assert first.startswith('status:NEW label:Commit-Queue>0 project:"chromium/src"')
    watermark = change.updated - timedelta(minutes=1)
    assert (
        second == first + f' after:"{watermark:%Y-%m-%d %H:%M:%S}.{watermark.microsecond:06d}000"'
    )
    # Unchanged since the last pass: the query answer is enough, no second fetch.
    change_path = f"/a/changes/chromium%2Fsrc~{change.number}"
    assert [r.raw_path for r in fake.requests].count(change_path) == 1


async def test_unchanged_cls_of_running_runs_are_not_fetched_again(
    fake: FakeGerrit, db: Database, make_poller
) -> None:
    change = voted_change(fake)
    poller = make_poller("cqdaemon")
    await poller.run_once()
    fake.vote(change.number, "Commit-Queue", VOTER, 0)  # out of the CQ query from now on
    assert (await poller.run_once()).outcome.delayed
    change_path = f"/a/changes/chromium%2Fsrc~{change.number}"
    fetches = [r.raw_path for r in fake.requests].count(change_path)

    await poller.run_once(full=False)

    assert [r.raw_path for r in fake.requests].count(change_path) == fetches
    recheck = fake.requests_matching("GET", "/changes/")[-1]
    assert recheck.param("q") == [f"change:{change.number}"]


async def test_full_sweep_comes_back_after_its_interval(
    fake: FakeGerrit, make_poller, clock: Clock
) -> None:
    voted_change(fake)
    poller = make_poller(full_sweep_interval=timedelta(minutes=30))
    assert (await poller.run_once()).full
    clock.advance(minutes=29)
    assert not (await poller.run_once()).full
    clock.advance(minutes=1)
    assert (await poller.run_once()).full


async def test_deps_get_clids_and_snapshots_for_fyi_deps(
    fake: FakeGerrit, db: Database, make_poller
) -> None:
    base = fake.add_change(owner=OWNER)
    top = fake.add_change(owner=OWNER, parents=[base.current.revision])
    fake.vote(top.number, "Commit-Queue", VOTER, 1)

    await make_poller().run_once()

    (run,) = await all_runs(db)
    base_cl = await db.read(lambda conn: cls_store.get_cl(conn, HOST, base.number))
    assert base_cl is not None and base_cl.snapshot is not None
    frozen = await run_cl(db, run.id)
    assert [(dep.id, dep.hard) for dep in frozen.deps] == [(base_cl.id, True)]
    (active,) = await db.read(lambda conn: runs_store.load_active_runs(conn, "chromium"))
    assert active.dep_ids == (base_cl.id,)


async def test_dependency_on_an_unknown_host_is_dropped(
    fake: FakeGerrit, db: Database, make_poller
) -> None:
    change = fake.add_change(
        owner=OWNER, commit_message="Title\n\nCq-Depend: pdfium:7\nChange-Id: I1\n"
    )
    fake.vote(change.number, "Commit-Queue", VOTER, 1)

    report = await make_poller().run_once()

    (run,) = await all_runs(db)
    assert report.gerrit_ok and report.outcome.created == [run.id]
    assert list((await run_cl(db, run.id)).deps) == []


async def test_new_run_claims_a_report_that_arrived_before_it(
    fake: FakeGerrit, db: Database, make_poller, clock: Clock
) -> None:
    change = voted_change(fake)
    vote = change.current.votes["Commit-Queue"][VOTER]
    key = compute_attempt_key(
        [
            TriggeredCL(
                host=HOST,
                change=change.number,
                current_revision=change.current.revision,
                trigger_time=max(vote.date, change.current.created),
                mode="DRY_RUN",
                gerrit_account_id=VOTER,
            )
        ]
    )
    await db.write(reports.upsert_finished, key, "", b"payload", clock())

    report = await make_poller("cqdaemon").run_once()

    (run,) = await all_runs(db)
    assert run.attempt_key == key and report.outcome.claimed == [run.id]
    assert await db.read(lambda conn: reports.get_finished(conn, key)) == (run.id, b"payload")
    queued = await db.read(lambda conn: events.list_events(conn, run_id=run.id))
    assert [event.kind for event in queued] == [CQD_FINISHED]


async def test_trigger_with_a_verdict_is_not_run_again(
    fake: FakeGerrit, db: Database, make_poller, clock: Clock
) -> None:
    voted_change(fake)
    poller = make_poller("cv")
    await poller.run_once()
    (run,) = await all_runs(db)
    # The run manager ended it (e.g. dry run passed) before the votes were seen removed.
    await db.write(
        runs_store.update_run,
        dataclasses.replace(run, status=Status.SUCCEEDED, end_time=clock()),
        clock(),
    )

    report = await poller.run_once(full=True)

    assert report.outcome.created == [] and report.outcome.declined == [run.attempt_key]
    assert len(await all_runs(db)) == 1
    assert (await poller.run_once(full=True)).outcome.declined == []  # remembered, not retried


async def test_loop_backs_off_while_gerrit_fails(fake: FakeGerrit, make_poller) -> None:
    delays: list[float] = []

    class Stop(Exception):
        pass

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 4:
            raise Stop

    poller = make_poller(sleep=sleep, rand=lambda: 1.0, max_backoff_s=5)
    fake.fail_next(6, 500)
    try:
        await poller.run_forever()
    except Stop:
        pass
    # Each failing pass is one query tried twice (max_retries=1). poll_interval_s = 1:
    # 2, 4, then capped at 5; then Gerrit answers again and the interval is back to 1.
    assert delays == [2, 4, 5, 1]
