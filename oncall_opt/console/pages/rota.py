"""Rota: the schedule as people live it. Overrides ("I'll take it from now", or someone on call
for a range), swap requests to ask for and accept, cover found by the optimizer (Cover), "My
shifts" with a calendar subscription link, and the fairness report (who carried how much,
covering for others counted)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from oncall_opt.console import common, rules, shifts
from oncall_opt.console import cover as covering

LAYERS = {1: "Primary", 2: "Secondary"}
FEED = "_calendar_url"


def _moment(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=common.zone())


def _next_handoff(team: int) -> datetime:
    """When the team's primary layer next changes hands (the typed forms start there), or
    tomorrow at 09:00 when nothing is published."""
    now = common.now()
    segments = common.client().final_schedule(team, now, now + timedelta(days=14), layer=1)
    starts = [common.parse_time(s["Start"]) for s in segments]
    later = sorted(t for t in starts if t is not None and t > now)
    if later:
        return later[0].astimezone(common.zone())
    return _moment(common.today() + timedelta(days=1), time(9, 0))


def _shift_label(shift: dict) -> str:
    who = common.full_name(shift["User"]) if shift.get("User") else ""
    layer = LAYERS.get(shift["Layer"], shift["Layer"])
    return (f"{common.when(shift['Start'])} → {common.when(shift['End'])} · {layer}"
            + (f" · {who}" if who else ""))  # fmt: skip


def _prefill(prefix: str, shift: dict, layer_key: str | None = None) -> None:
    """Put a shift's exact start and end (and layer) in a form's fields."""
    start = common.parse_time(shift["Start"]).astimezone(common.zone())  # type: ignore[union-attr]
    end = common.parse_time(shift["End"]).astimezone(common.zone())  # type: ignore[union-attr]
    st.session_state[f"{prefix}_from{'_day' if prefix == 'ov' else ''}"] = start.date()
    st.session_state[f"{prefix}_from_time"] = start.time().replace(tzinfo=None)
    st.session_state[f"{prefix}_to{'_day' if prefix == 'ov' else ''}"] = end.date()
    st.session_state[f"{prefix}_to_time"] = end.time().replace(tzinfo=None)
    if layer_key:
        st.session_state[layer_key] = shift["Layer"]


def _pick_shift(label: str, key: str, choices: list[dict], prefix: str, layer_key=None) -> None:
    """A list of shifts to act on: choosing one fills the form below with it."""

    def chosen() -> None:
        index = st.session_state.get(key)
        if index is not None:
            _prefill(prefix, choices[index], layer_key)

    st.selectbox(
        label, list(range(len(choices))), index=None, key=key, on_change=chosen,
        format_func=lambda i: _shift_label(choices[i]),
        placeholder="Pick a shift to fill in its times" if choices else "No shifts ahead",
    )  # fmt: skip


def _take_now(team: int) -> None:
    me = common.me()
    left, right = st.columns([2, 3], vertical_alignment="bottom")
    layer = left.selectbox("Layer", list(LAYERS), format_func=LAYERS.get, key="take_layer")
    if right.button(
        "I'll take it from now",
        key="take_now",
        icon=":material/front_hand:",
        disabled=me is None,
        help="You go on call now, until the end of the current stretch."
        if me
        else "Pick yourself under You are first.",
    ):
        rules.attempt(
            "take",
            lambda i_know: common.client().take_shift(team, me, layer, i_know),
            _taken,
        )
    rules.show("take")


def _taken(made: dict) -> None:
    common.flash(f"You are on call until {common.when(made['End'])}.")
    st.rerun()


def _override_form(team: int, members: list[dict]) -> None:
    by_id = {u["Id"]: u for u in members}
    me = common.me()
    choices = list(by_id) if common.is_admin() else [i for i in by_id if i == me]
    now = common.now()
    ahead = common.client().final_schedule(team, now, now + timedelta(weeks=4))
    _pick_shift("Override a shift", "ov_pick", ahead, "ov", "ov_layer")
    handoff = _next_handoff(team)
    with st.form("override", clear_on_submit=True):
        st.markdown("**Put someone on call** (an override on top of the roster)")
        who_col, layer_col = st.columns([2, 1])
        who = who_col.selectbox(
            "Who", choices, format_func=lambda i: common.label(by_id[i]), key="ov_who"
        )
        layer = layer_col.selectbox("Layer", list(LAYERS), format_func=LAYERS.get, key="ov_layer")
        a, b, c, d = st.columns(4)
        first = a.date_input("From", value=handoff.date(), key="ov_from_day")
        first_time = b.time_input("at", value=handoff.time(), key="ov_from_time")
        last = c.date_input("To", value=handoff.date() + timedelta(days=1), key="ov_to_day")
        last_time = d.time_input("at ", value=handoff.time(), key="ov_to_time")
        if st.form_submit_button("Add override", icon=":material/add:", disabled=who is None):
            start, end = _moment(first, first_time), _moment(last, last_time)
            rules.attempt(
                "override",
                lambda i_know: common.client().create_override(
                    team, start, end, who, layer, i_know
                ),
                _overridden,
            )
    rules.show("override")


def _overridden(made: dict) -> None:
    common.flash(
        f"{common.line(common.full_name(made['User']))} is on call from "
        f"{common.when(made['Start'])} to {common.when(made['End'])}."
        + (" It breaks the team's rules: recorded." if made.get("RulesBroken") else "")
    )
    st.rerun()


def _overrides(team: int) -> None:
    api = common.client()
    now = common.now()
    found = api.list_overrides(team, now - timedelta(days=1), now + timedelta(days=60))
    if not found:
        st.caption("No overrides in the coming weeks.")
        return
    me = common.me()
    for override in found:
        text, action = st.columns([6, 1], vertical_alignment="center")
        layer = LAYERS.get(override["Layer"], override["Layer"])
        knew = rules.knowingly(override)
        text.markdown(
            f"**{common.line(common.full_name(override['User']))}** · {layer} · "
            f"{common.when(override['Start'])} → {common.when(override['End'])}"
            + (f"  \n{knew}" if knew else "")
        )
        mine = me in (override["User"]["Id"], override.get("CreatedBy"))
        if (common.is_admin() or mine) and action.button(
            "Remove", key=f"ov_del_{override['Id']}", icon=":material/delete:"
        ):
            api.delete_override(override["Id"])
            common.flash("Override removed (one under way ends now).")
            st.rerun()


def _swaps(team: int, members: list[dict]) -> None:
    api = common.client()
    me = common.me()
    for swap in api.list_swaps(team):
        text, action = st.columns([6, 1.3], vertical_alignment="center")
        note = f" — “{common.line(swap['Note'])}”" if swap["Note"] else ""
        text.markdown(
            f"**{common.line(common.full_name(swap['From']))}** needs someone: "
            f"{common.when(swap['Start'])} → {common.when(swap['End'])}{note}"
        )
        if me == swap["From"]["Id"]:
            if action.button("Cancel", key=f"swap_cancel_{swap['Id']}"):
                api.cancel_swap(swap["Id"])
                common.flash("Swap request cancelled.")
                st.rerun()
        elif me is not None and action.button(
            "I'll take it", key=f"swap_accept_{swap['Id']}", type="primary"
        ):
            rules.attempt(
                f"swap-{swap['Id']}",
                lambda i_know, swap_id=swap["Id"]: api.accept_swap(swap_id, me, i_know),
                _swapped,
            )
        rules.show(f"swap-{swap['Id']}")
    if me is None:
        st.caption("Pick yourself under **You are** to ask for or take a swap.")
        return
    now = common.now()
    mine = [s for s in api.my_shifts(me, now, now + timedelta(weeks=8)) if s["TeamId"] == team]
    _pick_shift("One of your shifts", "sw_pick", mine, "sw")
    handoff = _next_handoff(team)
    with st.form("swap", clear_on_submit=True):
        st.markdown("**Ask the team to take a shift of yours**")
        a, b, c, d = st.columns(4)
        first = a.date_input("From", value=handoff.date(), key="sw_from")
        first_time = b.time_input("at", value=handoff.time(), key="sw_from_time")
        last = c.date_input("To", value=handoff.date() + timedelta(days=1), key="sw_to")
        last_time = d.time_input("at ", value=handoff.time(), key="sw_to_time")
        note = st.text_input("Note (optional)", key="sw_note", placeholder="dentist in the morning")
        if st.form_submit_button("Ask the team", icon=":material/swap_horiz:"):
            asked = api.request_swap(
                team, _moment(first, first_time), _moment(last, last_time), me, note
            )
            if asked.get("AnnouncedIn"):
                common.flash(
                    f"Asked. The message to {common.line(asked['AnnouncedIn'])} is queued and "
                    "goes out within seconds."
                )
            else:
                common.flash(
                    "Asked, but no Slack channel is set up, so nobody was told: tell the team "
                    "yourself (it is listed here for them), or ask an admin to set up Slack.",
                    "warning",
                )
            st.rerun()


def _cover(team: int) -> None:
    """Find cover for a shift (a member: their own; an admin: anyone's), and every request's
    progress; `?cover=<id>` (the link in an ask) opens that one."""
    api = common.client()
    me = common.me()
    now = common.now()
    if common.is_admin():
        ahead = api.final_schedule(team, now, now + timedelta(weeks=4))
    elif me is not None:
        ahead = [s for s in api.my_shifts(me, now, now + timedelta(weeks=8)) if s["TeamId"] == team]
    else:
        ahead = []
    with st.container(border=True, key="find-cover"):
        st.markdown("**Find cover for a shift**")
        st.caption(
            "Everyone who can take it without breaking the team's rules, fairest first (fewest "
            "night pages this quarter, then pages, then hours on call); the first is asked "
            "through their contact methods and the team's channel, the next after a decline "
            "or the timeout. The first to accept is on call then."
        )
        pick, reason_col, timeout_col = st.columns([4, 2, 1.4])
        index = pick.selectbox(
            "Shift", list(range(len(ahead))), index=None, key="cover_pick",
            format_func=lambda i: _shift_label(ahead[i]),
            placeholder="Pick a shift" if ahead else "No shifts ahead",
        )  # fmt: skip
        reason = reason_col.selectbox(
            "Why", list(covering.REASONS), format_func=covering.REASONS.get, key="cover_reason"
        )
        timeout = timeout_col.number_input(
            "Minutes each", min_value=1, max_value=1440, value=30, step=5, key="cover_timeout",
            help="How long each person asked has to answer before the next is asked.",
        )  # fmt: skip
        if index is not None:
            shift = ahead[index]
            covering.find_cover_button(
                team, shift, key="cover_find", reason=reason, timeout=int(timeout)
            )
    requests = api.list_cover(team)
    focus = str(st.query_params.get("cover", ""))
    recent = [
        r
        for r in requests
        if r["Status"] == "asking"
        or common.parse_time(r["End"]) > now - timedelta(days=7)  # type: ignore[operator]
        or str(r["Id"]) == focus
    ]
    if not recent:
        st.caption("No cover requests in the last week.")
        return
    order = {"asking": 0, "unanswered": 1, "covered": 2, "cancelled": 3}
    for request in sorted(recent, key=lambda r: (order.get(r["Status"], 4), r["Start"])):
        covering.request_card(
            request, open_=request["Status"] == "asking" or str(request["Id"]) == focus
        )


def _swapped(_: dict) -> None:
    common.flash("Swap accepted: you are on call then.")
    st.rerun()


def _my_shifts() -> None:
    me = common.me()
    if me is None:
        st.caption("Pick yourself under **You are** to see your shifts.")
        return
    api = common.client()
    now = common.now()
    mine = api.my_shifts(me, now - timedelta(days=1), now + timedelta(weeks=8))
    teams = {t["Id"]: t["Name"] for t in common.teams()}
    if mine:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "From": common.wall(s["Start"]),
                        "To": common.wall(s["End"]),
                        "Team": teams.get(s["TeamId"], s["TeamId"]),
                        "Layer": LAYERS.get(s["Layer"], s["Layer"]),
                        "How": "override" if s["Source"] == "override" else "roster",
                        "Length": common.hours(
                            common.parse_time(s["End"]) - common.parse_time(s["Start"])
                        ),
                    }
                    for s in mine
                ]
            ),
            hide_index=True,
            column_config={
                "From": common.datetime_column(),
                "To": common.datetime_column(),
                "Length": common.hours_column(),
            },
        )
    else:
        st.caption("You are not on call in the next 8 weeks.")
    if st.button(
        "Calendar subscription link",
        key="feed",
        icon=":material/calendar_add_on:",
        help="A secret URL for Google Calendar, Outlook or Apple Calendar. Making a "
        "new one stops the old one.",
    ):
        st.session_state[FEED] = api.calendar_url(user_id=me)
    if st.session_state.get(FEED):
        st.code(st.session_state[FEED], language=None)
        st.caption(
            'Subscribe to it ("From URL" in Google Calendar): your shifts, every team, '
            "kept up to date. Keep it private."
        )


def report_frame(report: dict) -> pd.DataFrame:
    rows = []
    for item in report["Items"]:
        name = common.full_name(item["User"])
        for layer, hours in item["HoursByLayer"].items():
            rows.append({"person": name, "what": LAYERS.get(int(layer), layer), "hours": hours})
    return pd.DataFrame(rows, columns=["person", "what", "hours"])


def _report(team: int) -> None:
    start_col, end_col = st.columns(2)
    first = start_col.date_input("From", value=common.today() - timedelta(days=30), key="rp_from")
    last = end_col.date_input("To", value=common.today(), key="rp_to")
    report = common.client().team_report(
        team, _moment(first, time(0)), _moment(last + timedelta(days=1), time(0))
    )
    if not report["Items"]:
        st.caption("Nobody in this team yet.")
        return
    frame = report_frame(report)
    if not frame.empty:
        chart = (
            alt.Chart(frame)
            .mark_bar()
            .encode(
                y=alt.Y("person:N", title=None),
                x=alt.X("hours:Q", title="hours on call", stack=True),
                color=alt.Color("what:N", title=None, legend=alt.Legend(orient="top")),
                tooltip=["person", "what", alt.Tooltip("hours:Q", format=".1f")],
            )
            .properties(height=max(120, 32 * frame["person"].nunique()))
        )
        # The element's own height holds the legend and the axis too: a row per person stays
        # 32 px high (a "content" height let it shrink to a thin band beside a tall table).
        st.altair_chart(
            chart, width="stretch", height=max(120, 32 * frame["person"].nunique()) + 90
        )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Person": common.full_name(i["User"]),
                    "Hours": i["Hours"],
                    "Weekend h": i["WeekendHours"],
                    "Night h": i["NightHours"],
                    "Covered for others h": i["CoveredHours"],
                    "Given away h": i["GivenAwayHours"],
                    "Incidents": i["Incidents"],
                }
                for i in report["Items"]
            ]
        ),
        hide_index=True,
    )
    st.caption(
        "Night is 22:00-07:00 and the weekend Saturday and Sunday, in each person's own time "
        "zone. The planner counts these hours as `history` for the next window, so whoever "
        "covered for others carries less."
    )


def _timelines() -> None:
    """The next two weeks, one chart per layer: a click on a shift fills a form below."""
    at = common.now()
    horizon = at + timedelta(weeks=2)
    ahead = shifts.final_shifts(at - timedelta(days=7), horizon)  # whole shifts, not cut
    if not ahead:
        return
    st.caption("The next two weeks: click a shift (or a red gap) to override it, ask for a "
               "swap or take it.")  # fmt: skip
    for layer in sorted({1} | {s["Layer"] for s in ahead}):
        st.markdown(f"**{LAYERS.get(layer, f'Layer {layer}')}**")
        shifts.clickable_timeline(ahead, layer, at - timedelta(hours=12), horizon, at, on_rota=True)


def render() -> None:
    st.title("Rota")
    st.caption(
        "Change who is on call without re-planning: take a shift, add an override, "
        "swap with a teammate; your shifts in your calendar; who carried how much."
    )
    team = common.team_id()
    members = common.team_members()
    _timelines()
    clicked = shifts.take_prefill()
    if clicked is not None:
        form = clicked["form"]
        _prefill(form, clicked["shift"], "ov_layer" if form == "ov" else None)
        what = "the override of" if form == "ov" else "the swap request for"
        then = " Pick who covers it." if form == "ov" else ""
        label = common.line(_shift_label(clicked["shift"]))  # a name is data: escaped
        st.info(f"Filled in below: {what} {label}.{then}", icon=":material/info:")
    # The open tab is in the address (`?tab=Swaps`): it survives every action and a reload.
    overrides_tab, swaps_tab, cover_tab, mine_tab, report_tab = st.tabs(
        ["Overrides", "Swaps", "Cover", "My shifts", "Fairness report"],
        key="tab",
        bind="query-params",
    )
    with overrides_tab:
        _take_now(team)
        _override_form(team, members)
        _overrides(team)
    with swaps_tab:
        _swaps(team, members)
    with cover_tab:
        _cover(team)
    with mine_tab:
        _my_shifts()
    with report_tab:
        _report(team)


if __name__ == "__main__":
    common.run_page(render)
