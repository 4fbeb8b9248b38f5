"""Talking to PagerDuty's REST API v2 through its official client (`pagerduty.RestApiV2Client`),
which already waits and retries on 429 and follows pages (`list_all`).

The token comes from PAGERDUTY_API_TOKEN in the environment or in the secrets file
(ONCALL_SECRETS_FILE, default data/secrets.env), never from the command line; the base URL from
PAGERDUTY_API_URL (an EU account, or a stand-in server in the tests); a private CA for that URL
from PAGERDUTY_API_CA. Errors are re-worded here so that no message, log line or exception
carries the token, not even the four characters the client quotes on a 401.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from oncall_opt import secretsfile
from oncall_opt.errors import ConfigError, OncallOptError
from oncall_opt.times import format_utc
from oncall_opt.tls import trust

if TYPE_CHECKING:
    import pagerduty

TOKEN_ENV = "PAGERDUTY_API_TOKEN"
URL_ENV = "PAGERDUTY_API_URL"
CA_ENV = "PAGERDUTY_API_CA"
DEFAULT_URL = "https://api.pagerduty.com"
RATE_LIMIT_RETRIES = 6
# PagerDuty has documented a 3-month limit on the range one override listing may ask for, so
# a year's roster is read in pieces of this length.
OVERRIDE_QUERY_SPAN = timedelta(days=90)


class PagerDutyError(OncallOptError):
    """PagerDuty refused or did not answer: the message says what was asked and why it failed."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


def token_from(environ: Mapping[str, str]) -> str:
    token = environ.get(TOKEN_ENV, "").strip() or secretsfile.secret(environ, TOKEN_ENV)
    if not token:
        raise ConfigError(
            f"{TOKEN_ENV} is not set: put a PagerDuty REST API key in the environment or in the "
            f"secrets file ({secretsfile.secrets_path(environ)})"
        )
    return token


def base_url_from(environ: Mapping[str, str]) -> str:
    url = environ.get(URL_ENV, "").strip().rstrip("/") or DEFAULT_URL
    if not url.startswith("https://"):
        raise ConfigError(f"{URL_ENV}: '{url}' must start with https://")
    return url


def make_client(environ: Mapping[str, str] | None = None) -> pagerduty.RestApiV2Client:
    """A client for the account and address the environment names."""
    import pagerduty

    env = os.environ if environ is None else environ
    client = pagerduty.RestApiV2Client(
        token_from(env), base_url=base_url_from(env), verify=trust(env.get(CA_ENV))
    )
    # On a 429 the client waits 3 s, doubling after each 429 in a row (it does not read
    # Retry-After); left alone it would retry forever. Six retries wait over three minutes in
    # all, longer than PagerDuty's per-minute limits, and then the 429 is reported.
    client.retry = {**client.retry, 429: RATE_LIMIT_RETRIES}
    return client


def fetch_schedule(client: Any, schedule: str, params: Mapping[str, str]) -> dict[str, Any]:
    """`GET /schedules/{id}` (with since/until: its final schedule in that window)."""
    try:
        with reworded(f"read schedule {schedule}"):
            return client.rget(f"/schedules/{schedule}", params=dict(params) or None)
    except PagerDutyError as exc:
        if exc.status == 404:
            raise PagerDutyError(
                f"--schedule: PagerDuty has no schedule '{schedule}'", 404
            ) from None
        raise


def overrides_between(client: Any, schedule: str, start: datetime, end: datetime) -> list[dict]:
    """The schedule's overrides overlapping [start, end), each once, in the order listed."""
    found: dict[str, dict] = {}
    since = start
    with reworded(f"list schedule {schedule}'s overrides"):
        while since < end:
            until = min(since + OVERRIDE_QUERY_SPAN, end)
            params = {"since": format_utc(since), "until": format_utc(until)}
            for override in client.list_all(f"/schedules/{schedule}/overrides", params=params):
                found.setdefault(str(override.get("id")), override)
            since = until
    return list(found.values())


@contextmanager
def reworded(doing: str) -> Iterator[None]:
    """Turn the client's errors (which may quote part of the token) into a PagerDutyError that
    says what was being done, the HTTP status and PagerDuty's own message."""
    import pagerduty

    try:
        yield
    except pagerduty.HttpError as exc:
        response = exc.response
        raise PagerDutyError(
            f"PagerDuty answered {response.status_code} to {doing}{_reason(response)}",
            status=response.status_code,
        ) from None
    except pagerduty.Error as exc:
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "no answer"
        raise PagerDutyError(f"could not reach PagerDuty to {doing} ({cause})") from None


def _reason(response: Any) -> str:
    if response.status_code == 401:
        return f": the API key in {TOKEN_ENV} is wrong or was revoked"
    if response.status_code == 429:
        return f" (rate limited, still after {RATE_LIMIT_RETRIES} waits): try again in a minute"
    try:
        error = response.json().get("error") or {}
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        details = error.get("errors", []) if isinstance(error, dict) else []
    except (ValueError, AttributeError):
        return ""
    text = "; ".join(str(part) for part in [message, *details] if part)
    return f": {text[:300]}" if text else ""
