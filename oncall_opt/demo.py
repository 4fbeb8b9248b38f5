"""The demo a first start seeds, the same story as the quick start: the people of
`data/input.json` with their days away, preferred and avoided; the roster the quick start's
first command solved into `output.json` published as the team's schedule (or, without that
file, the same input solved here); the plain daily rotation the team had in the four weeks
before; three services; four weeks of incidents (acknowledged and resolved at believable
times, more of them at night on Sundays when the batch jobs run and after Tuesday's and
Thursday's releases) and a few open now.

The bundled input plans December 2026. On another date every day in it (and in
`output.json`) is moved by whole weeks, so that the plan starts in the week of today: the
weekdays stay, the story stays. The store is written directly, before the daemon starts,
because history has its own times: nothing is paged and no message is queued for it."""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from oncall_opt.engine import availability, incidents, planning, services, timeline, users
from oncall_opt.engine.store import Store

ROOT = Path(__file__).resolve().parent.parent
TEAM_INPUT = ROOT / "data" / "input.json"
# Minutes from a past incident's page to its acknowledgement: quick by day, slower at night
# (someone woke up). Keyed by "at night".
ACKNOWLEDGED_AFTER = {False: (1, 9), True: (6, 28)}
PAGED_AGAIN_AFTER = timedelta(minutes=5)  # each person's second way of being paged (the SMS)

SERVICES = ("checkout", "payments", "postgres-main")
HISTORY_WEEKS = 4
MAX_ROSTER_BYTES = 1_000_000  # the bundled month's output.json is about 5 KB
# Where each person of the bundled team lives (input.json does not say).
ZONES = {
    "Ana Silva": "Europe/Lisbon",
    "Ben Okafor": "Africa/Lagos",
    "Chloé Martin": "Europe/Paris",
    "Dev Patel": "Asia/Kolkata",
    "Eun-ji Kim": "Asia/Seoul",
    "Farid Haddad": "Asia/Dubai",
    "Greta Lind": "Europe/Stockholm",
}
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class Seeded:
    users: list[Any]
    services: list[Any]
    open_incidents: list[int]
    history: list[int]
    published: int  # shifts in the team's roster
    moved_days: int  # how far input.json's dates were moved (0 in the month it plans)
    solved_here: bool  # no usable output.json: the input was solved for the demo


def handle_of(first_name: str) -> str:
    """`Chloé` -> `chloe`, `Eun-ji` -> `eunji`."""
    plain = unicodedata.normalize("NFKD", first_name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower()) or "person"


def days_to_move(start: date, end: date, today: date) -> int:
    """0 when today is in the plan's window with a week of it left; else whole weeks that
    bring the window's start into the last seven days."""
    if start <= today <= end - timedelta(days=7):
        return 0
    return (today - start).days // 7 * 7


def moved(document: Any, days: int) -> Any:
    """`document` with the date of every ISO date or timestamp in it moved by `days`."""
    if days == 0:
        return document
    if isinstance(document, dict):
        return {key: moved(value, days) for key, value in document.items()}
    if isinstance(document, list):
        return [moved(value, days) for value in document]
    if isinstance(document, str) and (found := _DATE.match(document)):
        day = date.fromisoformat(found.group(1)) + timedelta(days=days)
        return day.isoformat() + document[10:]
    return document


def _day(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


def days_of(person: dict[str, Any]) -> dict[date, str]:
    """A person's days in the input's plain form: unavailable days (or {start, end} ranges),
    preferred days and days to avoid."""
    found: dict[date, str] = {}
    preferences = person.get("preferences") or {}
    for kind, items in (
        ("preferred", preferences.get("days")),
        ("avoid", preferences.get("avoid_days")),
    ):
        for item in items or ():
            found[_day(item)] = kind
    for item in person.get("unavailable") or ():
        if isinstance(item, dict):
            day, last = _day(item["start"]), _day(item.get("end", item["start"]))
            while day <= last:
                found[day] = "unavailable"
                day += timedelta(days=1)
        else:
            found[_day(item)] = "unavailable"
    return found


def _roster_output(document: dict[str, Any], output_path: Path | None) -> tuple[dict, bool]:
    """output.json when it plans this input (the same people and window), else the input
    solved now; and whether it was solved here."""
    if output_path is not None and output_path.is_file():
        try:
            if output_path.stat().st_size > MAX_ROSTER_BYTES:
                raise ValueError("too large for the bundled team's roster")
            output = json.loads(output_path.read_text(encoding="utf-8"))
            ids = {u["id"] for u in document["users"]}
            overrides = output["overrides"]
            everything = overrides + output.get("secondary_overrides", [])
            first = _day(document["schedule_start"])
            last = _day(document["schedule_end"]) + timedelta(days=1)
            # Checked whole before anything is written: the seed never stops half-way.
            if overrides and all(
                o["user"]["id"] in ids and first <= _day(o["start"]) <= _day(o["end"]) <= last
                for o in everything
            ):
                return output, False
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    from oncall_opt.roster.load import load_problem
    from oncall_opt.roster.solve import solve

    return solve(load_problem(document), time_limit=20).to_output(), True


def _rotation(
    people: list[int], start: datetime, days: int, handoff: time
) -> list[tuple[datetime, datetime, int]]:
    """The plain rotation the team had before: one day each, in turn."""
    first = datetime.combine(start.date(), handoff, tzinfo=UTC) - timedelta(days=days)
    return [
        (first + timedelta(days=i), first + timedelta(days=i + 1), people[i % len(people)])
        for i in range(days)
    ]


ALERTS = {
    "checkout": [
        ("Checkout p99 latency above 2 s in eu-west-1", "high"),
        ("Checkout error rate 4% on /api/cart (threshold 1%)", "high"),
        ("orders-worker queue depth above 10k", "high"),
        ("Checkout pods restarting: CrashLoopBackOff on checkout-7d9f8", "high"),
        ("TLS certificate for checkout's ingress expires in 7 days", "low"),
    ],
    "payments": [
        ("Payments API 5xx rate 3.1% (threshold 2%)", "high"),
        ("Card authorisation retries above 4% for 15 min", "low"),
        ("PSP webhooks failing: 502 from /v1/webhooks/psp", "high"),
        ("Settlement export late: not delivered by 06:00", "low"),
    ],
    "postgres-main": [
        ("Nightly backup of postgres-main failed: pg_dump exit 137", "high"),
        ("Replication lag on pg-replica-1 above 30 s", "high"),
        ("Disk 85% full on pg-replica-2", "low"),
        ("Long-running query over 10 min blocking autovacuum", "low"),
    ],
}
NOTES = (
    "Rolled back the last deploy; back to normal",
    "Restarted the stuck worker; queue drained in 12 min",
    "Raised the memory limit and re-ran it: ok",
    "Upstream provider incident; nothing to do on our side",
    "Cleared old WAL files; alert threshold looks too tight, ticket filed",
)


NEXT_WEEKS = 6


def _plan_next(store: Store, output: dict[str, Any], now: datetime) -> int:
    """The weeks after the bundled roster, planned as the Roster planner plans a next window
    (the same rules; the hours each person carried before counted as history), so the first
    look at the console has someone on call for weeks. Returns the shifts published."""
    from oncall_opt.roster.load import load_problem
    from oncall_opt.roster.solve import solve

    ends = [datetime.fromisoformat(o["end"].replace("Z", "+00:00")) for o in output["overrides"]]
    first = max(ends).date()
    last = first + timedelta(weeks=NEXT_WEEKS) - timedelta(days=1)
    document = planning.build_input(store, first, last, planning.RosterOptions(), now)
    roster = solve(load_problem(document), time_limit=20)
    return len(planning.publish_output(store, roster.to_output(), now=now).shifts)


def _history(
    start: datetime,
    end: datetime,
    on_call: Callable[[datetime], int | None],
    service_ids: dict[str, int],
    rng: random.Random,
) -> list[incidents.PastIncident]:
    """Incidents between `start` and `end`: a few a day in office hours, more after the
    Tuesday and Thursday releases, the batch jobs' failures on Sunday nights (UTC)."""
    found = []
    day = start.date()
    while day < end.date():
        moments = [
            datetime.combine(day, time(rng.randint(8, 18), rng.randint(0, 59)), UTC)
            for _ in range(rng.choice((0, 1, 1, 2)))
        ]
        if day.weekday() in (1, 3):  # a release in the afternoon
            moments += [datetime.combine(day, time(15, rng.randint(5, 55)), UTC)]
        if day.weekday() == 6:  # the batch jobs, at night
            moments += [
                datetime.combine(day, time(rng.randint(1, 4), rng.randint(0, 59)), UTC)
                for _ in range(rng.randint(1, 3))
            ]
        if rng.random() < 0.3:  # something at night, any night
            moments.append(datetime.combine(day, time(rng.randint(0, 5), rng.randint(0, 59)), UTC))
        for opened in sorted(moments):
            if not start <= opened < end:
                continue
            name = rng.choice(SERVICES)
            body, urgency = rng.choice(ALERTS[name])
            who = on_call(opened)
            night = opened.hour < 7 or opened.hour >= 22
            lasts = timedelta(minutes=rng.randint(12, 180))
            if who is None or rng.random() < 0.12:  # it went away before anyone acknowledged
                gone = opened + timedelta(minutes=rng.randint(4, 25))
                found.append(
                    incidents.PastIncident(
                        service_ids[name],
                        body,
                        opened,
                        gone,
                        assignee=who,
                        resolved_via="Alertmanager",
                        urgency=urgency,
                        source="alertmanager",
                        pages=() if who is None else ((who, opened),),
                    )
                )
                continue
            ack = opened + timedelta(minutes=rng.randint(*ACKNOWLEDGED_AFTER[night]))
            # paged at once, and again after PAGED_AGAIN_AFTER while nobody acknowledged
            again = opened + PAGED_AGAIN_AFTER
            pages = ((who, opened),) + (((who, again),) if ack > again else ())
            notes = ((ack + lasts / 2, who, rng.choice(NOTES)),) if rng.random() < 0.5 else ()
            found.append(
                incidents.PastIncident(
                    service_ids[name],
                    body,
                    opened,
                    min(ack + lasts, end),
                    assignee=who,
                    acknowledged=ack,
                    acknowledged_by=who,
                    resolved_by=who,
                    urgency=urgency,
                    source="alertmanager",
                    notes=notes,
                    pages=pages,
                )
            )
        day += timedelta(days=1)
    return found


def _open_now(
    store: Store, people: dict[str, int], service_ids: dict[str, int], now: datetime
) -> list[int]:
    """What is open right now: three waiting for someone, three being worked on."""
    made = []
    for _ in range(3):  # the alert fired three times: one incident, counted
        latency, _ = incidents.trigger(
            store,
            "Checkout p99 latency above 2 s in eu-west-1 (2.7 s over the last 10 min)",
            now - timedelta(minutes=9),
            "checkout-latency",
            service_id=service_ids["checkout"],
            source="checkout-7d9f8-kx2lp",
            severity="critical",
            details={
                "p99_seconds": 2.7,
                "region": "eu-west-1",
                "runbook": "runbooks/checkout.md#latency",
            },
        )
    made.append(latency.id)
    for body, key, service, urgency, ago in (
        (
            "Disk 91% full on pg-replica-2 (/var/lib/postgresql), about 6 h until full at the "
            "current rate",
            "pg-replica-2-disk",
            "postgres-main",
            "high",
            6,
        ),
        (
            "Card authorisation retries above 4% for 15 min (acquirer timeouts)",
            "card-auth-retries",
            "payments",
            "low",
            3,
        ),
    ):
        made.append(
            incidents.trigger(
                store,
                body,
                now - timedelta(minutes=ago),
                key,
                service_id=service_ids[service],
                urgency=urgency,
            )[0].id
        )
    for body, service, urgency, who, note, ago in (
        (
            "PSP webhooks failing: 12% of calls to /v1/webhooks/psp return 502",
            "payments",
            "high",
            "Ben",
            "The 502s come from the ingress: new pods fail readiness",
            47,
        ),
        (
            "TLS certificate for checkout's public ingress expires in 7 days (cert-manager "
            "renewal failing)",
            "checkout",
            "low",
            "Chloé",
            "The DNS-01 challenge fails: the DNS provider's token expired",
            130,
        ),
        ("Replication lag on pg-replica-1 above 30 s", "postgres-main", "high", "Dev", None, 22),
    ):
        opened = now - timedelta(minutes=ago)
        incident, _ = incidents.trigger(
            store, body, opened, service_id=service_ids[service], urgency=urgency
        )
        person = people[who]
        incidents.assign(store, incident.id, person, opened + timedelta(minutes=2))
        incidents.acknowledge(store, incident.id, opened + timedelta(minutes=4), person)
        if note:
            timeline.add_note(store, incident.id, note, opened + timedelta(minutes=15), person)
        made.append(incident.id)
    return made


def seed(
    store: Store,
    today: date | None = None,
    now: datetime | None = None,
    team_input: Path = TEAM_INPUT,
    output_path: Path | None = None,
    say: Callable[[str], object] = print,
    publish: bool = True,
) -> Seeded:
    """Seed an empty store with the demo (see the module's text); without `publish`, no
    roster is published (the history is as if it had been)."""
    now = now or datetime.now(UTC)
    today = today or now.date()
    original = json.loads(team_input.read_text(encoding="utf-8"))
    start, end = _day(original["schedule_start"]), _day(original["schedule_end"])
    shift = days_to_move(start, end, today)
    document = moved(original, shift)
    output, solved_here = _roster_output(original, output_path)
    output = moved(output, shift)

    # The first person leads the team: an admin (the others are members).
    made = []
    for index, person in enumerate(document["users"]):
        first, _, last = person["name"].partition(" ")
        made.append(
            users.create_user(
                store,
                first,
                last or "-",
                handle_of(first),
                now,
                time_zone=ZONES.get(person["name"], "UTC"),
                role="admin" if index == 0 else "member",
            )
        )
    ours = {p["id"]: u.id for p, u in zip(document["users"], made, strict=True)}
    window = (_day(document["schedule_start"]), _day(document["schedule_end"]))
    for person, user in zip(document["users"], made, strict=True):
        days = {d: k for d, k in days_of(person).items() if window[0] <= d <= window[1]}
        availability.set_days(store, user.id, *window, days)
    say(
        f"seeded the team of {team_input.name}: {len(made)} people with their days"
        + (f" (moved {shift // 7} weeks to start this week)" if shift else "")
    )

    planned_from = datetime.fromisoformat(document["schedule_start"].replace("Z", "+00:00"))
    before = _rotation([u.id for u in made], planned_from, HISTORY_WEEKS * 7, planned_from.time())
    for override in output.get("overrides", []) + output.get("secondary_overrides", []):
        override["user"] = {**override["user"], "id": str(ours[override["user"]["id"]])}
    published = 0
    if publish:
        rotation = [
            {"start": a.isoformat(), "end": b.isoformat(), "user": {"id": str(u)}}
            for a, b, u in before
        ]
        planning.publish_output(store, {"overrides": rotation}, now=now)
        published = len(planning.publish_output(store, output, now=now).shifts)
        published += _plan_next(store, output, now)
        source = "solved here (no output.json for it)" if solved_here else "output.json"
        say(
            f"published the roster ({source}): {window[0]} to {window[1]}; the "
            f"{NEXT_WEEKS} weeks after it planned as the Roster planner would; and the plain "
            f"rotation of the {HISTORY_WEEKS} weeks before it"
        )

    service_ids = {name: services.create_service(store, name, now)[0].id for name in SERVICES}
    spans = list(before)
    for override in output.get("overrides", []):
        spans.append(
            (
                datetime.fromisoformat(override["start"].replace("Z", "+00:00")),
                datetime.fromisoformat(override["end"].replace("Z", "+00:00")),
                int(override["user"]["id"]),
            )
        )

    def on_call(at: datetime) -> int | None:
        return next((u for a, b, u in spans if a <= at < b), None)

    history_start = planned_from - timedelta(weeks=HISTORY_WEEKS)
    past = _history(history_start, now - timedelta(hours=3), on_call, service_ids, random.Random(7))
    people = {u.first_name: u.id for u in made}
    open_ids = _open_now(store, people, service_ids, now)
    history = incidents.record_past(store, past)
    say(
        f"seeded {len(service_ids)} services ({', '.join(SERVICES)}), {len(open_ids)} open "
        f"incidents and {len(history)} over in the last {HISTORY_WEEKS}+ weeks"
    )
    return Seeded(
        made,
        list(service_ids.values()),
        open_ids,
        history,
        published,
        shift,
        solved_here,
    )
