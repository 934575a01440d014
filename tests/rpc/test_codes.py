"""The 17-code × 3-protocol table of rpc/codes.py against spec/protocols.md §4, row by row."""

from __future__ import annotations

import pytest

from cvmigrate.rpc.codes import (
    CONNECT_CODE,
    CONNECT_HTTP_STATUS,
    PRPC_HTTP_STATUS,
    TWIRP_CODE,
    TWIRP_HTTP_STATUS,
    Code,
    code_from_connect,
    code_from_twirp,
)

# (code, int, Twirp code, Twirp HTTP, Connect code, Connect HTTP, pRPC HTTP), copied from
# the spec table so that a change to either side shows up here.
SPEC_TABLE = [
    (Code.OK, 0, "ok", 200, "ok", 200, 200),
    (Code.CANCELLED, 1, "canceled", 408, "canceled", 499, 499),
    (Code.UNKNOWN, 2, "unknown", 500, "unknown", 500, 500),
    (Code.INVALID_ARGUMENT, 3, "invalid_argument", 400, "invalid_argument", 400, 400),
    (Code.DEADLINE_EXCEEDED, 4, "deadline_exceeded", 408, "deadline_exceeded", 504, 504),
    (Code.NOT_FOUND, 5, "not_found", 404, "not_found", 404, 404),
    (Code.ALREADY_EXISTS, 6, "already_exists", 409, "already_exists", 409, 409),
    (Code.PERMISSION_DENIED, 7, "permission_denied", 403, "permission_denied", 403, 403),
    (Code.RESOURCE_EXHAUSTED, 8, "resource_exhausted", 429, "resource_exhausted", 429, 429),
    (Code.FAILED_PRECONDITION, 9, "failed_precondition", 412, "failed_precondition", 400, 400),
    (Code.ABORTED, 10, "aborted", 409, "aborted", 409, 409),
    (Code.OUT_OF_RANGE, 11, "out_of_range", 400, "out_of_range", 400, 400),
    (Code.UNIMPLEMENTED, 12, "unimplemented", 501, "unimplemented", 501, 501),
    (Code.INTERNAL, 13, "internal", 500, "internal", 500, 500),
    (Code.UNAVAILABLE, 14, "unavailable", 503, "unavailable", 503, 503),
    (Code.DATA_LOSS, 15, "data_loss", 500, "data_loss", 500, 500),
    (Code.UNAUTHENTICATED, 16, "unauthenticated", 401, "unauthenticated", 401, 401),
]
ROWS = [pytest.param(*row, id=row[0].name) for row in SPEC_TABLE]


def test_table_covers_every_code_once() -> None:
    assert [row[0] for row in SPEC_TABLE] == list(Code)
    for table in (CONNECT_CODE, TWIRP_CODE, CONNECT_HTTP_STATUS, TWIRP_HTTP_STATUS):
        assert set(table) == set(Code)
    assert set(PRPC_HTTP_STATUS) == set(Code)


@pytest.mark.parametrize(
    ("code", "number", "twirp", "twirp_http", "connect", "connect_http", "prpc_http"), ROWS
)
def test_code_row_matches_spec(
    code: Code,
    number: int,
    twirp: str,
    twirp_http: int,
    connect: str,
    connect_http: int,
    prpc_http: int,
) -> None:
    assert int(code) == number
    assert TWIRP_HTTP_STATUS[code] == twirp_http
    assert CONNECT_HTTP_STATUS[code] == connect_http
    assert PRPC_HTTP_STATUS[code] == prpc_http
    assert code.wire_name == connect
    if code is not Code.OK:  # OK has no Twirp or Connect error spelling
        assert TWIRP_CODE[code] == twirp
        assert CONNECT_CODE[code] == connect
        assert code_from_twirp(twirp) is code
        assert code_from_connect(connect) is code


@pytest.mark.parametrize("name", ["dataloss", "cancelled", "malformed", "bad_route", "", "OK "])
def test_non_codes_have_no_code(name: str) -> None:
    assert code_from_connect(name) is None
    assert code_from_twirp(name) is None
