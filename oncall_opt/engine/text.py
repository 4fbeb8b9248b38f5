"""Text from requests, made safe to store, log and post to Slack: valid Unicode, no control
characters where a log line or a Slack message could be forged with them, bounded lengths.

Every field's limit is here, so the API's documentation, the engine and the tests agree.
"""

from __future__ import annotations

import re
import unicodedata

from oncall_opt.errors import InvalidRequestError

MAX_NAME = 200  # first and last names, Slack handles, time zones
MAX_KEY = 255  # dedup keys
MAX_BODY = 64 * 1024  # an incident's body, a test message
SLACK_BODY = 3000  # characters of a body shown in one Slack message (Slack cuts near 4,000)

# Line and paragraph separators end a line in many log viewers: as unsafe as a newline.
_SINGLE_LINE_UNSAFE = {"Cc", "Zl", "Zp"}
# The bidirectional embeddings, overrides and isolates ("Trojan Source", CVE-2021-42574) make a
# name or key read differently from what it is: refused in names, handles and keys, dropped from
# other single-line text. (The marks U+200E/U+200F stay: right-to-left text needs them.)
BIDI_CONTROLS = frozenset(map(chr, (*range(0x202A, 0x202F), *range(0x2066, 0x206A))))
# Letters (any script), digits, `.`, `_` and `-`: what Slack names are made of, and nothing that
# could end a mention (`>`, `|`, a space) or start markup (`<`, `&`, `!`).
SLACK_HANDLE = re.compile(r"[^\W_][\w.\-]{0,79}")


def clean(
    field: str,
    value: object,
    max_length: int,
    *,
    multiline: bool = False,
    refuse_bidi: bool = False,
) -> str:
    """`value` stripped of control characters (newlines and tabs kept when `multiline`; the
    bidirectional controls dropped when not) and of surrounding space; an InvalidRequestError
    names `field` when it is not text, not valid Unicode (a lone surrogate, which no database
    can store), longer than `max_length`, or, with `refuse_bidi` (names, handles, keys), holds a
    bidirectional control."""
    if not isinstance(value, str):
        raise InvalidRequestError(field, "must be text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(
            field, "is not valid Unicode text (it holds a lone surrogate such as \\ud800)"
        ) from None
    bidi = next((ch for ch in value if ch in BIDI_CONTROLS), None)
    if bidi is not None and refuse_bidi:
        raise InvalidRequestError(
            field, f"holds the bidirectional control U+{ord(bidi):04X}, which is refused"
        )
    kept = "".join(ch for ch in value if _keep(ch, multiline)).strip()
    if len(kept) > max_length:
        raise InvalidRequestError(field, f"is {len(kept)} characters long; at most {max_length}")
    return kept


def name(field: str, value: object, max_length: int = MAX_NAME) -> str:
    """A required single-line name (a person's, a team's, a service's): `clean`, and not
    empty."""
    cleaned = clean(field, value if value is not None else "", max_length, refuse_bidi=True)
    if not cleaned:
        raise InvalidRequestError(field, "must not be empty")
    return cleaned


def slack_handle(value: object) -> str:
    """A Slack handle (a leading `@` dropped): letters, digits, `.`, `_` and `-`, as Slack
    allows, so that it can stand in a mention."""
    handle = name("SlackHandle", value).removeprefix("@")
    if not SLACK_HANDLE.fullmatch(handle):
        raise InvalidRequestError(
            "SlackHandle",
            f"'{handle[:40]}' is not a Slack handle: letters, digits, '.', '_' and '-' only, "
            "at most 80, starting with a letter or a digit",
        )
    return handle


def _keep(ch: str, multiline: bool) -> bool:
    if multiline:
        return ch in "\n\t" or unicodedata.category(ch) not in _SINGLE_LINE_UNSAFE
    return ch not in BIDI_CONTROLS and unicodedata.category(ch) not in _SINGLE_LINE_UNSAFE


def shortened(body: str, limit: int = SLACK_BODY) -> str:
    """`body` cut to `limit` characters with a marker saying how much was left out."""
    if len(body) <= limit:
        return body
    return f"{body[:limit]}… ({len(body) - limit} more characters in the incident)"
