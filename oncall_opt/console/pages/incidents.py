"""Incidents: open ones first, with status, service, urgency, assignee, age and dedup count;
filters by status, team, service, urgency and assignee; acknowledge, assign and resolve from the
row; an incident's detail (its timeline, a note, snooze, escalate to a step); a form to trigger a
test incident. The list refreshes itself every few seconds (a fragment), the filters stay as
they are."""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from oncall_opt.client import ApiError, DaemonUnavailable
from oncall_opt.console import common

REFRESH_SECONDS = float(os.environ.get("ONCALL_UI_REFRESH", "5") or 5)
STATUSES = {
    "open": "Open",
    "triggered": "Needs ack",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "all": "All",
}
BADGES = {"triggered": "red", "acknowledged": "orange", "resolved": "green"}
ORDER = {"triggered": 0, "acknowledged": 1, "resolved": 2}
ANYONE, MINE, UNASSIGNED = "any", "me", "none"
NOBODY = 0  # the assign box's "unassigned" entry
ALL = 0  # the team and service filters' "all" entry
URGENCIES = {"any": "Any urgency", "high": "High", "low": "Low"}
SNOOZES = {15: "15 min", 30: "30 min", 60: "1 h", 240: "4 h", 1440: "1 day"}
DETAIL = "inc_detail"
PAGE_SIZE = 30


# ----- actions: buttons record them, the list's next run does them ---------------------------
def _queue(action: str, incident_id: int) -> None:
    st.session_state.setdefault("_incident_actions", []).append((action, incident_id))


def _do_actions() -> None:
    """Do the actions the row buttons asked for (a callback cannot show errors itself)."""
    api = common.client()
    for action, incident_id in st.session_state.pop("_incident_actions", []):
        try:
            if action == "acknowledge":
                api.acknowledge(incident_id, user_id=common.me())
                st.toast(f"Incident #{incident_id} acknowledged", icon=":material/check:")
            elif action == "resolve":
                api.resolve(incident_id, user_id=common.me())
                st.toast(f"Incident #{incident_id} resolved", icon=":material/task_alt:")
            elif action == "detail":
                st.session_state[DETAIL] = incident_id
            elif action == "assign":
                user_id = st.session_state.get(f"assign-{incident_id}")
                if user_id and user_id != NOBODY:
                    done = api.assign(incident_id, int(user_id))
                    who = common.full_name(done["Assignee"])
                    st.toast(f"Incident #{incident_id} assigned to {who}", icon=":material/person:")
        except DaemonUnavailable:
            raise
        except ApiError as exc:
            common.api_error(exc, f"{action} incident #{incident_id}")


def sort_key(incident: dict) -> tuple[int, float]:
    """Triggered first, then acknowledged, then resolved; newest first within each."""
    last = common.parse_time(incident.get("LastTriggeredAt") or incident["CreatedAt"])
    assert last is not None
    return ORDER.get(incident["Status"], 3), -last.timestamp()


def filtered(items: list[dict], assignee: Any, search: str) -> list[dict]:
    if assignee == UNASSIGNED:
        items = [i for i in items if i.get("Assignee") is None]
    if search.strip():
        needle = search.strip().lower()
        items = [
            i
            for i in items
            if needle in i["Body"].lower()
            or needle in (i.get("DedupKey") or "").lower()
            or needle == f"#{i['Id']}"
            or needle == str(i["Id"])
        ]
    return sorted(items, key=sort_key)


def _metrics(open_incidents: list[dict]) -> None:
    triggered = [i for i in open_incidents if i["Status"] == "triggered"]
    acknowledged = [i for i in open_incidents if i["Status"] == "acknowledged"]
    unassigned = [i for i in open_incidents if i.get("Assignee") is None]
    oldest = min((common.parse_time(i["CreatedAt"]) for i in triggered), default=None)
    a, b, c, d = st.columns(4)
    a.metric("Needs acknowledgement", len(triggered), border=True)
    b.metric("Acknowledged, open", len(acknowledged), border=True)
    c.metric("Unassigned", len(unassigned), border=True)
    d.metric(
        "Oldest unacknowledged",
        common.duration(common.now() - oldest) if oldest else "—",
        border=True,
    )


def _row(incident: dict, people: list[dict]) -> None:
    iid, status = incident["Id"], incident["Status"]
    created = incident["CreatedAt"]
    with st.container(border=True, key=f"incident-{iid}"):
        body, assign, age, actions = st.columns([5.4, 2.2, 1.1, 3.8], vertical_alignment="center")
        with body:
            colour = BADGES.get(status, "gray")
            urgency = " :gray-badge[low urgency]" if incident.get("Urgency") == "low" else ""
            st.markdown(
                f":{colour}-badge[{status.capitalize()}]{urgency} **#{iid}** "
                f"{incident['Body'].splitlines()[0] if incident['Body'] else ''}"
            )
            details = [f"opened {common.when(created)}"]
            service = services_by_id().get(incident.get("ServiceId"))
            if service is not None and service["Id"] != 1:
                details.append(f"service {service['Name']}")
            if incident.get("SnoozedUntil") and status == "acknowledged":
                details.append(f"quiet until {common.when(incident['SnoozedUntil'])}")
            if incident.get("Count", 1) > 1:
                last = common.relative(incident["LastTriggeredAt"])
                details.append(f"triggered ×{incident['Count']}, last {last}")
            if incident.get("DedupKey"):
                details.append(f"key `{incident['DedupKey']}`")
            if incident.get("AcknowledgedAt"):
                by = incident.get("AcknowledgedBy")
                details.append(
                    f"acked {common.when(incident['AcknowledgedAt'])}"
                    + (f" by {common.full_name(by)}" if by else "")
                )
            if incident.get("ResolvedAt"):
                by = incident.get("ResolvedBy")
                details.append(
                    f"resolved {common.when(incident['ResolvedAt'])}"
                    + (f" by {common.full_name(by)}" if by else "")
                )
            if incident.get("EscalatedTo"):
                details.append(f"escalated to {common.full_name(incident['EscalatedTo'])}")
            st.caption(" · ".join(details))
        with assign:
            key = f"assign-{iid}"
            current = (incident.get("Assignee") or {}).get("Id", NOBODY)
            if not any(a == ("assign", iid) for a in st.session_state.get("_incident_actions", [])):
                st.session_state[key] = current  # follow the daemon (auto-assign, others)
            by_id = {u["Id"]: u for u in people}
            st.selectbox(
                "Assignee",
                [NOBODY, *by_id],
                key=key,
                format_func=lambda i: (
                    "— unassigned —" if i == NOBODY else common.full_name(by_id[i])
                ),
                label_visibility="collapsed",
                disabled=status == "resolved",
                on_change=_queue,
                args=("assign", iid),
            )
        with age:
            end = incident.get("ResolvedAt") if status == "resolved" else None
            since = common.parse_time(created)
            assert since is not None
            elapsed = (common.parse_time(end) if end else common.now()) - since
            st.markdown(f":material/timer: {common.duration(elapsed)}")
        with actions:
            ack, resolve, more = st.columns([1, 1, 0.6])
            more.button(
                "",
                key=f"detail-{iid}",
                icon=":material/more_horiz:",
                help="Timeline, notes, snooze, escalate",
                on_click=_queue,
                args=("detail", iid),
            )
            if status == "triggered":
                ack.button(
                    "Acknowledge",
                    key=f"ack-{iid}",
                    type="primary",
                    on_click=_queue,
                    args=("acknowledge", iid),
                    width="stretch",
                )
            if status != "resolved":
                resolve.button(
                    "Resolve",
                    key=f"resolve-{iid}",
                    on_click=_queue,
                    args=("resolve", iid),
                    width="stretch",
                )


@st.fragment(run_every=REFRESH_SECONDS)
@common.guarded
def incident_list() -> None:
    """Metrics and the rows; reruns on its own every REFRESH_SECONDS."""
    api = common.client()
    _do_actions()
    people = common.users()
    status = st.session_state.get("inc_status") or "open"
    assignee = st.session_state.get("inc_assignee", ANYONE)
    search = st.session_state.get("inc_search", "")
    scope = {
        "team_id": st.session_state.get("inc_team") or None,
        "service_id": st.session_state.get("inc_service") or None,
        "urgency": None
        if st.session_state.get("inc_urgency", "any") == "any"
        else st.session_state["inc_urgency"],
    }
    if st.session_state.get(DETAIL):
        _detail(st.session_state[DETAIL], people)
    assignee_id = None
    if assignee == MINE:
        assignee_id = common.me()
        if assignee_id is None:
            st.info("Pick yourself under **You are** in the sidebar to see your incidents.")
            return
    elif isinstance(assignee, int):
        assignee_id = assignee
    open_incidents = api.list_incidents("open", **scope)
    _metrics(open_incidents)
    items = filtered(api.list_incidents(status, assignee_id, **scope), assignee, search)
    st.caption(
        f"{len(items)} incident(s) · {STATUSES[status].lower()} · refreshed "
        f"{common.when(common.now())}:{common.local(common.now()):%S}, "
        f"every {REFRESH_SECONDS:g} s"
    )
    if not items:
        if assignee != ANYONE or search.strip():
            st.info("No incidents match these filters.", icon=":material/filter_alt_off:")
        elif status in ("open", "triggered"):
            st.success("Nothing open: all quiet.", icon=":material/check_circle:")
        else:
            st.info("No incidents here.")
        return
    for incident in items[:PAGE_SIZE]:
        _row(incident, people)
    if len(items) > PAGE_SIZE:
        st.caption(f"Showing the first {PAGE_SIZE}; narrow the filters to see the others.")


def services_by_id() -> dict[int, dict]:
    found = st.session_state.get("_services")
    if found is None:
        found = st.session_state["_services"] = {
            s["Id"]: s for s in common.client().list_services()
        }
    return found


def _detail(incident_id: int, people: list[dict]) -> None:
    """One incident in full: its timeline, a note, snooze, escalate to a step."""
    api = common.client()
    incident = api.get_incident(incident_id)
    with st.container(border=True, key="incident-detail"):
        title, close = st.columns([8, 1], vertical_alignment="center")
        title.markdown(f"#### Incident #{incident_id} · {incident['Status']}")
        if close.button("Close", key="detail-close", icon=":material/close:"):
            st.session_state.pop(DETAIL, None)
            st.rerun()
        st.text(incident["Body"])
        service = services_by_id().get(incident["ServiceId"], {})
        st.caption(
            f"Service {service.get('Name', incident['ServiceId'])} · {incident['Urgency']} "
            f"urgency · escalation step {incident['EscalationStep']}"
            + (f", next {common.when(incident['NextEscalationAt'])}"
               if incident.get("NextEscalationAt") else "")
        )  # fmt: skip
        log = api.incident_log(incident_id)
        st.dataframe(
            [
                {
                    "When": common.when(entry["At"]),
                    "What": entry["Kind"],
                    "Who": common.full_name(entry["User"]) if entry["User"] else "",
                    "Details": entry["Message"],
                }
                for entry in log
            ],
            hide_index=True,
            width="stretch",
        )
        if incident["Status"] == "resolved":
            return
        note_col, snooze_col, escalate_col = st.columns(3)
        with note_col, st.form(f"note-{incident_id}", clear_on_submit=True, border=False):
            text = st.text_input("Add a note", key=f"note-text-{incident_id}")
            if st.form_submit_button("Add note", icon=":material/edit_note:") and text.strip():
                api.add_note(incident_id, text.strip(), user_id=common.me())
                st.rerun()
        with snooze_col:
            minutes = st.selectbox(
                "Snooze for", list(SNOOZES), format_func=SNOOZES.get, key=f"snooze-{incident_id}"
            )
            if st.button("Snooze", key=f"snooze-go-{incident_id}", icon=":material/snooze:"):
                api.snooze(incident_id, int(minutes), user_id=common.me())
                st.toast(f"Incident #{incident_id} snoozed for {SNOOZES[minutes]}")
                st.rerun()
        with escalate_col:
            step = st.number_input(
                "Escalate to step", 1, 20, min(incident["EscalationStep"] + 1, 20),
                key=f"step-{incident_id}",
            )  # fmt: skip
            if st.button("Escalate now", key=f"escalate-{incident_id}", icon=":material/campaign:"):
                done = api.escalate(incident_id, int(step))
                st.toast(f"Paged step {step}: {common.full_name(done.get('EscalatedTo'))}")
                st.rerun()


def _filters(people: list[dict]) -> None:
    team_col, service_col, urgency_col = st.columns([2, 2, 4], vertical_alignment="bottom")
    teams = {t["Id"]: t["Name"] for t in common.teams()}
    services = services_by_id()
    with team_col:
        st.selectbox(
            "Team", [ALL, *teams], key="inc_team",
            format_func=lambda i: "All teams" if i == ALL else teams.get(i, str(i)),
        )  # fmt: skip
    chosen = st.session_state.get("inc_team") or ALL
    shown = [i for i, s in services.items() if chosen in (ALL, s["TeamId"])]
    if st.session_state.get("inc_service") not in (None, ALL, *shown):
        st.session_state["inc_service"] = ALL
    with service_col:
        st.selectbox(
            "Service", [ALL, *shown], key="inc_service",
            format_func=lambda i: "All services" if i == ALL else services[i]["Name"],
        )  # fmt: skip
    with urgency_col:
        st.segmented_control(
            "Urgency", list(URGENCIES), key="inc_urgency", format_func=URGENCIES.get,
            required=True, **({} if "inc_urgency" in st.session_state else {"default": "any"}),
        )  # fmt: skip
    status_col, assignee_col, search_col = st.columns([4, 2, 2], vertical_alignment="bottom")
    with status_col:
        st.segmented_control(
            "Status",
            list(STATUSES),
            key="inc_status",
            format_func=STATUSES.get,
            required=True,
            **({} if "inc_status" in st.session_state else {"default": "open"}),
        )
    by_id = {u["Id"]: u for u in people}
    names = {ANYONE: "Anyone", MINE: "Me", UNASSIGNED: "Unassigned"}
    with assignee_col:
        st.selectbox(
            "Assignee",
            [ANYONE, MINE, UNASSIGNED, *by_id],
            key="inc_assignee",
            format_func=lambda v: names.get(v) or common.full_name(by_id.get(v)),
        )
    with search_col:
        st.text_input("Search", key="inc_search", placeholder="text, dedup key or #id")


def _trigger_form() -> None:
    with (
        st.expander("Trigger a test incident", icon=":material/add_alert:"),
        st.form("trigger", clear_on_submit=True, border=False),
    ):
        body = st.text_area(
            "What happened",
            placeholder="Checkout latency above 2 s on eu-west",
            key="trigger_body",
        )
        dedup_col, service_col, urgency_col = st.columns(3)
        dedup = dedup_col.text_input(
            "Dedup key (optional)",
            key="trigger_dedup",
            help="A trigger with the key of an open incident counts against it.",
        )
        services = services_by_id()
        service = service_col.selectbox(
            "Service", list(services), key="trigger_service",
            format_func=lambda i: services[i]["Name"],
        )  # fmt: skip
        urgency = urgency_col.selectbox("Urgency", ["high", "low"], key="trigger_urgency")
        if st.form_submit_button("Trigger incident", type="primary"):
            if not body.strip():
                st.error("Say what happened: the incident needs a text.")
                return
            created = common.client().trigger_incident(
                body.strip(), dedup.strip() or None, service_id=service, urgency=urgency
            )
            if created.get("Created", True):
                common.flash(f"Incident #{created['Id']} triggered.")
            else:
                common.flash(
                    f"Counted against open incident #{created['Id']} (×{created['Count']}).",
                    "info",
                )
            st.rerun()


def render() -> None:
    st.title("Incidents")
    st.session_state.pop("_services", None)  # read once per page run
    people = common.users()
    _filters(people)
    incident_list()
    _trigger_form()


if __name__ == "__main__":
    common.run_page(render)
