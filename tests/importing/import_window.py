"""The window the import tests carry schedules over for, and how they read the daemon back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2026, 3, 16, tzinfo=UTC)  # a Monday; Berlin moves its clocks on 29 March
WEEKS = 4
END = START + timedelta(weeks=WEEKS)
NOW = datetime(2026, 3, 24, 10, 0, tzinfo=UTC)  # the daemon's clock: inside the window


def import_args(source: str, *extra: str) -> list[str]:
    return ["import", source, "--start", START.isoformat(), "--weeks", str(WEEKS), *extra]


def snapshot(api) -> dict:
    """Everything an import could make, as the daemon shows it."""
    teams = api.list_teams()
    return {
        "users": api.list_users(),
        "methods": {u["Id"]: api.contact_methods(u["Id"])["Items"] for u in api.list_users()},
        "teams": teams,
        "shifts": {t["Id"]: api.list_schedules(START, END, team_id=t["Id"]) for t in teams},
        "policies": api.list_policies(),
        "services": api.list_services(),
    }


def user_by_email(api) -> dict[str, dict]:
    """Our users by the address of their email contact methods."""
    found = {}
    for user in api.list_users():
        for method in api.contact_methods(user["Id"])["Items"]:
            if method["Type"] == "email":
                found[method["Address"].lower()] = {**user, "EmailVerified": method["Verified"]}
    return found


def final_segments(api, team_id: int, layer: int) -> list[tuple[datetime, datetime, int]]:
    return [
        (_parse(s["Start"]), _parse(s["End"]), s["User"]["Id"])
        for s in api.final_schedule(team_id, START, END, layer=layer)
        if s.get("User")
    ]


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def instants(segments, count: int = 20) -> list[datetime]:
    """`count` instants spread over the window, each segment's first minute among them."""
    chosen = [start + timedelta(minutes=1) for start, _, _ in segments][: count // 2]
    step = (END - START) / (count - len(chosen) + 1)
    chosen += [START + step * (n + 1) for n in range(count - len(chosen))]
    return sorted(chosen)
