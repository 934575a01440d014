"""Project configuration: validation naming the key, config-group matching, poller queries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from harness import to_toml

from cvmigrate.changelist.trigger import AdditionalMode
from cvmigrate.config import ConfigError, ProjectSettings, load_settings
from cvmigrate.poller.config_groups import (
    ConfigGroupMatcher,
    additional_modes,
    build_change_queries,
    build_queries,
    watched_repos,
)

HOST = "chromium-review.googlesource.com"
OTHER = "chrome-internal-review.googlesource.com"


def group(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "main",
        "host": HOST,
        "repos": ["chromium/src"],
        "refs": ["refs/heads/main"],
        **overrides,
    }


def project(*groups: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {"name": "chromium", "config_groups": list(groups or [group()]), **overrides}


def load(tmp_path: Path, *projects: dict[str, Any]):
    config = {
        "gerrit": {"hosts": [{"host": HOST}, {"host": OTHER}]},
        "projects": list(projects),
    }
    path = tmp_path / "cvmigrate.toml"
    text = to_toml({"gerrit.hosts": config["gerrit"]["hosts"], "projects": config["projects"]})
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={})


def test_full_project_configuration_loads(tmp_path: Path) -> None:
    quick = {
        "name": "QUICK_DRY_RUN",
        "cq_label_value": 1,
        "triggering_label": "Quick-Run",
        "triggering_value": 1,
    }
    settings = load(
        tmp_path,
        project(
            group(
                tree_status_url="https://status.example.com",
                submit_max_burst=4,
                submit_burst_delay_s=60,
                additional_modes=[quick],
            ),
            in_charge="cv",
            poll_interval_s=2.5,
        ),
    )
    (loaded,) = settings.projects
    assert (loaded.name, loaded.in_charge, loaded.poll_interval_s) == ("chromium", "cv", 2.5)
    (main,) = loaded.config_groups
    assert (main.submit_max_burst, main.submit_burst_delay_s) == (4, 60.0)
    assert additional_modes(main) == (
        AdditionalMode(
            name="QUICK_DRY_RUN", cq_label_value=1, triggering_label="Quick-Run", triggering_value=1
        ),
    )


def test_defaults_cqdaemon_in_charge_every_ten_seconds(tmp_path: Path) -> None:
    (loaded,) = load(tmp_path, project()).projects
    assert (loaded.in_charge, loaded.poll_interval_s) == ("cqdaemon", 10.0)
    assert loaded.config_groups[0].additional_modes == ()


@pytest.mark.parametrize(
    ("bad_project", "message"),
    [
        pytest.param(
            project(group(host="unknown-review.googlesource.com")),
            "projects.0.config_groups.0.host: 'unknown-review.googlesource.com' is not one of"
            " [[gerrit.hosts]]",
            id="unknown-host",
        ),
        pytest.param(
            project(group(refs=["refs/heads/(main"])),
            "projects.0.config_groups.0.refs: Value error, refs[0] 'refs/heads/(main' is not"
            " a regular expression",
            id="bad-regex",
        ),
        pytest.param(project(in_charge="both"), "projects.0.in_charge: ", id="in-charge"),
        pytest.param(project(poll_interval_s=0), "projects.0.poll_interval_s: ", id="interval"),
        pytest.param(project(group(repos=[])), "projects.0.config_groups.0.repos: ", id="repos"),
        pytest.param(project(group(colour="red")), "config_groups.0.colour: unknown", id="extra"),
        pytest.param(
            project(group(), group()), "config group names must be unique", id="dup-group"
        ),
        pytest.param(
            project(
                group(
                    additional_modes=[
                        {
                            "name": "SUPER_RUN",
                            "cq_label_value": 1,
                            "triggering_label": "Super",
                            "triggering_value": 1,
                        }
                    ]
                )
            ),
            "projects.0.config_groups.0.additional_modes.0.name: ",
            id="unknown-mode",
        ),
        pytest.param(
            project(
                group(
                    additional_modes=[
                        {
                            "name": "QUICK_DRY_RUN",
                            "cq_label_value": 3,
                            "triggering_label": "Quick-Run",
                            "triggering_value": 1,
                        }
                    ]
                )
            ),
            "projects.0.config_groups.0.additional_modes.0.cq_label_value: ",
            id="cq-value",
        ),
    ],
)
def test_bad_project_configuration_names_the_key(tmp_path: Path, bad_project, message) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, bad_project)
    assert message in str(info.value)


def test_duplicate_project_names_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="project names must be unique"):
        load(tmp_path, project(), project())


def matcher() -> ConfigGroupMatcher:
    settings = ProjectSettings(
        name="chromium",
        config_groups=[
            group(name="main", repos=["chromium/src", "v8/v8"], refs=["refs/heads/main"]),
            group(name="branches", refs=["refs/branch-heads/.+", "refs/heads/release-\\d+"]),
            group(name="catch-all", refs=["refs/heads/.*"]),
            group(name="internal", host=OTHER, repos=["chrome/src"], refs=["refs/heads/main"]),
        ],
    )
    return ConfigGroupMatcher(settings.config_groups)


@pytest.mark.parametrize(
    ("host", "repo", "ref", "expected"),
    [
        (HOST, "chromium/src", "refs/heads/main", "main"),
        (HOST, "v8/v8", "refs/heads/main", "main"),
        (HOST, "chromium/src", "refs/branch-heads/4044", "branches"),
        (HOST, "chromium/src", "refs/heads/release-12", "branches"),
        # full match: "release-12x" is not "release-\d+", but the catch-all takes it.
        (HOST, "chromium/src", "refs/heads/release-12x", "catch-all"),
        (HOST, "chromium/src", "refs/heads/mainline", "catch-all"),
        (HOST, "chromium/src", "refs/meta/config", None),
        (HOST, "v8/v8", "refs/heads/feature", None),
        (HOST, "chrome/src", "refs/heads/main", None),
        (OTHER, "chrome/src", "refs/heads/main", "internal"),
        (OTHER, "chromium/src", "refs/heads/main", None),
    ],
)
def test_first_matching_config_group_wins(host, repo, ref, expected) -> None:
    found = matcher().match(host, repo, ref)
    assert (found.name if found else None) == expected


def test_queries_cover_each_hosts_repos_in_chunks() -> None:
    settings = ProjectSettings(
        name="chromium",
        config_groups=[
            group(name="a", repos=["b", "a"]),
            group(name="b", repos=["c", "a"]),
            group(name="c", host=OTHER, repos=["x"]),
        ],
    )
    assert watched_repos(settings) == {HOST: ("a", "b", "c"), OTHER: ("x",)}
    assert build_queries(["a", "b", "c"], chunk=2) == [
        'status:NEW label:Commit-Queue>0 (project:"a" OR project:"b")',
        'status:NEW label:Commit-Queue>0 project:"c"',
    ]
    after = datetime(2026, 11, 1, 12, 0, 0, 5, tzinfo=UTC)
    assert build_queries(["x"], after=after) == [
        'status:NEW label:Commit-Queue>0 project:"x" after:"2026-11-01 12:00:00.000005000"'
    ]
    assert build_change_queries([7, 3, 5, 3], chunk=2) == ["change:3 OR change:5", "change:7"]
