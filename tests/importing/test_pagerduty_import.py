"""`oncall-opt import pagerduty` against a fake PagerDuty account (tests/pagerduty/
fake_pagerduty.py, over HTTPS, paged, rate limited once) and a real daemon: a team with two
schedules turning weekly in Europe/Berlin across the March daylight-saving change, a restricted
business-hours layer, an override, a three-step escalation policy that repeats, and a service
with three integrations. Every expectation is computed from the fake's data."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pagerduty
import pytest
import trustme
from fake_pagerduty import FakePagerDuty, Layer, Rotation
from import_window import END, NOW, START, final_segments, import_args, instants, snapshot
from import_window import user_by_email as people_here

from oncall_opt.cli import main

TOKEN = "u+Imp0rtT0kenNeverPrinted"
BERLIN = "Europe/Berlin"
MONDAY_9_BERLIN = datetime(2026, 3, 2, 8, tzinfo=UTC)  # 09:00 CET
WEDNESDAY_10_BERLIN = datetime(2026, 3, 4, 9, tzinfo=UTC)  # 10:00 CET
PEOPLE = [  # id, name, email, role
    ("PANA001", "Ana Silva", "ana@example.com", "admin"),
    ("PBEN002", "Ben Okafor", "ben@example.com", "user"),
    ("PCHL003", "Chloé Martin", "chloe@example.com", "user"),
    ("PDEV004", "Dev Patel", "dev@example.com", "limited_user"),
]
ANA, BEN, CHLOE, DEV = (p[0] for p in PEOPLE)


@pytest.fixture
def pd(tmp_path, monkeypatch):
    ca = trustme.CA()
    fake = FakePagerDuty(TOKEN, ca)
    for user_id, name, email, role in PEOPLE:
        fake.add_user(user_id, name, email, role=role, time_zone=BERLIN)
    fake.add_user("POUT005", "Olu Outsider", "olu@example.com")
    fake.add_contact_method(ANA, "sms_contact_method", "15112345678", "Mobile", country_code=49)
    fake.add_contact_method(BEN, "push_notification_contact_method", "", "Ben's iPhone")
    fake.add_contact_method(CHLOE, "email_contact_method", "chloe.martin@work.example", "Work")
    fake.add_team("PTEAM01", "Checkout", [ANA, BEN, CHLOE, DEV])
    weekly = Rotation(MONDAY_9_BERLIN, timedelta(days=7), [ANA, BEN, CHLOE, DEV], zone=BERLIN)
    daily = Rotation(MONDAY_9_BERLIN, timedelta(days=1), [BEN, DEV], zone=BERLIN)
    business = Layer("Business hours", daily, zone=BERLIN, daily_from=time(9), daily_hours=8)
    fake.add_schedule("PSCHED1", weekly, BERLIN, "Checkout primary", [business], "PTEAM01")
    second = Rotation(WEDNESDAY_10_BERLIN, timedelta(days=7), [DEV, CHLOE, BEN, ANA], zone=BERLIN)
    fake.add_schedule("PSCHED2", second, BERLIN, "Checkout secondary", team="PTEAM01")
    fake.add_override("PSCHED1", datetime(2026, 3, 27, 18, tzinfo=UTC),
                      datetime(2026, 3, 28, 6, tzinfo=UTC), CHLOE)  # fmt: skip
    rules = [(10, [("schedule", "PSCHED1")]), (15, [("schedule", "PSCHED2")]),
             (20, [("user", DEV)])]  # fmt: skip
    fake.add_escalation_policy("PPOL001", "Checkout escalation", rules, loops=2)
    fake.add_service(
        "PSVC001", "Checkout API", "PPOL001", "PTEAM01",
        [("Prometheus", "events_api_v2_inbound_integration", "Prometheus"),
         ("Datadog", "events_api_v2_inbound_integration", "Datadog"),
         ("Support inbox", "generic_email_inbound_integration", None)],
        acknowledgement_timeout=1800, auto_resolve_timeout=14400,
    )  # fmt: skip
    ca_path = tmp_path / "pagerduty-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", TOKEN)
    monkeypatch.setenv("PAGERDUTY_API_URL", fake.url)
    monkeypatch.setenv("PAGERDUTY_API_CA", str(ca_path))
    monkeypatch.setattr(pagerduty.ApiClient, "sleep_timer", 0.01)
    try:
        yield fake
    finally:
        fake.close()


def emails_of(fake: FakePagerDuty) -> dict[str, str]:
    return {u["id"]: u["email"] for u in fake.users}


def expected_segments(fake, schedule: str, ours: dict[str, dict]) -> list:
    email = emails_of(fake)
    return [
        (_parse(e["start"]), _parse(e["end"]), ours[email[e["user"]["id"]]]["Id"])
        for e in fake.final_schedule(schedule, START, END)
    ]


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_dry_run_lists_everything_and_creates_nothing(pd, daemon, capsys):
    before = snapshot(daemon)
    code = main(import_args("pagerduty", "--dry-run"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert snapshot(daemon) == before
    assert "dry run: nothing is written" in out and TOKEN not in out + err
    for user in pd.users:
        assert f"would create     person   {user['name']} <{user['email']}>" in out
    names = [t["name"] for t in pd.teams] + [p["name"] for p in pd.policies]
    names += [s["name"] for s in pd.services]
    names += [f"'{s.name}'" for s in pd.schedules.values()]
    names += [i["name"] for s in pd.services for i in s["integrations"]]
    assert all(name in out for name in names), out
    assert f"would be created: {len(pd.users)} person" in out


def test_an_import_makes_the_team_and_a_second_makes_nothing(pd, daemon, capsys):
    pd.rate_limit = 1  # the client waits the 429 out
    code = main(import_args("pagerduty"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert pd.rate_limited and TOKEN not in out + err
    assert not [r for r in pd.requests if not r.startswith("GET ")]  # PagerDuty is only read

    ours = people_here(daemon)
    for user in pd.users:
        mine = ours[user["email"]]
        assert f"{mine['FirstName']} {mine['LastName']}" == user["name"]
        assert mine["EmailVerified"] and mine["TimeZone"] == user["time_zone"]
        assert mine["Role"] == ("admin" if user["role"] in ("admin", "owner") else "member")
    chloe = daemon.contact_methods(ours["chloe@example.com"]["Id"])["Items"]
    assert {m["Address"] for m in chloe} == {"chloe@example.com", "chloe.martin@work.example"}

    email = emails_of(pd)
    (team,) = [t for t in daemon.list_teams() if t["Name"] == pd.teams[0]["name"]]
    members = {ours[email[m["user"]["id"]]]["Id"] for m in pd.members["PTEAM01"]}
    assert set(team["UserIds"]) == members

    # The final schedule of the window, slot by slot, layer by layer.
    for schedule, layer in (("PSCHED1", 1), ("PSCHED2", 2)):
        wanted = expected_segments(pd, schedule, ours)
        assert final_segments(daemon, team["Id"], layer) == wanted
        for at in instants(wanted):
            on_call = daemon.scheduled(at, layer=layer, team_id=team["Id"])
            assert on_call["User"]["Id"] == ours[email[pd.on_call(schedule, at)]]["Id"], at

    # the planner carries on in the schedule's zone, from its handoff time
    first = next(_parse(e["start"]) for e in pd.final_schedule("PSCHED1", START, END)
                 if _parse(e["start"]) > START)  # fmt: skip
    zone = pd.schedules["PSCHED1"].time_zone
    rules = daemon.get_team(team["Id"])["RosterRules"]
    assert rules["TimeZone"] == zone
    assert rules["Handoff"] == first.astimezone(ZoneInfo(zone)).strftime("%H:%M")

    (policy,) = [p for p in daemon.list_policies() if p["Name"] == pd.policies[0]["name"]]
    source_rules = pd.policies[0]["escalation_rules"]
    delays = [0] + [r["escalation_delay_in_minutes"] for r in source_rules[:-1]]
    assert [s["DelayMinutes"] for s in policy["Steps"]] == delays
    targets = [[(t["Type"], t.get("TeamId"), t.get("Layer"), t.get("UserId")) for t in s["Targets"]]
               for s in policy["Steps"]]  # fmt: skip
    dev = ours[email[DEV]]["Id"]
    assert targets == [[("layer", team["Id"], 1, None)], [("layer", team["Id"], 2, None)],
                       [("user", None, None, dev)]]  # fmt: skip
    assert policy["Repeat"] == pd.policies[0]["num_loops"]
    assert policy["RepeatAfterMinutes"] == source_rules[-1]["escalation_delay_in_minutes"]

    source_service = pd.services[0]
    (service,) = [s for s in daemon.list_services() if s["Name"] == source_service["name"]]
    assert service["TeamId"] == team["Id"] and service["EscalationPolicyId"] == policy["Id"]
    assert service["AckTimeoutMinutes"] == source_service["acknowledgement_timeout"] // 60
    assert service["AutoResolveMinutes"] == source_service["auto_resolve_timeout"] // 60

    # What has no equivalent is named, with what was done instead.
    for unmapped in ("Ben's iPhone", "Support inbox", "layer 'Business hours'",
                     "+4915112345678", "1 override(s)"):  # fmt: skip
        line = next(line for line in out.splitlines() if unmapped in line)
        assert line.startswith("  - ") and ": " in line.removeprefix("  - "), line

    # The report's URL for Prometheus opens an incident paging whoever is on call now.
    (url,) = [line.split(": ", 1)[1] for line in out.splitlines()
              if line.startswith(f"  {source_service['name']} / Prometheus: ")]  # fmt: skip
    assert url.startswith(f"{daemon.base_url}/integrations/alertmanager/")
    alert = {"version": "4", "groupKey": "{}:{alertname=\"Down\"}", "status": "firing",
             "receiver": "oncall", "groupLabels": {"alertname": "Down"},
             "commonLabels": {"alertname": "Down", "severity": "critical"},
             "commonAnnotations": {"summary": "Checkout is down"}, "externalURL": "",
             "alerts": [{"status": "firing", "labels": {"alertname": "Down"},
                         "annotations": {"summary": "Checkout is down"},
                         "startsAt": "2026-03-24T09:59:00Z"}]}  # fmt: skip
    assert httpx.post(url, json=alert).status_code < 300
    (incident,) = daemon.list_incidents(status="open", service_id=service["Id"])
    assert incident["Assignee"]["Id"] == ours[email[pd.on_call("PSCHED1", NOW)]]["Id"]
    datadog = next(line for line in out.splitlines() if line.startswith("  Checkout API / Datadog"))
    assert f"{daemon.base_url}/v2/enqueue  (routing key " in datadog

    before = snapshot(daemon)
    code = main(import_args("pagerduty"))
    again, err = capsys.readouterr()
    assert code == 0, err
    assert "nothing new: everything was already imported" in again
    assert snapshot(daemon) == before
    assert "create" not in again and "differs" not in again


def test_wrong_token_stops_before_anything_is_made(pd, daemon, monkeypatch, capsys):
    before = snapshot(daemon)
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", "not-the-token-Zq9")
    code = main(import_args("pagerduty"))
    out, err = capsys.readouterr()
    assert code == 1 and "PAGERDUTY_API_TOKEN is wrong or was revoked" in err
    assert "Zq9" not in out + err and snapshot(daemon) == before

    monkeypatch.delenv("PAGERDUTY_API_TOKEN")
    code = main(import_args("pagerduty"))
    _, err = capsys.readouterr()
    assert code == 2 and "PAGERDUTY_API_TOKEN is not set" in err and snapshot(daemon) == before


def test_extra_schedules_get_teams_and_a_changed_schedule_is_published_again(pd, daemon, capsys):
    third = Rotation(MONDAY_9_BERLIN, timedelta(days=2), [BEN, CHLOE], zone=BERLIN)
    pd.add_schedule("PSCHED3", third, BERLIN, "Checkout weekend", team="PTEAM01")
    database = Rotation(START - timedelta(hours=5), timedelta(hours=36), [DEV, ANA])
    pd.add_schedule("PSCHED4", database, "UTC", "Database")
    daemon.create_user("First", "Admin", "admin", role="admin")  # who set the daemon up
    before = snapshot(daemon)
    assert main(import_args("pagerduty", "--dry-run")) == 0
    planned = capsys.readouterr().out
    assert snapshot(daemon) == before
    code = main(import_args("pagerduty"))
    out, err = capsys.readouterr()
    assert code == 0, err
    # the dry run counted what the run made
    assert planned.splitlines()[-1] == "would be " + out.splitlines()[-1]
    for schedule in ("Checkout weekend", "Database"):
        assert f"would create     team     {schedule}" in planned
    ours = people_here(daemon)
    teams = {t["Name"]: t for t in daemon.list_teams()}
    for schedule in ("PSCHED3", "PSCHED4"):
        name = pd.schedules[schedule].name
        assert final_segments(daemon, teams[name]["Id"], 1) == expected_segments(pd, schedule, ours)
        on_it = {ours[emails_of(pd)[u]]["Id"] for u in pd.schedules[schedule].rotation.order}
        assert set(teams[name]["UserIds"]) == on_it
    assert "  - schedule 'Checkout weekend': its team already has a primary and a secondary" in out
    checkout = teams[pd.teams[0]["name"]]["Id"]

    pd.add_override("PSCHED1", datetime(2026, 4, 7, 7, tzinfo=UTC),
                    datetime(2026, 4, 8, 7, tzinfo=UTC), ANA)  # fmt: skip
    code = main(import_args("pagerduty"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "  update           shifts   'Checkout primary' as primary" in out
    assert final_segments(daemon, checkout, 1) == expected_segments(pd, "PSCHED1", ours)
    assert out.endswith("brought up to date: 1 shifts\n") and "differs" not in out


def test_a_refusal_half_way_says_what_was_done_and_a_rerun_finishes(pd, daemon, capsys):
    pd.teams[0]["name"] = "Checkout " * 30  # longer than the daemon takes a team's name
    code = main(import_args("pagerduty"))
    out, err = capsys.readouterr()
    assert code == 1 and "the oncall daemon answered 400: Name:" in err
    assert "run the import again" in err and TOKEN not in out + err
    made = [u["Id"] for u in daemon.list_users()]
    assert len(made) == len(pd.users) and out.count("  create           person ") == len(made)
    assert [s["Id"] for s in daemon.list_services()] == [1]  # the Default service alone

    pd.teams[0]["name"] = "Checkout"
    code = main(import_args("pagerduty"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [u["Id"] for u in daemon.list_users()] == made
    assert out.count("  exists           person ") == len(made)
    assert pd.services[0]["name"] in {s["Name"] for s in daemon.list_services()}
