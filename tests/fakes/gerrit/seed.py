"""A small demo state for trying the fake by hand (and for tests that want "some data")."""

from __future__ import annotations

from .state import GerritState

__all__ = ["CV_ACCOUNT", "seed_demo"]

CV_ACCOUNT = 1000


def seed_demo(state: GerritState) -> None:
    """CV's account 1000 (label-as Commit-Queue, submit), two developers, and four changes in
    chromium/src: a dry run, a full run, a stack of two, and a merged change."""
    state.add_account(CV_ACCOUNT, email="cv@example.com", name="LUCI CV", username="cv",
                      label_as={"Commit-Queue"}, submit=True)  # fmt: skip
    state.add_account(1001, email="alice@example.com", name="Alice", username="alice")
    state.add_account(1002, email="bob@example.com", name="Bob", username="bob")

    dry = state.add_change(owner=1001, subject="Dry run me", number=101)
    state.vote(dry.number, "Commit-Queue", 1001, 1)

    full = state.add_change(owner=1002, subject="Land me", number=102)
    state.vote(full.number, "Code-Review", 1001, 2)
    state.vote(full.number, "Commit-Queue", 1002, 2)

    base = state.add_change(owner=1001, subject="Stack base", number=103)
    top = state.add_change(
        owner=1001, subject="Stack top", number=104, parents=[base.current.revision]
    )
    state.vote(top.number, "Commit-Queue", 1001, 2)

    merged = state.add_change(owner=1002, subject="Already landed", number=105)
    state.set_status(merged.number, "MERGED")
