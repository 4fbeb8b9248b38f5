"""On call now: who is on call in each layer and who is next, with the handoff time in the
viewer's time zone, and a timeline of the coming weeks with the gaps in red: the final
schedule, so overrides count (and are marked)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from oncall_opt.console import common
from oncall_opt.console import shifts as shifts_chart
from oncall_opt.console.shifts import LAYER_NAMES, final_shifts, gaps
from oncall_opt.console.shifts import span as _span

__all__ = ["current_and_next", "gaps", "render"]
WEEKS = (1, 2, 4, 8)


def current_and_next(
    shifts: list[dict], layer: int, at: datetime
) -> tuple[dict | None, dict | None]:
    """The shift on call at `at` in `layer`, and the next one after it (or after `at`)."""
    mine = sorted((s for s in shifts if s["Layer"] == layer), key=lambda s: _span(s)[0])
    current = next((s for s in mine if _span(s)[0] <= at < _span(s)[1]), None)
    after = _span(current)[1] if current else at
    upcoming = next((s for s in mine if _span(s)[0] >= after and s is not current), None)
    return current, upcoming


def _card(layer: int, shifts: list[dict], at: datetime) -> None:
    current, upcoming = current_and_next(shifts, layer, at)
    with st.container(border=True):
        st.markdown(f"**{LAYER_NAMES.get(layer, f'Layer {layer}')} on call**")
        if current is not None:
            user = current["User"]
            end = _span(current)[1]
            st.markdown(f"### :green[●] {common.line(common.full_name(user))}")
            extra = f" · {user['TimeZone']}" if user.get("TimeZone") else ""
            st.caption(common.line(f"@{user['SlackHandle']}{extra}"))
            st.markdown(f"Hands off **{common.when(end)}** ({common.relative(end, at)})")
        else:
            st.markdown(f"### :red[Nobody] {'' if upcoming else '— no shift planned'}")
            st.caption("Incidents are not assigned to anyone until someone is on call.")
        if upcoming is not None:
            start = _span(upcoming)[0]
            gap_note = ""
            if current is not None and start > _span(current)[1]:
                gap_note = f" — :red[nobody from {common.when(_span(current)[1])}]"
            st.markdown(
                f"Next: **{common.line(common.full_name(upcoming['User']))}** from "
                f"{common.when(start)} "
                f"({common.relative(start, at)}){gap_note}"
            )
        elif current is not None:
            st.markdown(":red[Nobody is planned after this shift.]")


def _incident_card() -> int:
    """The team's open incidents; returns how many wait for an acknowledgement."""
    open_incidents = common.client().list_incidents("open", team_id=common.team_id())
    triggered = sum(1 for i in open_incidents if i["Status"] == "triggered")
    with st.container(border=True):
        st.markdown("**Open incidents**")
        colour = "red" if triggered else "green"
        st.markdown(f"### :{colour}[{triggered}] waiting for an acknowledgement")
        st.caption(f"{len(open_incidents) - triggered} acknowledged and still open")
    return triggered


def _upcoming_table(shifts: list[dict], at: datetime) -> None:
    rows = []
    for shift in sorted(shifts, key=lambda s: (_span(s)[0], s["Layer"])):
        s_start, s_end = _span(shift)
        if s_end <= at:
            continue
        user = shift["User"]
        rows.append(
            {
                "From": common.wall(s_start),
                "To": common.wall(s_end),
                "Layer": LAYER_NAMES.get(shift["Layer"], str(shift["Layer"])),
                "Who": common.full_name(user),
                "Slack": f"@{user['SlackHandle']}",
                "Length": common.hours(s_end - s_start),
                "Starts in": max(0.0, common.hours(s_start - at)),
            }
        )
    if not rows:
        return
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "From": common.datetime_column(),
            "To": common.datetime_column(),
            "Length": common.hours_column(),
            "Starts in": common.hours_column(help="0.0 h: on call now"),
        },
    )


# A wallboard: the cards, the gaps and the charts redraw on their own this often (seconds).
REFRESH_SECONDS = common.REFRESH_SECONDS * 6


def title_of(shifts: list[dict], layers: list[int], at: datetime) -> str:
    """The browser tab's title: who is on call now, so a pinned tab answers at a glance."""
    names = []
    for layer in layers:
        current, _ = current_and_next(shifts, layer, at)
        who = current["User"]["FirstName"] if current else "nobody"
        names.append(who if len(layers) == 1 else f"{who} ({LAYER_NAMES.get(layer, layer)})")
    return "On call: " + ", ".join(names)


def _set_tab_title(text: str) -> None:
    """The tab's title, set as text by Streamlit itself: a name is never written into script."""
    st.set_page_config(page_title=text)


def render() -> None:
    shifts_chart.follow()
    st.title("On call now")
    st.segmented_control(
        "Look ahead", WEEKS, default=4, key="oncall_weeks", format_func=lambda w: f"{w} wk"
    )
    live()


@st.fragment(run_every=REFRESH_SECONDS)
@common.guarded
def live() -> None:
    """Everything that changes with time, redrawn every REFRESH_SECONDS."""
    at = common.now()
    weeks = st.session_state.get("oncall_weeks") or 4
    horizon = at + timedelta(weeks=weeks)
    shifts = final_shifts(at - timedelta(days=7), horizon)  # whole shifts, not cut at the start
    layers = sorted({1} | {s["Layer"] for s in shifts})
    st.caption(
        f"Times in {common.zone_name()} · as of {common.when(at)} · refreshes every "
        f"{REFRESH_SECONDS:g} s"
    )

    columns = st.columns(len(layers) + 1)
    for column, layer in zip(columns, layers, strict=False):
        with column:
            _card(layer, shifts, at)
    with columns[-1]:
        waiting = _incident_card()
    title = common.counted(title_of(shifts, layers, at), waiting)
    st.session_state["_oncall_title"] = title
    _set_tab_title(title)

    ahead = "the next week" if weeks == 1 else f"the next {weeks} weeks"
    st.subheader(ahead.capitalize())
    if not shifts:
        st.warning(
            "No shifts are published for the coming weeks: nobody will be paged. Plan and "
            "publish a roster on the **Roster planner** page.",
            icon=":material/event_busy:",
        )
        return
    st.caption("Click a shift (or a red gap) to override it, ask for a swap or take it.")
    for layer in layers:
        holes = gaps(shifts, layer, at, horizon)
        name = LAYER_NAMES.get(layer, f"Layer {layer}")
        if holes:
            hours = sum((b - a).total_seconds() for a, b in holes) / 3600
            listed = "; ".join(
                f"from {common.when(a)} on (nothing planned after)"
                if b >= horizon
                else f"{common.when(a)} – {common.when(b)}"
                for a, b in holes[:4]
            )
            more = f" and {len(holes) - 4} more" if len(holes) > 4 else ""
            st.error(
                f"**{name}: nobody is on call for {hours:.0f} h** in {ahead}: {listed}{more}.",
                icon=":material/event_busy:",
            )
        st.markdown(f"**{name}**")
        shifts_chart.clickable_timeline(shifts, layer, at - timedelta(hours=12), horizon, at)
        st.caption(_timeline_text(shifts, layer, at))
    with st.expander("Coming shifts, one per row"):
        _upcoming_table(shifts, at)


def _timeline_text(shifts: list[dict], layer: int, at: datetime) -> str:
    """The chart in words (for screen readers and a quick read): the next few handoffs."""
    mine = sorted((s for s in shifts if s["Layer"] == layer), key=lambda s: _span(s)[0])
    coming = [s for s in mine if _span(s)[1] > at][:4]
    if not coming:
        return "Nobody is planned in this layer."
    parts = [
        f"{common.line(common.full_name(s['User']))} {common.when(max(_span(s)[0], at))} – "
        f"{common.when(_span(s)[1])}"
        + (" (against the team's rules, an admin knew)" if s.get("RulesBroken") else "")
        for s in coming
    ]
    return "Next: " + "; ".join(parts) + (" …" if len(mine) > len(coming) else "")


if __name__ == "__main__":
    common.run_page(render)
