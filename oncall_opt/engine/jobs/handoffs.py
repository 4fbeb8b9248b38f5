"""Handoff notices, every minute: each team's channel hears, from the final schedule,

- a heads-up `handoff_notice_minutes` (30) before someone's stretch on call starts;
- at the handoff: "<@katy> is on call for Payments (primary) until Tue 09:00";
- a day ahead: a gap in coverage (nobody on call in a layer the team uses).

Each notice is recorded in the `notices` table (key: kind, team, layer, start) with `INSERT ...
ON CONFLICT DO NOTHING RETURNING`, in the same transaction as its message: a notice is sent once,
whatever restarts or how many daemons run the job. A handoff the daemon was down for is not
announced once it is more than `GRACE` old.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from oncall_opt.engine import outbox
from oncall_opt.engine.final import OVERRIDE, Segment, gaps, segments
from oncall_opt.engine.overrides import LAYER_NAMES, slack_time
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store, Transaction

GRACE = timedelta(minutes=10)
GAP_AHEAD = timedelta(days=1)
LOOK_BACK = timedelta(days=1)  # so the first stretch in view has its true start


def run(store: Store, now: datetime, settings: Settings) -> int:
    """Send the notices now due; returns how many were sent."""
    lead = timedelta(minutes=settings.handoff_notice_minutes)
    begin, horizon = now - LOOK_BACK, now + max(lead, GAP_AHEAD) + GRACE

    def work(tx: Transaction) -> int:
        teams = {r["id"]: r["name"] for r in tx.rows("SELECT id, name FROM teams ORDER BY id")}
        due: list[tuple[str, int, int, datetime, int | None, str]] = []
        for team_id, name in teams.items():
            found = segments(tx, team_id, begin, horizon)
            for segment in found:
                if segment.start <= begin:  # clipped: its real start is out of view
                    continue
                if segment.start - lead <= now < segment.start:
                    due.append(_notice("upcoming", segment, name))
                elif segment.start <= now < segment.start + GRACE:
                    due.append(_notice("handoff", segment, name))
            for layer in sorted({s.layer for s in found}):
                for start, end in gaps(found, layer, begin, horizon):
                    if start > begin and now - GRACE <= start <= now + GAP_AHEAD:
                        due.append(_gap(team_id, name, layer, start, end, horizon))
        if not due:
            return 0
        sent = tx.rows(
            "INSERT INTO notices (kind, team_id, layer, starts_at, user_id, sent_at) "
            "SELECT unnest(?::VARCHAR[]), unnest(?::BIGINT[]), unnest(?::SMALLINT[]), "
            "unnest(?::TIMESTAMPTZ[]), unnest(?::BIGINT[]), ? ON CONFLICT DO NOTHING "
            "RETURNING kind, team_id, layer, starts_at",
            [
                [d[0] for d in due],
                [d[1] for d in due],
                [d[2] for d in due],
                [d[3] for d in due],
                [d[4] for d in due],
                now,
            ],
        )
        new = {(r["kind"], r["team_id"], r["layer"], r["starts_at"]) for r in sent}
        fresh = [d for d in due if d[:4] in new]
        for kind, team_id, _, _, _, text in fresh:
            outbox.enqueue(tx, kind, text, now, (), team_id)
        return len(fresh)

    return store.write(work)


def _notice(kind: str, segment: Segment, team_name: str):
    team = outbox.esc(team_name)
    zone = segment.user.time_zone
    layer = LAYER_NAMES.get(segment.layer, f"layer {segment.layer}")
    until = slack_time(segment.end, zone)
    override = " (override)" if segment.source == OVERRIDE else ""
    if kind == "upcoming":
        text = (
            f"Heads-up: {outbox.who(segment.user)} is on call for {team} ({layer}) from "
            f"{slack_time(segment.start, zone)} until {until}{override}"
        )
    else:
        text = f"{outbox.who(segment.user)} is on call for {team} ({layer}) until {until}{override}"
    return (kind, segment.team_id, segment.layer, segment.start, segment.user.id, text)


def _gap(team_id: int, team_name: str, layer: int, start, end, horizon):
    team = outbox.esc(team_name)
    name = LAYER_NAMES.get(layer, f"layer {layer}")
    until = "with nothing planned after" if end >= horizon else f"until {slack_time(end, None)}"
    text = (
        f":warning: Nobody is on call for {team} ({name}) from {slack_time(start, None)} "
        f"{until}: plan or publish a roster, or add an override"
    )
    return ("gap", team_id, layer, start, None, text)
