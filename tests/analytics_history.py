"""A fixed incident history for the analytics tests, made under the fake clock through the real
engine: incidents triggered, pages sent by the notify job to a real SMTP server on 127.0.0.1,
the escalation job paging the secondary, acknowledgements and resolutions by hand.

The team "Payments" (services Checkout and Web) over WINDOW = [Fri 2026-03-27 00:00Z,
Tue 2026-03-31 00:00Z), across Europe/Berlin's change to summer time (Sun 2026-03-29 01:00Z:
02:00 CET became 03:00 CEST):

- Ana (Europe/Berlin) is primary (layer 1) for the whole window but the last 6 hours, which
  Chloé takes by an override; her rules page her by e-mail at once and again after 10 minutes;
- Ben (America/New_York, already on summer time: UTC-4) is secondary (layer 2), his shift
  running from before the window to after it; one e-mail at once;
- Chloé (no zone: UTC) is also in the team "Ops", whose incident pages her: not Payments';
- the escalation policy is the team's default: primary at once, secondary after 15 minutes.

What happens (UTC; Berlin; New York) is written beside each step in `build`; the tests compute
every figure from these lines by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fake_clock import FakeClock

from oncall_opt.engine import incidents, overrides
from oncall_opt.engine.jobs import escalation, notify
from oncall_opt.engine.paging import methods, rules
from oncall_opt.engine.services import create_service
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.shifts import create_schedule
from oncall_opt.engine.store import Store
from oncall_opt.engine.teams import create_team
from oncall_opt.engine.users import create_user


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


WINDOW = (utc(2026, 3, 27), utc(2026, 3, 31))


@dataclass(frozen=True)
class History:
    team_id: int
    other_team_id: int
    ana: int
    ben: int
    chloe: int
    checkout: int
    web: int
    incident: dict[str, int]  # I1..I6 -> id


def build(store: Store, mail_settings: dict) -> History:
    clock = FakeClock(utc(2026, 3, 20, 9))
    settings = Settings(**mail_settings)
    now = clock.now()
    ana = create_user(store, "Ana", "Silva", "ana", now, "Europe/Berlin", team_ids=())
    ben = create_user(store, "Ben", "Okafor", "ben", now, "America/New_York", team_ids=())
    chloe = create_user(store, "Chloé", "Martin", "chloe", now, None, team_ids=())
    team = create_team(store, "Payments", now, [ana.id, ben.id, chloe.id])
    ops = create_team(store, "Ops", now, [chloe.id])
    checkout, _ = create_service(store, "Checkout", now, team.id)
    web, _ = create_service(store, "Web", now, team.id)
    ops_service, _ = create_service(store, "Ops API", now, ops.id)
    for who, address in ((ana, "ana@example.com"), (ben, "ben@example.com"),
                         (chloe, "chloe@example.com")):  # fmt: skip
        method, _ = methods.create(store, who.id, "email", address, "work", now, settings)
        methods.mark_verified(store, method.id, now)  # a rule at once, both urgencies
        if who is ana:
            rules.create(store, ana.id, method.id, 10, "high", now)
    create_schedule(store, ana.id, utc(2026, 3, 27), utc(2026, 3, 31), 1, team.id)
    create_schedule(store, ben.id, utc(2026, 3, 26), utc(2026, 4, 2), 2, team.id)
    create_schedule(store, chloe.id, utc(2026, 3, 27), utc(2026, 3, 31), 1, ops.id)
    overrides.create_override(store, team.id, chloe.id, utc(2026, 3, 30, 18), utc(2026, 3, 31),
                              now)  # fmt: skip

    def at(moment: datetime) -> datetime:
        """Move the clock to `moment`, running the escalation and notify jobs at each moment
        something falls due on the way, as a daemon that wakes exactly on time would."""
        while True:
            due = store.row(
                "SELECT min(t) AS t FROM (SELECT min(next_escalation_at) AS t FROM incidents "
                "WHERE status = 'triggered' UNION ALL SELECT min(next_attempt_at) FROM "
                "notifications WHERE status = 'queued') AS due"
            )["t"]
            late = due is None or due > moment or due <= clock.now()  # nothing due on the way
            target = moment if late else due
            clock.advance(seconds=(target - clock.now()).total_seconds())
            escalation.run(store, clock.now())
            notify.run(store, clock.now(), settings)
            if target == moment:
                return clock.now()

    def trigger(body: str, service: int) -> int:
        incident, _ = incidents.trigger(store, body, clock.now(), service_id=service)
        notify.run(store, clock.now(), settings)
        return incident.id

    ids: dict[str, int] = {}
    # I1 Fri 20:30Z (Berlin 21:30 CET, Fri): Ana paged; acknowledged at 20:38 (before her second
    # e-mail, cancelled); resolved 21:30.
    at(utc(2026, 3, 27, 20, 30))
    ids["I1"] = trigger("I1 disk full", checkout.id)
    incidents.acknowledge(store, ids["I1"], at(utc(2026, 3, 27, 20, 38)), ana.id)
    incidents.resolve(store, ids["I1"], at(utc(2026, 3, 27, 21, 30)), ana.id)
    # I2 Fri 22:50Z (Berlin 23:50 Fri): Ana paged (night); again at 23:00Z (Berlin Sat 00:00:
    # night and weekend, past midnight); 23:05Z escalated to Ben (New York Fri 19:05);
    # acknowledged by Ben 23:20Z; resolved by Ben Sat 00:10Z.
    at(utc(2026, 3, 27, 22, 50))
    ids["I2"] = trigger("I2 payments down", checkout.id)
    incidents.acknowledge(store, ids["I2"], at(utc(2026, 3, 27, 23, 20)), ben.id)
    incidents.resolve(store, ids["I2"], at(utc(2026, 3, 28, 0, 10)), ben.id)
    # I3 Sat 04:30Z (Berlin 05:30 Sat): Ana paged, again 04:40Z; she resolves it at 04:44Z
    # without acknowledging.
    at(utc(2026, 3, 28, 4, 30))
    ids["I3"] = trigger("I3 queue stuck", checkout.id)
    incidents.resolve(store, ids["I3"], at(utc(2026, 3, 28, 4, 44)), ana.id)
    # I5 Sun 00:30Z (Berlin 01:30 CET, before the change): Ana paged, again 00:40Z; 00:45Z
    # escalated to Ben (New York Sat 20:45); Ben acknowledges 00:50Z; resolved 02:30Z.
    at(utc(2026, 3, 29, 0, 30))
    ids["I5"] = trigger("I5 latency", checkout.id)
    incidents.acknowledge(store, ids["I5"], at(utc(2026, 3, 29, 0, 50)), ben.id)
    incidents.resolve(store, ids["I5"], at(utc(2026, 3, 29, 2, 30)), ben.id)
    # I4 Sun 05:30Z (Berlin 07:30 CEST: morning, no longer night; 06:30 on winter time would
    # have been): Ana paged; acknowledged 05:33Z; resolved 06:00Z.
    at(utc(2026, 3, 29, 5, 30))
    ids["I4"] = trigger("I4 cert expiry", checkout.id)
    incidents.acknowledge(store, ids["I4"], at(utc(2026, 3, 29, 5, 33)), ana.id)
    incidents.resolve(store, ids["I4"], at(utc(2026, 3, 29, 6, 0)), ana.id)
    # Ops' incident pages Chloé Sun 10:00Z: not Payments' page.
    at(utc(2026, 3, 29, 10))
    ids["ops"] = trigger("ops: backup failed", ops_service.id)
    incidents.resolve(store, ids["ops"], at(utc(2026, 3, 29, 10, 5)))
    # I6 Mon 12:00Z on Web (Berlin 14:00 Mon): Ana paged; acknowledged 12:06Z; still open.
    at(utc(2026, 3, 30, 12))
    ids["I6"] = trigger("I6 <b>web</b> 5xx", web.id)
    incidents.acknowledge(store, ids["I6"], at(utc(2026, 3, 30, 12, 6)), ana.id)
    # I7 Mon 23:50Z: Chloé (UTC, on call by the override) paged, at night; at 00:05Z, after the
    # window, escalated to Ben: his page does not count, the escalation does (I7 opened within).
    at(utc(2026, 3, 30, 23, 50))
    ids["I7"] = trigger("I7 last one", checkout.id)
    at(utc(2026, 3, 31, 0, 5))
    return History(team.id, ops.id, ana.id, ben.id, chloe.id, checkout.id, web.id, ids)
