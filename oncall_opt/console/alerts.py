"""Browser notifications, opt-in per browser: with "Notify me in this browser" on (the
sidebar), every incident waiting for an acknowledgement and assigned to the person using the
console shows as a notification, once, with a beep where the browser allows sound; clicking
it opens the incident. The page's policy allows script only from the console itself, so the
script is a file of the package (`static/notify.js`, served at /oncall/notify.js) in a small
frame, and the incidents reach it only as JSON in an attribute (escaped), never as script."""

from __future__ import annotations

import json
from html import escape

import streamlit as st
import streamlit.components.v1 as components

from oncall_opt.client import ApiError, DaemonUnavailable
from oncall_opt.console import common

ON = "notify_me"
MOST = 20  # notifications at a time, the newest
SCRIPT = "/oncall/notify.js"
FRAME = """<style>body{margin:0;font:14px 'Source Sans Pro',sans-serif;color:#31333f}
button{font:inherit;padding:4px 10px;border:1px solid #ccc;border-radius:6px;background:#fff}
</style><div id="alerts" data-pages="PAGES">Loading…</div><script src="SCRIPT"></script>"""


def waiting_for(user_id: int) -> list[dict]:
    """What the notifications say: the incidents waiting for `user_id`'s acknowledgement."""
    base = common.console_url()
    found = []
    # Only mine, the newest few: a storm of thousands is not thousands of notifications.
    for incident in common.client().list_incidents("triggered", user_id, limit=MOST):
        body = " ".join(str(incident["Body"]).split())
        found.append(
            {
                "tag": f"oncall-incident-{incident['Id']}",
                "title": f"#{incident['Id']} {body[:90]}",
                "body": f"{incident.get('Urgency', 'high')} urgency · waiting for you",
                "url": f"{base}/incidents?incident={incident['Id']}",
            }
        )
    return found


def frame(pages: list[dict]) -> str:
    return FRAME.replace("SCRIPT", SCRIPT).replace("PAGES", escape(json.dumps(pages), quote=True))


def toggle() -> None:
    st.toggle(
        "Notify me in this browser",
        key=ON,
        help="A browser notification (with a beep) for each incident waiting for you; "
        "the browser asks first. Kept for this tab.",
    )
    if st.session_state.get(ON):
        notifier()


@st.fragment(run_every=common.REFRESH_SECONDS)
@common.guarded
def notifier() -> None:
    me = common.me()
    if me is None:
        st.caption("Pick yourself under **You are** to be notified.")
        return
    try:
        pages = waiting_for(me)
    except (DaemonUnavailable, ApiError):  # shown above already; nothing to notify meanwhile
        pages = []
    components.html(frame(pages), height=40)
