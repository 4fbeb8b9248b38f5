"""Roles, API keys, passwords, sign-in links and sessions, against the real app: who may do
what, what is stored, and that every credential stops working when it should."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine.auth import HashGate, SignInThrottle, address_key
from oncall_opt.engine.settings import Settings
from oncall_opt.errors import TooManyRequestsError, UnavailableError

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

TOKEN = "daemon-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
DAY = ("2027-01-04", "2027-01-10")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_error(response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["details"] is None, body
    for word in words:
        assert word in body["message"], (word, body["message"])


@pytest.fixture
def api(store, clock):
    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as client:
        yield client


def person(api, handle: str, role: str = "member") -> dict:
    body = {"FirstName": handle.title(), "LastName": "X", "SlackHandle": handle, "Role": role}
    response = api.post("/users", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["Role"] == role
    return response.json()


def key_for(api, user_id: int, name: str = "laptop", **extra) -> dict:
    response = api.post(f"/users/{user_id}/api-keys", json={"Name": name, **extra}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def team(api):
    """An admin and two members, each with a personal API key."""
    ada, bob, cy = person(api, "ada", "admin"), person(api, "bob"), person(api, "cy")
    keys = {p["SlackHandle"]: key_for(api, p["Id"])["Key"] for p in (ada, bob, cy)}
    return {"ada": ada, "bob": bob, "cy": cy, "keys": keys}


# ----- without authentication: the tutorial's daemon ---------------------------------------
def test_without_a_token_everyone_is_an_anonymous_admin(store, clock):
    with TestClient(
        base_url=LOCAL, app=create_app(store, Settings(), clock, run_jobs=False)
    ) as api:
        assert api.get("/auth/me").json() == {
            "AuthRequired": False, "Role": "admin", "Via": "open", "User": None,
        }  # fmt: skip
        assert api.post(
            "/users", json={"FirstName": "K", "LastName": "S", "SlackHandle": "k"}
        ).is_success
        assert api.put("/users/1", json={"Role": "admin"}).json()["Role"] == "admin"


# ----- roles ---------------------------------------------------------------------------------
def test_a_member_handles_incidents_and_their_own_days_but_changes_nobody_else(api, team):
    bob = bearer(team["keys"]["bob"])
    bob_id, cy_id = team["bob"]["Id"], team["cy"]["Id"]
    incident = api.post("/incidents", json={"Body": "disk full"}, headers=bob)
    assert incident.status_code == 200, incident.text
    acked = api.put(f"/incidents/{incident.json()['Id']}/acknowledge", headers=bob).json()
    assert acked["AcknowledgedBy"]["Id"] == bob_id  # recorded as the key's person, unasked
    assert api.put(
        f"/incidents/{acked['Id']}/assign", json={"UserId": cy_id}, headers=bob
    ).is_success
    days = {"Start": DAY[0], "End": DAY[1], "Days": {DAY[0]: "unavailable"}}
    assert api.put(f"/users/{bob_id}/availability", json=days, headers=bob).is_success
    assert api.put(f"/users/{bob_id}", json={"FirstName": "Robert"}, headers=bob).is_success
    assert api.get("/users", headers=bob).is_success  # reads: any signed-in person

    new_person = {"FirstName": "E", "LastName": "V", "SlackHandle": "e"}
    a_shift = {"Start": "2027-01-04T09:00:00Z", "End": "2027-01-05T09:00:00Z"}
    a_month = {"Start": "2027-01-01T00:00:00Z", "End": "2027-02-01T00:00:00Z"}
    refused = [
        api.put(f"/users/{cy_id}/availability", json=days, headers=bob),
        api.put(f"/users/{cy_id}", json={"FirstName": "Mallory"}, headers=bob),
        api.post("/users", json=new_person, headers=bob),
        api.post(f"/users/{bob_id}/schedules", json=a_shift, headers=bob),
        api.delete("/schedules", params=a_month, headers=bob),
        api.post("/roster/publish", json={"Output": {"overrides": []}}, headers=bob),
        api.post("/messages/test", json={}, headers=bob),
        api.post(f"/users/{cy_id}/login-link", headers=bob),
        api.get(f"/users/{cy_id}/api-keys", headers=bob),
        api.post(f"/users/{cy_id}/api-keys", json={"Name": "sneaky"}, headers=bob),
    ]  # fmt: skip
    for response in refused:
        assert_error(response, 403, "permission_denied", "needs", "you are a member")
    assert_error(
        api.put(f"/users/{bob_id}", json={"Role": "admin"}, headers=bob),
        403, "permission_denied", "only an admin may change a role",
    )  # fmt: skip
    names = {u["Id"]: u["FirstName"] for u in api.get("/users", headers=ADMIN).json()["Items"]}
    assert names[cy_id] == "Cy" and names[bob_id] == "Robert"
    assert store_count(api, "SELECT count(*) AS n FROM users") == 3
    assert store_count(api, "SELECT count(*) AS n FROM schedules") == 0


def set_password(api, user_id: int, password: str, headers=ADMIN) -> dict:
    response = api.put(f"/users/{user_id}/password", json={"Password": password}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def login(api, handle: str, password: str):
    return api.post("/auth/login", json={"SlackHandle": handle, "Password": password})


def store_count(api, sql: str) -> int:
    return api.app.state.store.row(sql)["n"]


def test_a_member_acts_only_as_themself_an_admin_may_name_anyone(api, team):
    bob, ada = bearer(team["keys"]["bob"]), bearer(team["keys"]["ada"])
    first = api.post("/incidents", json={"Body": "a"}, headers=bob).json()["Id"]
    second = api.post("/incidents", json={"Body": "b"}, headers=bob).json()["Id"]
    as_cy = {"UserId": team["cy"]["Id"]}
    for path in (f"/incidents/{first}/acknowledge", f"/incidents/{first}/resolve"):
        assert_error(api.put(path, json=as_cy, headers=bob), 403, "permission_denied", "themself")
    assert_error(
        api.post("/incidents/acknowledge_all", json=as_cy, headers=bob), 403, "permission_denied"
    )
    assert api.get(f"/incidents/{first}", headers=bob).json()["Status"] == "triggered"
    done = api.put(f"/incidents/{second}/resolve", json=as_cy, headers=ada).json()
    assert done["ResolvedBy"]["Id"] == team["cy"]["Id"]
    mine = api.put(f"/incidents/{first}/resolve", json={"UserId": team["bob"]["Id"]}, headers=bob)
    assert mine.json()["ResolvedBy"]["Id"] == team["bob"]["Id"]


def test_the_daemon_token_is_an_admin_that_is_nobody(api, team):
    assert api.get("/auth/me", headers=ADMIN).json() == {
        "AuthRequired": True, "Role": "admin", "Via": "token", "User": None,
    }  # fmt: skip
    incident = api.post("/incidents", json={"Body": "x"}, headers=ADMIN).json()
    acked = api.put(f"/incidents/{incident['Id']}/acknowledge", headers=ADMIN).json()
    assert acked["Acknowledged"] and acked["AcknowledgedBy"] is None


def test_an_admins_key_may_do_admin_work(api, team):
    ada = bearer(team["keys"]["ada"])
    assert api.get("/auth/me", headers=ada).json()["User"]["SlackHandle"] == "ada"
    body = {"FirstName": "Dee", "LastName": "Y", "SlackHandle": "dee"}
    assert api.post("/users", json=body, headers=ada).status_code == 200
    days = {"Start": DAY[0], "End": DAY[1], "Days": {DAY[1]: "preferred"}}
    assert api.put(f"/users/{team['cy']['Id']}/availability", json=days, headers=ada).is_success


# ----- API keys --------------------------------------------------------------------------------
def test_keys_are_shown_once_stored_hashed_and_listed_without_their_secret(api, team):
    created = key_for(api, team["bob"]["Id"], "grafana")
    secret = created["Key"]
    assert secret.startswith("oo_key_") and len(secret) > 40
    assert created["Prefix"] == secret[: len(created["Prefix"])] and len(created["Prefix"]) < 16
    rows = api.app.state.store.rows("SELECT secret_hash FROM credentials")
    assert {"secret_hash": hashlib.sha256(secret.encode()).hexdigest()} in rows
    assert not any(
        secret in str(row) for row in api.app.state.store.rows("SELECT * FROM credentials")
    )
    listed = api.get(f"/users/{team['bob']['Id']}/api-keys", headers=bearer(secret)).json()
    assert [k["Name"] for k in listed["Items"]] == ["laptop", "grafana"]
    assert secret not in str(listed) and all("Key" not in k for k in listed["Items"])
    assert listed["Items"][1]["LastUsedAt"] is not None  # the listing request itself used it


def test_a_revoked_key_stops_at_once_and_members_revoke_only_their_own(api, team):
    bob, cy = team["keys"]["bob"], team["keys"]["cy"]
    cy_key = api.get(f"/users/{team['cy']['Id']}/api-keys", headers=bearer(cy)).json()["Items"][0]
    assert api.get("/users", headers=bearer(cy)).is_success  # now cached as valid
    assert_error(
        api.delete(f"/api-keys/{cy_key['Id']}", headers=bearer(bob)), 403, "permission_denied"
    )
    assert api.get("/users", headers=bearer(cy)).is_success
    assert api.delete(f"/api-keys/{cy_key['Id']}", headers=bearer(cy)).is_success
    assert_error(api.get("/users", headers=bearer(cy)), 401, "unauthenticated")
    assert_error(api.delete("/api-keys/999", headers=ADMIN), 404, "not_found")


def test_a_key_never_outranks_its_person_and_a_demotion_applies_at_once(api, team):
    bob_id, ada_id = team["bob"]["Id"], team["ada"]["Id"]
    assert_error(
        api.post(f"/users/{bob_id}/api-keys", json={"Name": "up", "Role": "admin"}, headers=ADMIN),
        400, "invalid_argument", "Role", "member",
    )  # fmt: skip
    script = key_for(api, ada_id, "script", Role="member")["Key"]
    assert api.get("/auth/me", headers=bearer(script)).json()["Role"] == "member"
    body = {"FirstName": "E", "LastName": "V", "SlackHandle": "e"}
    assert_error(api.post("/users", json=body, headers=bearer(script)), 403, "permission_denied")
    ada = bearer(team["keys"]["ada"])
    assert api.post("/users", json=body, headers=ada).status_code == 200
    assert api.put(f"/users/{ada_id}", json={"Role": "member"}, headers=ADMIN).is_success
    assert api.get("/auth/me", headers=ada).json()["Role"] == "member"
    assert_error(api.post("/users", json=body, headers=ada), 403, "permission_denied")


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_a_key_needs_a_name(api, team, name):
    response = api.post(f"/users/{team['bob']['Id']}/api-keys", json={"Name": name}, headers=ADMIN)
    assert_error(response, 400, "invalid_argument", "Name")


# ----- passwords and sessions -------------------------------------------------------------------
def test_a_password_signs_in_to_a_session_that_acts_as_the_person(api, team):
    bob_id = team["bob"]["Id"]
    answer = set_password(api, bob_id, "correct horse")  # an admin sets the first one
    assert answer == {"UserId": bob_id, "HasPassword": True}
    stored = api.app.state.store.row("SELECT password_hash FROM users WHERE id = ?", [bob_id])
    assert stored["password_hash"].startswith("$argon2id$") and "correct horse" not in str(stored)
    session = api.post("/auth/login", json={"SlackHandle": "@Bob", "Password": "correct horse"})
    assert session.status_code == 200, session.text
    token = session.json()["Token"]
    assert token.startswith("oo_ses_") and session.json()["User"]["Id"] == bob_id
    me = api.get("/auth/me", headers=bearer(token)).json()
    assert (me["Via"], me["Role"], me["User"]["Id"]) == ("session", "member", bob_id)
    incident = api.post("/incidents", json={"Body": "x"}, headers=bearer(token)).json()
    acked = api.put(f"/incidents/{incident['Id']}/acknowledge", headers=bearer(token)).json()
    assert acked["AcknowledgedBy"]["Id"] == bob_id
    assert api.post("/auth/logout", headers=bearer(token)).is_success
    assert_error(api.get("/auth/me", headers=bearer(token)), 401, "unauthenticated")
    assert api.get("/auth/me", headers=bearer(team["keys"]["bob"])).is_success  # keys live on


def test_wrong_handle_and_wrong_password_get_the_same_answer_and_are_throttled(api, team):
    api.put(
        f"/users/{team['bob']['Id']}/password", json={"Password": "correct horse"}, headers=ADMIN
    )
    wrong_handle = api.post(
        "/auth/login", json={"SlackHandle": "nobody", "Password": "correct horse"}
    )
    wrong_password = api.post(
        "/auth/login", json={"SlackHandle": "bob", "Password": "wrong horse!"}
    )
    for response in (wrong_handle, wrong_password):
        assert_error(response, 401, "unauthenticated", "wrong Slack handle or password")
    no_password = api.post("/auth/login", json={"SlackHandle": "cy", "Password": "anything at all"})
    assert_error(no_password, 401, "unauthenticated", "wrong Slack handle or password")
    for _ in range(4):
        api.post("/auth/login", json={"SlackHandle": "bob", "Password": "still wrong"})
    right = api.post("/auth/login", json={"SlackHandle": "bob", "Password": "correct horse"})
    assert_error(right, 429, "resource_exhausted", "too many failed sign-ins", "sign-in link")
    other = api.post("/auth/login", json={"SlackHandle": "ada", "Password": "wrong again!"})
    assert_error(other, 401, "unauthenticated")  # one handle's lockout is not another's


def test_the_throttle_forgets_failures_once_they_age_out(store, clock):
    throttle = SignInThrottle(
        per_address=10, per_pair=2, per_handle=10, window=timedelta(minutes=1)
    )
    throttle.failed(store, "bob", "10.0.0.1", clock.now())
    throttle.failed(store, "bob", "10.0.0.1", clock.now())
    with pytest.raises(TooManyRequestsError, match="@bob; try again in 1 min"):
        throttle.check(store, "bob", "10.0.0.1", clock.now())
    throttle.check(store, "bob", "10.0.0.2", clock.now())  # bob from elsewhere: not refused
    clock.advance(seconds=61)
    throttle.check(store, "bob", "10.0.0.1", clock.now())  # no longer refused


def test_the_throttle_counts_per_address_and_per_handle_and_survives_a_restart(store, clock):
    throttle = SignInThrottle(per_address=3, per_pair=5, per_handle=4)
    now = clock.now()
    for handle in ("ana", "bob", "cy"):  # one guesser, many handles
        throttle.failed(store, handle, "10.0.0.9", now)
    with pytest.raises(TooManyRequestsError, match="your address"):
        throttle.check(store, "dan", "10.0.0.9", now)
    for i in range(4):  # many addresses at one person
        throttle.failed(store, "eve", f"192.0.2.{i}", now)
    again = SignInThrottle(per_address=3, per_pair=5, per_handle=4)  # a restarted daemon
    with pytest.raises(TooManyRequestsError, match="@eve"):
        again.check(store, "eve", "198.51.100.7", now)
    again.check(store, "dan", "198.51.100.7", now)
    assert address_key("2001:db8:1:2:3:4:5:6") == address_key("2001:db8:1:2:ffff::1")
    assert address_key("::ffff:10.0.0.9") == address_key("10.0.0.9") == "10.0.0.9"


def test_a_locked_password_sign_in_never_locks_out_a_sign_in_link(api, team):
    set_password(api, team["bob"]["Id"], "correct horse")
    for _ in range(5):
        api.post("/auth/login", json={"SlackHandle": "bob", "Password": "a wrong guess"})
    right = api.post("/auth/login", json={"SlackHandle": "bob", "Password": "correct horse"})
    assert_error(right, 429, "resource_exhausted")
    assert right.headers["Retry-After"]
    code = api.post(f"/users/{team['bob']['Id']}/login-link", headers=ADMIN).json()["Code"]
    assert api.post("/auth/login", json={"Code": code}).status_code == 200


def test_password_checks_run_a_few_at_a_time_and_the_rest_are_told_to_retry(store, clock):
    """Two checks at once (workers) and one waiting (queue): a fourth is refused at once."""
    gate = HashGate(workers=2, queue=1)
    inside, release = threading.Barrier(3), threading.Event()

    def hold() -> None:
        with gate.slot():
            inside.wait(timeout=30)
            release.wait(timeout=30)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for thread in holders:
        thread.start()
    inside.wait(timeout=30)  # both workers busy
    waiting = threading.Thread(target=lambda: gate.slot().__enter__())
    waiting.start()
    deadline = time.monotonic() + 30
    while gate._admitted < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(UnavailableError, match="too many sign-ins at once"), gate.slot():
        pass
    release.set()
    for thread in holders:
        thread.join(timeout=30)
    waiting.join(timeout=30)
    assert not waiting.is_alive()


def test_changing_your_own_password_asks_for_the_current_one(api, team):
    bob_id = team["bob"]["Id"]
    set_password(api, bob_id, "first password")
    session = api.post("/auth/login", json={"SlackHandle": "bob", "Password": "first password"})
    bob = bearer(session.json()["Token"])
    missing = api.put(f"/users/{bob_id}/password", json={"Password": "stolen session!"},
                      headers=bob)  # fmt: skip
    assert_error(missing, 401, "unauthenticated", "CurrentPassword")
    wrong = api.put(f"/users/{bob_id}/password", headers=bob,
                    json={"Password": "stolen session!", "CurrentPassword": "a guess"})  # fmt: skip
    assert_error(wrong, 401, "unauthenticated", "not your current password")
    change = {"Password": "second password", "CurrentPassword": "first password"}
    right = api.put(f"/users/{bob_id}/password", headers=bob, json=change)
    assert right.status_code == 200, right.text
    assert api.get("/auth/me", headers=bob).is_success  # the session that changed it stays
    # An admin resets someone else's without knowing it:
    assert set_password(api, bob_id, "third password")["HasPassword"]


def test_a_new_password_revokes_the_keys_that_sessions_made(api, team):
    """A key minted with a stolen session does not outlive the password change; keys an admin
    made, and the person's own from the session that changes it, stay."""
    bob_id = team["bob"]["Id"]
    set_password(api, bob_id, "first password")

    def session() -> dict[str, str]:
        answer = api.post("/auth/login", json={"SlackHandle": "bob", "Password": "first password"})
        return bearer(answer.json()["Token"])

    stolen, own = session(), session()
    minted = api.post(f"/users/{bob_id}/api-keys", json={"Name": "x"}, headers=stolen).json()
    chained = api.post(f"/users/{bob_id}/api-keys", json={"Name": "y"},
                       headers=bearer(minted["Key"])).json()  # fmt: skip
    mine = api.post(f"/users/{bob_id}/api-keys", json={"Name": "laptop2"}, headers=own).json()
    for key in (minted, chained, mine):
        assert api.get("/auth/me", headers=bearer(key["Key"])).is_success
    change = {"Password": "second password", "CurrentPassword": "first password"}
    changed = api.put(f"/users/{bob_id}/password", headers=own, json=change)
    assert changed.status_code == 200, changed.text
    for gone in (stolen, bearer(minted["Key"]), bearer(chained["Key"])):
        assert_error(api.get("/auth/me", headers=gone), 401, "unauthenticated")
    for kept in (own, bearer(mine["Key"]), bearer(team["keys"]["bob"])):
        assert api.get("/auth/me", headers=kept).is_success


def test_a_new_password_ends_the_persons_sessions(api, team):
    bob_id = team["bob"]["Id"]
    api.put(f"/users/{bob_id}/password", json={"Password": "first password"}, headers=ADMIN)
    token = api.post(
        "/auth/login", json={"SlackHandle": "bob", "Password": "first password"}
    ).json()["Token"]
    assert api.get("/auth/me", headers=bearer(token)).is_success
    api.put(f"/users/{bob_id}/password", json={"Password": "second password"}, headers=ADMIN)
    assert_error(api.get("/auth/me", headers=bearer(token)), 401, "unauthenticated")
    old = api.post("/auth/login", json={"SlackHandle": "bob", "Password": "first password"})
    assert_error(old, 401, "unauthenticated")
    assert (
        api.put(f"/users/{bob_id}/password", json={"Password": ""}, headers=ADMIN).json()[
            "HasPassword"
        ]
        is False
    )
    gone = api.post("/auth/login", json={"SlackHandle": "bob", "Password": "second password"})
    assert_error(gone, 401, "unauthenticated")


@pytest.mark.parametrize("password", ["short", "x" * 257])
def test_a_password_has_a_sensible_length(api, team, password):
    response = api.put(
        f"/users/{team['bob']['Id']}/password", json={"Password": password}, headers=ADMIN
    )
    assert_error(response, 400, "invalid_argument", "Password")


def test_a_session_ends_when_it_expires(api, team, clock):
    api.put(
        f"/users/{team['bob']['Id']}/password", json={"Password": "correct horse"}, headers=ADMIN
    )
    session = api.post(
        "/auth/login", json={"SlackHandle": "bob", "Password": "correct horse"}
    ).json()
    assert api.get("/auth/me", headers=bearer(session["Token"])).is_success
    clock.advance(hours=24, seconds=-1)
    assert api.get("/auth/me", headers=bearer(session["Token"])).is_success
    clock.advance(seconds=1)
    assert_error(api.get("/auth/me", headers=bearer(session["Token"])), 401, "unauthenticated")


# ----- one-time sign-in links --------------------------------------------------------------------
def test_a_sign_in_link_works_once_and_only_for_fifteen_minutes(api, team, clock):
    cy_id = team["cy"]["Id"]
    link = api.post(f"/users/{cy_id}/login-link", headers=ADMIN)
    assert link.status_code == 201, link.text
    code = link.json()["Code"]
    session = api.post("/auth/login", json={"Code": code})
    assert session.status_code == 200 and session.json()["User"]["Id"] == cy_id
    assert api.get("/auth/me", headers=bearer(session.json()["Token"])).json()["Via"] == "session"
    assert_error(
        api.post("/auth/login", json={"Code": code}), 401, "unauthenticated", "used already"
    )
    late = api.post(f"/users/{cy_id}/login-link", headers=ADMIN).json()["Code"]
    clock.advance(minutes=15)
    assert_error(api.post("/auth/login", json={"Code": late}), 401, "unauthenticated", "expired")
    assert_error(api.post("/auth/login", json={"Code": "made-up"}), 401, "unauthenticated")
    assert_error(api.get("/auth/me", headers=bearer(late)), 401, "unauthenticated")  # not a key


def test_sign_in_needs_a_handle_and_password_or_a_code(api):
    for body in ({}, {"SlackHandle": "bob"}, {"Password": "x" * 12}):
        assert_error(api.post("/auth/login", json=body), 400, "invalid_argument", "Code")


# ----- oncall-opt login-link --------------------------------------------------------------------
def test_login_link_prints_a_console_link_that_signs_the_person_in(
    store, clock, monkeypatch, capsys
):
    from live_server import serve

    from oncall_opt.cli import main

    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), clock, run_jobs=False)
    with serve(app) as url, TestClient(base_url=LOCAL, app=app) as api:
        person(api, "bob")
        monkeypatch.delenv("ONCALL_API_TOKEN", raising=False)
        monkeypatch.setenv("ONCALL_SECRETS_FILE", "/dev/null")
        assert main(["login-link", "bob", "--api", url]) == 1
        assert "ONCALL_API_TOKEN" in capsys.readouterr().err

        monkeypatch.setenv("ONCALL_API_TOKEN", TOKEN)
        monkeypatch.setenv("ONCALL_CONSOLE_URL", "http://console.example:8501/")
        assert main(["login-link", "@BOB", "--api", url]) == 0
        out, err = capsys.readouterr()
        assert out.startswith("http://console.example:8501/?login=oo_link_")
        assert "Bob X (@bob, member)" in err and TOKEN not in out + err
        code = out.strip().split("login=")[1]
        assert api.post("/auth/login", json={"Code": code}).json()["User"]["SlackHandle"] == "bob"

        assert main(["login-link", "nobody", "--api", url]) == 1
        assert "no user with id or Slack handle 'nobody'" in capsys.readouterr().err


def test_a_first_password_needs_a_fresh_link_sign_in(api, team, clock):
    """Someone who never set a password signs in with links: a session stolen later cannot set
    one (and keep the account); the person can, within minutes of a new link."""
    cy_id = team["cy"]["Id"]

    def link_session() -> dict[str, str]:
        code = api.post(f"/users/{cy_id}/login-link", headers=ADMIN).json()["Code"]
        return bearer(api.post("/auth/login", json={"Code": code}).json()["Token"])

    stolen = link_session()
    clock.advance(minutes=20)
    taken = api.put(f"/users/{cy_id}/password", json={"Password": "attacker-pw-123"},
                    headers=stolen)  # fmt: skip
    assert_error(taken, 401, "unauthenticated", "new one-time link")
    by_key = api.put(f"/users/{cy_id}/password", json={"Password": "attacker-pw-123"},
                     headers=bearer(team["keys"]["cy"]))  # fmt: skip
    assert_error(by_key, 401, "unauthenticated")
    fresh = link_session()
    mine = api.put(f"/users/{cy_id}/password", json={"Password": "cys-own-password"},
                   headers=fresh)  # fmt: skip
    assert mine.status_code == 200, mine.text
    assert_error(api.get("/auth/me", headers=stolen), 401, "unauthenticated")  # ended


def test_handles_are_one_whatever_their_case_in_any_script(api, team):
    sigma = person(api, "ΣΑΣ")
    twin = api.post("/users", json={"FirstName": "S", "LastName": "X", "SlackHandle": "σασ"},
                    headers=ADMIN)  # fmt: skip
    assert_error(twin, 409, "already_exists", "SlackHandle")
    set_password(api, sigma["Id"], "sigma-password")
    signed = api.post("/auth/login", json={"SlackHandle": "σας", "Password": "sigma-password"})
    assert signed.status_code == 200 and signed.json()["User"]["Id"] == sigma["Id"]
