"""Helpers every CLI command group shares: `--config`, loading settings, one database call.

They live apart from cli.py so that command groups defined in other packages
(export/commands.py) can use them while cli.py imports those groups.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cvmigrate.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from cvmigrate.store.db import Database

__all__ = ["config_option", "load_config", "run_db", "with_db"]

T = TypeVar("T")


def config_option(func: Any) -> Any:
    """Add `--config PATH` (also $CVMIGRATE_CONFIG) as the `config_path` argument."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        envvar="CVMIGRATE_CONFIG",
        help="TOML configuration file (default: $CVMIGRATE_CONFIG, else built-in defaults).",
    )(func)


def load_config(config_path: str | None, **overrides: Any) -> Settings:
    """Settings from `config_path`, with `[server]` overrides; errors become ClickException."""
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if overrides:
        server = settings.server.model_copy(update=overrides)
        settings = settings.model_copy(update={"server": server})
    return settings


def with_db(settings: Settings, fn: Callable[[Database], Awaitable[T]]) -> T:
    """Open the configured database (migrating it first), run `await fn(db)`, close it.
    Store errors become ClickException."""
    from cvmigrate.store.db import Database, StoreError
    from cvmigrate.store.migrate import SchemaTooNew

    async def go() -> T:
        db = await Database.open(settings.database.path)
        try:
            return await fn(db)
        finally:
            await db.close()

    try:
        return asyncio.run(go())
    except (SchemaTooNew, StoreError) as exc:
        raise click.ClickException(str(exc)) from None


def run_db(settings: Settings, fn: Any, *args: Any, write: bool = False) -> Any:
    """Run `fn(conn, *args)` against the configured database (migrating it first); a write's
    `fn` is a module-level function (Database.write)."""
    if write:
        return with_db(settings, lambda db: db.write(fn, *args))
    return with_db(settings, lambda db: db.read(lambda conn: fn(conn, *args)))
