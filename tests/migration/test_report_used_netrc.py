"""ReportUsedNetrc: validation, who may call, encryption at rest."""

from __future__ import annotations

from conftest_helpers import ctx_for, expect_error

from cvmigrate.migration.report_used_netrc import report_used_netrc
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.store import credentials

TRUSTED = ctx_for("project:chromium", peer="service:cqdaemon")
REQUEST = migration_pb.ReportUsedNetrcRequest(
    gerrit_host="chromium-review.googlesource.com", access_token="git-user:s3cr3t-value"
)


async def test_report_used_netrc_stores_token_encrypted(db, deps):
    await report_used_netrc(REQUEST, TRUSTED, deps)
    ciphertext = await db.read(lambda c: credentials.get_netrc_ciphertext(c, REQUEST.gerrit_host))
    assert b"s3cr3t-value" not in ciphertext
    assert deps.secret_box.decrypt(ciphertext) == "git-user:s3cr3t-value"


async def test_report_used_netrc_last_write_wins(db, deps):
    await report_used_netrc(REQUEST, TRUSTED, deps)
    newer = migration_pb.ReportUsedNetrcRequest(gerrit_host=REQUEST.gerrit_host, access_token="new")
    await report_used_netrc(newer, TRUSTED, deps)
    ciphertext = await db.read(lambda c: credentials.get_netrc_ciphertext(c, REQUEST.gerrit_host))
    assert deps.secret_box.decrypt(ciphertext) == "new"


async def test_report_used_netrc_requires_both_fields(db, deps):
    for request in (
        migration_pb.ReportUsedNetrcRequest(gerrit_host="h"),
        migration_pb.ReportUsedNetrcRequest(access_token="t"),
    ):
        err = await expect_error(Code.INVALID_ARGUMENT, report_used_netrc(request, TRUSTED, deps))
        assert err.message == "access_token and gerrit_host required"


async def test_report_used_netrc_plain_project_token_is_denied(db, deps):
    await expect_error(
        Code.PERMISSION_DENIED, report_used_netrc(REQUEST, ctx_for("project:chromium"), deps)
    )
    assert await db.read(lambda c: credentials.get_netrc_ciphertext(c, REQUEST.gerrit_host)) is None


async def test_report_used_netrc_allowed_for_allow_group_and_trusted_service(db, make_deps):
    deps = make_deps(allow_group=("user:ops@example.com",), trusted_services=("service:cqd",))
    await report_used_netrc(REQUEST, ctx_for("user:ops@example.com"), deps)
    await report_used_netrc(REQUEST, ctx_for("project:v8", peer="service:cqd"), deps)


async def test_report_used_netrc_without_secret_key_names_the_variable(db, make_deps):
    deps = make_deps(secret=False, trusted_services=("service:cqdaemon",))
    err = await expect_error(Code.FAILED_PRECONDITION, report_used_netrc(REQUEST, TRUSTED, deps))
    assert "CVMIGRATE_SECRET_KEY" in err.message
