"""A change refused because it breaks the team's rules (two layers at once, rest, shifts in a
row, a day away): the reasons shown where it was asked, and for an admin an "I know, do it
anyway" checkbox that makes it; the daemon records it on the override, so the timeline and the
team's channel show it.

`attempt` makes a change and keeps a refusal; `show` draws the refusal kept for one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from oncall_opt.client import ApiError
from oncall_opt.console import common

REFUSED = "_rules_refused"  # {"where", "reasons": [str], "change", "done"}


def attempt(where: str, change: Callable[[bool], Any], done: Callable[[Any], None]) -> None:
    """Make `change(i_know=False)` and hand its answer to `done` (which flashes and reruns); a
    refusal for the rules is kept for `show(where)` and the page drawn again."""
    try:
        made = change(False)
    except ApiError as exc:
        if not exc.rules_broken:
            raise
        st.session_state[REFUSED] = {
            "where": where,
            "reasons": [str(r.get("Message", "")) for r in exc.rules_broken],
            "change": change,
            "done": done,
        }
        st.rerun()
    st.session_state.pop(REFUSED, None)
    done(made)


def show(where: str) -> None:
    """The refusal kept for `where`, if any: every reason; for an admin, the checkbox that
    unlocks making the change anyway."""
    refused = st.session_state.get(REFUSED)
    if not refused or refused["where"] != where:
        return
    with st.container(border=True, key=f"refused-{where}"):
        reasons = "\n".join(f"- {common.line(reason)}" for reason in refused["reasons"])
        st.error(
            f"**Not done: this breaks the team's rules.**\n\n{reasons}", icon=":material/block:"
        )
        admin = common.is_admin()
        knew = admin and st.checkbox(
            "I know, do it anyway",
            key=f"iknow-{where}",
            help="The change is made, and the timeline and the team's channel say which rules "
            "it breaks and that you knew.",
        )
        if not admin:
            st.caption(
                "Only an admin can make a change that breaks the team's rules: pick someone "
                "else, or ask an admin."
            )
        go, dismiss, _ = st.columns([1.4, 1, 2])
        if admin and go.button(
            "Make the change",
            key=f"iknow-go-{where}",
            type="primary",
            icon=":material/warning:",
            disabled=not knew,
        ):
            made = refused["change"](True)
            st.session_state.pop(REFUSED, None)
            refused["done"](made)
        if dismiss.button("Dismiss", key=f"iknow-dismiss-{where}"):
            st.session_state.pop(REFUSED, None)
            st.rerun()


def known_by(item: dict) -> str:
    """Who said "I know" for an override or a segment (plain text, not escaped)."""
    by = item.get("KnownBy")
    person = next((u for u in common.users() if u["Id"] == by), None) if by else None
    return common.full_name(person) if person else "an admin"


def knowingly(item: dict) -> str:
    """A recorded "I know" in words for Markdown (escaped), or "" for an override that breaks
    nothing: `Breaks the team's rules, made anyway by Ada Admin: ...`."""
    broken = item.get("RulesBroken")
    if not broken:
        return ""
    return (
        f":orange[:material/warning: Breaks the team's rules, made anyway by "
        f"{common.line(known_by(item))}:] {common.line(broken)}"
    )
