"""ReportUsedNetrc end to end: the token never reaches the database file in plaintext."""

from __future__ import annotations

import sqlite3

from support import HOST, call

from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.secretbox import SecretBox, new_secret_key

SECRET = "git-cqdaemon:1/plaintext-netrc-token-XYZ"


def _database_bytes(workdir) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(workdir.glob("cvmigrate.db*")))


def test_netrc_token_is_stored_encrypted(server_factory, tmp_path):
    key = new_secret_key()
    server = server_factory(env={"CVMIGRATE_SECRET_KEY": key}, workdir=tmp_path / "s")
    request = migration_pb.ReportUsedNetrcRequest(gerrit_host=HOST, access_token=SECRET)
    assert call(server.base_url, "ReportUsedNetrc", request).code is Code.OK
    assert (
        call(server.base_url, "ReportUsedNetrc", request, protocol="connect", json_body=True).code
        is Code.OK
    )

    data = _database_bytes(tmp_path / "s")
    assert SECRET.encode() not in data
    assert b"plaintext-netrc-token" not in data
    assert SECRET not in server.log()

    conn = sqlite3.connect(tmp_path / "s" / "cvmigrate.db")
    (ciphertext,) = conn.execute(
        "SELECT ciphertext FROM netrc_tokens WHERE gerrit_host = ?", (HOST,)
    ).fetchone()
    conn.close()
    assert SecretBox(key).decrypt(ciphertext) == SECRET


def test_netrc_without_secret_key_is_failed_precondition(server):
    request = migration_pb.ReportUsedNetrcRequest(gerrit_host=HOST, access_token=SECRET)
    reply = call(server.base_url, "ReportUsedNetrc", request)
    assert reply.code is Code.FAILED_PRECONDITION
    assert "CVMIGRATE_SECRET_KEY" in reply.error
