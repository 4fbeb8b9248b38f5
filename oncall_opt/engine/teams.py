"""Teams: people who share a rotation (their own shifts, in layers), a Slack channel, and maybe a
PagerDuty schedule their final schedule is pushed to.

A person may belong to several teams; their availability is theirs, shared by all of them.
The "Default" team (id 1) exists from the first start: the tutorial's endpoints act on it, and
new people join it unless told otherwise. A team's Slack webhook is a secret like the global
one: stored to post with, never shown (answers say only whether there is one), and every part
after the host is masked wherever it could appear. Deleting a team that services or future
shifts depend on is refused with a message saying what depends on it.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oncall_opt.engine import destinations, text
from oncall_opt.engine.policies import ROUTING_MEMO, parse_steps
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store, Transaction, check_unique_name
from oncall_opt.engine.users import users_by_id
from oncall_opt.errors import ConflictError, InvalidRequestError, NotFoundError
from oncall_opt.roster.grid import parse_duration

DEFAULT_TEAM = 1
_COLUMNS = (
    "id, name, slack_webhook_url, slack_channel, away_means, roster_rules, pagerduty_schedule, "
    "created_at"
)
# A Slack channel id as the Web API names channels (public C..., private G...).
SLACK_CHANNEL = re.compile(r"[CG][A-Z0-9]{6,20}")
# A PagerDuty object id as its REST API and its web pages show them (PABC123).
PAGERDUTY_ID = re.compile(r"P[A-Z0-9]{2,31}")
# How the planner reads a day someone marked away (planning.build_input): the whole local day,
# the shifts that start that day, or that day's working hours (WORKING_HOURS, roster's zone).
AWAY_MEANS = ("day", "shift-start", "working-hours")


def check_away_means(value: str) -> str:
    if value not in AWAY_MEANS:
        raise InvalidRequestError("AwayMeans", f"must be one of {', '.join(AWAY_MEANS)}")
    return value


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    member_ids: tuple[int, ...]
    has_slack_webhook: bool
    created_at: datetime
    away_means: str = "day"
    slack_channel: str | None = None  # posted to by the Slack app, with buttons
    # The rules of the roster it last published or an admin set (TimeZone, Handoff, Layers,
    # ShiftLength, MaxConsecutiveShifts, MinRestShifts): the planner starts from them and
    # overrides keep them (change_rules)
    roster_rules: dict | None = None
    pagerduty_schedule: str | None = None  # the PagerDuty schedule its final schedule is pushed to


ROSTER_RULE_LIMIT = 1000  # the optimizer's own bound on run and rest rules


def check_roster_rules(rules: Any) -> dict[str, Any] | None:
    """The rules a team keeps (`RosterRules`): TimeZone, Handoff, Layers as the planner
    remembers them, and ShiftLength, MaxConsecutiveShifts, MinRestShifts, which overrides and
    swaps keep too (`change_rules`). None or {} for none; an unknown key is refused."""
    if rules is None or rules == {}:
        return None
    if not isinstance(rules, dict):
        raise InvalidRequestError("RosterRules", 'expected an object such as {"MinRestShifts": 2}')
    checked: dict[str, Any] = {}
    for key, value in rules.items():
        where = f"RosterRules.{key}"
        if value is None:
            continue
        if key == "TimeZone":
            checked[key] = _zone_name(where, value)
        elif key == "Handoff":
            match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
            if not match or int(match[1]) > 23 or int(match[2]) > 59:
                got = str(value)[:60]
                raise InvalidRequestError(where, f"expected a time like 09:00, got {got!r}")
            checked[key] = f"{int(match[1]):02d}:{match[2]}"
        elif key == "Layers":
            if value not in (1, 2) or isinstance(value, bool):
                raise InvalidRequestError(where, "must be 1 (primary) or 2 (primary and secondary)")
            checked[key] = value
        elif key == "ShiftLength":
            try:
                parse_duration(str(value))
            except ValueError as exc:
                raise InvalidRequestError(where, str(exc)) from None
            checked[key] = str(value)
        elif key in ("MaxConsecutiveShifts", "MinRestShifts"):
            low = 1 if key == "MaxConsecutiveShifts" else 0
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidRequestError(where, "must be a whole number")
            if not low <= value <= ROSTER_RULE_LIMIT:
                raise InvalidRequestError(where, f"must be {low} to {ROSTER_RULE_LIMIT:,}")
            checked[key] = value
        else:
            raise InvalidRequestError(
                where,
                "unknown rule: TimeZone, Handoff, Layers, ShiftLength, MaxConsecutiveShifts or "
                "MinRestShifts",
            )
    return checked or None


def _zone_name(where: str, value: Any) -> str:
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidRequestError(
            where, f"unknown IANA time zone {str(value)[:60]!r} (like Europe/Berlin)"
        ) from None
    return str(value)


def check_slack_channel(channel: str | None) -> str | None:
    """A team's Slack channel id (`C0123ABCD`: in Slack, the channel's details, at the
    bottom), or "" / None for none."""
    if channel is None or not channel.strip():
        return None
    channel = channel.strip()
    if not SLACK_CHANNEL.fullmatch(channel):
        raise InvalidRequestError(
            "SlackChannel", "must be a Slack channel id such as C0123ABCD (not its #name)"
        )
    return channel


def check_pagerduty_schedule(schedule: str | None) -> str | None:
    """A PagerDuty schedule id (`PABC123`: the end of the schedule's address in PagerDuty), or
    "" / None for none."""
    if schedule is None or not schedule.strip():
        return None
    schedule = schedule.strip()
    if not PAGERDUTY_ID.fullmatch(schedule):
        raise InvalidRequestError(
            "PagerDutySchedule",
            "must be a PagerDuty schedule id such as PABC123 (capital letters and digits "
            "starting with P: the end of the schedule's address in PagerDuty)",
        )
    return schedule


def check_webhook(url: str | None, allow_private: bool = False) -> str | None:
    """A Slack webhook URL given for a team: https to a public address (see `destinations`),
    or "" / None for none. The message never quotes it (it is a secret)."""
    if url is None or not url.strip():
        return None
    url = text.clean("SlackWebhookUrl", url, 2048)
    return destinations.check_url("SlackWebhookUrl", url, allow_private)


def _teams(source: Store | Transaction, rows: list[dict[str, Any]]) -> list[Team]:
    if not rows:
        return []
    marks = ", ".join("?" for _ in rows)
    members: dict[int, list[int]] = {row["id"]: [] for row in rows}
    for m in source.rows(
        f"SELECT team_id, user_id FROM team_members WHERE team_id IN ({marks}) ORDER BY user_id",
        [row["id"] for row in rows],
    ):
        members[m["team_id"]].append(m["user_id"])
    return [
        Team(
            id=row["id"],
            name=row["name"],
            member_ids=tuple(members[row["id"]]),
            has_slack_webhook=bool(row["slack_webhook_url"]),
            created_at=row["created_at"],
            away_means=row["away_means"],
            slack_channel=row["slack_channel"],
            roster_rules=json.loads(row["roster_rules"]) if row["roster_rules"] else None,
            pagerduty_schedule=row["pagerduty_schedule"],
        )
        for row in rows
    ]


def get_team(source: Store | Transaction, team_id: int) -> Team:
    rows = source.rows(f"SELECT {_COLUMNS} FROM teams WHERE id = ?", [team_id])
    if not rows:
        raise NotFoundError(f"no team with id {team_id}")
    return _teams(source, rows)[0]


def list_teams(store: Store) -> list[Team]:
    return _teams(store, store.rows(f"SELECT {_COLUMNS} FROM teams ORDER BY id"))


def _set_members(tx: Transaction, team_id: int, user_ids: Iterable[int]) -> None:
    wanted = sorted(set(user_ids))
    known = users_by_id(tx, set(wanted))
    missing = [u for u in wanted if u not in known]
    if missing:
        raise NotFoundError(f"UserIds: no user with id {', '.join(map(str, missing))}")
    tx.execute("DELETE FROM team_members WHERE team_id = ?", [team_id])
    if wanted:
        tx.execute(
            "INSERT INTO team_members (team_id, user_id) SELECT ?, unnest(?::BIGINT[])",
            [team_id, wanted],
        )


def create_team(
    store: Store,
    name: str,
    now: datetime,
    member_ids: Iterable[int] = (),
    slack_webhook_url: str | None = None,
    away_means: str = "day",
    allow_private: bool = False,
    slack_channel: str | None = None,
    pagerduty_schedule: str | None = None,
) -> Team:
    name, webhook, members, away, channel, schedule = (
        text.name("Name", name),
        check_webhook(slack_webhook_url, allow_private),
        list(member_ids),
        check_away_means(away_means),
        check_slack_channel(slack_channel),
        check_pagerduty_schedule(pagerduty_schedule),
    )

    def work(tx: Transaction) -> Team:
        check_unique_name(tx, "teams", name, "a team")
        tx.forget(ROUTING_MEMO)
        row = tx.row(
            "INSERT INTO teams (name, slack_webhook_url, slack_channel, away_means, "
            "pagerduty_schedule, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            [name, webhook, channel, away, schedule, now],
        )
        assert row is not None
        _set_members(tx, row["id"], members)
        return get_team(tx, row["id"])

    return store.write(work)


_UNSET = object()


def update_team(
    store: Store,
    team_id: int,
    name: str | None = None,
    member_ids: Iterable[int] | None = None,
    slack_webhook_url: Any = _UNSET,
    away_means: str | None = None,
    allow_private: bool = False,
    slack_channel: Any = _UNSET,
    pagerduty_schedule: Any = _UNSET,
    roster_rules: Any = _UNSET,
) -> Team:
    """Change the fields given; `roster_rules` replaces the team's rules (None: none);
    `slack_webhook_url=""` removes the team's webhook (its messages then go to the global one),
    `slack_channel=""` its Slack app channel, `pagerduty_schedule=""` its link to PagerDuty.
    `allow_private`: the operator lets webhooks reach private addresses
    (`ONCALL_ALLOW_PRIVATE_WEBHOOKS`). Every field is checked before anything is written."""
    new_name = text.name("Name", name) if name is not None else None
    away = check_away_means(away_means) if away_means is not None else None
    webhook = (
        check_webhook(slack_webhook_url, allow_private)
        if slack_webhook_url is not _UNSET
        else _UNSET
    )
    members = list(member_ids) if member_ids is not None else None
    channel = check_slack_channel(slack_channel) if slack_channel is not _UNSET else _UNSET
    schedule = (
        check_pagerduty_schedule(pagerduty_schedule) if pagerduty_schedule is not _UNSET else _UNSET
    )

    rules = check_roster_rules(roster_rules) if roster_rules is not _UNSET else _UNSET

    def work(tx: Transaction) -> Team:
        get_team(tx, team_id)
        if rules is not _UNSET:
            tx.execute(
                "UPDATE teams SET roster_rules = ? WHERE id = ?",
                [json.dumps(rules) if rules else None, team_id],
            )
        if channel is not _UNSET:
            tx.execute("UPDATE teams SET slack_channel = ? WHERE id = ?", [channel, team_id])
        if schedule is not _UNSET:
            tx.execute("UPDATE teams SET pagerduty_schedule = ? WHERE id = ?", [schedule, team_id])
        if new_name is not None:
            check_unique_name(tx, "teams", new_name, "a team", team_id)
            tx.forget(ROUTING_MEMO)
            tx.execute("UPDATE teams SET name = ? WHERE id = ?", [new_name, team_id])
        if webhook is not _UNSET:
            tx.execute("UPDATE teams SET slack_webhook_url = ? WHERE id = ?", [webhook, team_id])
        if members is not None:
            _set_members(tx, team_id, members)
        if away is not None:
            tx.execute("UPDATE teams SET away_means = ? WHERE id = ?", [away, team_id])
        return get_team(tx, team_id)

    return store.write(work)


def add_member(tx: Transaction, team_id: int, user_id: int) -> None:
    """Put `user_id` in the team (no change when they are in it already)."""
    tx.execute(
        "INSERT INTO team_members (team_id, user_id) SELECT ?, ? WHERE NOT EXISTS "
        "(SELECT 1 FROM team_members WHERE team_id = ? AND user_id = ?)",
        [team_id, user_id, team_id, user_id],
    )


def delete_team(store: Store, team_id: int, now: datetime) -> Team:
    """Delete a team nothing depends on: refused (409, saying what) while it has services,
    escalation policies that page it, or shifts that have not ended. Past shifts go with it."""
    if team_id == DEFAULT_TEAM:
        raise ConflictError("the Default team cannot be deleted: the tutorial's endpoints use it")

    def work(tx: Transaction) -> Team:
        team = get_team(tx, team_id)
        reasons = []
        services = tx.rows("SELECT name FROM services WHERE team_id = ? ORDER BY id", [team_id])
        if services:
            reasons.append("its services " + ", ".join(f"'{s['name']}'" for s in services))
        future = tx.row(
            "SELECT count(*) AS n FROM schedules WHERE team_id = ? AND end_time > ?",
            [team_id, now],
        )
        if future and future["n"]:
            reasons.append(f"{future['n']} shift(s) that have not ended")
        paging = _policies_paging(tx, team_id)
        if paging:
            reasons.append("escalation policies " + ", ".join(f"'{p}'" for p in paging))
        if reasons:
            raise ConflictError(
                f"team '{team.name}' is still used by {'; '.join(reasons)}: move or delete "
                "those first"
            )
        tx.execute("DELETE FROM schedules WHERE team_id = ?", [team_id])
        tx.execute("DELETE FROM team_members WHERE team_id = ?", [team_id])
        tx.forget(ROUTING_MEMO)
        tx.execute("DELETE FROM teams WHERE id = ?", [team_id])
        return team

    return store.write(work)


def _policies_paging(tx: Transaction, team_id: int) -> list[str]:
    """The names of the escalation policies with a step that pages a layer of the team."""
    names = []
    for row in tx.rows("SELECT name, steps FROM escalation_policies ORDER BY id"):
        steps, _ = parse_steps(row["steps"])
        if any(t.team_id == team_id for step in steps for t in step.targets):
            names.append(row["name"])
    return names


def webhook_of(source: Store | Transaction, team_id: int) -> str | None:
    """The team's own Slack webhook URL (a secret), or None to use the global one."""
    row = source.row("SELECT slack_webhook_url FROM teams WHERE id = ?", [team_id])
    return row["slack_webhook_url"] if row else None


def channel_of(source: Store | Transaction, settings: Settings, team_id: int) -> str | None:
    """Where the team's Slack messages go, in words; None when nowhere is set up (they wait
    in the outbox until a webhook is configured)."""
    row = source.row("SELECT slack_webhook_url, slack_channel FROM teams WHERE id = ?", [team_id])
    if row and row["slack_channel"] and settings.slack_bot_token is not None:
        return f"the team's Slack channel ({row['slack_channel']})"
    if row and row["slack_webhook_url"]:
        return "the team's Slack channel"
    if settings.slack_webhook_url is not None:
        return "the Slack channel"
    return None


def member_ids(source: Store | Transaction, team_id: int) -> list[int]:
    get_team(source, team_id)
    rows = source.rows(
        "SELECT user_id FROM team_members WHERE team_id = ? ORDER BY user_id", [team_id]
    )
    return [row["user_id"] for row in rows]


def is_member(source: Store | Transaction, team_id: int, user_id: int) -> bool:
    row = source.row(
        "SELECT 1 AS yes FROM team_members WHERE team_id = ? AND user_id = ?", [team_id, user_id]
    )
    return row is not None
