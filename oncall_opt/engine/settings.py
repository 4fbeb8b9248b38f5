"""Daemon settings from the environment and an optional secrets file.

Secrets (the Slack webhook URL, the API token) are held as `SecretStr`, whose repr and str are
masked, so they cannot reach a log line by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from oncall_opt import times
from oncall_opt.errors import ConfigError
from oncall_opt.secretsfile import DEFAULT_SECRETS, ENV_PREFIX, read_secrets_file

__all__ = ["ConfigError", "Settings", "load_settings"]

DEFAULT_DB = Path("data") / "oncall.duckdb"
SECRET_NAMES = ("SLACK_WEBHOOK_URL", "API_TOKEN")


@dataclass(frozen=True)
class Settings:
    db_path: Path = DEFAULT_DB
    host: str = times.DEFAULT_HOST
    port: int = times.DEFAULT_PORT
    slack_webhook_url: SecretStr | None = None
    api_token: SecretStr | None = None
    remind_every: float = 600.0  # seconds: the reminder job, and how often an incident is due
    assign_every: float = 60.0
    deliver_every: float = 5.0
    escalate_every: float = 60.0
    escalate_after: float = 900.0  # an unacknowledged incident goes to the secondary after this
    slack_timeout: float = 10.0
    slack_min_interval: float = 1.0  # at most about one message per second per webhook

    @property
    def api_url(self) -> str:
        return times.url_of(self.host, self.port)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from `ONCALL_*` variables; secrets may also come from `ONCALL_SECRETS_FILE`
    (default `data/secrets.env` when it exists). The environment wins over the file."""
    env = dict(os.environ if environ is None else environ)
    values = {k.removeprefix(ENV_PREFIX): v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    secrets_path = Path(values.get("SECRETS_FILE", str(DEFAULT_SECRETS)))
    if secrets_path.is_file():
        for key, value in read_secrets_file(secrets_path).items():
            values.setdefault(key, value)
    elif "SECRETS_FILE" in values:
        raise ConfigError(f"ONCALL_SECRETS_FILE: no file at {secrets_path}")

    def number(name: str, default: float, minimum: float = 0.0) -> float:
        raw = values.get(name)
        if raw is None or raw == "":
            return default
        try:
            result = float(raw)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{name}: '{raw}' is not a number") from None
        if result <= minimum:
            raise ConfigError(f"{ENV_PREFIX}{name}: must be more than {minimum:g}")
        return result

    host, port = times.DEFAULT_HOST, times.DEFAULT_PORT
    if values.get("BIND"):
        try:
            host, port = times.parse_host_port(values["BIND"])
        except ValueError as exc:
            raise ConfigError(f"{ENV_PREFIX}BIND: {exc}") from None

    def secret(name: str) -> SecretStr | None:
        raw = values.get(name, "").strip()
        return SecretStr(raw) if raw else None

    return Settings(
        db_path=Path(values.get("DB") or DEFAULT_DB),
        host=host,
        port=port,
        slack_webhook_url=secret("SLACK_WEBHOOK_URL"),
        api_token=secret("API_TOKEN"),
        remind_every=number("REMIND_EVERY", 600.0),
        assign_every=number("ASSIGN_EVERY", 60.0),
        deliver_every=number("DELIVER_EVERY", 5.0),
        escalate_every=number("ESCALATE_EVERY", 60.0),
        escalate_after=number("ESCALATE_AFTER", 900.0),
        slack_timeout=number("SLACK_TIMEOUT", 10.0),
        slack_min_interval=number("SLACK_MIN_INTERVAL", 1.0, minimum=-1.0),
    )
