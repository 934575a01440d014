"""One typed settings object, read from a TOML file plus `CVMIGRATE_<SECTION>_<KEY>` variables.

Every setting is declared once below (type, default, help). An unknown key, a wrong type or
a bad value fails at start with a message naming the key (`server.bind: ...`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AuthSettings",
    "BigQuerySettings",
    "ConfigError",
    "DatabaseSettings",
    "GerritHost",
    "GerritSettings",
    "InCharge",
    "ProjectAdditionalMode",
    "ProjectConfigGroup",
    "ProjectSettings",
    "RunManagerSettings",
    "ServerSettings",
    "Settings",
    "TelemetrySettings",
    "TokenEntry",
    "is_loopback_host",
    "load_settings",
    "parse_bind",
]

ENV_PREFIX = "CVMIGRATE_"
CONFIG_ENV = "CVMIGRATE_CONFIG"


class ConfigError(Exception):
    """The configuration is invalid; the message names the offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    bind: str = Field(
        "127.0.0.1:8080", description="HOST:PORT to listen on (port 0: any free port)."
    )
    twirp_prefix: str = Field(
        "/twirp", description="Path prefix of Twirp routes; must be non-empty (see spec)."
    )
    max_body_bytes: int = Field(
        32 * 1024 * 1024,
        gt=0,
        description="Largest request body accepted, counted after decompression.",
    )
    max_timeout_s: float = Field(
        300.0, gt=0, description="Upper bound applied to client deadlines (seconds)."
    )
    max_concurrent_requests: int = Field(
        256,
        gt=0,
        description="RPCs handled at once; more are answered RESOURCE_EXHAUSTED, not queued.",
    )
    # betterproto2 decodes ~100k fields a second (pure Python; upb, for the loop methods,
    # far more): this bounds the CPU one request can take; CQDaemon's largest calls
    # (ReportRuns) carry a few tens of thousands.
    max_request_fields: int = Field(
        100_000,
        gt=0,
        description="Most fields (repeated elements included) one request message may hold.",
    )
    read_timeout_s: float = Field(
        60.0, gt=0, description="A connection that sends nothing for this long is closed."
    )
    keep_alive_timeout_s: float = Field(
        30.0,
        gt=0,
        description="An idle connection, or one without complete request headers, is closed"
        " after this long.",
    )
    fetch_active_runs_cache: bool = Field(
        True,
        description="Keep each project's FetchActiveRuns answer until the store changes it"
        " (false: rebuild it on every call).",
    )

    @pydantic.field_validator("bind")
    @classmethod
    def _check_bind(cls, value: str) -> str:
        parse_bind(value)
        return value

    @pydantic.field_validator("twirp_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        value = "/" + value.strip("/")
        if value == "/":
            raise ValueError("must not be empty: Twirp JSON would collide with Connect routes")
        if value == "/prpc":
            raise ValueError("must not be /prpc, where the pRPC routes are; e.g. /twirp")
        return value


class DatabaseSettings(_Section):
    path: str = Field("./cvmigrate.db", description="SQLite database file.")
    busy_timeout_ms: int = Field(
        10_000,
        ge=0,
        description="How long a write waits for a lock held by another process before the"
        " RPC answers UNAVAILABLE.",
    )
    max_size_bytes: int = Field(
        0,
        ge=0,
        description="Writes that would grow the database past this size fail as on a full"
        " disk (UNAVAILABLE); 0: no limit.",
    )


class TokenEntry(_Section):
    identity: str = Field(description="Identity the token authenticates, e.g. project:chromium.")
    sha256: str = Field(description="Hex SHA-256 digest of the bearer token.")

    @pydantic.field_validator("sha256")
    @classmethod
    def _check_digest(cls, value: str) -> str:
        value = value.lower()
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ValueError("must be 64 hex characters (sha256 of the token)")
        return value

    @pydantic.field_validator("identity")
    @classmethod
    def _check_identity(cls, value: str) -> str:
        kind, _, name = value.partition(":")
        if kind not in ("project", "user", "service") or not name:
            raise ValueError("must be project:<name>, user:<email> or service:<name>")
        return value


class AuthSettings(_Section):
    tokens: tuple[TokenEntry, ...] = Field((), description="Accepted bearer tokens (digests).")
    trusted_services: tuple[str, ...] = Field(
        (), description="Identities whose X-Luci-Project header is honoured."
    )
    allow_group: tuple[str, ...] = Field(
        (), description="Non-project identities allowed to call (CV's migration group)."
    )
    cross_project: bool = Field(
        False, description="Let a project: identity act on other projects (CV's looser rule)."
    )


class GerritHost(_Section):
    host: str = Field(description="Gerrit host name as CQDaemon and CLs use it.")
    base_url: str = Field("", description="Where requests go (default https://<host>).")
    auth: Literal["bearer", "basic", "netrc", "none"] = Field(
        "bearer", description="How requests authenticate."
    )
    token_env: str = Field("", description="Environment variable holding the credential.")


class GerritSettings(_Section):
    hosts: tuple[GerritHost, ...] = Field((), description="Gerrit hosts CV talks to.")
    max_retries: int = Field(
        3, ge=0, description="Retries of a Gerrit call after 429, 5xx or a timeout."
    )
    retry_base_s: float = Field(
        0.5, gt=0, description="First retry backoff of a Gerrit call (doubles, full jitter)."
    )
    retry_cap_s: float = Field(10.0, gt=0, description="Longest backoff between Gerrit retries.")


class RunManagerSettings(_Section):
    poll_interval_s: float = Field(
        1.0, gt=0, description="Seconds between looks for due run-manager events."
    )
    retry_base_s: float = Field(
        1.0, gt=0, description="First backoff of a failed run-manager event (doubles, jitter)."
    )
    retry_cap_s: float = Field(
        60.0, gt=0, description="Longest backoff of a failed run-manager event."
    )
    concurrency: int = Field(8, gt=0, description="Runs whose events are handled at once.")


InCharge = Literal["cv", "cqdaemon"]
"""Who runs the project's runs (spec §8.1): CV (FetchActiveRuns is CQDaemon's candidate
list, CV acts in Gerrit) or CQDaemon (CV keeps shadow runs and finalizes them from
ReportFinishedRun)."""

# The only additional mode the BigQuery `Mode` enum knows (spec §3.2): any other name would
# make a Run that cannot be exported.
_ADDITIONAL_MODE_NAMES = ("QUICK_DRY_RUN",)
_CQ_LABEL = "Commit-Queue"


class ProjectAdditionalMode(_Section):
    """A config group's additional run mode (CV's `cfgpb.Mode`), e.g. QUICK_DRY_RUN."""

    name: str = Field(description="Mode name; QUICK_DRY_RUN is the only one BigQuery knows.")
    cq_label_value: int = Field(ge=1, le=2, description="The Commit-Queue vote it applies to.")
    triggering_label: str = Field(
        min_length=1, description="The extra label voted with the Commit-Queue vote."
    )
    triggering_value: int = Field(gt=0, description="The extra label's value that selects it.")

    @pydantic.field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if value not in _ADDITIONAL_MODE_NAMES:
            raise ValueError(f"must be one of {list(_ADDITIONAL_MODE_NAMES)}")
        return value

    @pydantic.field_validator("triggering_label")
    @classmethod
    def _check_label(cls, value: str) -> str:
        if value == _CQ_LABEL:
            raise ValueError(f"must not be {_CQ_LABEL} (the mode is chosen by a second label)")
        return value


class ProjectConfigGroup(_Section):
    """The CLs of some repos and refs on one Gerrit host, and how to run them."""

    name: str = Field(min_length=1, description="Config group name (BigQuery config_group).")
    host: str = Field(min_length=1, description="Gerrit host; one of [[gerrit.hosts]].")
    repos: tuple[str, ...] = Field(min_length=1, description="Gerrit projects (repos) watched.")
    refs: tuple[str, ...] = Field(
        min_length=1, description="Regular expressions a change's ref must fully match."
    )
    tree_status_url: str = Field("", description="Tree status app checked before submitting.")
    submit_max_burst: int = Field(
        0, ge=0, description="Runs submitted per burst_delay (0: no limit)."
    )
    submit_burst_delay_s: float = Field(
        0.0, ge=0, description="Window of submit_max_burst, in seconds."
    )
    additional_modes: tuple[ProjectAdditionalMode, ...] = Field(
        (), description="Modes beyond DRY_RUN and FULL_RUN; first match wins."
    )

    @pydantic.field_validator("refs")
    @classmethod
    def _check_refs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, pattern in enumerate(value):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"refs[{index}] {pattern!r} is not a regular expression: {exc}"
                ) from None
        return value

    @pydantic.field_validator("repos")
    @classmethod
    def _check_repos(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for repo in value:
            # The poller quotes repos in `project:"<repo>"` queries.
            if not repo or '"' in repo or repo != repo.strip():
                raise ValueError(f"{repo!r} is not a Gerrit project name")
        return value


class ProjectSettings(_Section):
    """One LUCI project whose runs CV creates from Gerrit votes (spec §11.1, §11.3)."""

    name: str = Field(
        min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="LUCI project name."
    )
    in_charge: InCharge = Field(
        "cqdaemon", description="Who runs the runs: cv or cqdaemon (spec §8.1; CV's default)."
    )
    poll_interval_s: float = Field(10.0, gt=0, description="Seconds between Gerrit polls.")
    config_groups: tuple[ProjectConfigGroup, ...] = Field(
        min_length=1, description="A change belongs to the first group matching it."
    )

    @pydantic.field_validator("config_groups")
    @classmethod
    def _check_group_names(
        cls, value: tuple[ProjectConfigGroup, ...]
    ) -> tuple[ProjectConfigGroup, ...]:
        names = [group.name for group in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"config group names must be unique, repeated: {duplicates}")
        return value


class BigQuerySettings(_Section):
    enabled: bool = Field(False, description="Send outbox rows to BigQuery.")
    project: str = Field("", description="GCP project of the table.")
    dataset: str = Field("raw", description="Dataset of the table.")
    table: str = Field("attempts_cv", description="Table name.")
    api_endpoint: str = Field(
        "", description="API endpoint override (local emulator); anonymous credentials then."
    )
    batch_rows: int = Field(500, gt=0, le=500, description="Rows per insert request.")
    # The client's default retry re-sends a failing insert for 600 s (spec/bigquery.md §4);
    # a short deadline hands the rows back to the outbox, whose backoff survives restarts.
    retry_deadline_s: float = Field(
        30.0, gt=0, description="Longest an insert may take, client retries included."
    )
    request_timeout_s: float = Field(10.0, gt=0, description="Timeout of each HTTP attempt.")
    backoff_initial_s: float = Field(
        1.0, gt=0, description="Wait after a failed insert; doubles per failure, with jitter."
    )
    backoff_max_s: float = Field(600.0, gt=0, description="Longest wait between tries of a row.")
    poll_interval_s: float = Field(1.0, gt=0, description="How often the exporter looks for rows.")

    @pydantic.model_validator(mode="after")
    def _check_project(self) -> BigQuerySettings:
        if self.enabled and not self.project:
            raise ValueError("project is required when enabled")
        return self


class TelemetrySettings(_Section):
    # Same names as the OTEL_* variables, lower-case without the prefix; env wins.
    service_name: str = Field("cvmigrate", description="OTEL_SERVICE_NAME.")
    traces_exporter: str = Field("none", description="OTEL_TRACES_EXPORTER (none|otlp|console).")
    metrics_exporter: str = Field("none", description="OTEL_METRICS_EXPORTER (none|otlp|console).")
    exporter_otlp_endpoint: str = Field("", description="OTEL_EXPORTER_OTLP_ENDPOINT.")
    exporter_otlp_protocol: str = Field("http/protobuf", description="OTEL_EXPORTER_OTLP_PROTOCOL.")


class Settings(_Section):
    """The whole configuration."""

    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    auth: AuthSettings = AuthSettings()
    gerrit: GerritSettings = GerritSettings()
    run_manager: RunManagerSettings = RunManagerSettings()
    projects: tuple[ProjectSettings, ...] = Field(
        (), description="LUCI projects whose Gerrit votes become runs (none: poll nothing)."
    )
    bigquery: BigQuerySettings = BigQuerySettings()
    telemetry: TelemetrySettings = TelemetrySettings()

    @pydantic.field_validator("projects")
    @classmethod
    def _check_projects(
        cls, value: tuple[ProjectSettings, ...], info: pydantic.ValidationInfo
    ) -> tuple[ProjectSettings, ...]:
        names = [project.name for project in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"project names must be unique, repeated: {duplicates}")
        gerrit = info.data.get("gerrit")
        if gerrit is None:  # [gerrit] itself is invalid and already reported
            return value
        hosts = sorted(host.host for host in gerrit.hosts)
        for p, project in enumerate(value):
            for g, group in enumerate(project.config_groups):
                if group.host not in hosts:
                    raise ValueError(
                        f"projects.{p}.config_groups.{g}.host: {group.host!r} is not one of"
                        f" [[gerrit.hosts]] (configured: {hosts})"
                    )
        return value

    @property
    def is_loopback_bind(self) -> bool:
        return is_loopback_host(parse_bind(self.server.bind)[0])


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback IP address (a name that must be resolved is not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_bind(value: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`) → (host, port); raises ValueError."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{value!r} is not HOST:PORT")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} is out of range")
    return host.strip("[]"), port


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """`CVMIGRATE_SERVER_BIND=...` → {"server": {"bind": "..."}} for scalar settings."""
    overrides: dict[str, dict[str, Any]] = {}
    for section_name, field in Settings.model_fields.items():
        section_type = field.annotation
        if not (isinstance(section_type, type) and issubclass(section_type, _Section)):
            continue
        for key, key_field in section_type.model_fields.items():
            if key_field.annotation not in (str, int, float, bool):
                continue
            env_name = f"{ENV_PREFIX}{section_name}_{key}".upper()
            if env_name in environ:
                overrides.setdefault(section_name, {})[key] = environ[env_name]
    return overrides


def _format_errors(error: pydantic.ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"{key}: {message}")
    return f"invalid configuration ({source}): " + "; ".join(lines)


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from `path` (or $CVMIGRATE_CONFIG, or defaults) with env overrides applied.

    Raises ConfigError naming the key on any problem.
    """
    environ = os.environ if environ is None else environ
    if path is None:
        path = environ.get(CONFIG_ENV) or None
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"configuration file {source} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"configuration file {source} is not valid TOML: {exc}") from None
    for section, values in _env_overrides(environ).items():
        existing = data.get(section)
        data[section] = {**(existing if isinstance(existing, dict) else {}), **values}
    try:
        return Settings.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None
