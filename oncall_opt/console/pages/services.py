"""Services and escalation policies: what alerts are about and who is paged for them.

Each service shows its team, its escalation policy and its integration: the Events API v2 URL
and routing key, the Alertmanager receiver URL and a ready `alertmanager.yml` block. A key is
shown in full once, when the service is made or its key rotated (the daemon keeps only a
hash). The policy editor is a table of targets grouped into steps."""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from oncall_opt.console import common

NEW_KEY = "_new_service_key"
LAYER_NAMES = {1: "primary", 2: "secondary"}


def _api_url() -> str:
    """Where monitoring tools reach the daemon: ONCALL_PUBLIC_API_URL when set (they run on
    other machines), else the address this console uses."""
    public = os.environ.get("ONCALL_PUBLIC_API_URL", "").strip()
    return public.rstrip("/") if public else common.api_url()


def integration_help(service: dict, key: str | None) -> None:
    """How to send alerts to the service: with the key when it was just made, else with a
    placeholder (the key is shown once)."""
    shown = key or f"<the integration key of {service['Name']}>"
    base = _api_url()
    st.markdown("**PagerDuty Events API v2** (anything configured for PagerDuty):")
    st.code(
        f"curl -X POST {base}/v2/enqueue -H 'Content-Type: application/json' -d '"
        f'{{"routing_key": "{shown}", "event_action": "trigger", '
        '"payload": {"summary": "Checkout is down", "source": "web-1", "severity": "critical"}}'
        "'",
        language="bash",
    )
    st.markdown("**Prometheus Alertmanager** (`alertmanager.yml`):")
    st.code(
        "receivers:\n"
        "  - name: oncall\n"
        "    webhook_configs:\n"
        f"      - url: {base}/integrations/alertmanager/{shown}\n"
        "        send_resolved: true\n",
        language="yaml",
    )


def _services(teams: dict[int, str], policies: dict[int, dict]) -> None:
    st.subheader("Services")
    api = common.client()
    fresh = st.session_state.pop(NEW_KEY, None)
    if fresh:
        service, key = fresh
        st.success(
            f"Integration key of **{common.line(service['Name'])}**: copy it now, it is not "
            "shown again.",
            icon=":material/key:",
        )
        st.code(key, language=None)
        integration_help(service, key)
    found = api.list_services()
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Service": s["Name"],
                    "Team": teams.get(s["TeamId"], s["TeamId"]),
                    "Escalation policy": policies.get(s["EscalationPolicyId"], {}).get("Name"),
                    "Key": f"{s['IntegrationKeyPrefix']}…"
                    if s["IntegrationKeyPrefix"]
                    else "none yet",
                    "Ack timeout": f"{s['AckTimeoutMinutes']} min"
                    if s["AckTimeoutMinutes"]
                    else "—",
                    "Auto-resolve": f"{s['AutoResolveMinutes']} min"
                    if s["AutoResolveMinutes"]
                    else "—",
                    "Maintenance": f"until {common.when(s['InMaintenanceUntil'])}"
                    if s.get("InMaintenanceUntil")
                    else "—",
                }
                for s in found
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    for service in found:
        name = common.line(service["Name"])
        until = service.get("InMaintenanceUntil")
        title = (
            f"{name}: in maintenance until {common.when(until)}"
            if until
            else (f"{name}: integration and settings")
        )
        icon = ":material/construction:" if until else ":material/hub:"
        with st.expander(title, icon=icon):
            _maintenance(api, service)
            _heartbeats(api, service)
            integration_help(service, None)
            if not common.is_admin():
                continue
            with st.form(f"service-{service['Id']}", border=False):
                a, b, c, d = st.columns(4)
                team = a.selectbox(
                    "Team",
                    list(teams),
                    index=list(teams).index(service["TeamId"]),
                    format_func=teams.get,
                    key=f"svc-team-{service['Id']}",
                )
                policy = b.selectbox(
                    "Escalation policy",
                    list(policies),
                    index=list(policies).index(service["EscalationPolicyId"]),
                    format_func=lambda i: policies[i]["Name"],
                    key=f"svc-policy-{service['Id']}",
                )
                ack = c.number_input(
                    "Ack timeout (min, 0 none)",
                    0,
                    10080,
                    service["AckTimeoutMinutes"] or 0,
                    key=f"svc-ack-{service['Id']}",
                )
                auto = d.number_input(
                    "Auto-resolve (min, 0 none)",
                    0,
                    10080,
                    service["AutoResolveMinutes"] or 0,
                    key=f"svc-auto-{service['Id']}",
                )
                if st.form_submit_button("Save", icon=":material/save:"):
                    api.update_service(
                        service["Id"],
                        TeamId=team,
                        EscalationPolicyId=policy,
                        AckTimeoutMinutes=int(ack),
                        AutoResolveMinutes=int(auto),
                    )
                    common.flash(f"Saved {name}.")
                    st.rerun()
            rotate, delete, _ = st.columns([1.6, 1, 3])
            if rotate.button(
                "Rotate the key",
                key=f"rotate-{service['Id']}",
                icon=":material/autorenew:",
                help="A new key, shown once; the old one stops working at once.",
            ):
                made = api.rotate_service_key(service["Id"])
                st.session_state[NEW_KEY] = (made, made["IntegrationKey"])
                st.rerun()
            if service["Id"] != 1 and delete.button(
                "Delete", key=f"delete-svc-{service['Id']}", icon=":material/delete:"
            ):
                api.delete_service(service["Id"])
                common.flash(f"Deleted {name}.")
                st.rerun()
    if common.is_admin():
        _add_service(teams, policies)


HEARTBEAT_URL = "_new_heartbeat_url"


def _heartbeats(api, service: dict) -> None:
    """The service's heartbeat monitors (a silent job opens an incident); admins add them."""
    sid = service["Id"]
    made = st.session_state.pop(HEARTBEAT_URL, None)
    if made and made[0] == sid:
        st.success("Monitor added. Its URL (shown this once): ping it at least every interval.",
                   icon=":material/monitor_heart:")  # fmt: skip
        st.code(made[1], language=None)
    for beat in api.heartbeats(sid):
        heard = common.when(beat["LastPingAt"]) if beat["LastPingAt"] else "never"
        state = ":red[silent: an incident is open]" if beat["Down"] else ":green[alive]"
        st.caption(
            f"Heartbeat **{common.line(beat['Name'])}** · every {beat['IntervalMinutes']} min · "
            f"last ping {heard} · {state}"
        )
    if not common.is_admin():
        return
    with st.form(f"heartbeat-{sid}", clear_on_submit=True, border=False):
        name_col, every_col, go_col = st.columns([2, 1, 1], vertical_alignment="bottom")
        name = name_col.text_input("Heartbeat monitor", key=f"hb-name-{sid}",
                                   placeholder="nightly-backup")  # fmt: skip
        every = every_col.number_input("Every (min)", 1, 10080, 60, key=f"hb-every-{sid}")
        if go_col.form_submit_button("Add monitor", icon=":material/monitor_heart:"):
            if not name.strip():
                st.error("Name the job the monitor listens for.")
                return
            beat = api.add_heartbeat(sid, name.strip(), int(every))
            st.session_state[HEARTBEAT_URL] = (sid, beat["Url"])
            st.rerun()


def _maintenance(api, service: dict) -> None:
    """Start a maintenance window (a deploy), or end the one on: its alerts open nothing and
    page nobody meanwhile (members of the service's team, and admins)."""
    sid = service["Id"]
    if service.get("InMaintenanceUntil"):
        st.warning(
            f"In maintenance until {common.when(service['InMaintenanceUntil'])}: its alerts "
            "open no incident and page nobody (they are kept).",
            icon=":material/construction:",
        )
        if st.button("End maintenance now", key=f"maint-end-{sid}"):
            for window in api.maintenance_windows(sid):
                if window["On"]:
                    api.end_maintenance(window["Id"])
            common.flash(f"{common.line(service['Name'])}: its alerts page people again.")
            st.rerun()
        return
    minutes_col, reason_col, go_col = st.columns([1, 2, 1], vertical_alignment="bottom")
    minutes = minutes_col.number_input(
        "Maintenance (min)", 1, 43200, 30, key=f"maint-min-{sid}",
        help="Its alerts open nothing and page nobody meanwhile; they are kept on the window.",
    )  # fmt: skip
    reason = reason_col.text_input("Why", key=f"maint-why-{sid}", placeholder="deploy 4.2")
    if go_col.button("Start maintenance", key=f"maint-start-{sid}", icon=":material/construction:"):
        window = api.start_maintenance(sid, int(minutes), reason.strip())
        common.flash(
            f"{common.line(service['Name'])} is in maintenance until {common.when(window['End'])}."
        )
        st.rerun()


def _add_service(teams: dict[int, str], policies: dict[int, dict]) -> None:
    with st.form("add_service", clear_on_submit=True):
        st.markdown("**Add a service**")
        a, b, c = st.columns(3)
        name = a.text_input("Name", key="new_service_name", placeholder="checkout-api")
        team = b.selectbox("Team", list(teams), format_func=teams.get, key="new_service_team")
        policy = c.selectbox(
            "Escalation policy",
            [None, *policies],
            format_func=lambda i: "The team's own" if i is None else policies[i]["Name"],
            key="new_service_policy",
            help="The team's own: its primary at once, its secondary after 15 minutes.",
        )
        if st.form_submit_button("Add", type="primary", icon=":material/add:"):
            if not name.strip():
                st.error("Give the service a name.")
                return
            extra = {} if policy is None else {"EscalationPolicyId": policy}
            made = common.client().create_service(name.strip(), team, **extra)
            st.session_state[NEW_KEY] = (made, made["IntegrationKey"])
            st.rerun()


# ----- escalation policies ----------------------------------------------------------------------
TARGET_TYPES = {"layer": "Who is on call in a team", "user": "A person"}
COLUMNS = ["Step", "Delay (min)", "Page", "Team", "Layer", "Person"]
UNUSED = "—"  # a cell the row's kind does not use (never None on the page)


def _names(teams: dict[int, str], people: dict[int, dict]) -> tuple[dict, dict, dict, dict]:
    """What the editor shows for each id, and back: teams by name, layers as primary and
    secondary, people as `Ana Silva (@ana)` (names and handles are unique)."""
    team_names = {i: name for i, name in teams.items()}
    person_names = {i: common.label(p) for i, p in people.items()}
    return (
        team_names, person_names,
        {name: i for i, name in team_names.items()}, {name: i for i, name in person_names.items()},
    )  # fmt: skip


def steps_frame(
    policy: dict | None, teams: dict[int, str], people: dict[int, dict]
) -> pd.DataFrame:
    """One row per target: its step, the step's delay, and the team layer or person, by name."""
    team_names, person_names, _, _ = _names(teams, people)
    rows = []
    for number, step in enumerate((policy or {}).get("Steps", []), start=1):
        for target in step["Targets"]:
            rows.append(
                {
                    "Step": number,
                    "Delay (min)": step["DelayMinutes"],
                    "Page": TARGET_TYPES[target["Type"]],
                    "Team": team_names.get(target.get("TeamId"), UNUSED),
                    "Layer": LAYER_NAMES.get(target.get("Layer"), UNUSED),
                    "Person": person_names.get(target.get("UserId"), UNUSED),
                }
            )
    if not rows:
        first_team = next(iter(team_names.values()), None)
        rows.append({"Step": 1, "Delay (min)": 0, "Page": TARGET_TYPES["layer"],
                     "Team": first_team, "Layer": LAYER_NAMES[1], "Person": UNUSED})  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def _unset(value: object) -> bool:
    return value is None or value == UNUSED or bool(pd.isna(value))


def steps_from(frame: pd.DataFrame, teams: dict[int, str], people: dict[int, dict]) -> list[dict]:
    """The API's steps from the edited table (rows grouped by step number, in order; a step's
    delay is its first row's). Raises ValueError saying which row is incomplete."""
    _, _, team_ids, person_ids = _names(teams, people)
    layers = {name: number for number, name in LAYER_NAMES.items()}
    steps: dict[int, dict] = {}
    for index, row in frame.reset_index(drop=True).iterrows():
        if pd.isna(row["Step"]):
            raise ValueError(f"row {index + 1}: give its step number")
        number = int(row["Step"])
        delay = row["Delay (min)"]
        step = steps.setdefault(
            number, {"DelayMinutes": 0 if pd.isna(delay) else int(delay), "Targets": []}
        )
        if row["Page"] == TARGET_TYPES["user"]:
            if _unset(row["Person"]) or row["Person"] not in person_ids:
                raise ValueError(f"row {index + 1}: pick the person to page")
            step["Targets"].append({"Type": "user", "UserId": person_ids[row["Person"]]})
        else:
            if _unset(row["Team"]) or row["Team"] not in team_ids or row["Layer"] not in layers:
                raise ValueError(f"row {index + 1}: pick the team and the layer to page")
            step["Targets"].append(
                {"Type": "layer", "TeamId": team_ids[row["Team"]], "Layer": layers[row["Layer"]]}
            )
    return [steps[n] for n in sorted(steps)]


def describe(policy: dict, teams: dict[int, str], people: dict[int, dict]) -> str:
    parts = []
    for number, step in enumerate(policy["Steps"], start=1):
        who = ", ".join(
            f"{LAYER_NAMES.get(t['Layer'], t['Layer'])} of {teams.get(t['TeamId'], t['TeamId'])}"
            if t["Type"] == "layer"
            else common.full_name(people.get(t["UserId"]))
            for t in step["Targets"]
        )
        when = "at once" if step["DelayMinutes"] == 0 else f"+{step['DelayMinutes']} min"
        parts.append(f"{number}. {when}: {who}")
    if policy["Repeat"]:
        parts.append(f"then again {policy['Repeat']}× after {policy['RepeatAfterMinutes']} min")
    return " → ".join(parts)


def _editor(policy: dict | None, teams: dict[int, str], people: dict[int, dict], key: str):
    team_names, person_names, _, _ = _names(teams, people)
    return st.data_editor(
        steps_frame(policy, teams, people),
        key=key,
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        column_config={
            "Step": st.column_config.NumberColumn(
                "Step", min_value=1, max_value=20, step=1, required=True
            ),
            "Delay (min)": st.column_config.NumberColumn(
                "Delay (min)",
                min_value=0,
                step=1,
                help="after the step before (step 1: after the trigger); a step's first row counts",
            ),
            "Page": st.column_config.SelectboxColumn(
                "Page",
                options=list(TARGET_TYPES.values()),
                required=True,
                help="who is on call in a team's layer, or one person",
            ),
            "Team": st.column_config.SelectboxColumn(
                "Team",
                options=[UNUSED, *team_names.values()],
                default=UNUSED,
                help="whose layer is paged",
            ),
            "Layer": st.column_config.SelectboxColumn(
                "Layer", options=[UNUSED, *LAYER_NAMES.values()], default=UNUSED
            ),
            "Person": st.column_config.SelectboxColumn(
                "Person",
                options=[UNUSED, *person_names.values()],
                default=UNUSED,
                help="for 'A person'",
            ),
        },
    )


def _policies(teams: dict[int, str], people: dict[int, dict]) -> None:
    st.subheader("Escalation policies")
    st.caption(
        "Who is paged when an incident is not acknowledged: step 1 at the trigger, each next "
        "step its delay later; acknowledging or resolving stops it. Each row pages who is on "
        "call in a team's layer, or one person."
    )
    api = common.client()
    for policy in api.list_policies():
        summary = common.line(f"{policy['Name']}: {describe(policy, teams, people)}")
        with st.expander(summary, icon=":material/campaign:"):
            if not common.is_admin():
                continue
            edited = _editor(policy, teams, people, f"policy-{policy['Id']}")
            a, b, c = st.columns(3)
            repeat = a.number_input("Repeat", 0, 9, policy["Repeat"], key=f"repeat-{policy['Id']}")
            after = b.number_input(
                "Repeat after (min)",
                1,
                10080,
                policy["RepeatAfterMinutes"],
                key=f"after-{policy['Id']}",
            )
            if c.button("Save", key=f"save-policy-{policy['Id']}", icon=":material/save:"):
                try:
                    steps = steps_from(edited, teams, people)
                except ValueError as exc:
                    st.error(str(exc))
                    return
                api.update_policy(
                    policy["Id"], Steps=steps, Repeat=int(repeat), RepeatAfterMinutes=int(after)
                )
                st.session_state.pop(f"policy-{policy['Id']}", None)
                common.flash(f"Saved the escalation policy {common.line(policy['Name'])}.")
                st.rerun()
    if common.is_admin():
        with st.expander("New escalation policy", icon=":material/add:"):
            name = st.text_input("Name", key="new_policy_name")
            edited = _editor(None, teams, people, "new-policy")
            if st.button("Create", key="create-policy", type="primary"):
                if not name.strip():
                    st.error("Give the policy a name.")
                    return
                try:
                    steps = steps_from(edited, teams, people)
                except ValueError as exc:
                    st.error(str(exc))
                    return
                api.create_policy(name.strip(), steps)
                st.session_state.pop("new-policy", None)
                common.flash(f"Created the escalation policy {common.line(name.strip())}.")
                st.rerun()


def render() -> None:
    st.title("Services")
    st.caption(
        "What alerts are about, which team answers, and who is paged when nobody acknowledges."
    )
    teams = {t["Id"]: t["Name"] for t in common.teams()}
    policies = {p["Id"]: p for p in common.client().list_policies()}
    people = {u["Id"]: u for u in common.users()}
    _services(teams, policies)
    _policies(teams, people)


if __name__ == "__main__":
    common.run_page(render)
