"""Helpers shared by the handlers: storage errors as RPC errors, Run lookup."""

from __future__ import annotations

import logging
from types import TracebackType

from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.errors import RpcError
from cvmigrate.store.db import StoreError, StoreUnavailable

__all__ = ["store_errors"]

log = logging.getLogger("cvmigrate.migration")


class store_errors:  # lower-case: used as a function, `with store_errors("saving X"):`
    """Storage failures become UNAVAILABLE (retryable): the caller must never see a silent OK.

    A class rather than a `contextlib.contextmanager` generator: every RPC enters one, and
    the generator cost four times as much (bench/, issue 8)."""

    __slots__ = ("_action",)

    def __init__(self, action: str) -> None:
        self._action = action

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not isinstance(exc, StoreError):
            return
        log.error("%s failed: %s", self._action, exc)
        # The reason (locked, disk full) tells the operator what to fix; it holds no SQL.
        reason = f" ({exc.reason})" if isinstance(exc, StoreUnavailable) else ""
        raise RpcError(Code.UNAVAILABLE, f"{self._action} failed{reason}, retry later") from exc
