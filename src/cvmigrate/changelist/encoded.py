"""A CL already encoded in every wire form a response may need."""

from __future__ import annotations

import dataclasses

__all__ = ["EncodedCL"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EncodedCL:
    """A `migration.RunCL` already encoded in every wire form a response may need."""

    cl_id: int
    pb: bytes
    json: str
    """proto3 JSON: lowerCamel keys, defaults omitted (Connect, pRPC)."""
    twirp_json: str
    """Twirp JSON: snake_case keys, defaults emitted."""
