"""The one place that reads and writes times: RFC 3339 timestamps with an offset, bare calendar
dates, UTC text, the daemon's HOST:PORT address and the names in Host headers.

Every part (input.json, the API's bodies and queries, publishing, settings) reads times here, so
they accept the same text and word a mistake the same way. Parsers raise `ValueError` with a
message fit to show a user; callers add the field's name.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime

EXAMPLE_TIMESTAMP = "2026-12-01T09:00:00Z"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080

# Seconds may be left out (input.json has always accepted 09:00Z); the offset may not.
_TIMESTAMP = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<hm>\d{2}:\d{2})(?::(?P<s>\d{2})(?:\.(?P<fraction>\d+))?)?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SHOWN = 40  # a long bad value is cut when quoted back


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "..."


def is_date_text(value: object) -> bool:
    """Whether `value` is written like a calendar date (`2026-12-24`), valid or not."""
    return isinstance(value, str) and _DATE.fullmatch(value.strip()) is not None


def parse_timestamp(value: object) -> datetime:
    """An RFC 3339 timestamp with an offset (`Z` or `+hh:mm`), as an aware datetime in that
    offset. An aware datetime passes through; a naive one, a missing offset, or any other text
    is a ValueError saying what is wrong."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamp has no UTC offset (add Z or +hh:mm)")
        return _in_range(value, value)
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 timestamp string such as {EXAMPLE_TIMESTAMP}")
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        raise ValueError(
            f"'{_shown(value)}' is not an RFC 3339 timestamp (like {EXAMPLE_TIMESTAMP})"
        )
    if match["offset"] is None:
        raise ValueError(f"timestamp '{_shown(value)}' has no UTC offset (add Z or +hh:mm)")
    offset = "+00:00" if match["offset"] in "Zz" else match["offset"]
    seconds = match["s"] or "00"
    fraction = f".{(match['fraction'] + '00000')[:6]}" if match["fraction"] else ""
    try:
        parsed = datetime.fromisoformat(
            f"{match['date']}T{match['hm']}:{seconds}{fraction}{offset}"
        )
    except ValueError as exc:
        raise ValueError(f"'{_shown(value)}' is not a valid timestamp: {exc}") from None
    return _in_range(parsed, value)


def _in_range(parsed: datetime, value: object) -> datetime:
    """`parsed`, unless its UTC value falls outside years 1 to 9999 (nothing can store it)."""
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        shown = _shown(value) if isinstance(value, str) else str(value)
        raise ValueError(
            f"'{shown}' is out of range: its UTC time is before year 1 or after 9999"
        ) from None
    return parsed


def parse_date(value: object) -> date:
    """A calendar date written `YYYY-MM-DD` (a `date` passes through)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not is_date_text(value):
        shown = _shown(value) if isinstance(value, str) else repr(value)
        raise ValueError(f"'{shown}' is not a date written YYYY-MM-DD (like 2026-12-01)")
    try:
        return date.fromisoformat(value.strip())  # type: ignore[union-attr]
    except ValueError as exc:
        raise ValueError(f"'{_shown(value)}' is not a valid date: {exc}") from None  # type: ignore[arg-type]


def parse_moment(value: object) -> datetime | date:
    """A bare calendar date (`2026-12-24`) or a timestamp with an offset."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if is_date_text(value):
        return parse_date(value)
    return parse_timestamp(value)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in the value's own offset, as Go writes it: `Z` for UTC, no fractional part
    when it is zero."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def format_utc(value: datetime) -> str:
    """RFC 3339 in UTC: `2022-09-28T10:00:00Z`."""
    return format_timestamp(value.astimezone(UTC))


def parse_host_port(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`:PORT` means 127.0.0.1; `[::1]:PORT` for IPv6); a ValueError names what
    was given."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"expected HOST:PORT, got '{_shown(text)}'")
    return host.strip("[]") or DEFAULT_HOST, int(port_text)


def is_loopback(host: str) -> bool:
    """Whether a listening address is reachable only from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def host_name(host_header: str) -> str:
    """The name in a Host header or an origin's netloc, without its port, lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:8080
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_own_name(name: str, allowed: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether a server that asks for no credentials may answer a request for `name` (a
    `host_name`): loopback names, IP literals (an address cannot be rebound: a page whose
    origin is that address was served by it) and the names an operator `allowed`. Any other
    name may be a stranger's, made to resolve to 127.0.0.1 (DNS rebinding)."""
    if name in LOOPBACK_NAMES or name in allowed or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def url_of(host: str, port: int) -> str:
    """The http URL that reaches a server listening on host:port from this machine."""
    if host in ("0.0.0.0", "::", ""):
        host = DEFAULT_HOST  # listening everywhere: reachable at the loopback address
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def daemon_url(environ: Mapping[str, str]) -> str:
    """Where the daemon listens by the variable it reads (ONCALL_BIND), else the default; an
    unreadable ONCALL_BIND falls back to the default (the daemon itself reports it)."""
    try:
        return url_of(*parse_host_port(environ.get("ONCALL_BIND") or ""))
    except ValueError:
        return url_of(DEFAULT_HOST, DEFAULT_PORT)
