"""Finding cover in the console: a "Find cover" button for a shift (Rota's Cover tab, the shifts
on days marked away on the Availability page), and each request's progress: the ranking with
why, who is asked until when, every answer, the deadline, and the result (the override).
Everything a person wrote or is named by goes through `common.line`/`common.text`."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from oncall_opt.console import common

LAYERS = {1: "Primary", 2: "Secondary"}
REASONS = {"away": "away", "sick": "sick", "asked": "other (just asking)"}
STATUS = {
    "asking": ":orange[asking]",
    "covered": ":green[covered]",
    "unanswered": ":red[nobody took it]",
    "cancelled": ":gray[cancelled]",
}
ANSWERS = {
    "accepted": "accepted",
    "declined": "declined",
    "timed out": "no answer in time",
    "skipped": "skipped (a rule stops them now)",
}


def span(item: dict) -> str:
    layer = LAYERS.get(item["Layer"], f"Layer {item['Layer']}")
    return f"{layer} · {common.when(item['Start'])} → {common.when(item['End'])}"


def find_cover_button(
    team_id: int, item: dict, key: str, reason: str = "away", timeout: int | None = None
) -> None:
    """A button that asks for cover of `item` (a shift: TeamId, Layer, Start, End)."""
    if st.button("Find cover", key=key, icon=":material/person_search:", type="primary"):
        made = common.client().find_cover(
            team_id, item["Start"], item["End"], item["Layer"], reason=reason,
            timeout_minutes=timeout,
        )  # fmt: skip
        flash_asked(made)
        st.rerun()


def flash_asked(made: dict) -> None:
    if made["Asked"]:
        common.flash(
            f"Cover #{made['Id']}: asking {common.line(common.full_name(made['Asked']))} first "
            f"({len(made['Candidates'])} can take it). Follow it on Rota, Cover."
        )
    else:
        common.flash(
            f"Cover #{made['Id']}: nobody can take it without breaking a rule; the lead is told.",
            "warning",
        )


def ranking_frame(request: dict) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "#": c["Rank"],
                "Person": common.full_name(c["User"]),
                "Why": c["Why"],
                "Asked": common.wall(c["AskedAt"]) if c["AskedAt"] else None,
                "Answer": ANSWERS.get(c["Answer"], "")
                if c["Answer"]
                else ("waiting" if c["AskedAt"] and request["Status"] == "asking" else ""),
            }
            for c in request["Candidates"]
        ],
        columns=["#", "Person", "Why", "Asked", "Answer"],
    )


def request_card(request: dict, open_: bool = False) -> None:
    """One request: what, for whom, its state, who is asked until when, the ranking and the
    answers; Accept / Decline for a candidate, Cancel for the asker, the covered or an admin."""
    api = common.client()
    me = common.me()
    who = common.line(common.full_name(request["For"]))
    title = (  # an expander's label is Markdown: the name goes in escaped
        f"#{request['Id']} {common.line(common.full_name(request['For']))} · "
        f"{common.when(request['Start'])} → {common.when(request['End'])} · {request['Status']}"
    )
    with st.expander(title, expanded=open_):
        st.markdown(
            f"**{who}** needs cover ({common.line(request['Reason'])}) · {span(request)} · "
            f"{STATUS.get(request['Status'], request['Status'])}"
        )
        if request["Note"]:
            st.caption(f"“{common.line(request['Note'])}”")
        if request["Status"] == "asking":
            asked = request["Asked"]
            if asked:
                st.markdown(
                    f"Asking **{common.line(common.full_name(asked))}** until "
                    f"{common.when(request['AskedUntil'])}; nobody is asked after "
                    f"{common.when(request['Deadline'])} (the deadline)."
                )
        elif request["Status"] == "covered" and request["CoveredBy"]:
            st.success(
                f"Covered by {common.line(common.full_name(request['CoveredBy']))}: an override "
                f"puts them on call {common.when(request['Start'])} → "
                f"{common.when(request['End'])}.",
                icon=":material/check_circle:",
            )
        elif request["Status"] == "unanswered":
            st.error(
                f"Nobody took it ({common.line(request['Outcome'] or '')}): the lead was told. "
                "Put someone on with an override.",
                icon=":material/person_off:",
            )
        if request["Candidates"]:
            st.dataframe(
                ranking_frame(request),
                hide_index=True,
                width="stretch",
                column_config={
                    "#": st.column_config.NumberColumn(width=40),
                    "Why": st.column_config.TextColumn(width="large"),
                    "Asked": common.datetime_column(),
                },
                key=f"cover_rank_{request['Id']}",
            )
        else:
            st.caption("Nobody in the team can take it without breaking a rule.")
        if request["Status"] != "asking":
            return
        mine = next((c for c in request["Candidates"] if c["User"]["Id"] == me), None)
        left, middle, right = st.columns(3)
        if mine and mine["Answer"] not in ("declined", "skipped"):
            if left.button(
                "Accept", key=f"cover_accept_{request['Id']}", type="primary",
                icon=":material/check:",
            ):  # fmt: skip
                done = api.accept_cover(request["Id"], me)
                common.flash(
                    f"You cover {common.line(common.full_name(done['For']))}: you are on call "
                    f"{common.when(done['Start'])} → {common.when(done['End'])}."
                )
                st.rerun()
            if middle.button("Decline", key=f"cover_decline_{request['Id']}"):
                api.decline_cover(request["Id"], me)
                common.flash("Declined: the next person is asked.", "info")
                st.rerun()
        if (common.is_admin() or me in (request["CreatedBy"], request["For"]["Id"])) and (
            right.button("Cancel request", key=f"cover_cancel_{request['Id']}")
        ):
            api.cancel_cover(request["Id"])
            common.flash(f"Cover #{request['Id']} cancelled.", "info")
            st.rerun()


def away_shifts(user: dict, shifts: list[dict]) -> None:
    """The person's shifts on days they marked away, each with Find cover (or its request)."""
    if not shifts:
        return
    name = common.line(common.full_name(user))
    st.warning(
        f"**{name}** is on call on days marked away: find someone to cover.",
        icon=":material/event_busy:",
    )
    for n, shift in enumerate(shifts):
        text, action = st.columns([5, 2], vertical_alignment="center")
        text.markdown(f"{common.line(shift['Team'])} · {span(shift)}")
        with action:
            if shift["CoverRequestId"]:
                st.markdown(
                    f"Cover #{shift['CoverRequestId']}: "
                    f"{STATUS.get(shift['CoverStatus'], shift['CoverStatus'])}"
                )
            else:
                find_cover_button(shift["TeamId"], shift, key=f"away_cover_{user['Id']}_{n}")
