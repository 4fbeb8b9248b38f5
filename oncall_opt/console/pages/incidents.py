"""Incidents: newest first by when they were opened, so a row keeps its place when its status
changes; status, service, urgency, assignee, age and dedup count. The status filter and the
search are at hand, the other filters (team, service, urgency, assignee) behind "Filters".
Acknowledge, assign and resolve from the row, confirmed on the row itself: a row acted on stays
where it is for a while even when the filters would now leave it out, and a resolved one shows
"Resolved · Undo" (Undo reopens it). An incident's detail: its timeline, a note, snooze,
escalate to a step. "Send a test incident…", at the end, opens a dialog. The list refreshes
itself every few seconds (a fragment), the filters stay as they are."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from typing import Any

import streamlit as st

from oncall_opt.client import ApiError, DaemonUnavailable
from oncall_opt.console import common, paging

REFRESH_SECONDS = float(os.environ.get("ONCALL_UI_REFRESH", "5") or 5)
CONFIRM_SECONDS = 20.0  # how long a row acted on shows what was done, and stays in the list
UNDO_SECONDS = 30.0  # how long a row just resolved offers Undo
DOUBLE_CLICK_SECONDS = 0.5  # Undo this soon after Resolve on a row (or back): one double click
STATUSES = {
    "open": "Open",
    "triggered": "Needs ack",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "all": "All",
}
BADGES = {"triggered": "red", "acknowledged": "orange", "resolved": "green"}
ANYONE, MINE, UNASSIGNED = "any", "me", "none"
NOBODY = 0  # the assign box's "unassigned" entry
ALL = 0  # the team and service filters' "all" entry
URGENCIES = {"any": "Any urgency", "high": "High", "low": "Low"}
SNOOZES = {15: "15 min", 30: "30 min", 60: "1 h", 240: "4 h", 1440: "1 day"}
DETAIL = "inc_detail"
DONE = "_inc_done"  # incident id -> what this viewer just did to it (see `_mark`)
TOASTS = "_inc_toasts"  # toasts to show on the next run (a dialog's, before its st.rerun)
TRIGGERING = "_inc_triggering"  # the "Send a test incident" dialog is open
PAGE_SIZE = 30
# What the row shows for a while after it was acted on, beside its status badge (acknowledged
# and resolved show in the actions instead, where the button was).
DONE_BADGES = {
    "reopened": ":blue-badge[:material/undo: reopened]",
    "triggered": ":blue-badge[:material/add_alert: just triggered]",
    "counted": ":blue-badge[:material/add_alert: triggered again]",
    "assigned": ":blue-badge[:material/person: reassigned]",
}


# ----- actions: buttons record them, the list's next run does them ---------------------------
def _queue(action: str, incident_id: int) -> None:
    st.session_state.setdefault("_incident_actions", []).append((action, incident_id))


def _view() -> tuple:
    """The filters as they are now: a row acted on stays in the list while they do not change."""
    state = st.session_state
    return (
        state.get("inc_status") or "open",
        state.get("inc_team") or ALL,
        state.get("inc_service") or ALL,
        state.get("inc_urgency") or "any",
        state.get("inc_assignee", ANYONE),
        (state.get("inc_search") or "").strip().lower(),
    )


def _mark(incident_id: int, what: str, message: str = "") -> None:
    """Remember that this viewer just did `what` to the incident (acknowledged, resolved,
    reopened, assigned, triggered, counted, failed), for its row to show."""
    st.session_state.setdefault(DONE, {})[incident_id] = {
        "what": what,
        "at": time.monotonic(),
        "view": _view(),
        "message": message,
    }


def _lasts(what: str) -> float:
    return UNDO_SECONDS if what == "resolved" else CONFIRM_SECONDS


def recently_done() -> dict[int, dict]:
    """What this viewer did to which incident, still shown (older marks are dropped)."""
    now = time.monotonic()
    done = {
        incident_id: mark
        for incident_id, mark in st.session_state.get(DONE, {}).items()
        if now - mark["at"] < _lasts(mark["what"])
    }
    st.session_state[DONE] = done
    return done


def _toast(text: str, icon: str) -> None:
    st.session_state.setdefault(TOASTS, []).append((text, icon))


OUTCOMES = {"acknowledge": "acknowledged", "resolve": "resolved", "unresolve": "reopened"}
# After what was done, the action of the button now where the clicked one was.
TAKES_ITS_PLACE = {"resolved": "unresolve", "reopened": "resolve"}


def _second_click(action: str, incident_id: int, refused: ApiError | None = None) -> bool:
    """Whether a click on a row's button is the second half of a double click: Undo takes
    Resolve's place, and Resolve Undo's, so such a click would undo what was just done. A
    click on that button within DOUBLE_CLICK_SECONDS counts as none, and so does a 409 for what
    this viewer has just done (the first click did it)."""
    mark = st.session_state.get(DONE, {}).get(incident_id)
    if mark is None:
        return False
    if refused is not None:
        return refused.status == 409 and mark["what"] == OUTCOMES.get(action)
    quick = time.monotonic() - mark["at"] < DOUBLE_CLICK_SECONDS
    return quick and TAKES_ITS_PLACE.get(mark["what"]) == action


def _do_actions() -> None:
    """Do the actions the row buttons asked for (a callback cannot show errors itself); each
    outcome is marked on its row. A double click counts once (see `_second_click`)."""
    api = common.client()
    asked = st.session_state.pop("_incident_actions", [])
    for action, incident_id in dict.fromkeys(asked):
        if _second_click(action, incident_id):
            continue
        try:
            if action == "acknowledge":
                api.acknowledge(incident_id, user_id=common.me())
                _mark(incident_id, "acknowledged")
                _toast(f"Incident #{incident_id} acknowledged", ":material/check:")
            elif action == "resolve":
                api.resolve(incident_id, user_id=common.me())
                _mark(incident_id, "resolved")
                _toast(f"Incident #{incident_id} resolved", ":material/task_alt:")
            elif action == "unresolve":
                done = api.unresolve(incident_id, user_id=common.me())
                _mark(incident_id, "reopened")
                state = STATUSES[done["Status"]].lower()
                _toast(f"Incident #{incident_id} reopened ({state})", ":material/undo:")
            elif action == "detail":
                _open_detail(incident_id)
            elif action in ("assign", "reassign"):  # the row's box, or the detail's own
                box = f"{'detail-' if action == 'reassign' else ''}assign-{incident_id}"
                user_id = st.session_state.get(box)
                if user_id and user_id != NOBODY:
                    done = api.assign(incident_id, int(user_id))
                    _mark(incident_id, "assigned")
                    who = common.line(common.full_name(done["Assignee"]))
                    _toast(f"Incident #{incident_id} assigned to {who}", ":material/person:")
        except DaemonUnavailable:
            raise
        except ApiError as exc:
            if _second_click(action, incident_id, exc):
                continue
            doing = "undo the resolve" if action == "unresolve" else action
            _mark(incident_id, "failed", f"Could not {doing}: {exc.message}")


def order_key(incident: dict) -> tuple[float, int]:
    """Newest first by when it was opened: a row keeps its place whatever happens to it."""
    created = common.parse_time(incident["CreatedAt"])
    assert created is not None
    return -created.timestamp(), -incident["Id"]


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
    return sorted(items, key=order_key)


def _metrics(open_incidents: list[dict]) -> None:
    triggered = [i for i in open_incidents if i["Status"] == "triggered"]
    acknowledged = [i for i in open_incidents if i["Status"] == "acknowledged"]
    unassigned = [i for i in open_incidents if i.get("Assignee") is None]
    oldest = min((common.parse_time(i["CreatedAt"]) for i in triggered), default=None)
    # On a phone one line says it all (the cards below are hidden there, common.CONSOLE_CSS),
    # so the first incident and its Acknowledge are on the first screen.
    with st.container(key="inc_summary"):
        oldest_text = f" · oldest {common.duration(common.now() - oldest)}" if oldest else ""
        st.markdown(
            f"**{len(triggered)}** need acknowledgement · {len(acknowledged)} acknowledged · "
            f"{len(unassigned)} unassigned{oldest_text}"
        )
    # A row that wraps rather than columns that stack one per line.
    with st.container(horizontal=True, key="inc_metrics"):
        st.metric("Needs acknowledgement", len(triggered), border=True)
        st.metric("Acknowledged, open", len(acknowledged), border=True)
        st.metric("Unassigned", len(unassigned), border=True)
        st.metric(
            "Oldest unacknowledged",
            common.duration(common.now() - oldest) if oldest else "—",
            border=True,
        )


def _row(incident: dict, people: list[dict], done: dict | None) -> None:
    """One incident; `done`: what this viewer just did to it, shown in place."""
    iid, status = incident["Id"], incident["Status"]
    created = incident["CreatedAt"]
    what = done["what"] if done else None
    with st.container(border=True, key=f"incident-{iid}"):
        body, assign, age, actions = st.columns([5, 2.2, 1.1, 4.2], vertical_alignment="center")
        with body:
            colour = BADGES.get(status, "gray")
            urgency = " :gray-badge[low urgency]" if incident.get("Urgency") == "low" else ""
            just = f" {DONE_BADGES[what]}" if what in DONE_BADGES else ""
            st.markdown(
                f":{colour}-badge[{status.capitalize()}]{urgency}{just} **#{iid}** "
                f"{common.line(incident['Body'].splitlines()[0]) if incident['Body'] else ''}"
            )
            st.caption(" · ".join(_details(incident)))
            if what == "failed":
                message = common.line(done["message"])  # type: ignore[index]
                st.markdown(f":red[:material/error: {message}]")
        with assign:
            key = f"assign-{iid}"
            current = (incident.get("Assignee") or {}).get("Id", NOBODY)
            if not any(a == ("assign", iid) for a in st.session_state.get("_incident_actions", [])):
                st.session_state[key] = current  # follow the daemon (auto-assign, others)
            by_id = {u["Id"]: u for u in people}
            st.selectbox(
                f"Assignee of #{iid}",  # one label per row: screen readers tell them apart
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
            # Says what it measures: open for so long, or how long it took to resolve.
            what_it_is = "took" if end else "open"
            st.markdown(
                f":material/timer: {what_it_is} {common.duration(elapsed)}",
                help="How long it took from opening to resolution"
                if end
                else "How long it has been open (since it was triggered)",
            )
        with actions:
            _actions(iid, status, what)


def _details(incident: dict) -> list[str]:
    """The row's caption (Markdown, data escaped): when it was opened, its service, key, who
    did what and when."""
    status = incident["Status"]
    details = [f"opened {common.when(incident['CreatedAt'])}"]
    service = services_by_id().get(incident.get("ServiceId"))
    if service is not None and service["Id"] != 1:
        details.append(f"service {common.line(service['Name'])}{_maintenance(service)}")
    if incident.get("SnoozedUntil") and status == "acknowledged":
        details.append(f"quiet until {common.when(incident['SnoozedUntil'])}")
    if incident.get("Count", 1) > 1:
        last = common.when(incident["LastTriggeredAt"])
        details.append(f"triggered ×{incident['Count']}, last {last}")
    if incident.get("DedupKey"):
        details.append(f"key {common.line(incident['DedupKey'])}")
    if incident.get("AcknowledgedAt"):
        by = incident.get("AcknowledgedBy")
        details.append(
            f"acked {common.when(incident['AcknowledgedAt'])}"
            + (f" by {common.line(common.full_name(by))}" if by else "")
        )
    if incident.get("ResolvedAt"):
        by = incident.get("ResolvedBy")
        details.append(
            f"resolved {common.when(incident['ResolvedAt'])}"
            + (f" by {common.line(common.full_name(by))}" if by else "")
        )
    if incident.get("EscalatedTo"):
        details.append(f"escalated to {common.line(common.full_name(incident['EscalatedTo']))}")
    return details


def _actions(iid: int, status: str, what: str | None) -> None:
    """Acknowledge, Resolve and `…`; what was just done shows where its button was: "✓
    Acknowledged", or "✓ Resolved · Undo" (Undo where Resolve was)."""
    ack, resolve, more = st.columns([1.5, 1.1, 0.5], vertical_alignment="center")
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
    elif status == "acknowledged" and what == "acknowledged":
        ack.markdown(":green[:material/check: Acknowledged]", text_alignment="center")
    if status != "resolved":
        resolve.button(
            "Resolve",
            key=f"resolve-{iid}",
            on_click=_queue,
            args=("resolve", iid),
            width="stretch",
        )
    elif what == "resolved":
        ack.markdown(":green[:material/task_alt: Resolved] ·", text_alignment="right")
        resolve.button(
            "Undo",
            key=f"undo-{iid}",
            icon=":material/undo:",
            help="Reopen it as it was: acknowledged again if it had been, else triggered",
            on_click=_queue,
            args=("unresolve", iid),
            width="stretch",
        )


@st.fragment(run_every=REFRESH_SECONDS)
@common.guarded
def incident_list() -> None:
    """Metrics and the rows; reruns on its own every REFRESH_SECONDS."""
    api = common.client()
    _do_actions()
    for text, icon in st.session_state.pop(TOASTS, []):
        st.toast(text, icon=icon)
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
    detail = st.session_state.get(DETAIL)
    assignee_id = None
    if assignee == MINE:
        assignee_id = common.me()
        if assignee_id is None:
            st.info("Pick yourself under **You are** in the sidebar to see your incidents.")
            return
    elif isinstance(assignee, int):
        assignee_id = assignee
    open_incidents = api.list_incidents("open", **scope)
    waiting = sum(1 for incident in open_incidents if incident["Status"] == "triggered")
    title = common.counted("Incidents · On-call console", waiting)
    st.session_state["_incidents_title"] = title
    st.set_page_config(page_title=title)  # as text: nothing typed reaches a script
    _metrics(open_incidents)
    matching = filtered(api.list_incidents(status, assignee_id, **scope), assignee, search)
    done = recently_done()
    items = _with_kept(matching, done)
    st.caption(
        f"{len(matching)} incident(s) · {STATUSES[status].lower()} · refreshed "
        f"{common.when(common.now())}:{common.local(common.now()):%S}, "
        f"every {REFRESH_SECONDS:g} s"
    )
    shown = items[:PAGE_SIZE]
    if detail and detail not in {incident["Id"] for incident in shown}:
        _detail(detail, people)  # opened by its address, and not in this list: on top
    for incident in shown:
        _row(incident, people, done.get(incident["Id"]))
        if incident["Id"] == detail:  # in place, under its row
            _detail(detail, people)
    if len(items) > PAGE_SIZE:
        st.caption(f"Showing the first {PAGE_SIZE}; narrow the filters to see the others.")
    if not matching:  # after the rows kept in place, so that they do not move
        if assignee != ANYONE or search.strip():
            st.info("No incidents match these filters.", icon=":material/filter_alt_off:")
        elif status in ("open", "triggered"):
            st.success("Nothing open: all quiet.", icon=":material/check_circle:")
        else:
            st.info("No incidents here.")


def _with_kept(matching: list[dict], done: dict[int, dict]) -> list[dict]:
    """The matching incidents and, in their places, those this viewer just acted on under the
    same filters that no longer match them (acknowledged under "Needs ack", resolved under
    "Open", given to someone else under "Me"): rows do not vanish from under the pointer."""
    shown = {incident["Id"] for incident in matching}
    kept = []
    view = _view()
    for incident_id, mark in done.items():
        if incident_id in shown or mark["view"] != view:
            continue
        try:
            kept.append(common.client().get_incident(incident_id))
        except DaemonUnavailable:
            raise
        except ApiError:
            continue  # gone: nothing to keep
    return sorted([*matching, *kept], key=order_key)


def _maintenance(service: dict, markdown: bool = True) -> str:
    """` (in maintenance until 14:30)` for a service in a maintenance window, else ""."""
    until = service.get("InMaintenanceUntil")
    if not until:
        return ""
    said = f"(in maintenance until {common.when(until)})"
    return " " + (common.line(said) if markdown else said)


def services_by_id() -> dict[int, dict]:
    found = st.session_state.get("_services")
    if found is None:
        found = st.session_state["_services"] = {
            s["Id"]: s for s in common.client().list_services()
        }
    return found


def _open_detail(incident_id: int) -> None:
    """Open an incident's detail, and put it in the address (`?incident=12`): it can be
    shared, bookmarked and reloaded."""
    st.session_state[DETAIL] = incident_id
    st.query_params["incident"] = str(incident_id)


def _close_detail() -> None:
    st.session_state.pop(DETAIL, None)
    if "incident" in st.query_params:
        del st.query_params["incident"]


def _detail(incident_id: int, people: list[dict]) -> None:
    """One incident in full: acknowledge, resolve, reassign; its timeline, its pages, a note,
    snooze, escalate to a step."""
    api = common.client()
    try:
        incident = api.get_incident(incident_id)
    except DaemonUnavailable:
        raise
    except ApiError as exc:
        if exc.status != 404:
            raise
        st.warning(f"There is no incident #{incident_id}.", icon=":material/search_off:")
        _close_detail()
        return
    with st.container(border=True, key="incident-detail"):
        title, close = st.columns([8, 1], vertical_alignment="center")
        title.markdown(f"#### Incident #{incident_id} · {common.line(incident['Status'])}")
        if close.button("Close", key="detail-close", icon=":material/close:"):
            _close_detail()
            st.rerun()
        _detail_actions(incident, people)
        st.text(incident["Body"])
        service = services_by_id().get(incident["ServiceId"], {})
        st.caption(
            f"Service {common.line(service.get('Name', incident['ServiceId']))}"
            f"{_maintenance(service)} · "
            f"{common.line(incident['Urgency'])} "
            f"urgency · escalation step {incident['EscalationStep']}"
            + (f", next {common.when(incident['NextEscalationAt'])}"
               if incident.get("NextEscalationAt") else "")
        )  # fmt: skip
        log = api.incident_log(incident_id)
        moments = [common.local(entry["At"]) for entry in log]
        st.dataframe(
            [
                {
                    "When": moment.replace(tzinfo=None),  # a time, so it sorts as one
                    "What": entry["Kind"],
                    "Who": common.full_name(entry["User"]) if entry["User"] else "",
                    "Details": entry["Message"],
                }
                for entry, moment in zip(log, moments, strict=True)
            ],
            column_config={"When": st.column_config.DatetimeColumn(format=when_format(moments))},
            hide_index=True,
            width="stretch",
        )
        st.markdown("**Pages** (through each person's contact methods)")
        paging.incident_pages(incident_id, {u["Id"]: u for u in people})
        changed = api.incident_changes(incident_id)
        if changed:
            st.markdown("**Changes on its service in the hour before it opened**")
            for change in changed:
                st.caption(
                    f"{common.when(change['At'])} · {common.line(change['Summary'])}"
                    + (f" · {common.line(change['Source'])}" if change.get("Source") else "")
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
                paged = common.line(common.full_name(done.get("EscalatedTo")))
                st.toast(f"Paged step {step}: {paged}")
                st.rerun()


def _detail_actions(incident: dict, people: list[dict]) -> None:
    """Acknowledge, Resolve (or Undo) and Reassign, as on the row."""
    iid, status = incident["Id"], incident["Status"]
    ack, resolve, assign, go = st.columns([1.4, 1.1, 2.4, 1.1], vertical_alignment="bottom")
    if status == "triggered":
        ack.button("Acknowledge", key=f"detail-ack-{iid}", type="primary", width="stretch",
                   on_click=_queue, args=("acknowledge", iid))  # fmt: skip
    if status != "resolved":
        resolve.button("Resolve", key=f"detail-resolve-{iid}", width="stretch",
                       on_click=_queue, args=("resolve", iid))  # fmt: skip
    else:
        resolve.button("Reopen", key=f"detail-reopen-{iid}", icon=":material/undo:",
                       width="stretch", on_click=_queue, args=("unresolve", iid))  # fmt: skip
    if status == "resolved":
        return
    by_id = {u["Id"]: u for u in people}
    current = (incident.get("Assignee") or {}).get("Id", NOBODY)
    assign.selectbox(
        "Reassign to", [NOBODY, *by_id], index=[NOBODY, *by_id].index(current)
        if current in by_id else 0, key=f"detail-assign-{iid}",
        format_func=lambda i: "— unassigned —" if i == NOBODY else common.full_name(by_id[i]),
    )  # fmt: skip
    go.button("Reassign", key=f"detail-reassign-{iid}", icon=":material/person:",
              width="stretch", on_click=_queue, args=("reassign", iid))  # fmt: skip


def when_format(moments: list[datetime]) -> str:
    """common.when's format for a table's time column (moment.js): `Tue 1 Dec 09:00`, with
    the year when one of them is not in this one."""
    this_year = common.local(common.now()).year
    if any(moment.year != this_year for moment in moments):
        return "ddd D MMM YYYY HH:mm"
    return "ddd D MMM HH:mm"


def _filters(people: list[dict]) -> None:
    """Status and search at hand; team, service, urgency and assignee behind "Filters" (few
    controls before the first row for whoever moves with the Tab key)."""
    state = st.session_state
    narrowed = sum(
        [
            bool(state.get("inc_team")),
            bool(state.get("inc_service")),
            state.get("inc_urgency", "any") != "any",
            state.get("inc_assignee", ANYONE) != ANYONE,
        ]
    )
    label = f"Filters · {narrowed}" if narrowed else "Filters"
    # One line that wraps (on a phone: the status, then the search and Filters side by side).
    bar = st.container(horizontal=True, vertical_alignment="bottom", key="inc_filter_bar")
    bar.segmented_control(
        "Status",
        list(STATUSES),
        key="inc_status",
        format_func=STATUSES.get,
        required=True,
        **({} if "inc_status" in state else {"default": "open"}),
    )
    find = bar.container(horizontal=True, vertical_alignment="bottom")
    find.text_input("Search", key="inc_search", placeholder="text, dedup key or #id")
    with find.popover(label, icon=":material/filter_list:", key="inc_more_filters"):
        teams = {t["Id"]: t["Name"] for t in common.teams()}
        services = services_by_id()
        st.selectbox(
            "Team", [ALL, *teams], key="inc_team",
            format_func=lambda i: "All teams" if i == ALL else teams.get(i, str(i)),
        )  # fmt: skip
        chosen = state.get("inc_team") or ALL
        shown = [i for i, s in services.items() if chosen in (ALL, s["TeamId"])]
        if state.get("inc_service") not in (None, ALL, *shown):
            state["inc_service"] = ALL
        st.selectbox(
            "Service", [ALL, *shown], key="inc_service",
            format_func=lambda i: "All services" if i == ALL
            else services[i]["Name"] + _maintenance(services[i], markdown=False),
        )  # fmt: skip
        st.segmented_control(
            "Urgency", list(URGENCIES), key="inc_urgency", format_func=URGENCIES.get,
            required=True, **({} if "inc_urgency" in state else {"default": "any"}),
        )  # fmt: skip
        by_id = {u["Id"]: u for u in people}
        names = {ANYONE: "Anyone", MINE: "Me", UNASSIGNED: "Unassigned"}
        st.selectbox(
            "Assignee",
            [ANYONE, MINE, UNASSIGNED, *by_id],
            key="inc_assignee",
            format_func=lambda v: names.get(v) or common.full_name(by_id.get(v)),
        )


def _close_trigger() -> None:
    st.session_state.pop(TRIGGERING, None)


def _open_trigger() -> None:
    st.session_state[TRIGGERING] = True


@st.dialog("Send a test incident", icon=":material/add_alert:", on_dismiss=_close_trigger)
def _trigger_dialog() -> None:
    """A test incident on any service, in a dialog: nothing moves under it while it is open."""
    with st.form("trigger", border=False):
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
        service_col, urgency_col = st.columns(2)
        services = services_by_id()
        service = service_col.selectbox(
            "Service", list(services), key="trigger_service",
            format_func=lambda i: services[i]["Name"],
        )  # fmt: skip
        urgency = urgency_col.selectbox("Urgency", ["high", "low"], key="trigger_urgency")
        if not st.form_submit_button("Trigger incident", type="primary"):
            return
        if not body.strip():
            st.error("Say what happened: the incident needs a text.")
            return
        try:
            created = common.client().trigger_incident(
                body.strip(), dedup.strip() or None, service_id=service, urgency=urgency
            )
        except DaemonUnavailable:
            raise
        except ApiError as exc:
            common.api_error(exc, "trigger the incident")
            return
    iid = created["Id"]
    if created.get("Created", True):
        _mark(iid, "triggered")
        _toast(f"Incident #{iid} triggered", ":material/add_alert:")
    else:
        _mark(iid, "counted")
        _toast(f"Counted against open incident #{iid} (×{created['Count']})", ":material/info:")
    for key in ("trigger_body", "trigger_dedup"):
        st.session_state.pop(key, None)  # an empty form next time
    _close_trigger()
    st.rerun()


def _open_linked_incident() -> None:
    """An incident's address (`/incidents?incident=12`, in every page and channel message)
    opens its detail; the address stays while it is open (Close removes it)."""
    linked = st.query_params.get("incident")
    if linked is None:
        return
    if re.fullmatch(r"[0-9]{1,15}", linked) and int(linked) > 0:  # "²" is a digit too
        st.session_state[DETAIL] = int(linked)
    else:
        del st.query_params["incident"]


def render() -> None:
    st.title("Incidents")
    st.session_state.pop("_services", None)  # read once per page run
    _open_linked_incident()
    people = common.users()
    common.ask_who_you_are(people)
    _filters(people)
    incident_list()
    st.button(
        "Send a test incident…",
        key="trigger_open",
        icon=":material/add_alert:",
        on_click=_open_trigger,
    )
    if st.session_state.get(TRIGGERING):
        _trigger_dialog()


if __name__ == "__main__":
    common.run_page(render)
