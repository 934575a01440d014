"""The operator CLI, in-process with click's CliRunner."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from support import T0, change_info, create_run

from cvmigrate.app import preflight
from cvmigrate.auth import token_digest
from cvmigrate.cli import main
from cvmigrate.config import load_settings
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.secretbox import new_secret_key
from cvmigrate.store import credentials, events, reports
from cvmigrate.store.db import Database


def _config(tmp_path, extra: str = "") -> str:
    path = tmp_path / "cvmigrate.toml"
    path.write_text(f'[database]\npath = "{tmp_path / "cv.db"}"\n{extra}')
    return str(path)


def _write(tmp_path, fn, /, *args, **kwargs):
    async def go():
        db = await Database.open(tmp_path / "cv.db")
        try:
            return await db.write(fn, *args, **kwargs)
        finally:
            await db.close()

    return asyncio.run(go())


def test_config_check_names_the_bad_key(tmp_path):
    good = _config(tmp_path)
    result = CliRunner().invoke(main, ["config", "check", good])
    assert result.exit_code == 0 and "ok" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nbind = "nowhere"\n[bigquery]\nbatch_rows = 0\n')
    result = CliRunner().invoke(main, ["config", "check", str(bad)])
    assert result.exit_code == 1
    assert "server.bind" in result.output and "bigquery.batch_rows" in result.output


def test_db_upgrade_creates_and_is_idempotent(tmp_path):
    config = _config(tmp_path)
    first = CliRunner().invoke(main, ["db", "upgrade", "--config", config])
    assert first.exit_code == 0, first.output
    assert "applied 1" in first.output
    again = CliRunner().invoke(main, ["db", "upgrade", "--config", config])
    assert "already up to date" in again.output


def test_token_create_prints_once_and_stores_only_the_digest(tmp_path):
    config = _config(tmp_path)
    result = CliRunner().invoke(main, ["token", "create", "--config", config, "project:chromium"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("cvm_")
    conn = sqlite3.connect(tmp_path / "cv.db")
    assert credentials.identity_for_token_digest(conn, token_digest(token)) == "project:chromium"
    assert token.encode() not in (tmp_path / "cv.db").read_bytes()
    bad = CliRunner().invoke(main, ["token", "create", "--config", config, "chromium"])
    assert bad.exit_code != 0 and "IDENTITY" in bad.output


def _failing_event(conn, run_id):
    event_id = events.enqueue_event(conn, run_id, "cqd_finished", T0)
    events.retry_event(conn, event_id, T0, "GerritTransientError: HTTP 503")


def _report_cqdaemon_only_run(conn):
    request = migration_pb.ReportRunsRequest(
        runs=[migration_pb.ReportedRun(attempt=bigquery_pb.Attempt(key="cqdonly00000000"))]
    )
    reports.put_reported_runs(conn, "chromium", ["cqdonly00000000"], bytes(request), T0)


def test_runs_list_show_and_divergence(tmp_path):
    config = _config(tmp_path)
    run = _write(tmp_path, create_run, changes=[change_info(5)])
    listed = CliRunner().invoke(main, ["runs", "list", "--config", config, "--status", "running"])
    assert listed.exit_code == 0, listed.output
    assert run.id in listed.output and "RUNNING" in listed.output
    assert (
        CliRunner().invoke(main, ["runs", "list", "--config", config, "--project", "v8"]).stdout
        == ""
    )

    shown = CliRunner().invoke(main, ["runs", "show", "--config", config, run.id])
    assert f"attempt key:   {run.attempt_key}" in shown.output
    assert "verified:      no" in shown.output
    assert "event " not in shown.output  # no run-manager event yet

    _write(tmp_path, _failing_event, run.id)
    shown = CliRunner().invoke(main, ["runs", "show", "--config", config, run.id])
    assert "cqd_finished pending (attempts 1)" in shown.output
    assert "last error: GerritTransientError: HTTP 503" in shown.output
    assert (
        CliRunner().invoke(main, ["runs", "show", "--config", config, "chromium/x-1-y"]).exit_code
        != 0
    )

    _write(tmp_path, _report_cqdaemon_only_run)
    diverged = CliRunner().invoke(main, ["runs", "divergence", "--config", config, "chromium"])
    assert diverged.exit_code == 0, diverged.output
    assert "only in CQDaemon: 1" in diverged.output and "cqdonly00000000" in diverged.output
    assert "only in CV:       1" in diverged.output and run.id in diverged.output
    missing = CliRunner().invoke(main, ["runs", "divergence", "--config", config, "v8"])
    assert missing.exit_code != 0


def test_secret_key_prints_a_usable_key():
    result = CliRunner().invoke(main, ["secret-key"])
    key = result.stdout.strip()
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"


def test_serve_refuses_public_bind_without_tokens(tmp_path):
    config = _config(tmp_path)
    result = CliRunner().invoke(main, ["serve", "--config", config, "--bind", "0.0.0.0:0"])
    assert result.exit_code != 0
    assert "refusing to listen" in result.output and "token create" in result.output


def test_serve_refuses_bad_secret_key(tmp_path):
    config = _config(tmp_path)
    result = CliRunner(env={"CVMIGRATE_SECRET_KEY": "short"}).invoke(
        main, ["serve", "--config", config]
    )
    assert result.exit_code != 0 and "CVMIGRATE_SECRET_KEY" in result.output


_HOST = '[[gerrit.hosts]]\nhost = "chromium-review.googlesource.com"\n'


@pytest.mark.parametrize(
    ("extra", "env", "expected"),
    [
        pytest.param(
            _HOST + 'auth = "bearer"\ntoken_env = "CV_GERRIT_TOKEN"\n',
            {"CV_GERRIT_TOKEN": None},
            ["CV_GERRIT_TOKEN (token_env) is not set", "export it with the token"],
            id="bearer-variable-unset",
        ),
        pytest.param(
            _HOST + 'auth = "basic"\ntoken_env = "CV_GERRIT_BASIC"\n',
            {"CV_GERRIT_BASIC": ""},
            ["CV_GERRIT_BASIC (token_env) is not set or empty", "user:password"],
            id="basic-variable-empty",
        ),
        pytest.param(
            _HOST + 'auth = "bearer"\n',
            {},
            ['auth = "bearer" needs token_env', 'use auth = "netrc" or "none"'],
            id="bearer-without-token-env",
        ),
        pytest.param(
            _HOST + 'auth = "netrc"\n',
            {"CVMIGRATE_SECRET_KEY": None},
            ['auth = "netrc" needs CVMIGRATE_SECRET_KEY', "cvmigrate secret-key"],
            id="netrc-without-secret-key",
        ),
        pytest.param(
            _HOST + 'base_url = "http://gerrit.example.com"\nauth = "bearer"\n'
            'token_env = "CV_GERRIT_TOKEN"\n',
            {"CV_GERRIT_TOKEN": "t"},
            ["would send credentials in cleartext", "use https://"],
            id="credentials-over-http",
        ),
        pytest.param(
            '[server]\ntwirp_prefix = "/"\n',
            {},
            ["server.twirp_prefix", "must not be empty"],
            id="empty-twirp-prefix",
        ),
        pytest.param(
            '[server]\ntwirp_prefix = "/prpc/"\n',
            {},
            ["server.twirp_prefix", "must not be /prpc", "e.g. /twirp"],
            id="twirp-prefix-on-prpc-routes",
        ),
    ],
)
def test_serve_refuses_unsafe_configuration_saying_how_to_fix_it(tmp_path, extra, env, expected):
    config = _config(tmp_path, extra)
    result = CliRunner(env=env).invoke(main, ["serve", "--config", config])
    assert result.exit_code != 0
    for fragment in expected:
        assert fragment in result.output, result.output


def test_safe_gerrit_hosts_pass_the_start_up_checks(tmp_path):
    config = _config(
        tmp_path,
        _HOST + 'auth = "bearer"\ntoken_env = "CV_GERRIT_TOKEN"\n'
        '[[gerrit.hosts]]\nhost = "fake-review"\nbase_url = "http://127.0.0.1:9"\n'
        'auth = "netrc"\n'
        '[[gerrit.hosts]]\nhost = "public-review.example.com"\n'
        'base_url = "http://public-review.example.com"\nauth = "none"\n',
    )
    settings = load_settings(config, environ={})
    environ = {"CV_GERRIT_TOKEN": "t", "CVMIGRATE_SECRET_KEY": new_secret_key()}
    asyncio.run(preflight(settings, environ=environ))  # no UnsafeConfiguration


@pytest.mark.parametrize("case", ["missing-directory", "not-a-database"])
def test_serve_refuses_a_database_it_cannot_open_naming_the_path(tmp_path, case):
    path = tmp_path / "no-such-dir" / "cv.db"
    if case == "not-a-database":
        path = tmp_path / "notes.txt"
        path.write_text("these are notes, not an SQLite database\n" * 100)
    config = tmp_path / "cvmigrate.toml"
    config.write_text(f'[database]\npath = "{path}"\n')
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code != 0
    assert f"cannot open the database {path}" in result.output
    assert "check database.path" in result.output
    assert "Traceback" not in result.output
