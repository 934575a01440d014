"""FetchActiveRuns (spec §4.7): CQDaemon's candidate list when CV is in charge.

The response is spliced from bytes stored when each Run was created (its frozen RunCLs)
and when each dependency CL was last fetched (fyi_deps): nothing is re-encoded per call.
Only the encoding the answer is sent in is read from the store (`CallContext.
response_encoding`); reading all three cost ~4x the time and memory (bench/, issue 8).

CQDaemon asks on every loop and the answer changes far less often, so the encoded answer
is kept per project and encoding (`ActiveRunsCache`) under the store's active-set versions
(sql/sqlite/0003, bumped by triggers in the transaction of any write that changes it):
a call whose versions are unchanged answers the kept bytes after one small read.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3

from cvmigrate.changelist.encoded import EncodedCL
from cvmigrate.migration._common import store_errors
from cvmigrate.migration.deps import Deps
from cvmigrate.proto import migration as migration_pb
from cvmigrate.proto.migration import migration_pb2
from cvmigrate.rpc.codec import JsonStyle, encode_length_delimited, encode_varint
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.store import cls as cls_store
from cvmigrate.store import runs as runs_store

__all__ = [
    "ActiveRunsCache",
    "ActiveRunsResponse",
    "EncodedActiveRun",
    "EncodedAnswer",
    "fetch_active_runs",
]

log = logging.getLogger(__name__)


def _json_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EncodedActiveRun:
    """One `migration.ActiveRun` made of pre-encoded RunCLs."""

    run_id: str
    cls: tuple[EncodedCL, ...]
    fyi_deps: tuple[EncodedCL, ...]

    def binary_parts(self, parts: list[bytes]) -> list[bytes]:
        """Append the encoding to `parts` as field headers and the stored bytes themselves
        (no copy of them until the one final join: an answer of 1000 Runs is ~18 MiB)."""
        if self.run_id:
            parts.append(encode_length_delimited(1, self.run_id.encode("utf-8")))
        for number, encoded in ((2, self.cls), (3, self.fyi_deps)):
            for cl in encoded:
                parts.append(_FIELD_TAGS[number] + encode_varint(len(cl.pb)))
                parts.append(cl.pb)
        return parts

    def to_json(self, style: JsonStyle) -> str:
        if style is JsonStyle.TWIRP:  # snake_case, every field present
            return (
                f'{{"id":{_json_string(self.run_id)},'
                f'"cls":[{",".join(cl.twirp_json for cl in self.cls)}],'
                f'"fyi_deps":[{",".join(dep.twirp_json for dep in self.fyi_deps)}]}}'
            )
        fields = []  # proto3 JSON: lowerCamel, defaults omitted
        if self.run_id:
            fields.append(f'"id":{_json_string(self.run_id)}')
        if self.cls:
            fields.append(f'"cls":[{",".join(cl.json for cl in self.cls)}]')
        if self.fyi_deps:
            fields.append(f'"fyiDeps":[{",".join(dep.json for dep in self.fyi_deps)}]')
        return "{" + ",".join(fields) + "}"


_ENCODING_OF_STYLE = {JsonStyle.PROTO3: "json", JsonStyle.TWIRP: "twirp_json"}
_FIELD_TAGS = {number: encode_varint(number << 3 | 2) for number in (1, 2, 3)}
"""The tag of length-delimited field `number` (ActiveRun's and the response's fields)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ActiveRunsResponse:
    """A `migration.FetchActiveRunsResponse` that encodes by splicing (rpc.codec.PreEncoded)."""

    active_runs: tuple[EncodedActiveRun, ...]
    encoding: str | None = None
    """The one encoding of the Run CLs that was loaded (`pb`, `json`, `twirp_json`); None:
    all of them. Asking for another one is a bug, not an empty answer."""

    def _require(self, encoding: str) -> None:
        if self.encoding is not None and self.encoding != encoding:
            raise ValueError(f"loaded the {self.encoding} encoding, asked for {encoding}")

    def to_binary(self) -> bytes:
        self._require("pb")
        parts: list[bytes] = []
        for run in self.active_runs:
            header = len(parts)
            parts.append(b"")  # the run's field header, once its length is known
            run.binary_parts(parts)
            length = sum(len(part) for part in parts[header + 1 :])
            parts[header] = _FIELD_TAGS[2] + encode_varint(length)
        return b"".join(parts)

    def to_json(self, style: JsonStyle) -> bytes:
        self._require(_ENCODING_OF_STYLE[style])
        runs = ",".join(run.to_json(style) for run in self.active_runs)
        if style is JsonStyle.TWIRP:
            return f'{{"active_runs":[{runs}]}}'.encode()
        return (f'{{"activeRuns":[{runs}]}}' if self.active_runs else "{}").encode()

    def to_message(self) -> migration_pb.FetchActiveRunsResponse:
        """The decoded message (for tests and tools; not used on the serving path)."""
        return migration_pb.FetchActiveRunsResponse.parse(self.to_binary())


def _load(conn: sqlite3.Connection, project: str, encoding: str | None) -> ActiveRunsResponse:
    rows = runs_store.load_active_runs(conn, project, encoding=encoding)
    fyi_ids: set[int] = set()
    for row in rows:
        own = {cl.cl_id for cl in row.cls}
        fyi_ids.update(dep for dep in row.dep_ids if dep not in own)
    records = cls_store.load_cl_records(conn, fyi_ids) if fyi_ids else {}
    active = []
    for row in rows:
        own = {cl.cl_id for cl in row.cls}
        fyi: list[EncodedCL] = []
        for dep_id in row.dep_ids:
            if dep_id in own:
                continue
            record = records.get(dep_id)
            if record is None or record.snapshot is None:
                # Clients rely on every dep being among cls ∪ fyi_deps (spec §4.7).
                raise LookupError(f"Run {row.run_id}: dependency CL {dep_id} has no snapshot")
            fyi.append(record.snapshot)
        active.append(EncodedActiveRun(run_id=row.run_id, cls=row.cls, fyi_deps=tuple(fyi)))
    return ActiveRunsResponse(tuple(active), encoding)


@dataclasses.dataclass(frozen=True, slots=True)
class EncodedAnswer:
    """A FetchActiveRunsResponse already encoded in one form (rpc.codec.PreEncoded)."""

    encoding: str
    """`pb`, `json` or `twirp_json` (CallContext.response_encoding)."""
    body: bytes

    def _require(self, encoding: str) -> bytes:
        if self.encoding != encoding:
            raise ValueError(f"encoded as {self.encoding}, asked for {encoding}")
        return self.body

    def to_binary(self) -> bytes:
        return self._require("pb")

    def to_json(self, style: JsonStyle) -> bytes:
        return self._require(_ENCODING_OF_STYLE[style])


def _encode(response: ActiveRunsResponse, encoding: str) -> EncodedAnswer:
    if encoding == "pb":
        return EncodedAnswer(encoding, response.to_binary())
    style = JsonStyle.PROTO3 if encoding == "json" else JsonStyle.TWIRP
    return EncodedAnswer(encoding, response.to_json(style))


class ActiveRunsCache:
    """The latest answer per (project, encoding) with the active-set versions it was built
    at. At most `max_entries` answers (the oldest go first). Used on the event loop only."""

    def __init__(self, max_entries: int = 256) -> None:
        self._max_entries = max_entries
        self._entries: dict[tuple[str, str], tuple[tuple[int, int], EncodedAnswer]] = {}

    def get(self, project: str, encoding: str, versions: tuple[int, int]) -> EncodedAnswer | None:
        entry = self._entries.get((project, encoding))
        if entry is None or entry[0] != versions:
            return None
        return entry[1]

    def put(
        self, project: str, encoding: str, versions: tuple[int, int], answer: EncodedAnswer
    ) -> None:
        self._entries.pop((project, encoding), None)
        self._entries[(project, encoding)] = (versions, answer)
        while len(self._entries) > self._max_entries:
            del self._entries[next(iter(self._entries))]


async def fetch_active_runs(
    request: migration_pb2.FetchActiveRunsRequest, ctx: CallContext, deps: Deps
) -> ActiveRunsResponse | EncodedAnswer:
    """The request is an official-runtime message (rpc/methods.py `request_upb`). The
    answer is encoded in `ctx.response_encoding`; without one (tools, tests), every
    encoding is loaded and nothing is kept."""
    deps.acl.check_caller(ctx)
    if not request.luci_project:
        raise RpcError(Code.INVALID_ARGUMENT, "luci_project is required")
    project = request.luci_project
    deps.acl.check_project(ctx, project)
    ctx.attributes["cv.luci_project"] = project
    encoding = ctx.response_encoding
    cache = deps.active_runs_cache
    with store_errors("loading active runs"):
        try:
            if encoding is None:
                return await deps.db.read(lambda c: _load(c, project, None))
            versions = None
            if cache is not None:  # the usual case: unchanged since the last call
                # Read before the data below: an answer built after a write it did not see
                # the version of is kept under the older version, so it is only rebuilt.
                versions = await deps.db.read_point(
                    lambda c: runs_store.active_set_version(c, project)
                )
                kept = cache.get(project, encoding, versions)
                if kept is not None:
                    return kept
            # Built and encoded on a reader thread, not on the event loop.
            answer = await deps.db.read(lambda c: _encode(_load(c, project, encoding), encoding))
            if cache is not None and versions is not None:
                cache.put(project, encoding, versions, answer)
            return answer
        except LookupError as exc:
            log.error("FetchActiveRuns(%s): %s", project, exc)
            raise RpcError(Code.INTERNAL, "inconsistent run data") from exc
