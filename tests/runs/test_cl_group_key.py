"""CL group keys hash CLs in ExternalID string order (spec §7.3)."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from cvmigrate.runs.cl_group_key import GroupedCL, cl_group_key, equivalent_cl_group_key

FOO = GroupedCL(
    host="foo-review.googlesource.com", change=111, patchset=2, min_equivalent_patchset=2
)


def layout(*cls: tuple[str, int, int], salt: bytes = b"") -> str:
    data = b"\x00".join(f"{h}\x00{c}\x00{p}".encode() for h, c, p in cls)
    return hashlib.sha256(salt + data).hexdigest()[:16]


def test_single_cl_matches_spec_vectors() -> None:
    assert cl_group_key([FOO]) == "331ea2a6a5d5f3b3"
    assert equivalent_cl_group_key([FOO]) == "47337d4707144297"


def test_external_id_is_gerrit_host_change() -> None:
    assert FOO.external_id == "gerrit/foo-review.googlesource.com/111"


def test_equivalent_key_uses_min_equivalent_patchset_and_salt() -> None:
    cl = dataclasses.replace(FOO, patchset=5, min_equivalent_patchset=3)
    assert cl_group_key([cl]) == layout(("foo-review.googlesource.com", 111, 5))
    assert equivalent_cl_group_key([cl]) == layout(
        ("foo-review.googlesource.com", 111, 3), salt=b"equivalent_cl_group_key"
    )


def test_keys_differ_even_when_patchsets_are_equal() -> None:
    assert cl_group_key([FOO]) != equivalent_cl_group_key([FOO])


def test_trivial_rebase_keeps_equivalent_key_only() -> None:
    rebased = dataclasses.replace(FOO, patchset=3)
    assert cl_group_key([rebased]) != cl_group_key([FOO])
    assert equivalent_cl_group_key([rebased]) == equivalent_cl_group_key([FOO])


def test_sort_is_lexicographic_on_external_id_not_numeric() -> None:
    nine = GroupedCL(host="h", change=9, patchset=1, min_equivalent_patchset=1)
    ten = GroupedCL(host="h", change=10, patchset=1, min_equivalent_patchset=1)
    # "gerrit/h/10" < "gerrit/h/9": change 10 is hashed first.
    string_order = layout(("h", 10, 1), ("h", 9, 1))
    numeric_order = layout(("h", 9, 1), ("h", 10, 1))
    assert string_order != numeric_order
    assert cl_group_key([nine, ten]) == string_order
    assert cl_group_key([ten, nine]) == string_order
    assert equivalent_cl_group_key([nine, ten]) == layout(
        ("h", 10, 1), ("h", 9, 1), salt=b"equivalent_cl_group_key"
    )


def test_sort_compares_whole_external_id_so_host_boundary_matters() -> None:
    # "gerrit/a/2" vs "gerrit/a-b/1": '/' (0x2f) sorts after '-' (0x2d).
    a = GroupedCL(host="a", change=2, patchset=1, min_equivalent_patchset=1)
    ab = GroupedCL(host="a-b", change=1, patchset=1, min_equivalent_patchset=1)
    assert cl_group_key([a, ab]) == layout(("a-b", 1, 1), ("a", 2, 1))


def test_one_nul_between_cls_and_none_at_the_ends() -> None:
    x = GroupedCL(host="x", change=1, patchset=2, min_equivalent_patchset=1)
    y = GroupedCL(host="y", change=3, patchset=4, min_equivalent_patchset=4)
    expected = hashlib.sha256(b"x\x001\x002\x00y\x003\x004").hexdigest()[:16]
    assert cl_group_key([y, x]) == expected


def test_empty_cl_list_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one CL"):
        cl_group_key([])
    with pytest.raises(ValueError, match="at least one CL"):
        equivalent_cl_group_key([])
