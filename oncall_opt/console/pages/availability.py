"""Availability & preferences: a grid of people x days in a planning window, each cell available,
unavailable, preferred or avoid, edited in place and saved to the daemon; a quick form to mark a
stretch of days for one person; and the coverage per day before solving (days when nobody is
available in red)."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta
from datetime import time as clock_time

import altair as alt
import pandas as pd
import streamlit as st

from oncall_opt.console import common
from oncall_opt.console import cover as covering
from oncall_opt.roster import grid as roster_grid
from oncall_opt.roster.away import AWAY_MEANS, away_span, blocked

AVAILABLE, UNAVAILABLE, PREFERRED, AVOID = "available", "unavailable", "preferred", "avoid"
KINDS = (AVAILABLE, UNAVAILABLE, PREFERRED, AVOID)
# Plain text: emoji show as empty boxes where no emoji font is installed.
CELL = {AVAILABLE: "·", UNAVAILABLE: "AWAY", PREFERRED: "prefer", AVOID: "avoid"}
AWAY_READINGS = {
    "day": "the whole day (every shift overlapping it)",
    "shift-start": "that day's shift (from its handoff to the next day's)",
    "working-hours": "that day's working hours (09:00-17:00)",
}
EDITOR = "av_editor"
TEAM, MINE = "team", "me"
RED, ORANGE, GREEN = "#d62728", "#f58518", "#54a24b"


def _reset_editor() -> None:
    """Pending edits belong to the grid they were made on: drop them when it changes."""
    st.session_state.pop(EDITOR, None)


def grid_frame(team: dict, days: list[date], only: int | None = None) -> pd.DataFrame:
    """One row per person (index: user id), a `Person` column, one column per day (ISO)."""
    rows, ids = [], []
    for item in team["Items"]:
        if only is not None and item["UserId"] != only:
            continue
        name = f"{item['FirstName']} {item['LastName']}".strip()
        row = {"Person": name}
        for day in days:
            row[day.isoformat()] = item["Days"].get(day.isoformat(), AVAILABLE)
        rows.append(row)
        ids.append(item["UserId"])
    columns = ["Person", *(d.isoformat() for d in days)]
    return pd.DataFrame(rows, index=pd.Index(ids, name="UserId"), columns=columns)


def changed_rows(before: pd.DataFrame, after: pd.DataFrame) -> dict[int, dict[str, str]]:
    """The rows whose days differ: user id -> the row's days that are not `available`."""
    changes = {}
    for user_id in after.index:
        old, new = before.loc[user_id], after.loc[user_id]
        day_columns = [c for c in after.columns if c != "Person"]
        new_days = {c: (new[c] or AVAILABLE) for c in day_columns}
        if any(new_days[c] != old[c] for c in day_columns):
            changes[int(user_id)] = {c: k for c, k in new_days.items() if k != AVAILABLE}
    return changes


def coverage(frame: pd.DataFrame, days: list[date]) -> pd.DataFrame:
    """Per day: how many people are available, and who is away / prefers it."""
    rows = []
    for day in days:
        column = frame[day.isoformat()].fillna(AVAILABLE)
        away = frame.loc[column == UNAVAILABLE, "Person"].tolist()
        prefer = frame.loc[column == PREFERRED, "Person"].tolist()
        available = len(frame) - len(away)
        rows.append(
            {
                "day": day.isoformat(),
                "label": f"{day:%a} {day.day}",
                "date": common.day_label(day),
                "available": available,
                "level": "nobody" if available == 0 else "one" if available == 1 else "ok",
                "away": ", ".join(away) or "—",
                "prefer": ", ".join(prefer) or "—",
            }
        )
    return pd.DataFrame(rows)


_LEGEND = (
    "datum.label == 'nobody' ? 'nobody available' : "
    "datum.label == 'one' ? 'one person (no secondary)' : 'covered'"
)


def coverage_chart(cover: pd.DataFrame) -> alt.Chart:
    return (
        alt.Chart(cover)
        .mark_bar(cornerRadiusTopLeft=3, cornerRadiusTopRight=3)
        .encode(
            x=alt.X(
                "day:O",
                title=None,
                sort=None,
                axis=alt.Axis(labelAngle=-90, labelExpr="utcFormat(toDate(datum.value), '%a %d')"),
            ),
            y=alt.Y("available:Q", title="people available", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color(
                "level:N",
                scale=alt.Scale(domain=["nobody", "one", "ok"], range=[RED, ORANGE, GREEN]),
                legend=alt.Legend(title=None, orient="top", labelExpr=_LEGEND),
            ),
            tooltip=[
                alt.Tooltip("date:N", title="day"),
                alt.Tooltip("available:Q", title="available"),
                alt.Tooltip("away:N", title="away"),
                alt.Tooltip("prefer:N", title="prefers it"),
            ],
        )
        .properties(height=300)
    )


def _mark_stretch(people: list[dict], window: tuple[date, date]) -> None:
    """One person, a stretch of days, one kind: the quick way to say "away next week". Its
    days start as the window's first day only, and the kind must be picked: Apply with the
    defaults changes nothing by surprise."""
    by_id = {u["Id"]: u for u in people if common.is_admin() or u["Id"] == common.me()}
    if not by_id:
        return
    first_day = window[0]
    with st.form(f"stretch-{first_day}", border=True):
        st.markdown("**Mark a stretch of days**")
        who_col, days_col, kind_col = st.columns([2, 2, 2])
        mine = common.me()
        who = who_col.selectbox(
            "Who",
            list(by_id),
            index=list(by_id).index(mine) if mine in by_id else 0,
            format_func=lambda i: common.full_name(by_id[i]),
            key="stretch_who",
        )
        stretch = days_col.date_input(
            "Days (first and last)",
            value=(first_day, first_day),
            format="YYYY-MM-DD",
            key=f"stretch_days_{first_day}",  # a new window brings new defaults
        )
        kind = kind_col.selectbox(
            "As",
            [UNAVAILABLE, PREFERRED, AVOID, AVAILABLE],
            index=None,
            placeholder="pick one",
            format_func=lambda k: {AVAILABLE: "available (clear)"}.get(k, CELL[k].lower()),
            key="stretch_kind",
        )
        if st.form_submit_button("Apply", icon=":material/done_all:"):
            if not isinstance(stretch, list | tuple) or len(stretch) != 2:
                st.error("Pick the first and the last day of the stretch.")
                return
            if kind is None:
                st.error("Pick what to mark the days as.")
                return
            first, last = stretch
            days = (
                {} if kind == AVAILABLE else dict.fromkeys(common.days_between(first, last), kind)
            )
            common.client().set_availability(who, first, last, days)
            _reset_editor()
            message = (
                f"{common.line(common.full_name(by_id[who]))}: {common.day_label(first)} to "
                f"{common.day_label(last)} marked {kind}."
            )
            st.session_state["_av_saved"] = message
            st.toast(message, icon=":material/check:")
            st.rerun()


# ----- away means covered -----------------------------------------------------------------------
def _away_shifts(people: list[dict], start: date, end: date) -> None:
    """Shifts still to come on days marked away, at once, each with Find cover: the viewer's
    own, and (for an admin) everyone's in the team."""
    api = common.client()
    me = common.me()
    shown = people if common.is_admin() else [u for u in people if u["Id"] == me]
    found = [(u, api.get_availability(u["Id"], start, end).get("AwayShifts", [])) for u in shown]
    if any(shifts for _, shifts in found):
        st.subheader("On call on days away")
    for user, shifts in found:
        covering.away_shifts(user, shifts)


# ----- what a day marked away blocks -------------------------------------------------------------
def planner_rules() -> tuple[timedelta, clock_time, str]:
    """The shift length, handoff and zone the planner page was last set to (else its
    defaults): what an away day is explained against."""
    kept = st.session_state.get(common.KEPT, {})
    length = roster_grid.parse_duration(kept.get("pl_length") or "P1D")
    handoff = kept.get("pl_handoff") or clock_time(9, 0)
    zone = kept.get("pl_zone") or common.zone_name()
    return length, handoff, zone


def _fmt(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b %H:%M}"


def blocked_shifts(day: date, away_means: str) -> list[tuple[datetime, datetime]]:
    """The shifts (under the planner's current rules) a day marked away blocks."""
    length, handoff, zone_name = planner_rules()
    zone = zoneinfo.ZoneInfo(zone_name)
    first = datetime.combine(day - timedelta(days=2), handoff, tzinfo=zone)
    slots = int(timedelta(days=4) / length) + 1
    return blocked(away_span(day, zone, handoff, away_means), first, length, slots)


def _away_reading(team: dict, frame: pd.DataFrame, days: list[date]) -> None:
    """The team's reading of an away day (admins change it), and what each away day of the
    grid blocks under the planner's rules."""
    length, handoff, zone = planner_rules()
    reading = team.get("AwayMeans") or "day"
    with st.expander(
        f"A day marked away means {AWAY_READINGS[reading]}", icon=":material/event_busy:"
    ):
        hours = int(length.total_seconds() // 3600)
        st.caption(
            f"Shifts run from handoff to handoff ({hours} h from {handoff:%H:%M}, {zone}, as "
            "on the Roster planner page), so a calendar day can touch two shifts. The team "
            "decides what an away day blocks."
        )
        choice = st.radio(
            "For this team, a day marked away blocks",
            list(AWAY_MEANS),
            index=list(AWAY_MEANS).index(reading),
            format_func=AWAY_READINGS.get,
            key=f"av_away_means_{team['Id']}",
            disabled=not common.is_admin(),
            help=None if common.is_admin() else "Only an admin can change the team's setting.",
        )
        if choice != reading and st.button("Save this setting", key="av_away_save"):
            common.client().update_team(team["Id"], AwayMeans=choice)
            st.toast("Saved: the planner reads away days this way now.", icon=":material/check:")
            st.rerun()
        lines = []
        for _, row in frame.iterrows():
            for day in days:
                if row.get(day.isoformat()) == UNAVAILABLE:
                    shifts = blocked_shifts(day, choice)
                    spans = "; ".join(f"{_fmt(a)} – {_fmt(b)}" for a, b in shifts)
                    who = common.line(row["Person"])
                    lines.append(f"- {who}, {common.day_label(day)}: {spans}")
        if lines:
            st.markdown("**The shifts each away day blocks:**\n" + "\n".join(lines[:40]))
            if len(lines) > 40:
                st.caption(f"and {len(lines) - 40} more")
        else:
            st.caption("Nobody is marked away in this window.")


def render() -> None:
    st.title("Availability & preferences")
    st.caption(
        "Who can be on call when. The roster planner never puts someone on a day they are "
        "away, grants preferred days where it can, and avoids the days people would rather not."
    )
    api = common.client()
    people = common.team_members()
    if not people:
        st.info(
            "Nobody in this team yet: add people to it on the **People** page.",
            icon=":material/group:",
        )
        return
    top_left, top_right = st.columns([2, 3], vertical_alignment="bottom")
    with top_left:
        window = common.window_input("av_window")
    with top_right:
        if not common.is_admin():  # a member may change only their own days
            st.session_state["av_mode"] = MINE
        mode = st.segmented_control(
            "Edit",
            [TEAM, MINE] if common.is_admin() else [MINE],
            key="av_mode",
            required=True,
            format_func={TEAM: "The whole team (lead)", MINE: "Just my row"}.get,
            on_change=_reset_editor,
            **({} if "av_mode" in st.session_state else {"default": TEAM}),
        )
    if window is None:
        return
    start, end = window
    if st.session_state.get("_av_grid") != (start, end, mode):
        _reset_editor()  # a new window or mode: edits made on the old grid do not apply
        st.session_state["_av_grid"] = (start, end, mode)
    days = common.days_between(start, end)
    team = api.team_availability(start, end, common.team_id())
    everyone = grid_frame(team, days)
    only = None
    if mode == MINE:
        only = common.me()
        if only is None:
            st.info(
                "Pick yourself under **You are** in the sidebar to edit your row.",
                icon=":material/person_search:",
            )
            return
    original = grid_frame(team, days, only)

    st.caption("Cells: " + " · ".join(f"{CELL[k]} = {k}" for k in KINDS))
    saved = st.session_state.pop("_av_saved", None)
    column_config = {
        "Person": st.column_config.TextColumn("Person", disabled=True, pinned=True, width=140)
    }
    for day in days:
        column_config[day.isoformat()] = st.column_config.SelectboxColumn(
            f"{day:%a} {day.day}",
            options=list(KINDS),
            format_func=CELL.get,
            required=True,
            width=84,
            help=f"{day:%A %d %B %Y}",
        )
    edited = st.data_editor(
        original,
        key=EDITOR,
        hide_index=True,
        column_config=column_config,
        num_rows="fixed",
        width="stretch",
    )
    changes = changed_rows(original, edited)
    save_col, discard_col, note_col = st.columns([1.3, 1, 5], vertical_alignment="center")
    if save_col.button(
        "Save changes",
        type="primary",
        icon=":material/save:",
        disabled=not changes,
        key="av_save",
    ):
        for user_id, kinds in changes.items():
            api.set_availability(user_id, start, end, kinds)
        names = common.line(", ".join(common.full_name(u) for u in people if u["Id"] in changes))
        st.session_state["_av_saved"] = f"Saved the days of {names}."
        st.toast(st.session_state["_av_saved"], icon=":material/check:")
        _reset_editor()
        st.rerun()
    if discard_col.button("Discard", disabled=not changes, key="av_discard"):
        _reset_editor()
        st.rerun()
    if changes:
        note_col.markdown(f":orange[{len(changes)} row(s) with unsaved changes]")
    elif saved:  # beside the button that saved, where the eyes are
        note_col.success(saved, icon=":material/check:")
    _away_shifts(people, start, end)
    _away_reading(api.get_team(common.team_id()), original, days)

    # Coverage, with the unsaved edits in: what the roster would face.
    merged = everyone.copy()
    merged.loc[edited.index, edited.columns] = edited
    cover = coverage(merged, days)
    st.subheader("Coverage before solving")
    nobody = cover[cover["available"] == 0]
    one = cover[cover["available"] == 1]
    a, b, c = st.columns(3)
    a.metric("People", len(everyone), border=True)
    b.metric("Days with nobody available", len(nobody), border=True)
    c.metric("Days with one person", len(one), border=True)
    if len(nobody):
        st.error(
            "**Nobody is available on "
            + ", ".join(nobody["date"])
            + "**: the planner cannot make a roster for a window with these days. Someone "
            "has to change their plans, the team can read away days more narrowly (above), or "
            "plan a window without them.",
            icon=":material/event_busy:",
        )
    elif len(one):
        st.warning(
            "Only one person is available on "
            + ", ".join(one["date"])
            + ": a roster with a secondary layer is impossible then.",
            icon=":material/warning:",
        )
    else:
        st.success("Every day has at least two people available.", icon=":material/check:")
    st.altair_chart(coverage_chart(cover))
    _mark_stretch(people, (start, end))


if __name__ == "__main__":
    common.run_page(render)
