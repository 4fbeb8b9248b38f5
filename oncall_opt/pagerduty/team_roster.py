"""The roster to push from a team's published shifts, read from the running daemon through its
client (`oncall-opt pagerduty push --team NAME`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from oncall_opt.errors import OncallOptError
from oncall_opt.pagerduty.roster import Slot, checked
from oncall_opt.times import parse_timestamp


def slots_from_team(
    team: str,
    start: datetime,
    end: datetime,
    layer: int = 1,
    environ: Mapping[str, str] | None = None,
) -> list[Slot]:
    """A team's published shifts overlapping [start, end) from the running daemon (found as
    `oncall-opt login-link` finds it). A person's email contact methods are what PagerDuty may
    know them by."""
    from oncall_opt.client import ApiError, Client

    try:
        with Client.from_environment(environ) as api:
            teams = api.list_teams()
            wanted = team.strip()
            found = next((t for t in teams if str(t["Id"]) == wanted), None) or next(
                (t for t in teams if t["Name"].casefold() == wanted.casefold()), None
            )
            if found is None:
                names = ", ".join(t["Name"] for t in teams) or "none"
                raise OncallOptError(f"--team: no team '{wanted}' (there are: {names})")
            shifts = api.list_schedules(start, end, layer=layer, team_id=found["Id"])
            emails: dict[int, tuple[str, ...]] = {}
            for user_id in {shift["User"]["Id"] for shift in shifts}:
                methods = api.contact_methods(user_id)["Items"]
                emails[user_id] = tuple(m["Address"] for m in methods if m["Type"] == "email")
    except ApiError as exc:
        raise OncallOptError(f"the oncall daemon: {exc.message}") from None
    slots = []
    for shift in shifts:
        user = shift["User"]
        name = f"{user['FirstName']} {user['LastName']}".strip() or user["SlackHandle"]
        slots.append(
            Slot(
                parse_timestamp(shift["Time"]["Start"]),
                parse_timestamp(shift["Time"]["End"]),
                str(user["Id"]),
                name,
                emails[user["Id"]],
            )
        )
    if not slots:
        raise OncallOptError(f"--team: team '{found['Name']}' has no published shift in the window")
    return checked(slots, f"team {found['Name']}'s shifts")
