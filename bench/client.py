"""The load's HTTP side: one aiohttp session calling migration.Migration in pRPC (binary),
Twirp (protobuf) or Connect (proto), and a recorder of per-method latencies and codes.

Bodies are already-encoded protobuf bytes (built with the official runtime by the caller),
so the client spends its time on HTTP, not on encoding.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import defaultdict
from typing import Final

import aiohttp

__all__ = ["PROTOCOLS", "CallResult", "Recorder", "RpcClient", "open_session"]

PROTOCOLS: Final = ("prpc", "twirp", "connect")
_SERVICE: Final = "migration.Migration"
_CONTENT_TYPE: Final = {
    "prpc": "application/prpc; encoding=binary",
    "twirp": "application/protobuf",
    "connect": "application/proto",
}
# Twirp and Connect name their codes; both name them like gRPC's, lower-case.
_CODE_BY_NAME: Final = {
    name: number
    for number, name in enumerate(
        (
            "ok",
            "canceled",
            "unknown",
            "invalid_argument",
            "deadline_exceeded",
            "not_found",
            "already_exists",
            "permission_denied",
            "resource_exhausted",
            "failed_precondition",
            "aborted",
            "out_of_range",
            "unimplemented",
            "internal",
            "unavailable",
            "data_loss",
            "unauthenticated",
        )
    )
}
_TRANSPORT_ERROR: Final = -1
FAILED_PRECONDITION: Final = 9


@dataclasses.dataclass(frozen=True, slots=True)
class CallResult:
    """gRPC code (-1: no HTTP answer), response body, and seconds from intended start."""

    code: int
    body: bytes
    latency: float


class Recorder:
    """Latencies (seconds) and codes per method, and a total count."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.codes: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.iterations: list[float] = []
        """Per iteration: 1/0 (closed loop) or seconds from its scheduled start, -1 if failed."""
        self.offered = 0.0
        """Open loop: iterations started per second."""
        self.started = time.perf_counter()
        self.finished = self.started

    def add(self, method: str, result: CallResult) -> None:
        self.latencies[method].append(result.latency)
        self.codes[method][result.code] += 1
        self.finished = time.perf_counter()

    @property
    def calls(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    def errors(self) -> dict[str, dict[int, int]]:
        """Codes other than OK (FAILED_PRECONDITION from FetchRunStatus is expected)."""
        return {
            method: {code: n for code, n in codes.items() if code != 0}
            for method, codes in self.codes.items()
            if any(code != 0 for code in codes)
        }


def open_session(connections: int) -> aiohttp.ClientSession:
    """A keep-alive session with at most `connections` connections, loopback only."""
    connector = aiohttp.TCPConnector(limit=connections, force_close=False, use_dns_cache=False)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=60),
        skip_auto_headers=("User-Agent",),
    )


class RpcClient:
    """Calls one server in one protocol; each project sends its own bearer token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        protocol: str,
        tokens: dict[str, str],
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}")
        if not base_url.startswith("http://127.0.0.1:"):
            raise ValueError("the load only targets 127.0.0.1")
        self.session = session
        self.protocol = protocol
        prefix = {"prpc": "/prpc", "twirp": "/twirp", "connect": ""}[protocol]
        self._path = f"{prefix}/{_SERVICE}/"
        self._url = base_url + self._path
        content_type = _CONTENT_TYPE[protocol]
        base = {"Content-Type": content_type}
        if protocol == "prpc":
            base["Accept"] = content_type
        elif protocol == "connect":
            base["Connect-Protocol-Version"] = "1"
        self._headers = {
            project: {**base, "Authorization": f"Bearer {token}"}
            for project, token in tokens.items()
        }

    def headers(self, project: str) -> dict[str, str]:
        """The request headers `project` sends (its token included)."""
        return self._headers[project]

    def path(self, method: str) -> str:
        """The URL path of `method` in this protocol."""
        return self._path + method

    async def call(
        self, method: str, project: str, body: bytes, *, intended: float | None = None
    ) -> CallResult:
        """POST `body`; latency counts from `intended` (open loop) or from now."""
        start = time.perf_counter() if intended is None else intended
        try:
            async with self.session.post(
                self._url + method, data=body, headers=self._headers[project]
            ) as response:
                payload = await response.read()
                code = self._code(response.status, response.headers, payload)
        except (TimeoutError, aiohttp.ClientError):
            return CallResult(_TRANSPORT_ERROR, b"", time.perf_counter() - start)
        return CallResult(code, payload, time.perf_counter() - start)

    def _code(self, status: int, headers: aiohttp.typedefs.LooseHeaders, payload: bytes) -> int:
        if self.protocol == "prpc":
            value = headers.get("X-Prpc-Grpc-Code")  # type: ignore[union-attr]
            return int(value) if value is not None and value.isdigit() else _TRANSPORT_ERROR
        if status == 200:
            return 0
        try:
            name = json.loads(payload)["code"]
        except (ValueError, KeyError, TypeError):
            return _TRANSPORT_ERROR
        return _CODE_BY_NAME.get(name, 2)
