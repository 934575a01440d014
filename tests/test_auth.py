"""Authentication (tokens, trusted services, dev identity) and the ACL."""

from __future__ import annotations

import pytest

from cvmigrate.auth import DEV_IDENTITY, Acl, Authenticator, new_token, token_digest
from cvmigrate.config import AuthSettings, TokenEntry
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError

TOKEN = "cvm_test-token-1"
CQD_TOKEN = "cvm_cqdaemon-token"


def _settings(**extra) -> AuthSettings:
    return AuthSettings(
        tokens=(
            TokenEntry(identity="project:chromium", sha256=token_digest(TOKEN)),
            TokenEntry(identity="service:cqdaemon", sha256=token_digest(CQD_TOKEN)),
        ),
        trusted_services=("service:cqdaemon",),
        **extra,
    )


def _authenticator(
    settings: AuthSettings, stored: dict[str, str] | None = None, *, dev: bool = True
):
    stored = stored or {}

    async def lookup(digest: str) -> str | None:
        return stored.get(digest)

    async def has_stored() -> bool:
        return bool(stored)

    return Authenticator(
        settings, stored_token_identity=lookup, has_stored_tokens=has_stored, allow_dev_identity=dev
    )


async def _auth_error(authenticator, headers, peer="10.0.0.1") -> RpcError:
    with pytest.raises(RpcError) as info:
        await authenticator(headers, peer)
    return info.value


async def test_configured_bearer_token_authenticates():
    auth = _authenticator(_settings())
    assert await auth({"authorization": f"Bearer {TOKEN}"}, "10.0.0.1") == ("project:chromium",) * 2


async def test_stored_token_authenticates():
    token = new_token()
    auth = _authenticator(AuthSettings(), {token_digest(token): "user:ops@example.com"})
    assert (await auth({"authorization": f"Bearer {token}"}, None))[0] == "user:ops@example.com"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"authorization": "Bearer wrong"}, id="bad-token"),
        pytest.param({"authorization": f"Basic {TOKEN}"}, id="wrong-scheme"),
        pytest.param({"authorization": "Bearer "}, id="empty"),
    ],
)
async def test_missing_or_bad_credentials_are_unauthenticated(headers):
    err = await _auth_error(_authenticator(_settings()), headers)
    assert err.code is Code.UNAUTHENTICATED
    assert TOKEN not in err.message


async def test_trusted_service_acts_as_project_with_x_luci_project():
    auth = _authenticator(_settings())
    headers = {"authorization": f"Bearer {CQD_TOKEN}", "x-luci-project": "v8"}
    assert await auth(headers, "10.0.0.1") == ("project:v8", "service:cqdaemon")


async def test_x_luci_project_from_untrusted_caller_is_refused():
    headers = {"authorization": f"Bearer {TOKEN}", "x-luci-project": "v8"}
    err = await _auth_error(_authenticator(_settings()), headers)
    assert err.code is Code.PERMISSION_DENIED


async def test_x_luci_project_must_be_a_project_name():
    headers = {"authorization": f"Bearer {CQD_TOKEN}", "x-luci-project": "../etc"}
    err = await _auth_error(_authenticator(_settings()), headers)
    assert err.code is Code.INVALID_ARGUMENT


async def test_dev_identity_only_for_loopback_without_any_token():
    auth = _authenticator(AuthSettings())
    assert (await auth({}, "127.0.0.1"))[0] == DEV_IDENTITY
    assert (await auth({}, "::1"))[0] == DEV_IDENTITY
    assert (await _auth_error(auth, {}, "192.0.2.1")).code is Code.UNAUTHENTICATED
    with_stored = _authenticator(AuthSettings(), {"d": "project:x"})
    assert (await _auth_error(with_stored, {}, "127.0.0.1")).code is Code.UNAUTHENTICATED
    with_config = _authenticator(_settings())
    assert (await _auth_error(with_config, {}, "127.0.0.1")).code is Code.UNAUTHENTICATED
    not_loopback_bind = _authenticator(AuthSettings(), dev=False)
    assert (await _auth_error(not_loopback_bind, {}, "127.0.0.1")).code is Code.UNAUTHENTICATED


def _ctx(identity: str, peer: str | None = None) -> CallContext:
    return CallContext(
        service="s",
        method="m",
        protocol="p",
        headers={},
        identity=identity,
        peer_identity=peer or identity,
    )


@pytest.mark.parametrize(
    ("identity", "allowed"),
    [
        ("project:chromium", True),
        ("user:ops@example.com", True),
        ("user:other@example.com", False),
        ("service:cqdaemon", False),
        ("anonymous:anonymous", False),
        (DEV_IDENTITY, True),
    ],
)
def test_acl_check_caller(identity, allowed):
    acl = Acl(_settings(allow_group=("user:ops@example.com",)), dev_identity_allowed=True)
    if allowed:
        acl.check_caller(_ctx(identity))
    else:
        with pytest.raises(RpcError) as info:
            acl.check_caller(_ctx(identity))
        assert info.value.code is Code.PERMISSION_DENIED


def test_acl_project_rule_is_strict_unless_cross_project():
    strict = Acl(_settings(), dev_identity_allowed=False)
    strict.check_project(_ctx("project:chromium"), "chromium")
    strict.check_project(_ctx("user:ops@example.com"), "anything")  # group members are not bound
    with pytest.raises(RpcError):
        strict.check_project(_ctx("project:chromium"), "v8")
    Acl(_settings(cross_project=True), dev_identity_allowed=False).check_project(
        _ctx("project:chromium"), "v8"
    )


def test_acl_netrc_only_trusted_services_and_group():
    acl = Acl(_settings(allow_group=("user:ops@example.com",)), dev_identity_allowed=False)
    acl.check_netrc(_ctx("project:chromium", peer="service:cqdaemon"))
    acl.check_netrc(_ctx("service:cqdaemon"))
    acl.check_netrc(_ctx("user:ops@example.com"))
    with pytest.raises(RpcError):
        acl.check_netrc(_ctx("project:chromium"))


def test_dev_identity_not_allowed_without_loopback():
    with pytest.raises(RpcError):
        Acl(AuthSettings(), dev_identity_allowed=False).check_caller(_ctx(DEV_IDENTITY))
