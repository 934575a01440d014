"""Handler tests call the handlers directly with a real on-disk database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from support import T0, Clock

from cvmigrate.auth import Acl
from cvmigrate.config import AuthSettings
from cvmigrate.migration.deps import Deps
from cvmigrate.secretbox import SecretBox, new_secret_key
from cvmigrate.store.db import Database


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(hours=1))


@pytest.fixture
def make_deps(db: Database, clock: Clock) -> Callable[..., Deps]:
    def make(*, secret: bool = True, **auth: Any) -> Deps:
        settings = AuthSettings(**auth)
        return Deps(
            db=db,
            acl=Acl(settings, dev_identity_allowed=True),
            clock=clock,
            secret_box=SecretBox(new_secret_key()) if secret else None,
        )

    return make


@pytest.fixture
def deps(make_deps: Callable[..., Deps]) -> Deps:
    return make_deps(trusted_services=("service:cqdaemon",))
