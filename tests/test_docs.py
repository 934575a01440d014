"""The README documents every setting and every CLI command (it must not drift)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from pydantic import BaseModel

from cvmigrate.cli import main
from cvmigrate.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _settings(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))
        nested = [t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)]
        if nested:
            names.extend(_settings(nested[0], f"{prefix}{name}."))
        else:
            names.append(f"{prefix}{name}")
    return names


def _commands(group: click.Group, prefix: str = "cvmigrate") -> list[str]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
        else:
            found.append(path)
    return found


@pytest.mark.parametrize("setting", _settings(Settings))
def test_every_setting_is_in_the_readme(setting):
    # Documented as `key = ...` inside its section's TOML example.
    key = setting.rsplit(".", 1)[-1]
    assert f"\n{key} = " in README or f"{key} = " in README, f"{setting} is not documented"


@pytest.mark.parametrize("command", _commands(main))
def test_every_cli_command_is_in_the_readme(command):
    assert command in README, f"`{command}` is not documented"
