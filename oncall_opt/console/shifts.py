"""The team's shifts as a timeline you can click (On call now and Rota): clicking a shift, or a
gap where nobody is on call, opens a panel under its chart offering "Override…", "Ask for a
swap…" and "I'll take it", each with that shift's exact start, end and layer."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from oncall_opt.console import common, rules
from oncall_opt.console import cover as covering
from oncall_opt.roster import charts, spec

LAYER_NAMES = {layer: name.capitalize() for layer, name in spec.LAYER_NAMES.items()}
GAP = "nobody on call"
GAP_COLOR = "#b2182b"  # a dark red, hatched apart from every person's colour by its own row
BROKEN_COLOR = "#e66101"  # the outline of an override made against the team's rules
SELECTION = "shift"  # the charts' point selection
CHOSEN = "_chosen_shift"  # the shift whose panel is open: {Start, End, Layer, User | None}
SHOWN = "_shifts_shown"  # what each clickable bar stands for, by its id
CHARTS = "_shift_charts"  # bumped on Close, so that a closed shift can be clicked again
PENDING = "_shift_prefill"  # {"form": "ov" | "sw", "shift": ...}: for the Rota page's forms
ROTA_TABS = {"ov": "Overrides", "sw": "Swaps"}
GO_TO_ROTA = "_go_to_rota"  # the tab of Rota to open, asked by a timeline's panel
ROTA_PAGE = Path(__file__).resolve().parent / "pages" / "rota.py"


def span(shift: dict) -> tuple[datetime, datetime]:
    start, end = common.parse_time(shift["Time"]["Start"]), common.parse_time(shift["Time"]["End"])
    assert start is not None and end is not None
    return start, end


def gaps(
    shifts: list[dict], layer: int, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The stretches of [start, end) when nobody is on call in `layer`."""
    found, cursor = [], start
    for shift in sorted((s for s in shifts if s["Layer"] == layer), key=lambda s: span(s)[0]):
        s_start, s_end = span(shift)
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
            "RulesBroken": s.get("RulesBroken"),
            "KnownBy": s.get("KnownBy"),
        }
        for s in segments
    ]


def _bar_id(layer: int, start: datetime, end: datetime, user: dict | None) -> str:
    return f"{layer}|{start.isoformat()}|{end.isoformat()}|{user['Id'] if user else ''}"


def timeline(
    shifts: list[dict], layer: int, start: datetime, end: datetime, at: datetime
) -> alt.LayerChart:
    """Shifts by person as bars across [start, end), gaps in red on a row of their own. Each
    person keeps one colour in every layer's chart. A bar is a point selection (`shift`) by
    its id: what it stands for is kept in the session under SHOWN."""
    rows: list[dict] = []
    # Only the bars on screen now: the page redraws every few seconds.
    shown = st.session_state.setdefault(SHOWN, {})[layer] = {}
    for shift in shifts:
        if shift["Layer"] != layer:
            continue
        s_start, s_end = span(shift)
        if s_end <= start:
            continue  # over before the chart begins (loaded whole, for its real start)
        covers = shift.get("Covers")
        bar = _bar_id(layer, s_start, s_end, shift["User"])
        shown[bar] = {
            "Start": s_start, "End": s_end, "Layer": layer, "User": shift["User"],
            "RulesBroken": shift.get("RulesBroken"), "KnownBy": shift.get("KnownBy"),
        }  # fmt: skip
        rows.append(
            {
                "bar": bar,
                "person": common.full_name(shift["User"]),
                "start": common.wall(max(s_start, start)),
                "end": common.wall(min(s_end, end)),
                "from": common.when(s_start),
                "to": common.when(s_end),
                "length": common.duration(s_end - s_start),
                "kind": (f"override for {common.full_name(covers)}" if covers else "override")
                if shift.get("Source") == "override"
                else "roster",
                "rules": f"breaks the team's rules, made anyway by {rules.known_by(shift)}: "
                f"{shift['RulesBroken']}"
                if shift.get("RulesBroken")
                else "",
                "outline": BROKEN_COLOR if shift.get("RulesBroken") else "#111",
            }
        )
    for g_start, g_end in gaps(shifts, layer, start, end):
        bar = _bar_id(layer, g_start, g_end, None)
        shown[bar] = {"Start": g_start, "End": g_end, "Layer": layer, "User": None}
        rows.append(
            {
                "bar": bar,
                "person": GAP,
                "start": common.wall(g_start),
                "end": common.wall(g_end),
                "from": common.when(g_start),
                "to": common.when(g_end),
                "length": common.duration(g_end - g_start),
                "kind": "gap",
                "rules": "",
                "outline": "#111",
            }
        )
    columns = ["bar", "person", "start", "end", "from", "to", "length", "kind", "rules", "outline"]
    frame = pd.DataFrame(rows, columns=columns)
    everyone = sorted({common.full_name(s["User"]) for s in shifts}, key=str.lower)
    colour_of = charts.person_colors([*common.person_colors(), *everyone])
    here = {r["person"] for r in rows}
    people = [p for p in everyone if p in here] + ([GAP] if GAP in here else [])
    colours = [GAP_COLOR if p == GAP else colour_of[p] for p in people]
    domain = [common.wall(start).isoformat(), common.wall(end).isoformat()]
    picked = alt.selection_point(name=SELECTION, fields=["bar"], on="click", clear="dblclick")
    bars = (
        alt.Chart(frame)
        .mark_bar(cornerRadius=3, clip=True, cursor="pointer")
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
            opacity=alt.condition(picked, alt.value(1.0), alt.value(0.35)),
            # Overrides stand out: outlined in black, slightly see-through; one that breaks the
            # team's rules (an admin's "I know") in orange, dashed.
            stroke=alt.Stroke("outline:N", scale=None, legend=None),
            strokeWidth=alt.condition(
                "indexof(datum.kind, 'override') == 0", alt.value(2), alt.value(0)
            ),
            strokeDash=alt.condition("datum.rules != ''", alt.value([5, 3]), alt.value([1, 0])),
            tooltip=[
                alt.Tooltip("person:N", title="on call"),
                alt.Tooltip("from:N"),
                alt.Tooltip("to:N"),
                alt.Tooltip("length:N"),
                alt.Tooltip("kind:N", title="from"),
                alt.Tooltip("rules:N", title="rules"),
            ],
        )
        .add_params(picked)
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


def chart_key(layer: int) -> str:
    return f"timeline_{layer}_{st.session_state.get(CHARTS, 0)}"


def choose(key: str) -> None:
    """The chart's selection changed: open the panel of the bar clicked (a click beside the
    bars keeps the panel as it is)."""
    event = st.session_state.get(key) or {}
    picked = (event.get("selection") or {}).get(SELECTION) or []
    bar = picked[0].get("bar") if picked else None
    shown = st.session_state.get(SHOWN, {})
    shift = next((bars[bar] for bars in shown.values() if bar in bars), None)
    if shift is not None:
        st.session_state[CHOSEN] = {**shift, "TeamId": common.team_id()}


def clickable_timeline(
    shifts: list[dict],
    layer: int,
    start: datetime,
    end: datetime,
    at: datetime,
    on_rota: bool = False,
) -> None:
    """The layer's timeline; clicking a bar opens its panel just below the chart."""
    key = chart_key(layer)
    st.altair_chart(
        timeline(shifts, layer, start, end, at),
        width="stretch",
        on_select=lambda: choose(key),
        selection_mode=SELECTION,
        key=key,
    )
    chosen = st.session_state.get(CHOSEN)
    if chosen is not None and chosen.get("TeamId") != common.team_id():
        st.session_state.pop(CHOSEN, None)  # another team's shift: its panel is gone
    elif chosen is not None and chosen["Layer"] == layer:
        actions(chosen, on_rota)


def close() -> None:
    st.session_state.pop(CHOSEN, None)
    st.session_state[CHARTS] = st.session_state.get(CHARTS, 0) + 1


def describe(shift: dict) -> str:
    layer = LAYER_NAMES.get(shift["Layer"], f"Layer {shift['Layer']}")
    who = common.line(common.full_name(shift["User"])) if shift["User"] else "nobody on call"
    knew = rules.knowingly(shift)
    return f"**{layer}: {who}** · {common.when(shift['Start'])} → {common.when(shift['End'])}" + (
        f"  \n{knew}" if knew else ""
    )


def actions(shift: dict, on_rota: bool) -> None:
    """What can be done with the shift clicked: override it (the form below, filled in), ask
    the team for a swap (one's own shift), find cover (one's own, or any for an admin), or take
    it now (an override for oneself)."""
    me = common.me()
    owner = shift["User"]["Id"] if shift["User"] else None
    with st.container(border=True, key="shift-actions"):
        st.markdown(describe(shift))
        override, swap, find, take, shut = st.columns(5)
        if override.button(
            "Override…",
            key="shift_override",
            icon=":material/edit_calendar:",
            disabled=me is None,
            help="The override form with this shift's times: pick who covers it.",
        ):
            _to_rota_form("ov", shift, on_rota)
        mine = me is not None and me == owner
        if swap.button(
            "Ask for a swap…",
            key="shift_swap",
            icon=":material/swap_horiz:",
            disabled=not mine,
            help="The swap request with this shift's times."
            if mine
            else "Only the person on call in this shift can ask for a swap; use Override…",
        ):
            _to_rota_form("sw", shift, on_rota)
        can_ask = owner is not None and (mine or common.is_admin())
        if find.button(
            "Find cover",
            key="shift_cover",
            icon=":material/person_search:",
            disabled=not can_ask,
            help="Ask the fairest teammate who can take it, then the next: Rota, Cover."
            if can_ask
            else "Only the person on call in this shift (or an admin) can find cover for it.",
        ):
            made = common.client().find_cover(
                common.team_id(), shift["Start"], shift["End"], shift["Layer"]
            )
            close()
            covering.flash_asked(made)
            st.rerun()
        if take.button(
            "I'll take it",
            key="shift_take",
            icon=":material/front_hand:",
            type="primary",
            disabled=me is None or mine,
            help="You are on call for this shift (from now, if it has begun)."
            if me is not None and not mine
            else "It is your shift already."
            if mine
            else "Pick yourself under You are first.",
        ):
            begin = max(shift["Start"], common.now())
            team = common.team_id()
            rules.attempt(
                "shift-take",
                lambda i_know: common.client().create_override(
                    team, begin, shift["End"], me, shift["Layer"], i_know
                ),
                _taken,
            )
        if shut.button("Close", key="shift_close", icon=":material/close:"):
            st.session_state.pop(rules.REFUSED, None)
            close()
            st.rerun()
        rules.show("shift-take")


def _taken(made: dict) -> None:
    close()
    common.flash(
        f"You are on call from {common.when(made['Start'])} to {common.when(made['End'])}."
        + (" It breaks the team's rules: recorded." if made.get("RulesBroken") else "")
    )
    st.rerun()


def _to_rota_form(form: str, shift: dict, on_rota: bool) -> None:
    """Open Rota's override or swap form with the shift's times in it."""
    st.session_state[PENDING] = {"form": form, "shift": shift}
    st.session_state["tab"] = ROTA_TABS[form]
    close()
    if not on_rota:
        # Switched to from a whole run of the page (`follow`), not from this fragment's run,
        # which the page's own timer may rerun meanwhile.
        st.session_state[GO_TO_ROTA] = ROTA_TABS[form]
    st.rerun(scope="app")  # on Rota, the tabs are bound to the address: their state moves both


def follow() -> None:
    """At the top of a page with clickable timelines: go where a panel's button asked to.

    The request stays until Rota shows (`arrived`): Streamlit folds a rerun that arrives
    while one is pending into the newer one's page, so the page's own timer firing just
    after the switch would bring this page back, and the next run must switch again."""
    tab = st.session_state.get(GO_TO_ROTA)
    if tab is not None:
        # The page's address is what identifies it (app.py names Rota's "rota").
        st.switch_page(st.Page(ROTA_PAGE, url_path="rota"), query_params={"tab": tab})


def take_prefill() -> dict | None:
    """The form and shift a click on a timeline asked Rota to fill in (once). Rota has
    arrived, so no other page needs to switch to it any more."""
    st.session_state.pop(GO_TO_ROTA, None)
    return st.session_state.pop(PENDING, None)
