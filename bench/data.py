"""Realistic CL snapshots for the load, and a fast way to encode thousands of them.

A snapshot looks like what CV kept of a Chromium change (spec §9.4): about 20 messages,
two labels (Commit-Queue and Code-Review) with several votes, a commit message of a dozen
lines and about 10 files.

cvmigrate encodes a RunCL once, when its Run is created (`changelist.snapshot`), in binary
and in both JSON styles; with betterproto2 that costs ~20 ms per CL, so seeding 10,000 Runs
that way would take minutes. `TemplateEncoder` encodes a few templates with the service's
own encoder and derives every CL from one of them by changing only the change number and
the small fields around the ChangeInfo. The first CL made from each template is checked
byte for byte against `encode_run_cl` / `encode_snapshot`, so the stored bytes are exactly
what the service itself would have stored.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import betterproto2

from cvmigrate.changelist.encoded import EncodedCL
from cvmigrate.changelist.snapshot import Dep, DepKind, Snapshot, encode_run_cl, encode_snapshot
from cvmigrate.changelist.trigger import Trigger
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import gerrit as gerrit_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codec import encode_length_delimited, encode_varint

__all__ = ["HOST", "T0", "TemplateEncoder", "change_template", "snapshot_for"]

HOST: Final = "chromium-review.googlesource.com"
T0: Final = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
_SEPARATORS: Final = (",", ":")
_RUN_CL_FIELDS: Final = ("id", "gc", "info", "files", "trigger", "deps")

_COMMIT_BODY: Final = (
    "The suggestion provider kept a reference to the match it had already\n"
    "released when the omnibox was closed during an asynchronous pass. Hold a\n"
    "weak pointer instead and drop the result if the popup is gone.\n"
    "\n"
    "Also make the test wait for the provider to finish instead of spinning the\n"
    "message loop a fixed number of times, which was flaky on slow bots.\n"
)


def _account(account_id: int, *, email: bool = True) -> gerrit_pb.AccountInfo:
    # Spec §9.4: e-mail kept for owner and voters, cleared for message authors.
    return gerrit_pb.AccountInfo(
        account_id=account_id, email=f"dev{account_id}@chromium.org" if email else ""
    )


def change_template(variant: int) -> tuple[gerrit_pb.ChangeInfo, tuple[str, ...]]:
    """A trimmed ChangeInfo (number left 0) and its file list; `variant` varies the sizes."""
    revision = f"{0x5EED0000 + variant:08x}" * 5
    messages = 17 + variant % 7  # 17..23 messages
    files = tuple(
        f"components/omnibox/browser/{name}_{variant}_{i}.cc"
        for i, name in enumerate(("autocomplete", "provider", "match", "popup", "test") * 2)
    )
    base = T0 - timedelta(days=2, minutes=variant)
    info = gerrit_pb.ChangeInfo(
        owner=_account(1000 + variant % 50),
        project="chromium/src",
        ref="refs/heads/main",
        status=gerrit_pb.ChangeStatus.NEW,
        current_revision=revision,
        revisions={
            revision: gerrit_pb.RevisionInfo(
                kind=gerrit_pb.RevisionInfoKind.REWORK,
                number=3,
                ref=f"refs/changes/{variant % 100:02d}/{4000000 + variant}/3",
                created=base + timedelta(hours=20),
                description="Address review comments",
                commit=gerrit_pb.CommitInfo(
                    id=revision,
                    message=(
                        f"[omnibox] Fix a use-after-free in the suggestion provider ({variant})"
                        f"\n\n{_COMMIT_BODY}\nBug: {1400000 + variant}\nChange-Id: I{revision}\n"
                    ),
                ),
            )
        },
        labels={
            "Commit-Queue": gerrit_pb.LabelInfo(
                all=[
                    gerrit_pb.ApprovalInfo(
                        user=_account(1000 + variant % 50), value=1, date=base + timedelta(days=1)
                    ),
                    gerrit_pb.ApprovalInfo(
                        user=_account(2001), value=2, date=base + timedelta(days=2)
                    ),
                    gerrit_pb.ApprovalInfo(
                        user=_account(2002), value=1, date=base + timedelta(days=1, hours=3)
                    ),
                ],
                values={0: "Not ready", 1: "Dry run", 2: "Commit"},
            ),
            "Code-Review": gerrit_pb.LabelInfo(
                all=[
                    gerrit_pb.ApprovalInfo(
                        user=_account(2000 + i),
                        value=value,
                        date=base + timedelta(hours=10 + i),
                    )
                    for i, value in enumerate((1, 1, 2, -1))
                ],
                values={
                    -2: "Do not submit",
                    -1: "I would prefer that you didn't submit this",
                    0: "No score",
                    1: "Looks good to me, but someone else must approve",
                    2: "Looks good to me, approved",
                },
            ),
        },
        messages=[
            gerrit_pb.ChangeMessageInfo(
                id=f"{variant:04x}{i:036x}",
                author=_account(2000 + i % 4, email=False),
                real_author=_account(2000 + i % 4, email=False),
                date=base + timedelta(hours=i),
                message=(
                    f"Patch Set {i // 6 + 1}:\n\n({i % 4 + 1} comments)\n\n"
                    "Thanks, this looks much better. A couple of nits about naming and one "
                    "question about the lifetime of the provider; see inline comments."
                ),
            )
            for i in range(messages)
        ],
        submittable=False,
        created=base,
        updated=base + timedelta(days=2),
    )
    return info, files


def snapshot_for(
    info: gerrit_pb.ChangeInfo, files: Sequence[str], deps: Sequence[Dep] = ()
) -> Snapshot:
    """The Snapshot the poller would store for `info`."""
    return Snapshot(
        host=HOST,
        info=info,
        patchset=3,
        min_equivalent_patchset=2,
        files=tuple(files),
        deps=tuple(sorted(deps, key=lambda dep: dep.cl_id)),
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=_SEPARATORS, ensure_ascii=False)


@dataclasses.dataclass(frozen=True, slots=True)
class _Template:
    info: gerrit_pb.ChangeInfo
    files: tuple[str, ...]
    info_pb: bytes
    """ChangeInfo without `number` (field 1, which every encoder writes first)."""
    info_json: dict[str, Any]
    info_twirp: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class _Encoded:
    """A RunCL part in the three forms: binary, proto3 JSON dict, Twirp JSON dict."""

    pb: bytes
    json: dict[str, Any]
    twirp: dict[str, Any]


def _gerrit_change(number: int, mode: bigquery_pb.Mode | None) -> bigquery_pb.GerritChange:
    change = bigquery_pb.GerritChange(
        host=HOST, project="chromium/src", change=number, patchset=3, earliest_equivalent_patchset=2
    )
    if mode is not None:
        change.mode = mode
    return change


def _encoded(message: migration_pb.RunCl) -> _Encoded:
    return _Encoded(
        pb=bytes(message),
        json=message.to_dict(),
        twirp=message.to_dict(casing=betterproto2.Casing.SNAKE, include_default_values=True),
    )


class TemplateEncoder:
    """Encodes RunCLs and CL snapshots from a few templates; see the module docstring.

    Every `check_every`-th CL (and the first of each template) is also encoded by cvmigrate
    and compared byte for byte.
    """

    def __init__(self, variants: int = 8, *, check_every: int = 997) -> None:
        self._templates = []
        for variant in range(variants):
            info, files = change_template(variant)
            self._templates.append(
                _Template(
                    info=info,
                    files=files,
                    info_pb=bytes(info),
                    info_json=info.to_dict(),
                    info_twirp=info.to_dict(
                        casing=betterproto2.Casing.SNAKE, include_default_values=True
                    ),
                )
            )
        self._tails: dict[tuple[Any, ...], _Encoded] = {}
        self._gc: dict[bigquery_pb.Mode | None, _Encoded] = {}
        self._check_every = check_every
        self._count = 0
        self._checked: set[tuple[int, bool]] = set()

    @property
    def variants(self) -> int:
        """How many templates there are."""
        return len(self._templates)

    def template(self, variant: int) -> tuple[gerrit_pb.ChangeInfo, tuple[str, ...]]:
        """The template ChangeInfo (number 0) and file list `variant` maps to."""
        template = self._templates[variant % len(self._templates)]
        return template.info, template.files

    def _gc_template(self, mode: bigquery_pb.Mode | None) -> _Encoded:
        found = self._gc.get(mode)
        if found is None:
            found = self._gc[mode] = _encoded(migration_pb.RunCl(id=1, gc=_gerrit_change(1, mode)))
        return found

    def _encode(
        self,
        variant: int,
        *,
        cl_id: int,
        number: int,
        mode: bigquery_pb.Mode | None,
        tail_key: tuple[Any, ...],
        tail: migration_pb.RunCl,
    ) -> EncodedCL:
        template = self._templates[variant % len(self._templates)]
        cached = self._tails.get(tail_key)
        if cached is None:
            cached = self._tails[tail_key] = _encoded(tail)
        gc = self._gc_template(mode)
        head_pb = bytes(migration_pb.RunCl(id=cl_id, gc=_gerrit_change(number, mode)))
        info_pb = b"\x08" + encode_varint(number) + template.info_pb
        # RunCL fields 1-2, then info (3), then 4-6: the order every encoder writes.
        pb = head_pb + encode_length_delimited(3, info_pb) + cached.pb
        # proto3 JSON omits defaults; Twirp JSON has every field. Keys in field order.
        proto3 = {
            "id": str(cl_id),
            "gc": {**gc.json["gc"], "change": str(number)},
            "info": {"number": str(number), **template.info_json},
            **cached.json,
        }
        twirp = {
            **cached.twirp,
            "id": str(cl_id),
            "gc": {**gc.twirp["gc"], "change": str(number)},
            "info": {**template.info_twirp, "number": str(number)},
        }
        return EncodedCL(
            cl_id=cl_id,
            pb=pb,
            json=_dumps({name: proto3[name] for name in _RUN_CL_FIELDS if name in proto3}),
            twirp_json=_dumps({name: twirp[name] for name in _RUN_CL_FIELDS}),
        )

    def _should_check(self, variant: int, run_cl: bool) -> bool:
        self._count += 1
        key = (variant % len(self._templates), run_cl)
        if key in self._checked and self._count % self._check_every:
            return False
        self._checked.add(key)
        return True

    def run_cl(
        self,
        variant: int,
        *,
        cl_id: int,
        number: int,
        trigger: Trigger,
        mode: bigquery_pb.Mode,
        deps: Sequence[Dep] = (),
    ) -> EncodedCL:
        """What `encode_run_cl` stores for this CL."""
        ordered = tuple(sorted(deps, key=lambda dep: dep.cl_id))
        template = self._templates[variant % len(self._templates)]
        tail = migration_pb.RunCl(
            files=list(template.files),
            trigger=migration_pb.RunClTrigger(
                time=trigger.time, account_id=trigger.gerrit_account_id, email=trigger.email
            ),
            deps=[
                migration_pb.RunClDep(id=dep.cl_id, hard=dep.kind is DepKind.HARD)
                for dep in ordered
            ],
        )
        encoded = self._encode(
            variant,
            cl_id=cl_id,
            number=number,
            mode=mode,
            tail_key=(variant % len(self._templates), trigger, ordered),
            tail=tail,
        )
        if self._should_check(variant, True):
            info = dataclasses.replace(template.info, number=number)
            snapshot = snapshot_for(info, template.files, ordered)
            _check(encoded, encode_run_cl(cl_id, snapshot, trigger, mode))
        return encoded

    def snapshot(self, variant: int, *, cl_id: int, number: int) -> EncodedCL:
        """What `encode_snapshot` stores as the CL's latest snapshot."""
        template = self._templates[variant % len(self._templates)]
        encoded = self._encode(
            variant,
            cl_id=cl_id,
            number=number,
            mode=None,
            tail_key=(variant % len(self._templates),),
            tail=migration_pb.RunCl(files=list(template.files)),
        )
        if self._should_check(variant, False):
            info = dataclasses.replace(template.info, number=number)
            _check(encoded, encode_snapshot(cl_id, snapshot_for(info, template.files)))
        return encoded


def _check(fast: EncodedCL, real: EncodedCL) -> None:
    for name in ("pb", "json", "twirp_json"):
        if getattr(fast, name) != getattr(real, name):
            raise AssertionError(
                f"bench/data.py: the fast {name} encoding differs from cvmigrate's own; "
                "the RunCL schema or encoder changed, update TemplateEncoder"
            )
