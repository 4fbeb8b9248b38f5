"""Pull: an optimizer input.json from what a PagerDuty schedule knows (`pull`), so that a fair
roster respects what the team already arranged.

- `users`: the schedule's users (and anyone holding an override in the window);
- `fixed`: every slot a person's own override covers whole is pinned to its person (an override
  covering part of a slot pins nothing and is listed in `notes`);
- `previous`: the overrides an earlier push made (see `state.py`), so that a re-plan keeps what
  it can of the roster already pushed (the `stability` weight) without being bound to it;
- `history`: each person's on-call time on the schedule's final schedule in the period before
  the window (as long as the window, unless `history_days` says), in whole shifts.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from oncall_opt.errors import InputError
from oncall_opt.pagerduty.connection import fetch_schedule, make_client, overrides_between
from oncall_opt.pagerduty.state import Remembered, state_dir
from oncall_opt.times import format_timestamp, format_utc, parse_moment, parse_timestamp


@dataclass
class PullResult:
    """The input.json made (`document`), where it was written, and what went into it."""

    schedule: str
    document: dict[str, Any]
    path: Path | None = None
    pinned: int = 0
    history: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    history_since: datetime | None = None
    previous: int = 0  # overrides an earlier push made, given as `previous`

    def summary(self) -> str:
        where = f"wrote {self.path}" if self.path else "made an input.json"
        worked = sum(self.history.values())
        return (
            f"{where}: {len(self.document['users'])} people of schedule {self.schedule}, "
            f"{self.pinned} slot(s) pinned by people's own overrides, {self.previous} override(s) "
            f"of an earlier push kept as previous, {worked} shift(s) of history "
            f"since {format_utc(self.history_since) if self.history_since else 'before the window'}"
        )


def pull(
    schedule: str,
    start: date | datetime | str,
    end: date | datetime | str,
    *,
    output: str | os.PathLike | None = None,
    shift: str = "P1D",
    history_days: int | None = None,
    environ: Mapping[str, str] | None = None,
    state: str | os.PathLike | None = None,
) -> PullResult:
    """An input.json for the slots starting from `start` to `end` (the last day a shift starts,
    as in input.json; dates are midnights in the schedule's time zone), written atomically to
    `output` when given (`-`: standard output). Raises PagerDutyError when PagerDuty cannot be
    read, InputError when the window or shift is wrong."""
    from oncall_opt.roster.export import write_atomic
    from oncall_opt.roster.problem import problem_from_dict

    if history_days is not None and history_days < 0:
        raise InputError([("history_days", f"is {history_days}: give 0 or more days")])
    env = os.environ if environ is None else environ
    with make_client(env) as client:
        directory = Path(state) if state else state_dir(env)
        pushed = Remembered.load(directory, client.url, schedule)
        result = _read(client, schedule, start, end, shift, history_days, pushed)
    document = result.document
    problem_from_dict(document)  # what is written always loads
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is not None and str(output) == "-":
        sys.stdout.write(text)
    elif output is not None:
        result.path = Path(output)
        write_atomic(result.path, text)
    return result


def _read(
    client: Any,
    schedule: str,
    start: date | datetime | str,
    end: date | datetime | str,
    shift: str,
    history_days: int | None,
    pushed: Remembered,
) -> PullResult:
    from oncall_opt.roster.problem import problem_from_dict

    found = fetch_schedule(client, schedule, {})
    zone_name = found.get("time_zone") or "UTC"
    first, last = _instant(start, zone_name, "start"), _instant(end, zone_name, "end")
    if last < first:
        raise InputError([("end", f"{format_timestamp(last)} is before start")])

    users = [
        {
            "id": u["id"],
            "name": u.get("summary") or u.get("name") or u["id"],
            "type": "user_reference",
        }
        for u in found.get("users") or []
    ]
    document: dict[str, Any] = {
        "schedule_start": format_timestamp(first),
        "schedule_end": format_timestamp(last),
        "users": users,
        "shift": {"length": shift, "time_zone": zone_name},
    }
    grid = problem_from_dict({**document, "users": users or [{"id": "nobody"}]}).grid
    result = PullResult(schedule, document)

    overrides = overrides_between(client, schedule, grid.starts[0], grid.end)
    pins: dict[datetime, str] = {}
    previous: list[dict[str, Any]] = []
    known = {u["id"] for u in users}
    for override in overrides:
        who = override["user"]
        if who["id"] not in known:  # an override may put on call someone outside the rotation
            users.append(
                {"id": who["id"], "name": who.get("summary") or who["id"], "type": "user_reference"}
            )
            known.add(who["id"])
        since, until = _utc(override["start"]), _utc(override["end"])
        if override.get("id") in pushed:  # an earlier roster, not somebody's arrangement
            user = {"id": who["id"], "name": who.get("summary") or who["id"]}
            previous.append({"start": format_utc(since), "end": format_utc(until), "user": user})
            continue
        for t in grid.slots_overlapping(since, until):
            if since <= grid.starts[t] and grid.ends[t] <= until:
                pins[grid.starts[t]] = who["id"]
            else:
                result.notes.append(
                    f"{who.get('summary') or who['id']}'s override {format_utc(since)} – "
                    f"{format_utc(until)} covers part of the slot from "
                    f"{format_utc(grid.starts[t])} only: not pinned"
                )
    if pins:
        document["fixed"] = [
            {"user": who, "start": format_utc(at)} for at, who in sorted(pins.items())
        ]
    result.pinned = len(pins)
    if previous:
        document["previous"] = {"overrides": previous}
    result.previous = len(previous)

    length = grid.end - grid.starts[0]
    since = grid.starts[0] - (timedelta(days=history_days) if history_days is not None else length)
    result.history_since = since
    rendered = []
    if since < grid.starts[0]:
        window = {
            "since": format_utc(since),
            "until": format_utc(grid.starts[0]),
            "time_zone": "UTC",
        }
        entries = fetch_schedule(client, schedule, window)
        rendered = (entries.get("final_schedule") or {}).get("rendered_schedule_entries") or []
    shift_hours = (grid.ends[0] - grid.starts[0]).total_seconds() / 3600
    hours: dict[str, float] = {}
    for entry in rendered:
        who = (entry.get("user") or {}).get("id")
        begin, finish = max(_utc(entry["start"]), since), min(_utc(entry["end"]), grid.starts[0])
        if who in known and finish > begin:
            hours[who] = hours.get(who, 0.0) + (finish - begin).total_seconds() / 3600
    result.history = {
        who: round(h / shift_hours) for who, h in hours.items() if round(h / shift_hours)
    }
    if result.history:
        document["history"] = result.history
    return result


def _instant(value: date | datetime | str, zone_name: str, name: str) -> datetime:
    import zoneinfo

    try:
        moment = parse_moment(value)
    except ValueError as exc:
        raise InputError([(name, str(exc))]) from None
    if isinstance(moment, datetime):
        return moment
    try:
        zone = zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return datetime.combine(moment, time(0), tzinfo=zone)


def _utc(text: str) -> datetime:
    return parse_timestamp(text).astimezone(UTC)
