"""The console's wiring: page config, the navigation between the pages, the sidebar.

`app_streamlit.py` at the repository root calls `main()`; this file is also a Streamlit script
itself (`streamlit run oncall_opt/console/app.py`), which `python -m oncall_opt.up` falls back to
when the package is installed without the repository around it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from oncall_opt.console import alerts, common

PAGES = Path(__file__).resolve().parent / "pages"


def page(module: str, title: str, icon: str, **kwargs) -> st.Page:
    return st.Page(PAGES / f"{module}.py", title=title, icon=f":material/{icon}:", **kwargs)


def main() -> None:
    st.set_page_config(
        page_title="On-call console",
        layout="wide",
        menu_items={
            "About": "oncall_opt: fair on-call rosters, incidents routed to who is on call."
        },
    )
    common.readable_styles()
    if not common.gate():
        return
    current = st.navigation(
        {
            "Operate": [
                page("oncall", "On call now", "notifications_active", default=True),
                page("incidents", "Incidents", "crisis_alert", url_path="incidents"),
                page("rota", "Rota", "swap_horiz", url_path="rota"),
            ],
            "Plan": [
                page("availability", "Availability & preferences", "event_available"),
                page("planner", "Roster planner", "calendar_month", url_path="planner"),
            ],
            "Team": [
                page("people", "People", "group", url_path="people"),
                page("services", "Services", "hub", url_path="services"),
                page("analytics", "Analytics", "monitoring", url_path="analytics"),
            ],
        }
    )
    common.sidebar()
    with st.sidebar:
        alerts.toggle()
    current.run()


if __name__ == "__main__":
    main()
