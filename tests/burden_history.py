"""A synthetic page history with known rates for the burden tests, made under the fake clock
through the real engine (incidents triggered, pages sent by the notify job to a real SMTP
server on 127.0.0.1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from fake_clock import FakeClock

from oncall_opt.engine import incidents
from oncall_opt.engine.jobs import notify
from oncall_opt.engine.paging import methods
from oncall_opt.engine.services import create_service
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.shifts import create_schedule
from oncall_opt.engine.store import Store
from oncall_opt.engine.teams import create_team
from oncall_opt.engine.users import create_user

# The window planned starts Monday 2026-03-30 00:00Z; the 12 weeks read start Mon 2026-01-05.
PLANNED = date(2026, 3, 30)
WINDOW_START = datetime(2026, 3, 30, tzinfo=UTC)
HISTORY_START = WINDOW_START - timedelta(weeks=12)
SUNDAY_NIGHT = 6 * 24 + 23  # hour of the week: Sunday 23:00-24:00
WEDNESDAY_MORNING = 2 * 24 + 10  # Wednesday 10:00-11:00


@dataclass(frozen=True)
class Paged:
    team_id: int
    ana: int
    ben: int


def build(store: Store, mail_settings: dict) -> Paged:
    """Ana on call throughout; a page every Sunday 23:00Z but the first (11 pages) and every
    Wednesday 10:00Z for the first 6 weeks (6 pages): 17 pages, one e-mail each."""
    settings = Settings(**mail_settings)
    clock = FakeClock(HISTORY_START - timedelta(days=1))
    now = clock.now()
    ana = create_user(store, "Ana", "Silva", "ana", now, "UTC", team_ids=())
    ben = create_user(store, "Ben", "Okafor", "ben", now, "UTC", team_ids=())
    team = create_team(store, "Payments", now, [ana.id, ben.id])
    service, _ = create_service(store, "Checkout", now, team.id)
    method, _ = methods.create(store, ana.id, "email", "ana@example.com", "work", now, settings)
    methods.mark_verified(store, method.id, now)
    create_schedule(store, ana.id, HISTORY_START - timedelta(days=1), WINDOW_START, 1, team.id)
    moments = [HISTORY_START + timedelta(days=6, hours=23) + k * timedelta(weeks=1)
               for k in range(1, 12)]  # fmt: skip
    moments += [HISTORY_START + timedelta(days=2, hours=10) + k * timedelta(weeks=1)
                for k in range(6)]  # fmt: skip
    for moment in sorted(moments):
        clock.advance(seconds=(moment - clock.now()).total_seconds())
        incident, _ = incidents.trigger(store, "disk full", clock.now(), service_id=service.id)
        notify.run(store, clock.now(), settings)
        incidents.resolve(store, incident.id, clock.advance(minutes=5), ana.id)
    return Paged(team.id, ana.id, ben.id)
