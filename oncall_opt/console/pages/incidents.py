"""Incidents: open ones first, with status, assignee, age and dedup count; filters by status and
assignee; acknowledge, assign and resolve from the row; a form to trigger a test incident. The
list refreshes itself every few seconds (a fragment), the filters stay as they are."""

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
            st.markdown(f":{colour}-badge[{status.capitalize()}] **#{iid}** {incident['Body']}")
            details = [f"opened {common.when(created)}"]
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
            ack, resolve = st.columns(2)
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
    assignee_id = None
    if assignee == MINE:
        assignee_id = common.me()
        if assignee_id is None:
            st.info("Pick yourself under **You are** in the sidebar to see your incidents.")
            return
    elif isinstance(assignee, int):
        assignee_id = assignee
    open_incidents = api.list_incidents("open")
    _metrics(open_incidents)
    items = filtered(api.list_incidents(status, assignee_id), assignee, search)
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


def _filters(people: list[dict]) -> None:
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
        dedup = st.text_input(
            "Dedup key (optional)",
            key="trigger_dedup",
            help="A trigger with the key of an open incident counts against it.",
        )
        if st.form_submit_button("Trigger incident", type="primary"):
            if not body.strip():
                st.error("Say what happened: the incident needs a text.")
                return
            created = common.client().trigger_incident(body.strip(), dedup.strip() or None)
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
    people = common.users()
    _filters(people)
    incident_list()
    _trigger_form()


if __name__ == "__main__":
    common.run_page(render)
