"""gerrit/errors.py: HTTP status → exception class, gRPC code and retry decision, in one table."""

from __future__ import annotations

import aiohttp
import pytest

from cvmigrate.gerrit.errors import (
    GerritConflict,
    GerritCredentialsError,
    GerritError,
    GerritHostNotConfigured,
    GerritInvalidArgument,
    GerritNotFound,
    GerritPermissionDenied,
    GerritPreconditionFailed,
    GerritQuotaExceeded,
    GerritTimeout,
    GerritTransientError,
    GerritUnauthenticated,
    classify,
    from_transport_error,
    is_transient,
)
from cvmigrate.rpc.codes import Code

# (HTTP status, class, code, transient) — spec/gerrit.md §3.
STATUS_TABLE = [
    (400, GerritInvalidArgument, Code.INVALID_ARGUMENT, False),
    (401, GerritUnauthenticated, Code.INTERNAL, True),
    (403, GerritPermissionDenied, Code.PERMISSION_DENIED, False),
    (404, GerritNotFound, Code.NOT_FOUND, False),
    (405, GerritError, Code.INTERNAL, False),
    (408, GerritTransientError, Code.INTERNAL, True),
    (409, GerritConflict, Code.FAILED_PRECONDITION, False),
    (412, GerritPreconditionFailed, Code.FAILED_PRECONDITION, False),
    (422, GerritError, Code.INTERNAL, False),
    (429, GerritQuotaExceeded, Code.RESOURCE_EXHAUSTED, True),
    (499, GerritError, Code.INTERNAL, False),
    (500, GerritTransientError, Code.INTERNAL, True),
    (502, GerritTransientError, Code.UNAVAILABLE, True),
    (503, GerritTransientError, Code.UNAVAILABLE, True),
    (504, GerritTransientError, Code.INTERNAL, True),
    (599, GerritTransientError, Code.INTERNAL, True),
    (302, GerritError, Code.INTERNAL, False),
]


@pytest.mark.parametrize(
    ("status", "cls", "code", "transient"),
    [pytest.param(*row, id=str(row[0])) for row in STATUS_TABLE],
)
def test_classify_maps_status_to_class_code_and_retry(
    status: int, cls: type[GerritError], code: Code, transient: bool
) -> None:
    err = classify(status, "some text")
    assert type(err) is cls
    assert err.code is code
    assert err.http_status == status
    assert is_transient(err) is transient
    assert isinstance(err, GerritTransientError) is transient


def test_classify_message_has_context_status_and_gerrit_text() -> None:
    err = classify(409, "revision abc is not current revision\n", context="POST h/changes/p~1")
    assert str(err) == "POST h/changes/p~1: Gerrit HTTP 409: revision abc is not current revision"
    assert err.message == str(err)


def test_classify_strips_xssi_prefix_and_trims_long_bodies() -> None:
    err = classify(400, ")]}'\n" + '{"labels": null}')
    assert err.message == 'Gerrit HTTP 400: {"labels": null}'
    long_err = classify(502, "<html>" + "x" * 5000)
    assert len(long_err.message) < 600
    assert long_err.message.endswith("…")


def test_classify_empty_body() -> None:
    assert classify(500, "").message == "Gerrit HTTP 500: (empty body)"


def test_repr_names_class_code_and_status() -> None:
    err = classify(404, "Not found: 1")
    assert repr(err) == (
        "GerritNotFound(code=NOT_FOUND, http_status=404, message='Gerrit HTTP 404: Not found: 1')"
    )


@pytest.mark.parametrize(
    ("exc", "cls", "code"),
    [
        pytest.param(TimeoutError(), GerritTimeout, Code.DEADLINE_EXCEEDED, id="timeout"),
        pytest.param(
            aiohttp.ServerDisconnectedError(), GerritTransientError, Code.INTERNAL, id="disconnect"
        ),
        pytest.param(ConnectionRefusedError(), GerritTransientError, Code.INTERNAL, id="refused"),
        pytest.param(
            aiohttp.ClientPayloadError("cut"), GerritTransientError, Code.INTERNAL, id="payload"
        ),
        pytest.param(aiohttp.InvalidURL("x"), GerritError, Code.INTERNAL, id="invalid-url"),
    ],
)
def test_from_transport_error(exc: BaseException, cls: type[GerritError], code: Code) -> None:
    err = from_transport_error(exc, context="GET h/changes/1")
    assert type(err) is cls
    assert err.code is code
    assert err.http_status is None
    assert err.message.startswith("GET h/changes/1: ")


def test_transport_error_message_does_not_echo_exception_text() -> None:
    err = from_transport_error(ConnectionResetError("Authorization: Bearer s3cret"))
    assert "s3cret" not in str(err)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (TimeoutError(), True),
        (aiohttp.ClientConnectionError(), True),
        (ConnectionResetError(), True),
        (ValueError("x"), False),
        (GerritHostNotConfigured("no Gerrit host configured for x"), False),
        (GerritCredentialsError("no token"), False),
    ],
)
def test_is_transient_for_raw_and_local_errors(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_local_errors_have_codes() -> None:
    assert GerritHostNotConfigured("x").code is Code.NOT_FOUND
    assert GerritCredentialsError("x").code is Code.INTERNAL
    assert GerritError("x", code=Code.UNAVAILABLE).code is Code.UNAVAILABLE
