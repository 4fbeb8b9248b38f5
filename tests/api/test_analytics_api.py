"""`GET /teams/{id}/analytics` on a real server (127.0.0.1) over the fixed history of
tests/analytics_history.py, read through `oncall_opt.client` and the notebook's DataFrames:
the figures worked out by hand there, who may read them, and bad windows refused naming the
field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from analytics_history import WINDOW, History, build
from live_server import serve
from pydantic import SecretStr

from oncall_opt.analytics_frames import frames, team_analytics
from oncall_opt.api import create_app
from oncall_opt.client import ApiError, Client
from oncall_opt.engine.auth import create_key
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.users import create_user

TOKEN = "analytics-admin-token"
START, END = (t.isoformat() for t in WINDOW)


@pytest.fixture
def daemon(store, clock, mail) -> Iterator[tuple[str, History, dict[str, str]]]:
    """The history, a daemon over it, and API keys: Ana (a member of Payments) and Mallory
    (a member of Ops only)."""
    history = build(store, mail.settings())
    now = clock.now()
    mallory = create_user(store, "Mallory", "X", "mallory", now, team_ids=(history.other_team_id,))
    keys = {
        "ana": create_key(store, history.ana, "notebook", now)[1],
        "mallory": create_key(store, mallory.id, "notebook", now)[1],
        "admin": TOKEN,
    }
    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), clock, run_jobs=False)
    with serve(app) as url:
        yield url, history, keys


def test_the_figures_of_the_team_as_json_and_as_dataframes(daemon):
    url, h, keys = daemon
    with Client(url, token=keys["ana"]) as api:
        answer = api.team_analytics(h.team_id, START, END)
        seen = team_analytics("Payments", *WINDOW, client=api)
    assert (answer["TeamId"], answer["TeamName"], answer["TimeZone"]) == (h.team_id, "Payments",
                                                                           "UTC")  # fmt: skip
    assert (answer["Start"], answer["End"]) == ("2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z")
    # The totals worked out in tests/engine/test_analytics.py: acknowledged after 3 6 8 20 30
    # minutes, resolved after 14 30 60 80 120; I3 resolved unacknowledged.
    assert answer["Team"] == {
        "Incidents": 7, "Pages": 12, "NightPages": 7, "WeekendPages": 7,
        "TimeToAcknowledge": {"Count": 5, "MedianMinutes": 8.0, "P90Minutes": 30.0},
        "TimeToResolve": {"Count": 5, "MedianMinutes": 60.0, "P90Minutes": 120.0},
        "ResolvedWithoutAcknowledgement": 1, "EscalatedPastFirstStep": 3,
        "HoursOnCall": 192.0, "HoursByLayer": {"1": 96.0, "2": 96.0},
    }  # fmt: skip
    assert [(s["Name"], s["Incidents"], s["Pages"]) for s in answer["Services"]] == [
        ("Checkout", 6, 11), ("Web", 1, 1),
    ]  # fmt: skip
    people = {p["User"]["FirstName"]: p for p in answer["People"]}
    assert [(n, p["Pages"], p["NightPages"], p["WeekendPages"], p["HoursOnCall"])
            for n, p in people.items()] == [
        ("Ana", 9, 6, 6, 90.0), ("Ben", 2, 0, 1, 96.0), ("Chloé", 1, 1, 0, 6.0),
    ]  # fmt: skip
    assert people["Ana"]["EscalatedPastFirstStep"] == 2
    assert people["Ana"]["Months"][0]["Month"] == "2026-03"
    assert [m["Month"] for m in answer["Months"]] == ["2026-03"]
    week = answer["PagesByHourOfWeek"]
    assert week["Days"] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert week["Counts"][6][0] == 3 and sum(map(sum, week["Counts"])) == 12

    # The same through the notebook's DataFrames (the team named, not numbered).
    assert seen.answer == answer
    row = seen.people.set_index("person").loc["Ana Silva"]
    assert (row["pages"], row["night_pages"], row["weekend_pages"], row["hours_layer_1"],
            row["ack_median_min"], row["ack_p90_min"]) == (9, 6, 6, 90.0, 8.0, 30.0)  # fmt: skip
    assert seen.people.set_index("person").loc["Ben Okafor", "hours_layer_2"] == 96.0
    assert seen.team.loc[0, "resolved_without_ack"] == 1
    assert list(seen.services["service"]) == ["Checkout", "Web"]
    assert seen.hour_of_week.shape == (7, 24) and seen.hour_of_week.loc["Sun", 0] == 3
    assert seen.person_months.set_index("person").loc["Chloé Martin", "night_pages"] == 1
    assert frames(answer).people.equals(seen.people)


def test_only_the_teams_members_and_admins_read_its_analytics(daemon):
    url, h, keys = daemon
    with Client(url, token=keys["mallory"]) as mallory:
        with pytest.raises(ApiError) as refused:
            mallory.team_analytics(h.team_id, START, END)
        assert refused.value.status == 403 and f"team {h.team_id}" in refused.value.message
        assert mallory.team_analytics(h.other_team_id, START, END)["Team"]["Pages"] == 1
        with pytest.raises(ApiError) as unknown:
            mallory.team_analytics(999, START, END)
        assert unknown.value.status == 403
    with Client(url, token=keys["admin"]) as admin:
        assert admin.team_analytics(h.team_id, START, END)["Team"]["Pages"] == 12
        with pytest.raises(ApiError) as missing:
            admin.team_analytics(999, START, END)
        assert missing.value.status == 404
    with Client(url) as nobody, pytest.raises(ApiError) as anonymous:
        nobody.team_analytics(h.team_id, START, END)
    assert anonymous.value.status == 401


@pytest.mark.parametrize(
    ("params", "field", "problem"),
    [
        ({"End": END}, "Start", "required"),
        ({"Start": START}, "End", "required"),
        ({"Start": "yesterday", "End": END}, "Start", "not an RFC 3339 timestamp"),
        ({"Start": START, "End": "2026-03-31T00:00:00"}, "End", "offset"),
        ({"Start": END, "End": START}, "End", "after Start"),
        ({"Start": "2025-01-01T00:00:00Z", "End": "2026-02-06T00:00:00Z"}, "End", "400 days"),
    ],
)
def test_a_bad_window_is_a_400_naming_the_field(daemon, params, field, problem):
    url, h, keys = daemon
    with Client(url, token=keys["ana"]) as api, pytest.raises(ApiError) as refused:
        api.request("GET", f"/teams/{h.team_id}/analytics", params=params)
    assert refused.value.status == 400, refused.value
    assert refused.value.message.startswith(field) and problem in refused.value.message


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("9999-12-01T00:00:00Z", "9999-12-31T23:59:59Z", "End"),
        ("0001-01-01T00:00:00Z", "0001-02-01T00:00:00Z", "Start"),
    ],
)
def test_a_window_at_the_ends_of_the_calendar_is_a_400_not_a_500(daemon, start, end, field):
    """A team on Tokyo's clock: the calendar's last month has no month after it, and its first
    began (in Tokyo) before the year 1 did in UTC."""
    url, h, keys = daemon
    with Client(url, token=keys["admin"]) as admin:
        admin.request(
            "PUT", f"/teams/{h.team_id}", json={"RosterRules": {"TimeZone": "Asia/Tokyo"}}
        )
        with pytest.raises(ApiError) as refused:
            admin.team_analytics(h.team_id, start, end)
        assert refused.value.status == 400, refused.value
        assert refused.value.message.startswith(field) and "calendar" in refused.value.message
        inside = admin.team_analytics(h.team_id, "9999-11-01T00:00:00Z", "9999-12-30T00:00:00Z")
        assert [m["Month"] for m in inside["Months"]] == ["9999-11", "9999-12"]
        first = admin.team_analytics(h.team_id, "0001-01-02T00:00:00Z", "0001-02-01T00:00:00Z")
        assert [m["Month"] for m in first["Months"]] == ["0001-01", "0001-02"]
