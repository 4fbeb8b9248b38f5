"""Calendar subscription feeds: a person's shifts (every team, both layers) or a team's whole
final schedule as iCalendar, at a secret URL that Google Calendar, Outlook and Apple Calendar
can poll without our authentication.

The token is 256 random bits, shown once (in the URL) and stored as its SHA-256 hash; making a
new feed for the same person or team revokes the old URL, and revoking takes effect at once.
Events are the final schedule's segments from 30 days back to 180 days ahead, in UTC (an
instant is exact whatever the daylight-saving rules: a weekly 09:00 Europe/Berlin handoff shows
at 09:00 local on both sides of a change), each with a UID built from the team, layer, person
and start, so a calendar app updates an event whose end moved instead of adding another.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from oncall_opt.engine.final import OVERRIDE, Segment, segments, teams_of_user
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.teams import get_team
from oncall_opt.engine.users import get_user
from oncall_opt.errors import NotFoundError

PAST, AHEAD = timedelta(days=30), timedelta(days=180)
LAYER_NAMES = {1: "primary", 2: "secondary"}
Kind = Literal["user", "team"]


@dataclass(frozen=True)
class Feed:
    kind: Kind
    subject_id: int
    token: str  # shown once: the secret part of the URL


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def make_feed(store: Store, kind: Kind, subject_id: int, now: datetime) -> Feed:
    """A new feed URL token for the person or team; the old one stops working."""
    token = secrets.token_urlsafe(32)

    def work(tx: Transaction) -> Feed:
        (get_user if kind == "user" else get_team)(tx, subject_id)
        tx.execute(
            "UPDATE calendar_feeds SET revoked_at = ? WHERE kind = ? AND subject_id = ? "
            "AND revoked_at IS NULL",
            [now, kind, subject_id],
        )
        tx.execute(
            "INSERT INTO calendar_feeds (kind, subject_id, token_hash, created_at) "
            "VALUES (?, ?, ?, ?)",
            [kind, subject_id, _hash(token), now],
        )
        return Feed(kind, subject_id, token)

    return store.write(work)


def revoke_feeds(store: Store, kind: Kind, subject_id: int, now: datetime) -> int:
    """Revoke the person's or team's feed URL; returns how many were live."""
    rows = store.write(
        lambda tx: tx.rows(
            "UPDATE calendar_feeds SET revoked_at = ? WHERE kind = ? AND subject_id = ? "
            "AND revoked_at IS NULL RETURNING id",
            [now, kind, subject_id],
        )
    )
    return len(rows)


def feed_ics(store: Store, token: str, now: datetime) -> str:
    """The iCalendar text of the feed with this token (NotFoundError when unknown or revoked:
    the URL says nothing about why)."""
    row = store.row(
        "SELECT kind, subject_id FROM calendar_feeds WHERE token_hash = ? AND revoked_at IS NULL",
        [_hash(token)],
    )
    if row is None:
        raise NotFoundError("no such calendar")
    # Read a week wider, then keep what overlaps: events keep their real start and end.
    start, end = now - PAST - timedelta(days=7), now + AHEAD + timedelta(days=7)
    team_names = {r["id"]: r["name"] for r in store.rows("SELECT id, name FROM teams")}
    if row["kind"] == "user":
        person = get_user(store, row["subject_id"])
        found = [
            s
            for team_id in teams_of_user(store, person.id, start, end)
            for s in segments(store, team_id, start, end)
        ]
        title, only = f"On call: {person.full_name}", person.id
    else:
        team = get_team(store, row["subject_id"])
        found = segments(store, team.id, start, end)
        title, only = f"On call: {team.name}", None
    found = [s for s in found if s.end > now - PAST and s.start < now + AHEAD]
    return render(found, title, team_names, row["kind"], now, only)


def stretches(found: list[Segment]) -> list[Segment]:
    """Back-to-back segments of one person in one layer as one stretch (an override next to
    their own shift is one time on call for them)."""
    merged: list[Segment] = []
    for segment in sorted(found, key=lambda s: (s.team_id, s.layer, s.start)):
        last = merged[-1] if merged else None
        if last and (last.team_id, last.layer, last.user.id, last.end) == (
            segment.team_id,
            segment.layer,
            segment.user.id,
            segment.start,
        ):
            merged[-1] = replace(last, end=segment.end)
        else:
            merged.append(segment)
    return merged


def uid(segment: Segment, kind: str) -> str:
    stamp = segment.start.strftime("%Y%m%dT%H%M%SZ")
    return f"{kind}-{segment.team_id}-{segment.layer}-{segment.user.id}-{stamp}@oncall_opt"


def render(
    found: list[Segment],
    title: str,
    team_names: dict[int, str],
    kind: str,
    now: datetime,
    only_user: int | None = None,
) -> str:
    """The iCalendar text: one event per stretch on call (of `only_user`, when given), each
    saying who hands over to whom."""
    from icalendar import Calendar, Event  # loaded here: only feeds need it

    calendar = Calendar()
    calendar.add("prodid", "-//oncall_opt//on-call schedule//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", title)
    calendar.add("x-published-ttl", "PT1H")
    ordered = stretches(found)
    by_start = {(s.team_id, s.layer, s.start): s for s in ordered}
    by_end = {(s.team_id, s.layer, s.end): s for s in ordered}
    for segment in ordered:
        if only_user is not None and segment.user.id != only_user:
            continue
        team = team_names.get(segment.team_id, f"team {segment.team_id}")
        layer = LAYER_NAMES.get(segment.layer, f"layer {segment.layer}")
        before = by_end.get((segment.team_id, segment.layer, segment.start))
        after = by_start.get((segment.team_id, segment.layer, segment.end))
        event = Event()
        event.add("uid", uid(segment, kind))
        event.add("dtstamp", now)
        event.add("dtstart", segment.start)
        event.add("dtend", segment.end)
        who = "" if kind == "user" else f"{segment.user.full_name}: "
        event.add("summary", f"{who}on call for {team} ({layer})")
        lines = [
            f"{segment.user.full_name} (@{segment.user.slack_handle}) is on call for {team}, "
            f"{layer} layer.",
            f"Takes over from {before.user.full_name}."
            if before
            else "Nobody is on call just before.",
            f"Hands over to {after.user.full_name}." if after else "Nobody is on call just after.",
        ]
        if segment.source == OVERRIDE and segment.covers:
            lines.insert(1, f"Covers for {segment.covers.full_name}.")
        event.add("description", " ".join(lines))
        calendar.add_component(event)
    return calendar.to_ical().decode("utf-8")
