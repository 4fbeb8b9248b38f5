"""Analytics: who carries the pages. For the team chosen in the sidebar and a window of days
(the viewer's time zone): one row per person (pages, night and weekend pages, times to
acknowledge and resolve, hours by layer, escalations past the first step), the services, a
person's burden month by month, and the pages by hour of the week as a heat map on the team's
clock. Everything comes from `GET /teams/{id}/analytics` (`Client.team_analytics`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from oncall_opt.analytics_frames import TeamAnalytics, frames
from oncall_opt.console import common

MAX_DAYS = 400  # the API's limit
DEFAULT_DAYS = 90
LAYERS = {"1": "Primary", "2": "Secondary"}
TIMES = ("Ack median", "Ack p90", "Resolve median", "Resolve p90")
MEASURES = {"pages": "Pages", "night_pages": "Night pages", "weekend_pages": "Weekend pages"}


def _window() -> tuple[datetime, datetime] | None:
    """[first day 00:00, the day after the last 00:00) on the viewer's clock."""
    today = common.today()
    first_col, last_col = st.columns(2)
    # The days are in the address (`?an_from=2026-01-01&an_to=2026-03-31`): a bookmark or a
    # link to a colleague shows the same window.
    first = first_col.date_input(
        "From", value=today - timedelta(days=DEFAULT_DAYS - 1), key="an_from",
        format="YYYY-MM-DD", bind="query-params",
    )  # fmt: skip
    last = last_col.date_input(
        "To (included)", value=today, key="an_to", format="YYYY-MM-DD", bind="query-params"
    )
    if not isinstance(first, date) or not isinstance(last, date):
        return None
    if last < first:
        st.warning("The last day is before the first: pick the days again.")
        return None
    if (last - first).days + 1 > MAX_DAYS:
        first = last - timedelta(days=MAX_DAYS - 1)
        st.warning(f"Showing the last {MAX_DAYS} days, from {first}.")
    zone = common.zone()
    return (datetime.combine(first, time(0), tzinfo=zone),
            datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone))  # fmt: skip


def _minutes(value: float | None) -> str:
    return "–" if value is None or pd.isna(value) else common.duration(timedelta(minutes=value))


def _pages(count: int) -> str:
    return f"{count} page" if count == 1 else f"{count} pages"


def _minutes_column():
    """Minutes as numbers (they sort), shown as `12.5 min`; empty without such an incident."""
    return st.column_config.NumberColumn(format="%.1f min")


def _summary(seen: TeamAnalytics) -> None:
    team = seen.team.iloc[0]
    cols = st.columns(5)
    cols[0].metric("Incidents", int(team["incidents"]))
    cols[1].metric("Pages", int(team["pages"]))
    cols[2].metric("Night pages", int(team["night_pages"]), help="22:00-07:00, their own zone")
    cols[3].metric("Weekend pages", int(team["weekend_pages"]))
    cols[4].metric("Median time to ack", _minutes(team["ack_median_min"]),
                   help="To the first acknowledgement; resolving is not one")  # fmt: skip


def _people_table(seen: TeamAnalytics) -> None:
    people = seen.people
    if people.empty:
        st.caption("Nobody in this team yet.")
        return
    layers = [c for c in people.columns if c.startswith("hours_layer_")]
    shown = pd.DataFrame(
        {
            "Person": people["person"],
            "Pages": people["pages"],
            "Night pages": people["night_pages"],
            "Weekend pages": people["weekend_pages"],
            "Incidents": people["incidents"],
            "Ack median": people["ack_median_min"],
            "Ack p90": people["ack_p90_min"],
            "Resolve median": people["resolve_median_min"],
            "Resolve p90": people["resolve_p90_min"],
            "Resolved unacked": people["resolved_without_ack"],
            "Escalated past step 1": people["escalated_past_first_step"],
            **{f"{LAYERS.get(c.removeprefix('hours_layer_'), c)} h": people[c] for c in layers},
        }
    )
    columns = {c: common.hours_column() for c in shown.columns if c.endswith(" h")}
    columns |= {c: _minutes_column() for c in TIMES}
    st.dataframe(shown, hide_index=True, column_config=columns, key="an_people")
    st.caption(
        "Pages: notifications sent to the person for the team's incidents (an e-mail and an SMS "
        "for one incident are two). Night is 22:00-07:00 and the weekend Saturday and Sunday, "
        'on each person\'s own clock. Incidents, times and "resolved unacked" are those of '
        "the incidents assigned to them, opened in the window; p90 is the nearest-rank 90th "
        'percentile. "Escalated past step 1": incidents their first page did not stop.'
    )


def _services_table(seen: TeamAnalytics) -> None:
    services = seen.services
    if services.empty:
        return
    st.dataframe(
        pd.DataFrame(
            {
                "Service": services["service"],
                "Incidents": services["incidents"],
                "Pages": services["pages"],
                "Night pages": services["night_pages"],
                "Ack median": services["ack_median_min"],
                "Resolve median": services["resolve_median_min"],
                "Resolved unacked": services["resolved_without_ack"],
                "Escalated past step 1": services["escalated_past_first_step"],
            }
        ),
        hide_index=True,
        column_config={c: _minutes_column() for c in TIMES},
        key="an_services",
    )


def burden_frame(seen: TeamAnalytics, user_id: int) -> pd.DataFrame:
    """One person's pages, night pages and weekend pages per month, long (month, what, pages),
    and their hours on call per month."""
    mine = seen.person_months[seen.person_months["user_id"] == user_id]
    rows = [
        {"month": m["month"], "what": label, "pages": int(m[column]),
         "hours": float(m["hours_on_call"])}
        for _, m in mine.iterrows()
        for column, label in MEASURES.items()
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["month", "what", "pages", "hours"])


def _burden_chart(seen: TeamAnalytics) -> None:
    people = seen.people
    if people.empty:
        return
    names = dict(zip(people["user_id"], people["person"], strict=True))
    busiest = int(
        people.sort_values(["pages", "person"], ascending=[False, True]).iloc[0]["user_id"]
    )
    chosen = st.selectbox("Person", list(names), index=list(names).index(busiest),
                          format_func=lambda u: names[u], key="an_person")  # fmt: skip
    frame = burden_frame(seen, chosen)
    st.markdown(f"**{common.line(names[chosen])}: burden by month**")
    if not frame["pages"].sum():  # an empty chart says less than a line
        hours = frame.drop_duplicates("month")["hours"].sum()
        st.caption(common.line(f"{names[chosen]}: no page in this window, {hours:.1f} h on call."))
        return
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("month:N", title=None, sort=None, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("what:N", sort=list(MEASURES.values())),
            y=alt.Y("pages:Q", title="pages", axis=alt.Axis(format="d", tickMinStep=1)),
            color=alt.Color(
                "what:N", title=None, sort=list(MEASURES.values()), legend=alt.Legend(orient="top")
            ),
            tooltip=[
                "month",
                "what",
                "pages",
                alt.Tooltip("hours:Q", format=".1f", title="hours on call"),
            ],
        )
        .properties(height=260)
    )
    st.altair_chart(chart, width="stretch", key="an_burden")
    totals = frame[frame["what"] == MEASURES["pages"]]
    worst = totals.sort_values(["pages", "month"], ascending=[False, True]).iloc[0]
    nights = int(frame[frame["what"] == MEASURES["night_pages"]]["pages"].sum())
    st.caption(
        common.line(
            f"{names[chosen]}: {_pages(int(totals['pages'].sum()))}, {nights} at night, over "
            f"{len(totals)} month(s); the most in {worst['month']} ({int(worst['pages'])})."
        )
    )


def hour_of_week_frame(seen: TeamAnalytics) -> pd.DataFrame:
    grid = seen.hour_of_week
    return pd.DataFrame(
        [
            {"day": day, "hour": hour, "pages": int(grid.loc[day, hour])}
            for day in grid.index
            for hour in grid.columns
        ]
    )


def _heat_map(seen: TeamAnalytics) -> None:
    frame = hour_of_week_frame(seen)
    if not frame["pages"].sum():
        st.caption("No page in this window.")
        return
    days = list(seen.hour_of_week.index)
    chart = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title=f"hour ({seen.time_zone})"),
            y=alt.Y("day:O", sort=days, title=None),
            # An hour without a page is a pale grey, not the palest orange: quiet reads as quiet.
            color=alt.condition(
                alt.datum.pages == 0,
                alt.value("#f2f2f2"),
                alt.Color(
                    "pages:Q",
                    scale=alt.Scale(scheme="orangered"),
                    title="pages",
                    legend=alt.Legend(format="d", tickMinStep=1),
                ),
            ),
            tooltip=["day", "hour", "pages"],
        )
        .properties(height=220)
    )
    st.altair_chart(chart, width="stretch", key="an_week")
    top = frame.sort_values("pages", ascending=False, kind="stable").iloc[0]
    st.caption(
        f"Busiest hour of the week: {top['day']} {int(top['hour']):02d}:00-"
        f"{(int(top['hour']) + 1) % 24:02d}:00 ({_pages(int(top['pages']))}), on the team's "
        f"clock ({common.line(seen.time_zone)})."
    )


def render() -> None:
    st.title("Analytics")
    team = common.team_id()
    names = {t["Id"]: t["Name"] for t in common.teams()}
    st.caption(
        f"Who carries the pages in **{common.line(names.get(team, team))}** (the team in the "
        "sidebar): members of the team and admins see this."
    )
    window = _window()
    if window is None:
        return
    seen = frames(common.client().team_analytics(team, *window))
    _summary(seen)
    st.subheader("People")
    _people_table(seen)
    st.subheader("A person's burden over months")
    _burden_chart(seen)
    st.subheader("Pages by hour of the week")
    _heat_map(seen)
    st.subheader("Services")
    _services_table(seen)


if __name__ == "__main__":
    common.run_page(render)
