"""What the httpx-based readers share: settings from the environment or the secrets file, a
GET that waits out 429s as Retry-After says (httpx's transport retries only failed connections,
and no library we use does this for httpx), and errors that name what was asked and never carry
the token."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from oncall_opt import secretsfile
from oncall_opt.client import trust
from oncall_opt.errors import ConfigError, OncallOptError
from oncall_opt.times import is_loopback

RATE_LIMIT_RETRIES = 6
LONGEST_WAIT = 60.0  # seconds: a Retry-After beyond this is not waited for whole

wait = time.sleep  # what a 429 waits with (tests replace it)


class SourceError(OncallOptError):
    """The source refused or did not answer: the message says what was asked and why."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


def setting(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip() or secretsfile.secret(environ, name) or ""


def required_token(environ: Mapping[str, str], name: str, what: str) -> str:
    token = setting(environ, name)
    if not token:
        raise ConfigError(
            f"{name} is not set: put {what} in the environment or in the secrets file "
            f"({secretsfile.secrets_path(environ)})"
        )
    return token


def checked_url(name: str, url: str) -> str:
    """`url` without a trailing slash; https, or http to this machine only (a token must not
    cross a network in the clear)."""
    url = url.rstrip("/")
    if not url:
        raise ConfigError(f"{name} is not set")
    parts = urlsplit(url)
    plain_ok = parts.scheme == "http" and is_loopback(parts.hostname or "")
    if parts.scheme != "https" and not plain_ok:
        raise ConfigError(f"{name}: '{url}' must start with https:// (http only on loopback)")
    return url


class JsonApi:
    """GETs against one source's REST API: `source` names it in messages, `token_env` says
    where a refused token came from."""

    def __init__(self, source: str, base_url: str, headers: Mapping[str, str], token_env: str,
                 ca_file: str | None, timeout: float = 30):  # fmt: skip
        self.source, self.base_url, self.token_env = source, base_url, token_env
        self.http = httpx.Client(
            base_url=base_url,
            headers={**headers, "Accept": "application/json"},
            verify=trust(ca_file),
            timeout=timeout,
        )

    def close(self) -> None:
        self.http.close()

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        doing = f"GET {urlsplit(url).path or url}"
        for _ in range(RATE_LIMIT_RETRIES + 1):
            try:
                response = self.http.get(url, params=params)
            except httpx.HTTPError as exc:
                raise SourceError(
                    f"could not reach {self.source} at {self.base_url} to {doing} "
                    f"({type(exc).__name__})"
                ) from None
            if response.status_code != 429:
                break
            wait(min(_retry_after(response), LONGEST_WAIT))
        status = response.status_code
        if status in (401, 403):
            raise SourceError(
                f"{self.source} answered {status} to {doing}: the token in {self.token_env} is "
                "wrong, revoked or may not read this",
                status,
            )
        if status == 429:
            raise SourceError(
                f"{self.source} still rate limits {doing} after {RATE_LIMIT_RETRIES} waits: try "
                "again in a minute",
                429,
            )
        if not response.is_success:
            raise SourceError(
                f"{self.source} answered {status} to {doing}: {response.text[:300]}", status
            )
        try:
            return response.json()
        except ValueError:
            raise SourceError(f"{self.source}'s answer to {doing} is not JSON") from None


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0
