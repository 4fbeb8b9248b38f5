"""Daemon settings from the environment and an optional secrets file, on pydantic-settings.

`Settings(...)` is the typed, frozen result that the daemon's parts take; built directly (code,
tests) it holds just what it is given. `load_settings()` reads it from `ONCALL_*` variables and
the secrets file (`ONCALL_SECRETS_FILE`, default `data/secrets.env` when it exists) with
pydantic-settings' source priority: a value given to `load_settings` (a flag) wins over the
environment, which wins over the file. A malformed value is a `ConfigError` naming the variable.

Secrets (the Slack webhook URL, the API token) are held as `SecretStr`, whose repr and str are
masked, so they cannot reach a log line by accident.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from oncall_opt import times
from oncall_opt.engine.store import is_postgresql
from oncall_opt.errors import ConfigError
from oncall_opt.secretsfile import DEFAULT_SECRETS, ENV_PREFIX, read_secrets_file

__all__ = ["ConfigError", "Settings", "load_settings"]

DEFAULT_DB = Path("data") / "oncall.duckdb"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    db_path: str | Path = DEFAULT_DB  # a DuckDB file, or a postgresql:// URL
    host: str = times.DEFAULT_HOST
    port: int = times.DEFAULT_PORT
    slack_webhook_url: SecretStr | None = None
    api_token: SecretStr | None = None
    remind_every: float = 600.0  # seconds: the reminder job, and how often an incident is due
    assign_every: float = 60.0
    deliver_every: float = 5.0
    escalate_every: float = 5.0  # a step fires within 5 s of its time
    slack_timeout: float = 10.0
    slack_min_interval: float = 1.0  # at most about one message per second per webhook
    session_hours: float = 24.0  # how long a console sign-in lasts
    handoff_notice_minutes: float = 30.0  # the heads-up before someone's shift starts
    delivery_lease: float = 60.0  # PostgreSQL: a claimed message not sent by then is free again
    body_timeout: float = 15.0  # seconds a request body may pause (4x: for all of it)
    allowed_hosts: tuple[str, ...] = ()  # names the daemon answers to without a token
    allow_private_webhooks: bool = False  # team webhooks may reach private addresses, http
    # Paging people (engine/paging): where links in messages point, and the providers.
    public_url: str = "http://127.0.0.1:8501"  # the console as people reach it
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = True
    smtp_timeout: float = 15.0
    ntfy_token: SecretStr | None = None
    slack_bot_token: SecretStr | None = None  # a Slack app's bot token: direct messages
    slack_signing_secret: SecretStr | None = None  # verifies the app's button presses
    slack_api_url: str = "https://slack.com/api/"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None  # the number texts and calls come from
    twilio_api_url: str = "https://api.twilio.com"
    public_api_url: str | None = None  # the daemon as Twilio reaches it (call key presses)
    apprise_hosts: str = ""  # self-hosted Apprise services (Matrix...) allowed: host,host
    events_per_minute: int = 120  # an integration key's rate limit (PagerDuty's, about)
    channel_links: bool = False  # team-channel messages link their incident (ONCALL_PUBLIC_URL)
    tls_cert: str | None = None  # serve HTTPS: the certificate (PEM) ...
    tls_key: str | None = None  # ... and its key
    ntfy_server: str | None = None  # the ntfy server ONCALL_NTFY_TOKEN belongs to

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **other_sources):
        return (init_settings,)  # built in code: only what it is given, never the environment

    @property
    def api_url(self) -> str:
        url = times.url_of(self.host, self.port)
        return url.replace("http://", "https://", 1) if self.tls_cert else url


class _SecretsFile(PydanticBaseSettingsSource):
    """The secrets file's `KEY=value` lines (`ONCALL_` prefix optional) as a settings source."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, str]):
        super().__init__(settings_cls)
        self.values = {key.lower(): value for key, value in values.items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {name: value for name, value in self.values.items() if value.strip()}


_SECRETS = (
    "slack_webhook_url", "api_token", "smtp_password", "ntfy_token", "slack_bot_token",
    "slack_signing_secret", "twilio_auth_token",
)  # fmt: skip


class _Variables(BaseSettings):
    """The `ONCALL_*` variables, by their names without the prefix."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    db: str = str(DEFAULT_DB)
    bind: str = ""
    slack_webhook_url: SecretStr | None = None
    api_token: SecretStr | None = None
    remind_every: float = Field(600.0, gt=0)
    assign_every: float = Field(60.0, gt=0)
    deliver_every: float = Field(5.0, gt=0)
    escalate_every: float = Field(5.0, gt=0)
    slack_timeout: float = Field(10.0, gt=0)
    slack_min_interval: float = Field(1.0, gt=-1)
    session_hours: float = Field(24.0, gt=0)
    handoff_notice_minutes: float = Field(30.0, ge=0)
    delivery_lease: float = Field(60.0, gt=0)
    body_timeout: float = Field(15.0, gt=0)
    allowed_hosts: str = ""  # comma-separated
    allow_private_webhooks: bool = False
    public_url: str = "http://127.0.0.1:8501"
    smtp_host: str | None = None
    smtp_port: int = Field(587, gt=0, lt=65536)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = True
    smtp_timeout: float = Field(15.0, gt=0)
    ntfy_token: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    public_api_url: str | None = None
    apprise_hosts: str = ""
    ntfy_server: str | None = None
    events_per_minute: int = Field(120, ge=1, le=100_000)
    tls_cert: str | None = None
    tls_key: str | None = None

    @field_validator(*_SECRETS, mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(*_SECRETS, mode="after")
    @classmethod
    def _strip(cls, value: SecretStr | None) -> SecretStr | None:
        return SecretStr(value.get_secret_value().strip()) if value is not None else None

    secrets_path: Path | None = None  # the secrets file to read after the environment

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **other_sources):
        # The environment arrives as init values, so a given mapping (tests, flags) is read the
        # same way as the process's; the secrets file comes after it.
        path = init_settings.init_kwargs.get("secrets_path")
        return (init_settings, _SecretsFile(settings_cls, read_secrets_file(path) if path else {}))


def _explain(error: dict[str, Any]) -> str:
    name = f"{ENV_PREFIX}{str(error['loc'][0]).upper()}"
    given = error.get("input")
    if error["type"] in ("float_parsing", "float_type"):
        return f"{name}: '{given}' is not a number"
    if error["type"] == "greater_than":
        return f"{name}: must be more than {error['ctx']['gt']:g}"
    return f"{name}: {error['msg']}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `ONCALL_*` variables (`environ`, default the process environment) and the
    secrets file. An empty variable counts as unset."""
    env = os.environ if environ is None else environ
    given = {
        key.removeprefix(ENV_PREFIX).lower(): value
        for key, value in env.items()
        if key.startswith(ENV_PREFIX) and value.strip()
    }
    secrets_path = Path(given.pop("secrets_file", None) or DEFAULT_SECRETS)
    if not secrets_path.is_file() and f"{ENV_PREFIX}SECRETS_FILE" in env:
        raise ConfigError(f"{ENV_PREFIX}SECRETS_FILE: no file at {secrets_path}")
    try:
        variables = _Variables(
            **given, secrets_path=secrets_path if secrets_path.is_file() else None
        )
    except ValidationError as exc:
        raise ConfigError(_explain(exc.errors()[0])) from None
    host, port = times.DEFAULT_HOST, times.DEFAULT_PORT
    if variables.bind:
        try:
            host, port = times.parse_host_port(variables.bind)
        except ValueError as exc:
            raise ConfigError(f"{ENV_PREFIX}BIND: {exc}") from None
    if variables.delivery_lease <= variables.slack_timeout:
        # A post still waiting for Slack would be taken over and posted again by another daemon.
        raise ConfigError(
            f"{ENV_PREFIX}DELIVERY_LEASE: must be more than {ENV_PREFIX}SLACK_TIMEOUT "
            f"({variables.slack_timeout:g} s), or a slow post is posted again by another daemon"
        )
    fields = variables.model_dump(exclude={"db", "bind", "secrets_path", "allowed_hosts"})
    db = variables.db if is_postgresql(variables.db) else Path(variables.db)
    allowed = [name.strip() for name in variables.allowed_hosts.split(",") if name.strip()]
    if host not in ("0.0.0.0", "::", ""):  # the address it is told to listen on is its name
        allowed.append(host)
    # Links in channel messages only where the console's address was told (the default,
    # 127.0.0.1, would be a link that works on no one's phone).
    default_console = Settings.model_fields["public_url"].default
    fields["channel_links"] = variables.public_url != default_console
    return Settings(db_path=db, host=host, port=port, allowed_hosts=tuple(allowed), **fields)
