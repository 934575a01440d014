"""CL group keys: opaque keys of a Run's exact (change, patchset) set (spec §7.3).

Analysts group BigQuery attempts by these keys: `cl_group_key` changes with every new
patchset, `equivalent_cl_group_key` only when a patchset is not equivalent to the previous
one (it uses each CL's earliest equivalent patchset, so trivial rebases and description
edits keep the key).

Byte layout:

1. Sort the CLs by their ExternalID **string** `gerrit/<host>/<change>`, lexicographically
   (so change 10 sorts before change 9 on the same host).
2. For the equivalent key only, first feed the salt bytes `equivalent_cl_group_key`
   (so the two keys are never equal by accident and nobody relies on them being equal).
3. For each CL `host 0x00 change 0x00 patchset` (decimal ASCII; `min_equivalent_patchset`
   for the equivalent key), with one 0x00 between consecutive CLs.
4. The key is the first 8 bytes of SHA-256 as 16 lower-case hex characters.

Test vector: `foo-review.googlesource.com`, change 111, patchset 2, min-equivalent 2 gives
`cl_group_key = 331ea2a6a5d5f3b3` and `equivalent_cl_group_key = 47337d4707144297`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["GroupedCL", "cl_group_key", "equivalent_cl_group_key"]

_SEPARATOR: Final = b"\x00"
_EQUIVALENT_SALT: Final = b"equivalent_cl_group_key"
_KEY_BYTES: Final = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupedCL:
    """One CL of a Run as the group keys see it: the change and its patchsets."""

    host: str
    change: int
    patchset: int
    min_equivalent_patchset: int

    @property
    def external_id(self) -> str:
        """CV's ExternalID of the CL, `gerrit/<host>/<change>`: the sort key."""
        return f"gerrit/{self.host}/{self.change}"


def _group_key(cls: Sequence[GroupedCL], *, equivalent: bool) -> str:
    if not cls:
        raise ValueError("a CL group key needs at least one CL")
    ordered = sorted(cls, key=lambda cl: cl.external_id)
    hasher = hashlib.sha256(_EQUIVALENT_SALT if equivalent else b"")
    for i, cl in enumerate(ordered):
        if i > 0:
            hasher.update(_SEPARATOR)
        patchset = cl.min_equivalent_patchset if equivalent else cl.patchset
        hasher.update(f"{cl.host}\x00{cl.change}\x00{patchset}".encode())
    return hasher.digest()[:_KEY_BYTES].hex()


def cl_group_key(cls: Sequence[GroupedCL]) -> str:
    """Return the BigQuery `cl_group_key` of a Run's CLs (16 hex chars, spec §7.3).

    Raises:
        ValueError: if `cls` is empty.
    """
    return _group_key(cls, equivalent=False)


def equivalent_cl_group_key(cls: Sequence[GroupedCL]) -> str:
    """Return the BigQuery `equivalent_cl_group_key` of a Run's CLs (16 hex chars, §7.3).

    Raises:
        ValueError: if `cls` is empty.
    """
    return _group_key(cls, equivalent=True)
