"""`oncall-opt import grafana-oncall` against a fake Grafana OnCall (fake_grafana_oncall.py:
two items a page, rate limited once) and a real daemon: a team with two schedules turning
weekly in Europe/Berlin across the March daylight-saving change, a business-hours rotation of
a higher level, an override, an escalation chain of three paging steps with waits and a repeat,
and two integrations. Every expectation is computed from the fake's data."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from fake_grafana_oncall import FakeGrafanaOnCall
from fake_pagerduty import Layer, Rotation
from import_window import END, START, final_segments, import_args, instants, snapshot
from import_window import user_by_email as people_here

from oncall_opt.cli import main
from oncall_opt.importing import grafana_oncall, http_source

TOKEN = "glsa_GrafanaT0kenNeverPrinted"
BERLIN = "Europe/Berlin"
MONDAY_9_BERLIN = datetime(2026, 3, 2, 8, tzinfo=UTC)
WEDNESDAY_10_BERLIN = datetime(2026, 3, 4, 9, tzinfo=UTC)


@pytest.fixture
def grafana(monkeypatch):
    fake = FakeGrafanaOnCall(TOKEN)
    team = fake.add_team("Checkout")
    ana = fake.add_user("ana", "ana@example.com", "admin", BERLIN, [team], slack="U0ANA01")
    ben = fake.add_user("ben", "ben@example.com", "user", BERLIN, [team])
    chloe = fake.add_user("chloe", "chloe@example.com", "user", "Europe/Paris", [team])
    dev = fake.add_user("dev", "dev@example.com", "observer", BERLIN, [team])
    fake.add_user("olu", "olu@example.com")
    primary = fake.add_schedule("Checkout primary", team, BERLIN)
    weekly = Rotation(MONDAY_9_BERLIN, timedelta(days=7), [ana, ben, chloe, dev], zone=BERLIN)
    fake.add_rotation(primary, "Weekly", Layer("Weekly", weekly, BERLIN))
    daily = Rotation(MONDAY_9_BERLIN, timedelta(days=1), [ben, dev], zone=BERLIN)
    business = Layer("Business hours", daily, BERLIN, daily_from=time(9), daily_hours=8)
    fake.add_rotation(primary, "Business hours", business, level=1)
    fake.add_override(primary, datetime(2026, 3, 27, 18, tzinfo=UTC),
                      datetime(2026, 3, 28, 6, tzinfo=UTC), chloe)  # fmt: skip
    secondary = fake.add_schedule("Checkout secondary", team, BERLIN)
    turns = Rotation(WEDNESDAY_10_BERLIN, timedelta(days=7), [dev, chloe, ben, ana], zone=BERLIN)
    fake.add_rotation(secondary, "Weekly", Layer("Weekly", turns, BERLIN))
    chain = fake.add_chain("Checkout escalation", team, [
        {"type": "notify_on_call_from_schedule", "notify_on_call_from_schedule": primary,
         "important": False},
        {"type": "notify_whole_channel"},
        {"type": "wait", "duration": 600},
        {"type": "notify_on_call_from_schedule", "notify_on_call_from_schedule": secondary,
         "important": False},
        {"type": "wait", "duration": 900},
        {"type": "notify_persons", "persons_to_notify": [dev], "important": True},
        {"type": "wait", "duration": 1200},
        {"type": "repeat_escalation"},
    ])  # fmt: skip
    fake.add_integration("Checkout alerts", "alertmanager", team, chain,
                         extra_routes=[('"severity": "critical"', chain)])  # fmt: skip
    fake.add_integration("Checkout webhooks", "webhook", team, chain)
    monkeypatch.setenv("GRAFANA_ONCALL_API_URL", fake.url)
    monkeypatch.setenv("GRAFANA_ONCALL_API_TOKEN", TOKEN)
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """What the importer waited for after a 429, instead of waiting."""
    waited: list[float] = []
    monkeypatch.setattr(http_source, "wait", waited.append)
    return waited


def test_a_dry_run_lists_everything_and_creates_nothing(grafana, daemon, capsys):
    before = snapshot(daemon)
    code = main(import_args("grafana-oncall", "--dry-run"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert snapshot(daemon) == before and TOKEN not in out + err
    names = [u["email"] for u in grafana.users] + [t["name"] for t in grafana.teams]
    names += [s.json["name"] for s in grafana.schedules.values()]
    names += [c["name"] for c in grafana.chains] + [i["name"] for i in grafana.integrations]
    assert all(name in out for name in names), out
    assert f"would be created: {len(grafana.users)} person" in out


def test_an_import_makes_the_team_and_a_second_makes_nothing(grafana, daemon, waits, capsys):
    grafana.rate_limit = 1
    code = main(import_args("grafana-oncall"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert waits == [2.0] and TOKEN not in out + err
    # every list is read to its last page (the schedules below check the final shifts' pages)
    pages = -(-len(grafana.users) // grafana.page)
    assert pages > 1 and grafana.requests.count("GET /api/v1/users/") >= pages

    ours = people_here(daemon)
    for user in grafana.users:
        mine = ours[user["email"]]
        assert mine["SlackHandle"] == user["username"] and mine["TimeZone"] == user["timezone"]
        assert mine["EmailVerified"] and mine["Role"] == (
            "admin" if user["role"] == "admin" else "member"
        )
    pk = {u["id"]: ours[u["email"]]["Id"] for u in grafana.users}
    (team,) = [t for t in daemon.list_teams() if t["Name"] == grafana.teams[0]["name"]]
    team_id = grafana.teams[0]["id"]
    assert set(team["UserIds"]) == {pk[u["id"]] for u in grafana.users if team_id in u["teams"]}

    for (schedule_id, _), layer in zip(grafana.schedules.items(), (1, 2), strict=True):
        wanted = [
            (_parse(s["shift_start"]), _parse(s["shift_end"]), pk[s["user_pk"]])
            for s in grafana.final_shifts(schedule_id, START, END)
        ]
        assert final_segments(daemon, team["Id"], layer) == wanted
        for at in instants(wanted):
            on_call = daemon.scheduled(at, layer=layer, team_id=team["Id"])
            assert on_call["User"]["Id"] == pk[grafana.on_call(schedule_id, at)], at

    chain = grafana.chains[0]
    (policy,) = [p for p in daemon.list_policies() if p["Name"] == chain["name"]]
    source = [s for s in grafana.steps if s["escalation_chain_id"] == chain["id"]]
    waits_before, pending = [], 0
    for step in source:
        if step["type"] == "wait":
            pending += step["duration"] // 60
        elif step["type"].startswith("notify_") and step["type"] != "notify_whole_channel":
            waits_before.append(pending)
            pending = 0
    assert [s["DelayMinutes"] for s in policy["Steps"]] == waits_before
    assert policy["Repeat"] == grafana_oncall.GRAFANA_REPEATS
    assert policy["RepeatAfterMinutes"] == pending
    dev = next(u["id"] for u in grafana.users if u["username"] == "dev")
    targets = [(t["Type"], t.get("TeamId"), t.get("Layer"), t.get("UserId"))
               for s in policy["Steps"] for t in s["Targets"]]  # fmt: skip
    assert targets == [("layer", team["Id"], 1, None), ("layer", team["Id"], 2, None),
                       ("user", None, None, pk[dev])]  # fmt: skip

    services = {s["Name"]: s for s in daemon.list_services()}
    for integration in grafana.integrations:
        service = services[integration["name"]]
        assert service["TeamId"] == team["Id"] and service["EscalationPolicyId"] == policy["Id"]
    alerts = next(line for line in out.splitlines() if line.startswith("  Checkout alerts / "))
    assert f"{daemon.base_url}/integrations/alertmanager/" in alerts

    for unmapped in ("notify_whole_channel", "'Checkout webhooks' (webhook)",
                     "route '\"severity\": \"critical\"'", "slack U0ANA01",
                     "rotation 'Business hours'", "1 override(s)", "phone numbers"):  # fmt: skip
        line = next((line for line in out.splitlines() if unmapped in line), "")
        assert line.startswith("  - "), (unmapped, out)

    before = snapshot(daemon)
    code = main(import_args("grafana-oncall"))
    again, err = capsys.readouterr()
    assert code == 0, err
    assert "nothing new: everything was already imported" in again
    assert snapshot(daemon) == before


def test_a_wrong_token_or_no_address_stops_before_anything_is_made(
    grafana, daemon, monkeypatch, capsys
):
    before = snapshot(daemon)
    monkeypatch.setenv("GRAFANA_ONCALL_API_TOKEN", "wrong-token-Kx7")
    code = main(import_args("grafana-oncall"))
    out, err = capsys.readouterr()
    assert code == 1 and "GRAFANA_ONCALL_API_TOKEN is wrong" in err
    assert "Kx7" not in out + err and snapshot(daemon) == before

    monkeypatch.setenv("GRAFANA_ONCALL_API_URL", "http://oncall.example.com")
    code = main(import_args("grafana-oncall"))
    _, err = capsys.readouterr()
    assert code == 2 and "GRAFANA_ONCALL_API_URL" in err and "https://" in err


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_without_email_people_are_matched_by_username_the_second_time(
    grafana, daemon_without_email, capsys
):
    assert main(import_args("grafana-oncall")) == 0
    out = capsys.readouterr().out
    for user in grafana.users:
        assert f"  - {user['username']} <{user['email']}>'s email {user['email']}: not added" in out
    handles = {u["SlackHandle"] for u in daemon_without_email.list_users()}
    assert handles == {u["username"] for u in grafana.users}
    before = snapshot(daemon_without_email)
    assert main(import_args("grafana-oncall")) == 0
    assert "nothing new: everything was already imported" in capsys.readouterr().out
    assert snapshot(daemon_without_email) == before


def test_the_address_and_token_may_come_from_the_secrets_file(
    grafana, daemon, tmp_path, monkeypatch, capsys
):
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"GRAFANA_ONCALL_API_URL={grafana.url}\nGRAFANA_ONCALL_API_TOKEN={TOKEN}\n")
    monkeypatch.setenv("ONCALL_SECRETS_FILE", str(secrets))
    monkeypatch.delenv("GRAFANA_ONCALL_API_URL")
    monkeypatch.delenv("GRAFANA_ONCALL_API_TOKEN")
    code = main(import_args("grafana-oncall", "--dry-run"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"would be created: {len(grafana.users)} person" in out and TOKEN not in out + err
