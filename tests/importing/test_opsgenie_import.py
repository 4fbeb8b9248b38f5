"""`oncall-opt import opsgenie` against a fake Opsgenie (fake_opsgenie.py: users two a page,
rate limited once) and a real daemon: a team with two schedules turning weekly in Europe/Berlin
across the March daylight-saving change, an override, an escalation of three rules (delays from
the alert) that repeats, and two integrations. Every expectation is computed from the fake's
data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fake_opsgenie import FakeOpsgenie
from fake_pagerduty import Layer, Rotation
from import_window import END, START, final_segments, import_args, instants, snapshot
from import_window import user_by_email as people_here

from oncall_opt.cli import main
from oncall_opt.importing import http_source

KEY = "eb24Opsg3nieKeyNeverPrinted"
BERLIN = "Europe/Berlin"


@pytest.fixture
def opsgenie(monkeypatch):
    fake = FakeOpsgenie(KEY)
    ana = fake.add_user("ana@example.com", "Ana Silva", "Admin", BERLIN)
    ben = fake.add_user("ben@example.com", "Ben Okafor", "User", BERLIN)
    chloe = fake.add_user("chloe@example.com", "Chloé Martin", "User", BERLIN)
    dev = fake.add_user("dev@example.com", "Dev Patel", "User", BERLIN)
    fake.add_user("olu@example.com", "Olu Outsider")
    fake.add_contact(ben, "mobile", "Ben's phone app")
    team = fake.add_team("Checkout", [ana, ben, chloe, dev])
    weekly = Rotation(datetime(2026, 3, 2, 8, tzinfo=UTC), timedelta(days=7),
                      [ana, ben, chloe, dev], zone=BERLIN)  # fmt: skip
    primary = fake.add_schedule("Checkout primary", team, BERLIN, Layer("Weekly", weekly, BERLIN))
    turns = Rotation(datetime(2026, 3, 4, 9, tzinfo=UTC), timedelta(days=7),
                     [dev, chloe, ben, ana], zone=BERLIN)  # fmt: skip
    secondary = fake.add_schedule("Checkout secondary", team, BERLIN,
                                  Layer("Weekly", turns, BERLIN))  # fmt: skip
    fake.add_override(primary, datetime(2026, 3, 27, 18, tzinfo=UTC),
                      datetime(2026, 3, 28, 6, tzinfo=UTC), chloe)  # fmt: skip
    escalation = fake.add_escalation(
        "Checkout escalation", team,
        [(0, "schedule", primary), (10, "schedule", secondary), (25, "user", dev)], (20, 2),
    )  # fmt: skip
    fake.add_routing_rule(team, "Default", escalation, default=True)
    fake.add_integration("Prometheus", "Prometheus", team)
    fake.add_integration("Datadog", "Datadog", team)
    monkeypatch.setenv("OPSGENIE_API_URL", fake.url)
    monkeypatch.setenv("OPSGENIE_API_KEY", KEY)
    try:
        yield fake
    finally:
        fake.close()


def test_a_dry_run_lists_everything_and_creates_nothing(opsgenie, daemon, capsys):
    before = snapshot(daemon)
    code = main(import_args("opsgenie", "--dry-run"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert snapshot(daemon) == before and KEY not in out + err
    names = [u["fullName"] for u in opsgenie.users] + [t["name"] for t in opsgenie.teams]
    names += [s["name"] for s in opsgenie.schedules.values()]
    names += [e["name"] for e in opsgenie.escalations] + [i["name"] for i in opsgenie.integrations]
    assert all(name in out for name in names), out
    assert f"would be created: {len(opsgenie.users)} person" in out


def test_an_import_makes_the_team_and_a_second_makes_nothing(opsgenie, daemon, monkeypatch,
                                                             capsys):  # fmt: skip
    waited: list[float] = []
    monkeypatch.setattr(http_source, "wait", waited.append)
    opsgenie.rate_limit = 1
    code = main(import_args("opsgenie"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert waited == [1.0] and KEY not in out + err
    pages = -(-len(opsgenie.users) // opsgenie.page)
    assert pages > 1 and opsgenie.requests.count("GET /v2/users") >= pages

    ours = people_here(daemon)
    for user in opsgenie.users:
        mine = ours[user["username"]]
        assert f"{mine['FirstName']} {mine['LastName']}" == user["fullName"]
        assert mine["EmailVerified"] and mine["TimeZone"] == user["timeZone"]
        assert mine["Role"] == ("admin" if user["role"]["name"] == "Admin" else "member")
    pk = {u["id"]: ours[u["username"]]["Id"] for u in opsgenie.users}
    (team,) = [t for t in daemon.list_teams() if t["Name"] == opsgenie.teams[0]["name"]]
    members = opsgenie.members[opsgenie.teams[0]["id"]]
    assert set(team["UserIds"]) == {pk[m["user"]["id"]] for m in members}

    for schedule_id, layer in zip(opsgenie.schedules, (1, 2), strict=True):
        wanted = [(_parse(p["startDate"]), _parse(p["endDate"]), pk[p["recipient"]["id"]])
                  for p in opsgenie.periods(schedule_id, START, END)]  # fmt: skip
        assert final_segments(daemon, team["Id"], layer) == wanted
        for at in instants(wanted):
            on_call = daemon.scheduled(at, layer=layer, team_id=team["Id"])
            assert on_call["User"]["Id"] == pk[opsgenie.on_call(schedule_id, at)[0]], at

    source = opsgenie.escalations[0]
    (policy,) = [p for p in daemon.list_policies() if p["Name"] == source["name"]]
    delays = [r["delay"]["timeAmount"] for r in source["rules"]]
    assert [s["DelayMinutes"] for s in policy["Steps"]] == [
        later - earlier for earlier, later in zip([0, *delays], delays, strict=False)
    ]
    layers = {sid: n for n, sid in enumerate(opsgenie.schedules, start=1)}
    wanted_targets = [
        ("layer", team["Id"], layers[r["recipient"]["id"]], None)
        if r["recipient"]["type"] == "schedule"
        else ("user", None, None, pk[r["recipient"]["id"]])
        for r in source["rules"]
    ]
    targets = [(t["Type"], t.get("TeamId"), t.get("Layer"), t.get("UserId"))
               for s in policy["Steps"] for t in s["Targets"]]  # fmt: skip
    assert targets == wanted_targets
    assert policy["Repeat"] == source["repeat"]["count"]
    assert policy["RepeatAfterMinutes"] == source["repeat"]["waitInterval"]

    services = {s["Name"]: s for s in daemon.list_services()}
    for integration in opsgenie.integrations:
        service = services[integration["name"]]
        assert service["TeamId"] == team["Id"] and service["EscalationPolicyId"] == policy["Id"]
    prometheus = next(line for line in out.splitlines() if line.startswith("  Prometheus / "))
    assert f"{daemon.base_url}/integrations/alertmanager/" in prometheus
    for unmapped in ("mobile contact", "'Datadog' (Datadog)", "1 override period(s)",
                     "rotation 'Weekly'"):  # fmt: skip
        line = next((line for line in out.splitlines() if unmapped in line), "")
        assert line.startswith("  - "), (unmapped, out)

    before = snapshot(daemon)
    code = main(import_args("opsgenie"))
    again, err = capsys.readouterr()
    assert code == 0, err
    assert "nothing new: everything was already imported" in again
    assert snapshot(daemon) == before


def test_a_wrong_key_stops_before_anything_is_made(opsgenie, daemon, monkeypatch, capsys):
    before = snapshot(daemon)
    monkeypatch.setenv("OPSGENIE_API_KEY", "wrong-key-Qp4")
    code = main(import_args("opsgenie"))
    out, err = capsys.readouterr()
    assert code == 1 and "OPSGENIE_API_KEY is wrong" in err
    assert "Qp4" not in out + err and snapshot(daemon) == before


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
