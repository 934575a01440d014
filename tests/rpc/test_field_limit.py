"""The limit on fields per request message (`server.max_request_fields`), and decoding
large messages off the event loop.

betterproto2 decodes about 100k fields a second, so a ReportRuns of 100k runs (3 MB, well
under the body limit) would hold the CPU for ~5 s. The limit rejects it before decoding;
what is under it but large is decoded on a worker thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from harness import serve_in_thread
from support import decode_reply

import cvmigrate.rpc.codec
import cvmigrate.rpc.server
from cvmigrate.app import create_app
from cvmigrate.config import load_settings
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codec import DecodeError, TooManyFields, decode_binary, decode_json
from cvmigrate.rpc.codes import Code

TEMPLATE_KEY = "0" * 16


def _runs_binary(count: int) -> bytes:
    """ReportRunsRequest{runs: count × {attempt {key, luci_project}}}: 4 fields per run.
    Built by splicing one encoded run, since encoding 100k runs takes betterproto2 seconds."""
    one = bytes(
        migration_pb.ReportRunsRequest(
            runs=[
                migration_pb.ReportedRun(
                    attempt=bigquery_pb.Attempt(key=TEMPLATE_KEY, luci_project="chromium")
                )
            ]
        )
    )
    return b"".join(one.replace(TEMPLATE_KEY.encode(), b"%016x" % n) for n in range(count))


def _runs_json(count: int) -> bytes:
    runs = [{"attempt": {"key": f"{n:016x}", "luciProject": "chromium"}} for n in range(count)]
    return json.dumps({"runs": runs}).encode()


def test_every_field_counts_at_any_depth() -> None:
    body = _runs_binary(10)
    assert len(decode_binary(migration_pb.ReportRunsRequest, body, max_fields=40).runs) == 10
    with pytest.raises(TooManyFields, match="more than 39 fields"):
        decode_binary(migration_pb.ReportRunsRequest, body, max_fields=39)


def test_packed_elements_and_repeated_singular_fields_count() -> None:
    # NotifyDetails.Info.accounts (repeated int64) packed: one tag, 1000 elements.
    from cvmigrate.proto import gerrit as gerrit_pb

    packed = bytes(gerrit_pb.NotifyDetailsInfo(accounts=list(range(1000))))
    with pytest.raises(TooManyFields):
        decode_binary(gerrit_pb.NotifyDetailsInfo, packed, max_fields=999)
    assert len(decode_binary(gerrit_pb.NotifyDetailsInfo, packed, max_fields=1001).accounts) == 1000
    # A singular field sent again and again (legal: last one wins) costs a parse each time.
    repeated_key = bytes(migration_pb.FetchRunStatusRequest(attempt_key="k")) * 5000
    with pytest.raises(TooManyFields):
        decode_binary(migration_pb.FetchRunStatusRequest, repeated_key, max_fields=1000)


def test_json_values_are_counted_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _runs_json(100)
    # 401 values: `runs`, and per run the element, `attempt`, `key` and `luciProject`.
    assert len(decode_json(migration_pb.ReportRunsRequest, body, max_fields=401).runs) == 100
    with pytest.raises(TooManyFields):
        decode_json(migration_pb.ReportRunsRequest, body, max_fields=400)

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("json.loads ran on a message over the limit")

    monkeypatch.setattr(cvmigrate.rpc.codec.json, "loads", refuse)
    with pytest.raises(TooManyFields):
        decode_json(migration_pb.ReportRunsRequest, body, max_fields=100)


def test_commas_and_brackets_inside_json_strings_do_not_count() -> None:
    comment = 'a, b, [c], {d}, \\"e, f\\" ' * 2000  # ~10k separators inside one string
    body = json.dumps({"project": "chromium", "comment": comment}).encode()
    message = decode_json(migration_pb.PostGerritMessageRequest, body, max_fields=10)
    assert message.comment == comment


def test_a_limit_error_is_a_decode_error() -> None:
    # So every protocol renders it as its "bad request body" answer (INVALID_ARGUMENT).
    assert issubclass(TooManyFields, DecodeError)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service on its defaults (max_request_fields = 100000)."""
    workdir = tmp_path_factory.mktemp("fields")
    config = workdir / "cv.toml"
    config.write_text(f'[database]\npath = "{workdir / "cv.db"}"\n')
    settings = load_settings(config, environ={})
    assert settings.server.max_request_fields == 100_000
    with serve_in_thread(create_app(settings, environ={})) as url:
        yield url


def _post(url: str, protocol: str, body: bytes, *, json_body: bool) -> httpx.Response:
    content_type = {
        ("prpc", False): "application/prpc; encoding=binary",
        ("prpc", True): "application/json",
        ("twirp", False): "application/protobuf",
        ("twirp", True): "application/json",
        ("connect", False): "application/proto",
        ("connect", True): "application/json",
    }[protocol, json_body]
    path = {"prpc": "/prpc", "twirp": "/twirp", "connect": ""}[protocol]
    headers = {"Content-Type": content_type, "Accept": content_type}
    return httpx.post(
        f"{url}{path}/migration.Migration/ReportRuns", content=body, headers=headers, timeout=60
    )


@pytest.mark.parametrize("json_body", [False, True], ids=["binary", "json"])
@pytest.mark.parametrize("protocol", ["prpc", "twirp", "connect"])
def test_report_runs_with_100k_runs_is_rejected_clearly(
    app_url: str, protocol: str, json_body: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _runs_json(100_000) if json_body else _runs_binary(100_000)
    assert len(body) < 32 * 1024 * 1024  # under the body limit: the field limit decides

    def refuse(cls: type, *args: object, **kwargs: object) -> object:
        raise AssertionError("a message over the limit was decoded")

    # Refused by counting, before decoding (which alone would take ~5 s of CPU).
    monkeypatch.setattr(migration_pb.ReportRunsRequest, "parse", classmethod(refuse))
    monkeypatch.setattr(migration_pb.ReportRunsRequest, "from_dict", classmethod(refuse))
    response = _post(app_url, protocol, body, json_body=json_body)
    reply = decode_reply(protocol, response, migration_pb.ReportRunsRequest, json_body=json_body)
    if protocol == "twirp":  # Twirp's code for a body that cannot be decoded
        assert (response.status_code, response.json()["code"]) == (400, "malformed")
    else:
        assert reply.code is Code.INVALID_ARGUMENT, reply
    assert "more than 100000 fields, the server's limit" in reply.error


def test_report_runs_under_the_limit_is_accepted(app_url: str) -> None:
    response = _post(app_url, "prpc", _runs_binary(20_000), json_body=False)  # 80k fields
    assert response.headers["x-prpc-grpc-code"] == "0", response.text


def _spy_threads(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Record the thread of each call of `cvmigrate.rpc.server.<name>`."""
    threads: list[str] = []
    real = getattr(cvmigrate.rpc.server, name)

    def spy(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(cvmigrate.rpc.server, name, spy)
    return threads


def test_large_messages_are_decoded_off_the_event_loop(
    app_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FetchRunStatus is parsed by upb (rpc/methods.py request_upb): inline up to 64 KiB.
    threads = _spy_threads(monkeypatch, "decode_binary_upb")
    for size in (1, 100_000):
        request = migration_pb.FetchRunStatusRequest(attempt_key="k" * size, luci_project="p")
        body = bytes(request)
        response = httpx.post(
            f"{app_url}/prpc/migration.Migration/FetchRunStatus",
            content=body,
            headers={"Content-Type": "application/prpc; encoding=binary"},
            timeout=60,
        )
        assert response.headers["x-prpc-grpc-code"] == str(int(Code.NOT_FOUND)), response.text
    small, large = threads
    assert small.startswith("hypercorn:")  # the server's event loop thread
    assert not large.startswith("hypercorn:")


def test_a_large_binary_report_is_counted_off_the_event_loop_and_decoded_elsewhere(
    app_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A binary ReportRuns is decoded in the database writer process (MethodInfo
    # binary_to_handler); the event loop only counts its fields, on a thread when large.
    decoded = _spy_threads(monkeypatch, "decode_binary_upb")
    counted = _spy_threads(monkeypatch, "check_field_limit")
    for runs in (1, 4000):  # ~32 bytes and ~128 KB
        response = _post(app_url, "prpc", _runs_binary(runs), json_body=False)
        assert response.headers["x-prpc-grpc-code"] == "0", response.text
    assert decoded == []
    small, large = counted
    assert small.startswith("hypercorn:")
    assert not large.startswith("hypercorn:")
