"""PostGerritMessage: validation and preconditions in the order of spec §4.5 steps 1–10."""

from __future__ import annotations

import pytest
from conftest_helpers import ctx_for, expect_error
from support import HOST, change_info, create_run, set_status

from cvmigrate.migration.post_gerrit_message import post_gerrit_message
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.status import Status


def _request(**overrides) -> migration_pb.PostGerritMessageRequest:
    fields = dict(
        project="chromium",
        attempt_key="0123456789abcdef",
        host=HOST,
        change=1,
        revision="rev-000001-001",
        comment="CQ is trying the patch.",
        send_email=True,
    )
    fields.update(overrides)
    return migration_pb.PostGerritMessageRequest(**fields)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"host": ""}, "host, change and revision are required", id="no-host"),
        pytest.param({"change": 0}, "host, change and revision are required", id="no-change"),
        pytest.param(
            {"change": -3}, "host, change and revision are required", id="negative-change"
        ),
        pytest.param({"revision": ""}, "host, change and revision are required", id="no-revision"),
        pytest.param(
            {"host": "a/b"}, "host/change are invalid: host 'a/b' must not contain '/'", id="slash"
        ),
        pytest.param({"project": ""}, "project is required", id="no-project"),
        pytest.param(
            {"attempt_key": "", "run_id": ""}, "run_id or attempt_key is required", id="no-ids"
        ),
        pytest.param({"comment": ""}, "comment is required", id="no-comment"),
        pytest.param({"comment": " \n\t"}, "comment is blank", id="blank-comment"),
        # order: the first failing check decides
        pytest.param(
            {"host": "", "project": "", "comment": ""},
            "host, change and revision are required",
            id="order",
        ),
    ],
)
async def test_post_gerrit_message_invalid_arguments(db, deps, overrides, message):
    err = await expect_error(
        Code.INVALID_ARGUMENT, post_gerrit_message(_request(**overrides), ctx_for(), deps)
    )
    assert err.message == message


async def test_post_gerrit_message_unknown_run_is_unavailable(db, deps):
    err = await expect_error(Code.UNAVAILABLE, post_gerrit_message(_request(), ctx_for(), deps))
    assert err.message == 'Run "" | Attempt "0123456789abcdef" doesn\'t exist'


async def test_post_gerrit_message_unknown_cl_is_unavailable(db, deps):
    run = await db.write(create_run, changes=[change_info(1)])
    err = await expect_error(
        Code.UNAVAILABLE,
        post_gerrit_message(_request(attempt_key=run.attempt_key, change=99), ctx_for(), deps),
    )
    assert err.message == f"https://{HOST}/99 is not yet known to CV"


async def test_post_gerrit_message_project_mismatch_is_failed_precondition(db, deps):
    run = await db.write(create_run, project="v8", changes=[change_info(1)])
    # the caller owns "chromium" and names it; the Run is v8's
    await expect_error(
        Code.FAILED_PRECONDITION, post_gerrit_message(_request(run_id=run.id), ctx_for(), deps)
    )


async def test_post_gerrit_message_ended_run_is_failed_precondition(db, deps):
    run = await db.write(create_run, changes=[change_info(1)])
    await db.write(set_status, run.id, Status.SUCCEEDED)
    err = await expect_error(
        Code.FAILED_PRECONDITION, post_gerrit_message(_request(run_id=run.id), ctx_for(), deps)
    )
    assert err.message == f'Run "{run.id}" is already finished (SUCCEEDED)'


async def test_post_gerrit_message_without_gerrit_client_is_internal(db, deps):
    run = await db.write(create_run, changes=[change_info(1)])
    err = await expect_error(
        Code.INTERNAL,
        post_gerrit_message(_request(attempt_key=run.attempt_key), ctx_for(), deps),
    )
    assert err.message.startswith("failed to obtain Gerrit client: ")


async def test_post_gerrit_message_other_project_denied(db, deps):
    await expect_error(
        Code.PERMISSION_DENIED, post_gerrit_message(_request(project="v8"), ctx_for(), deps)
    )
