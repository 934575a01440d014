"""gerrit/client.py hosts and credentials: /a/ prefix, Authorization, secrets kept out."""

from __future__ import annotations

import base64

import aiohttp
import pytest
from fakes.gerrit import Change, FakeGerrit
from gerrit_client_support import (
    BASIC_VALUE,
    BEARER_TOKEN,
    ENV,
    NETRC_TOKEN,
    MakeClient,
    assert_no_secret,
    netrc_lookup,
)

from cvmigrate.config import GerritHost
from cvmigrate.gerrit.client import DEFAULT_TIMEOUTS, EnvCredentials, GerritClient, Secret
from cvmigrate.gerrit.errors import (
    GerritCredentialsError,
    GerritHostNotConfigured,
    GerritInvalidArgument,
    GerritPermissionDenied,
    GerritUnauthenticated,
)
from cvmigrate.proto import gerrit
from cvmigrate.rpc.codes import Code


def _expected_authorization(auth: str) -> str | None:
    if auth == "bearer":
        return f"Bearer {BEARER_TOKEN}"
    if auth == "basic":
        return "Basic " + base64.b64encode(BASIC_VALUE.encode()).decode()
    if auth == "netrc":
        return "Basic " + base64.b64encode(NETRC_TOKEN.encode()).decode()
    return None


@pytest.mark.parametrize("auth", ["bearer", "basic", "netrc", "none"])
async def test_auth_kinds_set_prefix_and_authorization(
    make_client: MakeClient, fake: FakeGerrit, change: Change, auth: str
) -> None:
    client = make_client(auth)
    await client.get_change(fake.host, change.number)
    request = fake.requests[-1]
    expected = _expected_authorization(auth)
    assert request.headers.get("Authorization") == expected
    prefix = "/a" if expected else ""
    assert request.raw_path == f"{prefix}/changes/{change.number}"
    assert request.status == 200


async def test_anonymous_client_cannot_review(
    make_client: MakeClient, fake: FakeGerrit, change: Change
) -> None:
    client = make_client("none")
    request = gerrit.SetReviewRequest(number=change.number, revision_id="current", message="x")
    with pytest.raises(GerritPermissionDenied, match="Authentication required"):
        await client.set_review(fake.host, request)


async def test_rejected_credentials_are_retried_then_raised_without_secrets(
    make_client: MakeClient, fake: FakeGerrit, change: Change
) -> None:
    client = make_client(environ={**ENV, "GERRIT_BEARER": "bearer-s3cret-token-rotated"})
    with pytest.raises(GerritUnauthenticated) as caught:
        await client.get_change(fake.host, change.number)
    assert caught.value.http_status == 401
    assert len(fake.requests) == 4
    assert_no_secret(str(caught.value))
    assert_no_secret(repr(caught.value))


async def test_credentials_are_read_per_attempt(
    make_client: MakeClient, fake: FakeGerrit, change: Change
) -> None:
    environ = {"GERRIT_BEARER": "stale-token"}
    client = make_client(environ=environ)
    fake.fail_next(1, 503)
    environ["GERRIT_BEARER"] = BEARER_TOKEN  # rotated while the first attempt was failing
    assert (await client.get_change(fake.host, change.number)).number == change.number


@pytest.mark.parametrize(
    ("auth", "environ", "text"),
    [
        ("bearer", {}, "GERRIT_BEARER is unset or empty"),
        ("basic", {"GERRIT_BASIC": "no-colon-here"}, "must hold user:password"),
    ],
)
async def test_missing_credentials_fail_before_any_request(
    make_client: MakeClient, fake: FakeGerrit, auth: str, environ: dict[str, str], text: str
) -> None:
    client = make_client(auth, environ=environ)
    with pytest.raises(GerritCredentialsError, match=text) as caught:
        await client.get_change(fake.host, 1)
    assert caught.value.code is Code.INTERNAL
    assert "no-colon-here" not in str(caught.value)
    assert fake.requests == []


async def test_netrc_without_a_stored_token(session: aiohttp.ClientSession) -> None:
    host = GerritHost(host="other.example.com", auth="netrc")
    credentials = EnvCredentials(environ={}, netrc_lookup=netrc_lookup)
    with pytest.raises(GerritCredentialsError, match="no netrc token"):
        await credentials.authorization(host)
    with pytest.raises(GerritCredentialsError, match="no netrc token store"):
        await EnvCredentials(environ={}).authorization(host)


async def test_unknown_host_is_reported_clearly(client: GerritClient, fake: FakeGerrit) -> None:
    with pytest.raises(GerritHostNotConfigured) as caught:
        await client.get_change("chromium-review.googlesource.com", 1)
    assert str(caught.value) == "no Gerrit host configured for chromium-review.googlesource.com"
    assert caught.value.code is Code.NOT_FOUND
    assert fake.requests == []


async def test_secrets_never_appear_in_reprs_or_error_messages(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    assert repr(Secret(BEARER_TOKEN)) == "Secret('***')"
    assert str(Secret(BEARER_TOKEN)) == "***"
    assert_no_secret(repr(client))
    assert_no_secret(repr(EnvCredentials(environ=ENV, netrc_lookup=netrc_lookup)))
    # Even a proxy that echoes the Authorization header cannot leak it through our errors.
    fake.fail_next(1, 400, text=f"bad header: Bearer {BEARER_TOKEN}")
    with pytest.raises(GerritInvalidArgument) as caught:
        await client.get_change(fake.host, change.number)
    assert_no_secret(str(caught.value))
    assert_no_secret(repr(caught.value))
    assert "***" in str(caught.value)


def test_timeout_table_and_validation(session: aiohttp.ClientSession) -> None:
    assert dict(DEFAULT_TIMEOUTS) == {
        "query_changes": 20.0,
        "get_change": 100.0,
        "get_related_changes": 100.0,
        "list_files": 100.0,
        "set_review": 300.0,
        "submit_revision": 600.0,
    }
    with pytest.raises(ValueError, match="unknown timeout keys"):
        GerritClient(session, [], EnvCredentials(), timeouts={"get_chnage": 1.0})


async def test_invalid_arguments_are_rejected_locally(
    client: GerritClient, fake: FakeGerrit
) -> None:
    with pytest.raises(ValueError, match="positive"):
        await client.get_change(fake.host, 0)
    with pytest.raises(ValueError, match="revision is required"):
        await client.set_review(fake.host, gerrit.SetReviewRequest(number=1, message="x"))
    assert fake.requests == []
