"""Finding cover: a stretch of a team's layer that needs someone else (the person on the final
schedule then is away, sick, or asked to be covered) becomes a cover request.

- **Ranking.** Everyone in the team who could take the stretch without breaking a rule
  (`check_cover` says nothing would break) is ranked fairest first by what they bore over the
  last quarter (`person_burden`): fewest night pages, then fewest pages, then fewest hours on
  call, ties by name; each with why, in words ("Chloé: fewest night pages this quarter (0),
  free both days"). The ranking is stored with the request.
- **Asking.** The first candidate is asked through their own contact methods (a notification
  of kind `cover` to each method their notification rules name, with one-time Accept and
  Decline links) and in the team's Slack channel. A decline, or no answer within the request's
  timeout, asks the next; a candidate who would break a rule by now (marked away since) is
  skipped, never asked.
- **Answers.** Anyone on the ranking who has not declined may accept while the request is
  open (the one asked, or one asked before whose answer came late); the first acceptance
  becomes the override, the rules checked once more then, and the request is covered: a
  second acceptance is refused ("already covered by ..."). Only the person asked answers with
  the links; through the API a candidate answers for themself (an admin for anyone).
- **Nobody.** A request nobody accepts before its deadline, or with nobody left to ask, tells
  the lead: the person who asked, the person covered, and the team's admins (admins who are
  members of the team; when it has none, every admin), through their contact methods, and
  the team's channel.

States: `asking` (someone is asked), then `covered`, `unanswered` or `cancelled`. The job
(`jobs/cover.py`) moves requests on with the injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from oncall_opt.engine import outbox, text
from oncall_opt.engine.analytics import person_burden
from oncall_opt.engine.availability import UNAVAILABLE, days_by_user
from oncall_opt.engine.change_rules import check_cover, check_covers, in_words, team_rules
from oncall_opt.engine.final import segments, user_segments
from oncall_opt.engine.overrides import (
    LAYER_NAMES,
    Override,
    _announce,
    _insert,
    _keep_rules,
    slack_time,
)
from oncall_opt.engine.paging import cover_links, notifications
from oncall_opt.engine.records import User
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.teams import get_team
from oncall_opt.engine.users import users_by_id
from oncall_opt.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from oncall_opt.roster.away import away_span

REASONS = ("away", "sick", "asked")
ASKING, COVERED, UNANSWERED, CANCELLED = "asking", "covered", "unanswered", "cancelled"
STATES = (ASKING, COVERED, UNANSWERED, CANCELLED)
ACCEPTED, DECLINED, TIMED_OUT, SKIPPED = "accepted", "declined", "timed out", "skipped"
DEFAULT_TIMEOUT_MINUTES = 30
MAX_TIMEOUT_MINUTES = 24 * 60
MAX_NOTE = 1000
MAX_DAYS = 31  # the longest stretch one request covers
BURDEN_WINDOW = timedelta(days=91)  # "this quarter": what each candidate bore
ASK_KIND, LEAD_KIND = "cover", "cover-lead"  # notification kinds
_COLUMNS = (
    "id, team_id, layer, for_user_id, start_time, end_time, reason, note, status, "
    "timeout_minutes, deadline, created_by, created_at, covered_by, override_id, decided_at, "
    "outcome"
)


@dataclass(frozen=True)
class Candidate:
    rank: int
    user: User
    why: str
    asked_at: datetime | None = None
    answer: str | None = None  # accepted, declined, timed out, skipped (why in `why`)
    answered_at: datetime | None = None


@dataclass(frozen=True)
class CoverRequest:
    id: int
    team_id: int
    layer: int
    for_user: User
    start: datetime
    end: datetime
    reason: str
    note: str
    status: str
    timeout_minutes: int
    deadline: datetime
    created_by: int | None
    created_at: datetime
    covered_by: User | None
    override_id: int | None
    decided_at: datetime | None
    outcome: str | None  # in words, once decided
    candidates: tuple[Candidate, ...]

    @property
    def asked(self) -> Candidate | None:
        """The candidate asked now, waiting for their answer."""
        if self.status != ASKING:
            return None
        return next(
            (c for c in self.candidates if c.asked_at is not None and c.answer is None), None
        )


# ----- ranking ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ranked:
    user: User
    why: str
    night_pages: int
    pages: int
    hours_on_call: float


def _days(user: User, start: datetime, end: datetime) -> list[date]:
    zone = ZoneInfo(user.time_zone or "UTC")
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _free(days: int) -> str:
    return {1: "free that day", 2: "free both days"}.get(days, f"free all {days} days")


def _hours(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def rank(
    source: Store | Transaction,
    team_id: int,
    layer: int,
    start: datetime,
    end: datetime,
    now: datetime,
    covered_user_id: int,
) -> list[Ranked]:
    """Everyone in the team but the person covered who could take [start, end) in `layer`
    without breaking a rule, fairest first by their burden over the last quarter."""
    team = get_team(source, team_id)
    people = users_by_id(source, set(team.member_ids) - {covered_user_id})
    burden = person_burden(source, team_id, now - BURDEN_WINDOW, now)
    broken = check_covers(source, team_id, people, layer, start, end)
    fit = [person for person in people.values() if not broken.get(person.id)]

    def key(person: User) -> tuple:
        b = burden.get(person.id)
        figures = (b.night_pages, b.pages, b.hours_on_call) if b else (0, 0, 0.0)
        return (*figures, person.full_name.casefold(), person.id)

    fit.sort(key=key)
    figures = [key(person)[:3] for person in fit]
    # What decides the order: the first figure on which the candidates differ.
    deciding = next((k for k in range(3) if len({f[k] for f in figures}) > 1), None)
    ranked = []
    for person, (nights, pages, hours) in zip(fit, figures, strict=True):
        said = [
            f"{nights} night page{'' if nights == 1 else 's'}",
            f"{pages} page{'' if pages == 1 else 's'}",
            f"{_hours(hours)} h on call",
        ]
        if deciding is None:
            lead = "no more burden than anyone this quarter"
        else:
            fewest = min(f[deciding] for f in figures)
            name = ("night pages", "pages", "hours on call")[deciding]
            amount = (str(nights), str(pages), f"{_hours(hours)} h")[deciding]
            lead = (
                f"fewest {name} this quarter ({amount})"
                if (nights, pages, hours)[deciding] == fewest
                else f"{said[deciding]} this quarter"
            )
            said.pop(deciding)
        why = (
            f"{person.first_name or person.full_name}: {lead}, {', '.join(said)}, "
            f"{_free(len(_days(person, start, end)))}"
        )
        ranked.append(Ranked(person, why, nights, pages, hours))
    return ranked


# ----- reading ----------------------------------------------------------------------------------
def _requests(source: Store | Transaction, rows: list[dict[str, Any]]) -> list[CoverRequest]:
    if not rows:
        return []
    marks = ", ".join("?" for _ in rows)
    asked = source.rows(
        "SELECT request_id, rank, user_id, why, asked_at, answer, answered_at FROM "
        f"cover_candidates WHERE request_id IN ({marks}) ORDER BY request_id, rank",
        [r["id"] for r in rows],
    )
    ids = {r["for_user_id"] for r in rows} | {r["covered_by"] for r in rows} - {None}
    people = users_by_id(source, ids | {c["user_id"] for c in asked})
    by_request: dict[int, list[Candidate]] = {}
    for c in asked:
        if c["user_id"] in people:
            by_request.setdefault(c["request_id"], []).append(
                Candidate(
                    c["rank"],
                    people[c["user_id"]],
                    c["why"],
                    c["asked_at"],
                    c["answer"],
                    c["answered_at"],
                )
            )
    return [
        CoverRequest(
            r["id"],
            r["team_id"],
            r["layer"],
            people[r["for_user_id"]],
            r["start_time"],
            r["end_time"],
            r["reason"],
            r["note"],
            r["status"],
            r["timeout_minutes"],
            r["deadline"],
            r["created_by"],
            r["created_at"],
            people.get(r["covered_by"]),
            r["override_id"],
            r["decided_at"],
            r["outcome"],
            tuple(by_request.get(r["id"], [])),
        )
        for r in rows
        if r["for_user_id"] in people
    ]


def get_request(source: Store | Transaction, request_id: int) -> CoverRequest:
    rows = source.rows(f"SELECT {_COLUMNS} FROM cover_requests WHERE id = ?", [request_id])
    found = _requests(source, rows)
    if not found:
        raise NotFoundError(f"no cover request with id {request_id}")
    return found[0]


def list_requests(
    source: Store | Transaction, team_id: int, status: str | None = None
) -> list[CoverRequest]:
    get_team(source, team_id)
    sql, params = f"SELECT {_COLUMNS} FROM cover_requests WHERE team_id = ?", [team_id]
    if status is not None:
        sql, params = sql + " AND status = ?", [*params, status]
    return _requests(source, source.rows(sql + " ORDER BY start_time, id", params))


# ----- asking for cover -------------------------------------------------------------------------
def _range(request: CoverRequest | Any, zone: str | None) -> str:
    layer = LAYER_NAMES.get(request.layer, f"layer {request.layer}")
    return f"({layer}) from {slack_time(request.start, zone)} until {slack_time(request.end, zone)}"


def check_request(
    start: datetime,
    end: datetime,
    layer: int,
    now: datetime,
    reason: str,
    timeout_minutes: int,
    deadline: datetime | None,
) -> datetime:
    """The request's fields, each refused naming it; answers the deadline (by default the
    stretch's start, or its end when the start is less than one timeout away)."""
    for name, value in (("Start", start), ("End", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidRequestError(name, "timestamp has no UTC offset (add Z or +hh:mm)")
    if end <= start:
        raise InvalidRequestError("End", "must be after Start")
    if end <= now:
        raise InvalidRequestError("End", "is in the past: cover is for what is to come")
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidRequestError("End", f"one request covers at most {MAX_DAYS} days")
    if layer not in (1, 2):
        raise InvalidRequestError("Layer", "must be 1 (primary) or 2 (secondary)")
    if reason not in REASONS:
        raise InvalidRequestError("Reason", f"must be one of {', '.join(REASONS)}")
    if (
        isinstance(timeout_minutes, bool)
        or not isinstance(timeout_minutes, int)
        or not (1 <= timeout_minutes <= MAX_TIMEOUT_MINUTES)
    ):
        raise InvalidRequestError(
            "TimeoutMinutes", f"must be a whole number of minutes from 1 to {MAX_TIMEOUT_MINUTES}"
        )
    if deadline is None:
        soon = now + timedelta(minutes=timeout_minutes)
        return start if start > soon else end
    if deadline.tzinfo is None or deadline.utcoffset() is None:
        raise InvalidRequestError("Deadline", "timestamp has no UTC offset (add Z or +hh:mm)")
    if deadline <= now:
        raise InvalidRequestError("Deadline", "is in the past")
    if deadline > end:
        raise InvalidRequestError("Deadline", "is after End: the stretch is over by then")
    return deadline


def on_call_then(
    source: Store | Transaction, team_id: int, layer: int, start: datetime, end: datetime
) -> User:
    """The one person on the final schedule in the layer over [start, end); 409 when nobody
    is, or several are (ask for each one's stretch)."""
    found = segments(source, team_id, start, end, [layer])
    people = {s.user.id: s.user for s in found}
    if not people:
        raise ConflictError(
            f"nobody is on call in {LAYER_NAMES.get(layer, layer)} then: there is nobody to "
            "cover (make an override to fill the gap)"
        )
    if len(people) > 1:
        names = ", ".join(sorted(p.full_name for p in people.values()))
        raise ConflictError(
            f"Start to End holds several people on call ({names}): ask for cover of each "
            "one's stretch"
        )
    return next(iter(people.values()))


def create_request(
    store: Store,
    team_id: int,
    layer: int,
    start: datetime,
    end: datetime,
    now: datetime,
    reason: str = "asked",
    note: str = "",
    timeout_minutes: int = DEFAULT_TIMEOUT_MINUTES,
    deadline: datetime | None = None,
    created_by: int | None = None,
    by_admin: bool = True,
    console_url: str | None = None,
) -> CoverRequest:
    """Find cover for [start, end) of the team's layer: rank the candidates, store the ranking
    and ask the first (or, with nobody to ask, tell the lead at once). A member
    (`by_admin=False`) may ask only for their own stretch."""
    deadline = check_request(start, end, layer, now, reason, timeout_minutes, deadline)
    start, end, deadline = (t.astimezone(UTC) for t in (start, end, deadline))
    note = text.clean("Note", note or "", MAX_NOTE)
    get_team(store, team_id)
    covered = on_call_then(store, team_id, layer, start, end)
    if not by_admin and covered.id != created_by:
        raise PermissionDeniedError(
            f"that stretch is {covered.full_name}'s: a member may find cover for their own "
            "shifts only (an admin for anyone)"
        )
    ranked = rank(store, team_id, layer, start, end, now, covered.id)

    def work(tx: Transaction) -> CoverRequest:
        if on_call_then(tx, team_id, layer, start, end).id != covered.id:
            raise ConflictError("the schedule changed meanwhile: ask again")
        clash = tx.row(
            "SELECT id FROM cover_requests WHERE team_id = ? AND layer = ? AND status = ? "
            "AND start_time < ? AND end_time > ?",
            [team_id, layer, ASKING, end, start],
        )
        if clash is not None:
            raise ConflictError(f"cover request #{clash['id']} already asks for that stretch")
        row = tx.row(
            "INSERT INTO cover_requests (team_id, layer, for_user_id, start_time, end_time, "
            "reason, note, status, timeout_minutes, deadline, created_by, created_at) VALUES "
            f"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
            [team_id, layer, covered.id, start, end, reason, note, ASKING, timeout_minutes,
             deadline, created_by, now],
        )  # fmt: skip
        assert row is not None
        if ranked:
            tx.insert_many(
                "cover_candidates",
                ["request_id", "rank", "user_id", "why"],
                [[row["id"], n, r.user.id, r.why] for n, r in enumerate(ranked, 1)],
            )
        request = _requests(tx, [row])[0]
        team = get_team(tx, team_id)
        said = f": {outbox.esc(note)}" if note else ""
        outbox.enqueue(
            tx, "cover",
            f"Finding cover for {outbox.who(covered)} ({reason}) in {outbox.esc(team.name)} "
            f"{_range(request, covered.time_zone)}{said} (cover #{request.id}, "
            f"{len(ranked)} candidate{'' if len(ranked) == 1 else 's'})",
            now, (), team_id,
        )  # fmt: skip
        _ask_next(tx, request, now, console_url)
        return get_request(tx, request.id)

    return store.write(work)


def _methods_for_asking(tx: Transaction, user_id: int) -> list[int]:
    """The verified contact methods the person's notification rules name (any urgency): where
    they said they want to be reached."""
    rows = tx.rows(
        "SELECT DISTINCT m.id FROM notification_rules r JOIN contact_methods m "
        "ON m.id = r.contact_method_id WHERE r.user_id = ? AND m.verified_at IS NOT NULL "
        "ORDER BY m.id",
        [user_id],
    )
    return [r["id"] for r in rows]


def _notify(tx: Transaction, kind: str, request_id: int, user_id: int, now: datetime) -> int:
    """Queue a notification of `kind` about the request to each of the person's methods;
    answers how many."""
    methods = _methods_for_asking(tx, user_id)
    for method_id in methods:
        queued = notifications.queue(tx, kind, user_id, method_id, now)
        tx.execute(
            "UPDATE notifications SET cover_request_id = ? WHERE id = ?", [request_id, queued]
        )
    return len(methods)


def _cancel_asks(tx: Transaction, request_id: int, why: str) -> None:
    tx.execute(
        "UPDATE notifications SET status = ?, last_error = ? WHERE cover_request_id = ? "
        "AND kind = ? AND status = ?",
        [notifications.CANCELLED, why, request_id, ASK_KIND, notifications.QUEUED],
    )


def _ask_next(
    tx: Transaction, request: CoverRequest, now: datetime, console_url: str | None = None
) -> CoverRequest:
    """Ask the next candidate not asked yet whom no rule stops now; with nobody left, the
    request is unanswered and the lead is told. `console_url`: where the channel's message
    links to (the request on Rota's Cover tab, Accept and Decline there)."""
    for candidate in request.candidates:
        if candidate.asked_at is not None or candidate.answer is not None:
            continue
        broken = check_cover(
            tx, request.team_id, candidate.user.id, request.layer, max(request.start, now),
            request.end,
        )  # fmt: skip
        if broken:
            reasons = in_words(broken)
            tx.execute(
                "UPDATE cover_candidates SET answer = ?, answered_at = ?, why = ? "
                "WHERE request_id = ? AND rank = ?",
                [SKIPPED, now, f"{candidate.why} (skipped: {text.shortened(reasons, 300)})",
                 request.id, candidate.rank],
            )  # fmt: skip
            continue
        claimed = tx.row(
            "UPDATE cover_candidates SET asked_at = ? WHERE request_id = ? AND rank = ? "
            "AND asked_at IS NULL RETURNING rank",
            [now, request.id, candidate.rank],
        )
        if claimed is None:  # another daemon asked them meanwhile: asked once
            return get_request(tx, request.id)
        reached = _notify(tx, ASK_KIND, request.id, candidate.user.id, now)
        team = get_team(tx, request.team_id)
        how = "" if reached else " (no contact method: this message is how they are asked)"
        outbox.enqueue(
            tx, "cover",
            f"{outbox.who(candidate.user)}, could you cover {outbox.who(request.for_user)} in "
            f"{outbox.esc(team.name)} {_range(request, candidate.user.time_zone)}? Accept or "
            f"decline {_where(request.id, console_url)}, within {request.timeout_minutes} "
            f"min{how}",
            now, (), request.team_id,
        )  # fmt: skip
        return get_request(tx, request.id)
    return _close_unanswered(tx, request, now, "nobody left to ask")


def _where(request_id: int, console_url: str | None) -> str:
    """Cover #N as a link to it on Rota's Cover tab (the console's address is the operator's
    setting, the id a number: nothing in it comes from a person)."""
    if not console_url:
        return f"cover #{request_id} in the console (Rota, Cover)"
    base = console_url.rstrip("/")
    return f"<{base}/rota?tab=Cover&cover={request_id}|cover #{request_id} in the console>"


def _lead_ids(tx: Transaction, request: CoverRequest) -> list[int]:
    """Who is told when nobody covers: the requester, the person covered, and the team's
    admins (every admin when none is a member)."""
    admins = tx.rows(
        "SELECT u.id FROM users u JOIN team_members m ON m.user_id = u.id "
        "WHERE m.team_id = ? AND u.role = 'admin'",
        [request.team_id],
    ) or tx.rows("SELECT id FROM users WHERE role = 'admin'")
    wanted = [request.created_by, request.for_user.id, *(r["id"] for r in admins)]
    return sorted({w for w in wanted if w is not None})


def _close_unanswered(tx: Transaction, request: CoverRequest, now: datetime, why: str):
    done = tx.row(
        "UPDATE cover_requests SET status = ?, decided_at = ?, outcome = ? WHERE id = ? "
        "AND status = ? RETURNING id",
        [UNANSWERED, now, why, request.id, ASKING],
    )
    if done is None:
        return get_request(tx, request.id)
    tx.execute(
        "UPDATE cover_candidates SET answer = ?, answered_at = ? WHERE request_id = ? "
        "AND asked_at IS NOT NULL AND answer IS NULL",
        [TIMED_OUT, now, request.id],
    )
    _cancel_asks(tx, request.id, f"cover #{request.id}: {why}")
    leads = _lead_ids(tx, request)
    for user_id in leads:
        _notify(tx, LEAD_KIND, request.id, user_id, now)
    people = users_by_id(tx, set(leads))
    team = get_team(tx, request.team_id)
    outbox.enqueue(
        tx, "cover",
        f"Nobody covers {outbox.who(request.for_user)} in {outbox.esc(team.name)} "
        f"{_range(request, request.for_user.time_zone)} (cover #{request.id}: {outbox.esc(why)}). "
        f"{', '.join(outbox.who(people[i]) for i in leads if i in people)}: please find "
        "someone.",
        now, (), request.team_id,
    )  # fmt: skip
    return get_request(tx, request.id)


# ----- answers ----------------------------------------------------------------------------------
def _answering(
    tx: Transaction, request_id: int, user_id: int, token: str | None, now: datetime
) -> tuple[CoverRequest, Candidate]:
    """An answer's start (accept or decline): its one-time link spent when it came through
    one, the request still asking, and the person's place among its candidates."""
    if token is not None:
        cover_links.spend(tx, token, now)
    request = get_request(tx, request_id)
    if request.status != ASKING:
        raise _closed(request)
    return request, _candidate(request, user_id)


def _candidate(request: CoverRequest, user_id: int) -> Candidate:
    mine = next((c for c in request.candidates if c.user.id == user_id), None)
    if mine is None:
        raise ConflictError(
            f"you are not among the candidates of cover #{request.id} (taking it would break "
            "a rule, or you are the person covered)"
        )
    return mine


def _closed(request: CoverRequest) -> ConflictError:
    if request.status == COVERED and request.covered_by is not None:
        return ConflictError(
            f"cover #{request.id} is already covered by {request.covered_by.full_name}"
        )
    return ConflictError(f"cover #{request.id} is {request.status}")


def accept(
    store: Store,
    request_id: int,
    user_id: int,
    now: datetime,
    via: str = "the API",
    token: str | None = None,
) -> tuple[CoverRequest, Override]:
    """The candidate takes the stretch: the first acceptance becomes the override (the rules
    checked once more), later ones are refused naming who covers it. With `token` (an ask's
    one-time link), the link is spent in the same transaction: only when the answer is taken."""

    def work(tx: Transaction) -> tuple[CoverRequest, Override]:
        request, mine = _answering(tx, request_id, user_id, token, now)
        if mine.answer in (DECLINED, SKIPPED):
            raise ConflictError(f"you {mine.answer} cover #{request_id}: it has moved on")
        if request.end <= now:
            raise ConflictError(f"cover #{request_id} is over")
        # Claim the request first: of two acceptances at once, one changes the row and the
        # other (on PostgreSQL: after waiting for it) finds it covered.
        won = tx.row(
            "UPDATE cover_requests SET status = ?, covered_by = ?, decided_at = ?, outcome = ? "
            "WHERE id = ? AND status = ? RETURNING id",
            [COVERED, user_id, now, f"accepted by {mine.user.full_name} ({via})", request_id,
             ASKING],
        )  # fmt: skip
        if won is None:
            raise _closed(get_request(tx, request_id))
        start = max(request.start, now)
        # The overrides' own check, once more now: refused (409) with every reason; nobody
        # says "I know" for a cover.
        knew = _keep_rules(tx, request.team_id, user_id, request.layer, start, request.end,
                           False, None)  # fmt: skip
        team = get_team(tx, request.team_id)
        made = _insert(tx, request.team_id, request.layer, user_id, start, request.end, now,
                       user_id, knew=knew)  # fmt: skip
        tx.execute("UPDATE cover_requests SET override_id = ? WHERE id = ?", [made.id, request_id])
        tx.execute(
            "UPDATE cover_candidates SET answer = ?, answered_at = ? WHERE request_id = ? "
            "AND rank = ?",
            [ACCEPTED, now, request_id, mine.rank],
        )
        tx.execute(
            "UPDATE cover_candidates SET answer = ?, answered_at = ? WHERE request_id = ? "
            "AND asked_at IS NOT NULL AND answer IS NULL",
            [TIMED_OUT, now, request_id],
        )
        _cancel_asks(tx, request_id, f"cover #{request_id} is covered")
        outbox.enqueue(tx, "override", _announce(tx, made, team.name, now), now, (), team.id)
        outbox.enqueue(
            tx, "cover",
            f"{outbox.who(mine.user)} covers {outbox.who(request.for_user)} in "
            f"{outbox.esc(team.name)} {_range(request, mine.user.time_zone)} "
            f"(cover #{request_id} accepted)",
            now, (), team.id,
        )  # fmt: skip
        return get_request(tx, request_id), made

    return store.write(work)


def decline(
    store: Store,
    request_id: int,
    user_id: int,
    now: datetime,
    token: str | None = None,
    console_url: str | None = None,
) -> CoverRequest:
    """The candidate cannot take it; when they were the one asked, the next is asked now."""

    def work(tx: Transaction) -> CoverRequest:
        request, mine = _answering(tx, request_id, user_id, token, now)
        if mine.answer is not None and mine.answer != TIMED_OUT:
            raise ConflictError(f"you {mine.answer} cover #{request_id} already")
        was_asked = request.asked is not None and request.asked.user.id == user_id
        tx.execute(
            "UPDATE cover_candidates SET answer = ?, answered_at = ? WHERE request_id = ? "
            "AND rank = ?",
            [DECLINED, now, request_id, mine.rank],
        )
        tx.execute(
            "UPDATE notifications SET status = ?, last_error = ? WHERE cover_request_id = ? "
            "AND user_id = ? AND status = ?",
            [notifications.CANCELLED, "declined", request_id, user_id, notifications.QUEUED],
        )
        if was_asked:
            return _ask_next(tx, get_request(tx, request_id), now, console_url)
        return get_request(tx, request_id)

    return store.write(work)


def cancel(store: Store, request_id: int, now: datetime) -> CoverRequest:
    def work(tx: Transaction) -> CoverRequest:
        request = get_request(tx, request_id)
        if request.status != ASKING:
            raise _closed(request)
        tx.execute(
            "UPDATE cover_requests SET status = ?, decided_at = ?, outcome = ? WHERE id = ?",
            [CANCELLED, now, "cancelled", request_id],
        )
        _cancel_asks(tx, request_id, f"cover #{request_id} was cancelled")
        team = get_team(tx, request.team_id)
        outbox.enqueue(
            tx, "cover",
            f"Cover #{request_id} for {outbox.who(request.for_user)} in {outbox.esc(team.name)} "
            f"{_range(request, request.for_user.time_zone)} is cancelled: no longer needed",
            now, (), team.id,
        )  # fmt: skip
        return get_request(tx, request_id)

    return store.write(work)


# ----- moving requests on (the job) -------------------------------------------------------------
def advance(store: Store, now: datetime, console_url: str | None = None) -> dict[str, int]:
    """One turn of the cover job: a request past its deadline (or whose stretch is over) is
    unanswered and tells the lead; one whose candidate has not answered within its timeout
    asks the next. Each request in its own transaction; running it twice does no harm."""
    counts = {"asked": 0, "unanswered": 0}
    due = store.rows(
        "SELECT r.id FROM cover_requests r WHERE r.status = ? AND (r.deadline <= ? OR "
        "r.end_time <= ? OR EXISTS (SELECT 1 FROM cover_candidates c WHERE c.request_id = r.id "
        "AND c.asked_at IS NOT NULL AND c.answer IS NULL AND c.asked_at + "
        "r.timeout_minutes * INTERVAL '1 minute' <= ?)) ORDER BY r.id",
        [ASKING, now, now, now],
    )
    for row in due:

        def work(tx: Transaction, request_id: int = row["id"]) -> str | None:
            request = get_request(tx, request_id)
            if request.status != ASKING:
                return None
            if request.deadline <= now or request.end <= now:
                _close_unanswered(tx, request, now, "nobody accepted before the deadline")
                return "unanswered"
            asked = request.asked
            if asked is None or asked.asked_at + timedelta(minutes=request.timeout_minutes) > now:
                return None
            # Conditional: of two daemons moving the same request on, one does it.
            timed_out = tx.row(
                "UPDATE cover_candidates SET answer = ?, answered_at = ? WHERE request_id = ? "
                "AND rank = ? AND answer IS NULL RETURNING rank",
                [TIMED_OUT, now, request_id, asked.rank],
            )
            if timed_out is None:
                return None
            after = _ask_next(tx, get_request(tx, request_id), now, console_url)
            return "asked" if after.status == ASKING else "unanswered"

        outcome = store.write(work)
        if outcome:
            counts[outcome] += 1
    return counts


# ----- away means covered -----------------------------------------------------------------------
@dataclass(frozen=True)
class AwayShift:
    """A part of the person's final schedule that falls on days they marked away, still to
    come, and the cover request already open (or covered) for it, if any."""

    team_id: int
    team: str
    layer: int
    start: datetime
    end: datetime
    request_id: int | None
    request_status: str | None


def away_shifts(
    source: Store | Transaction, user_id: int, first: date, last: date, now: datetime
) -> list[AwayShift]:
    """The person's shifts on the final schedule, every team and layer, over the days in
    [first, last] they marked away, from now on: each clipped to what those days block, read
    as each team reads a day away (its zone, handoff and AwayMeans, as the rule checks on
    every change do), so that cover is asked for while they are away."""
    marked = days_by_user(source, first, last, user_id).get(user_id, {})
    away = sorted(day for day, kind in marked.items() if kind == UNAVAILABLE)
    if not away:
        return []
    # Any team's reading of these days lies within a day either side of them (UTC).
    widest = (
        datetime.combine(away[0] - timedelta(days=1), time(0), UTC),
        datetime.combine(away[-1] + timedelta(days=2), time(0), UTC),
    )
    start = max(widest[0], now)
    if widest[1] <= start:
        return []
    # per team: its name and the spans its reading of the days blocks (read once)
    readings: dict[int, tuple[str, list[tuple[datetime, datetime]]]] = {}
    found: list[AwayShift] = []
    for segment in user_segments(source, user_id, start, widest[1]):
        if segment.team_id not in readings:
            team = get_team(source, segment.team_id)
            rules = team_rules(team)
            spans = [away_span(day, rules.zone, rules.handoff, rules.away_means) for day in away]
            in_utc = [(a.astimezone(UTC), b.astimezone(UTC)) for a, b in spans]
            readings[segment.team_id] = team.name, _joined(in_utc)
        name, spans = readings[segment.team_id]
        for away_start, away_end in spans:
            part_start = max(away_start, segment.start, now)
            part_end = min(away_end, segment.end)
            if part_start >= part_end:
                continue
            asked = source.row(
                "SELECT id, status FROM cover_requests WHERE team_id = ? AND layer = ? "
                "AND for_user_id = ? AND status IN (?, ?) AND start_time < ? AND end_time > ? "
                "ORDER BY id DESC LIMIT 1",
                [segment.team_id, segment.layer, user_id, ASKING, COVERED, part_end,
                 part_start],
            )  # fmt: skip
            found.append(
                AwayShift(
                    segment.team_id,
                    name,
                    segment.layer,
                    part_start,
                    part_end,
                    asked["id"] if asked else None,
                    asked["status"] if asked else None,
                )
            )
    return sorted(found, key=lambda shift: (shift.start, shift.team_id, shift.layer))


def _joined(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Spans in time order, those that touch or overlap made one (days away in a row)."""
    joined: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined
