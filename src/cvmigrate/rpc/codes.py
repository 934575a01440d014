"""gRPC status codes and how each wire protocol spells them (spec/protocols.md §4)."""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "CONNECT_CODE",
    "CONNECT_HTTP_STATUS",
    "PRPC_HTTP_STATUS",
    "TWIRP_CODE",
    "TWIRP_HTTP_STATUS",
    "Code",
    "code_from_connect",
    "code_from_twirp",
]


class Code(enum.IntEnum):
    """The 17 canonical gRPC status codes; the value is the wire integer."""

    OK = 0
    """Not an error."""
    CANCELLED = 1
    """The caller cancelled the operation."""
    UNKNOWN = 2
    """An error with no better code, e.g. an unclassified storage failure."""
    INVALID_ARGUMENT = 3
    """The request is malformed or fails validation, whatever the state."""
    DEADLINE_EXCEEDED = 4
    """The deadline passed before the operation completed."""
    NOT_FOUND = 5
    """A named entity (a Run, a change) does not exist."""
    ALREADY_EXISTS = 6
    """The entity the caller tried to create already exists."""
    PERMISSION_DENIED = 7
    """The caller is known but may not do this."""
    RESOURCE_EXHAUSTED = 8
    """A quota or capacity limit was hit; retry later."""
    FAILED_PRECONDITION = 9
    """The system is not in the state the operation needs (e.g. Run not final yet)."""
    ABORTED = 10
    """A concurrency conflict aborted the operation."""
    OUT_OF_RANGE = 11
    """A value is outside the valid range."""
    UNIMPLEMENTED = 12
    """The method is not (yet) implemented."""
    INTERNAL = 13
    """An invariant broke; the detail is in the log, not the answer."""
    UNAVAILABLE = 14
    """Transient: retry (e.g. CV does not know the Run yet)."""
    DATA_LOSS = 15
    """Unrecoverable data loss."""
    UNAUTHENTICATED = 16
    """No valid credentials were presented."""

    @property
    def wire_name(self) -> str:
        """Lower snake-case name as Twirp and Connect write it (`failed_precondition`)."""
        return CONNECT_CODE[self]


# Connect spells CANCELLED with one L, like Twirp; DATA_LOSS is `data_loss` in both
# (Twirp's spec_v7.md table says `dataloss`, but errors.go and every client use `data_loss`).
CONNECT_CODE: Final[dict[Code, str]] = {
    code: ("canceled" if code is Code.CANCELLED else code.name.lower()) for code in Code
}
TWIRP_CODE: Final[dict[Code, str]] = dict(CONNECT_CODE)

_CONNECT_AND_PRPC_HTTP: Final[dict[Code, int]] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}
CONNECT_HTTP_STATUS: Final[dict[Code, int]] = dict(_CONNECT_AND_PRPC_HTTP)
# luci-go grpcutil.CodeStatus agrees with Connect exactly.
PRPC_HTTP_STATUS: Final[dict[Code, int]] = dict(_CONNECT_AND_PRPC_HTTP)
# Twirp differs on CANCELLED (408), DEADLINE_EXCEEDED (408) and FAILED_PRECONDITION (412).
TWIRP_HTTP_STATUS: Final[dict[Code, int]] = {
    **_CONNECT_AND_PRPC_HTTP,
    Code.CANCELLED: 408,
    Code.DEADLINE_EXCEEDED: 408,
    Code.FAILED_PRECONDITION: 412,
}

_CODE_BY_WIRE_NAME: Final[dict[str, Code]] = {name: code for code, name in CONNECT_CODE.items()}


def code_from_connect(name: str) -> Code | None:
    """The code for a Connect wire name, or None if the name is not one."""
    return _CODE_BY_WIRE_NAME.get(name)


def code_from_twirp(name: str) -> Code | None:
    """The code for a Twirp wire name (`malformed` and `bad_route` are not gRPC codes)."""
    return _CODE_BY_WIRE_NAME.get(name)
