"""On call now: who is on call in each layer and who is next, with the handoff time in the
viewer's time zone, and a timeline of the coming weeks with the gaps in red: the final
schedule, so overrides count (and are marked)."""

from __future__ import annotations

from datetime import datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from oncall_opt.console import common
from oncall_opt.roster import charts, spec

LAYER_NAMES = {layer: name.capitalize() for layer, name in spec.LAYER_NAMES.items()}
GAP = "nobody on call"
GAP_COLOR = "#b2182b"  # a dark red, hatched apart from every person's colour by its own row
WEEKS = (1, 2, 4, 8)


def _span(shift: dict) -> tuple[datetime, datetime]:
    start, end = common.parse_time(shift["Time"]["Start"]), common.parse_time(shift["Time"]["End"])
    assert start is not None and end is not None
    return start, end


def current_and_next(
    shifts: list[dict], layer: int, at: datetime
) -> tuple[dict | None, dict | None]:
    """The shift on call at `at` in `layer`, and the next one after it (or after `at`)."""
    mine = sorted((s for s in shifts if s["Layer"] == layer), key=lambda s: _span(s)[0])
    current = next((s for s in mine if _span(s)[0] <= at < _span(s)[1]), None)
    after = _span(current)[1] if current else at
    upcoming = next((s for s in mine if _span(s)[0] >= after and s is not current), None)
    return current, upcoming


def gaps(
    shifts: list[dict], layer: int, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The stretches of [start, end) when nobody is on call in `layer`."""
    found, cursor = [], start
    for shift in sorted((s for s in shifts if s["Layer"] == layer), key=lambda s: _span(s)[0]):
        s_start, s_end = _span(shift)
        if s_end <= cursor:
            continue
        if s_start > cursor:
            found.append((cursor, min(s_start, end)))
        cursor = max(cursor, s_end)
        if cursor >= end:
            break
    if cursor < end:
        found.append((cursor, end))
    return [(a, b) for a, b in found if b > a]


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


def timeline(
    shifts: list[dict], layer: int, start: datetime, end: datetime, at: datetime
) -> alt.LayerChart:
    """Shifts by person as bars across [start, end), gaps in red on a row of their own. Each
    person keeps one colour in every layer's chart."""
    rows = []
    for shift in shifts:
        if shift["Layer"] != layer:
            continue
        s_start, s_end = _span(shift)
        covers = shift.get("Covers")
        rows.append(
            {
                "person": common.full_name(shift["User"]),
                "start": common.wall(max(s_start, start)),
                "end": common.wall(min(s_end, end)),
                "from": common.when(s_start),
                "to": common.when(s_end),
                "length": common.duration(s_end - s_start),
                "kind": (f"override for {common.full_name(covers)}" if covers else "override")
                if shift.get("Source") == "override"
                else "roster",
            }
        )
    for g_start, g_end in gaps(shifts, layer, start, end):
        rows.append(
            {
                "person": GAP,
                "start": common.wall(g_start),
                "end": common.wall(g_end),
                "from": common.when(g_start),
                "to": common.when(g_end),
                "length": common.duration(g_end - g_start),
                "kind": "gap",
            }
        )
    frame = pd.DataFrame(rows, columns=["person", "start", "end", "from", "to", "length", "kind"])
    everyone = sorted({common.full_name(s["User"]) for s in shifts}, key=str.lower)
    colour_of = charts.person_colors([*common.person_colors(), *everyone])
    here = {r["person"] for r in rows}
    people = [p for p in everyone if p in here] + ([GAP] if GAP in here else [])
    colours = [GAP_COLOR if p == GAP else colour_of[p] for p in people]
    domain = [common.wall(start).isoformat(), common.wall(end).isoformat()]
    bars = (
        alt.Chart(frame)
        .mark_bar(cornerRadius=3, clip=True)
        .encode(
            x=alt.X(
                "start:T",
                title=None,
                scale=alt.Scale(domain=domain),
                axis=alt.Axis(format="%a %d %b", labelAngle=0, tickCount="day", grid=True),
            ),
            x2="end:T",
            y=alt.Y("person:N", title=None, sort=people),
            color=alt.Color("person:N", scale=alt.Scale(domain=people, range=colours), legend=None),
            # Overrides stand out: outlined in black, slightly see-through.
            stroke=alt.condition(
                "indexof(datum.kind, 'override') == 0", alt.value("#111"), alt.value(None)
            ),
            strokeWidth=alt.condition(
                "indexof(datum.kind, 'override') == 0", alt.value(2), alt.value(0)
            ),
            tooltip=[
                alt.Tooltip("person:N", title="on call"),
                alt.Tooltip("from:N"),
                alt.Tooltip("to:N"),
                alt.Tooltip("length:N"),
                alt.Tooltip("kind:N", title="from"),
            ],
        )
    )
    now_frame = pd.DataFrame({"now": [common.wall(at)], "label": ["now"]})
    rule = alt.Chart(now_frame).mark_rule(color="#333", strokeDash=[4, 3]).encode(x="now:T")
    text = (
        alt.Chart(now_frame)
        .mark_text(align="left", dx=4, dy=-6, color="#333", baseline="bottom")
        .encode(x="now:T", y=alt.value(0), text="label:N")
    )
    height = max(90, 34 * max(1, len(people)))
    return (bars + rule + text).properties(height=height)


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


def final_shifts(start: datetime, end: datetime) -> list[dict]:
    """The team's final schedule (overrides applied) as shift-shaped rows."""
    segments = common.client().final_schedule(common.team_id(), start, end)
    return [
        {
            "Time": {"Start": s["Start"], "End": s["End"]},
            "User": s["User"],
            "Layer": s["Layer"],
            "Source": s["Source"],
            "Covers": s["Covers"],
        }
        for s in segments
    ]


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
    shifts = final_shifts(at - timedelta(days=1), horizon)
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

    st.subheader(f"The next {weeks} weeks")
    if not shifts:
        st.warning(
            "No shifts are published for the coming weeks: nobody will be paged. Plan and "
            "publish a roster on the **Roster planner** page.",
            icon=":material/event_busy:",
        )
        return
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
                f"**{name}: nobody is on call for {hours:.0f} h** in the next {weeks} weeks: "
                f"{listed}{more}.",
                icon=":material/event_busy:",
            )
        st.markdown(f"**{name}**")
        st.altair_chart(timeline(shifts, layer, at - timedelta(hours=12), horizon, at))
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
        for s in coming
    ]
    return "Next: " + "; ".join(parts) + (" …" if len(mine) > len(coming) else "")


if __name__ == "__main__":
    common.run_page(render)
