"""The secrets file: `KEY=value` lines holding the daemon's secrets (the Slack webhook URL, the
API token), so that they need not sit in the environment. Shared by the daemon's settings and the
client (which reads the API token from it), so it lives outside both."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from oncall_opt.errors import ConfigError

ENV_PREFIX = "ONCALL_"
DEFAULT_SECRETS = Path("data") / "secrets.env"


def read_secrets_file(path: Path) -> dict[str, str]:
    """`KEY=value` lines; blank lines and `#` comments are skipped; quotes around values go."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected KEY=value")
        key = key.strip().removeprefix("export ").strip().removeprefix(ENV_PREFIX)
        values[key] = value.strip().strip("'\"")
    return values


def api_token(environ: Mapping[str, str]) -> str | None:
    """The API token for writes: ONCALL_API_TOKEN, else the secrets file's (ONCALL_SECRETS_FILE,
    default data/secrets.env), else None. An unreadable file counts as none: the daemon, which
    reads the same file, reports it."""
    token = environ.get(f"{ENV_PREFIX}API_TOKEN", "").strip()
    return token or secret(environ, "API_TOKEN")


def secrets_path(environ: Mapping[str, str]) -> Path:
    return Path(environ.get(f"{ENV_PREFIX}SECRETS_FILE") or DEFAULT_SECRETS)


def secret(environ: Mapping[str, str], key: str) -> str | None:
    """`key`'s value in the secrets file (ONCALL_SECRETS_FILE, default data/secrets.env), or
    None when the file or the key is missing or the file cannot be read."""
    path = secrets_path(environ)
    try:
        values = read_secrets_file(path) if path.is_file() else {}
    except (ConfigError, OSError, UnicodeDecodeError):
        return None
    return values.get(key.removeprefix(ENV_PREFIX), "").strip() or None
