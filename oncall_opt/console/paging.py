"""How a person is paged, in the console: their contact methods (add, verify by code, test,
remove) and notification rules (which method how many minutes after a page, per urgency), on
the People page; and on an incident, each page sent about it and how it went.

Everything typed or sent by people reaches the page through `common.text`/`common.line`."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from oncall_opt.console import common

KINDS = {
    "email": "E-mail",
    "sms": "Text message (SMS)",
    "voice": "Phone call",
    "push": "Push (ntfy)",
    "slack": "Slack direct message",
    "webhook": "Webhook",
    "apprise": "Apprise (Telegram, Teams, Discord…)",
}
ICONS = {
    "email": ":material/mail:",
    "sms": ":material/sms:",
    "voice": ":material/call:",
    "push": ":material/notifications_active:",
    "slack": ":material/forum:",
    "webhook": ":material/webhook:",
    "apprise": ":material/hub:",
}
PLACEHOLDERS = {
    "email": "ana@example.com",
    "sms": "+4915112345678",
    "voice": "+4915112345678",
    "push": "https://ntfy.sh/your-secret-topic",
    "slack": "U0123ABCD (Slack profile, ⋮, Copy member ID)",
    "webhook": "https://hooks.example.com/…",
    "apprise": "tgram://bottoken/chatid",
}
SECRET_ADDRESSES = {"push", "webhook", "apprise"}  # the address itself is a credential
STATE_COLOURS = {
    "delivered": "#2e7d32",
    "sent": "#2e7d32",
    "queued": "#e65100",
    "failed": "#c62828",
    "cancelled": "#757575",
}


def how_you_are_paged(people: list[dict]) -> None:
    """The viewer's methods and rules; an admin may pick anyone."""
    st.subheader("How you are paged")
    mine = common.me()
    by_id = {u["Id"]: u for u in people}
    if common.is_admin() and by_id:
        default = list(by_id).index(mine) if mine in by_id else 0
        person_id = st.selectbox(
            "Person",
            list(by_id),
            index=default,
            format_func=lambda i: common.label(by_id[i]),
            key="paging_person",
            help="Admins manage anyone's contact methods; members only their own.",
        )
    elif mine in by_id:
        person_id = mine
    else:
        st.caption("Pick yourself under **You are** in the sidebar to set how you are paged.")
        return
    api = common.client()
    listing = api.contact_methods(person_id)
    methods, available = listing["Items"], listing["Available"]
    whose = "you" if person_id == mine else common.full_name(by_id[person_id])
    _methods(api, methods, whose)
    left, right = st.columns(2)
    with left:
        _add_method(api, person_id, available)
    with right:
        _rules(api, person_id, methods)


def _methods(api, methods: list[dict], whose: str) -> None:
    secret = st.session_state.pop("_new_method_secret", None)
    if secret:
        st.success(
            "Webhook added. Its signing secret (shown this once): check `X-Oncall-Signature` "
            "with it.",
            icon=":material/key:",
        )
        st.code(secret, language=None)
    if not methods:
        st.info(
            f"No contact method yet: nobody can page {common.line(whose)} but the team's Slack "
            "channel. Add one below.",
            icon=":material/notifications_off:",
        )
        return
    for method in methods:
        mid = method["Id"]
        with st.container(border=True):
            head, test, remove = st.columns([5, 1.1, 1.1], vertical_alignment="center")
            name = f" · {common.line(method['Name'])}" if method["Name"] else ""
            state = ":green[verified]" if method["Verified"] else ":orange[waiting for its code]"
            head.markdown(
                f"{ICONS.get(method['Type'], '')} **{common.line(KINDS.get(method['Type'], ''))}**"
                f"{name} · {common.line(method['Address'])} · {state}"
            )
            if test.button("Test", key=f"method-test-{mid}", icon=":material/send:"):
                done = api.test_contact_method(mid)
                outcome = {"sent": "sent", "queued": "not sent yet, tried again soon"}.get(
                    done["Status"], done["Status"]
                )
                error = f" ({common.line(done['Error'])})" if done.get("Error") else ""
                kind = "success" if done["Status"] == "sent" else "warning"
                common.flash(f"Test: {outcome}{error}.", kind)
                st.rerun()
            if remove.button("Remove", key=f"method-remove-{mid}", icon=":material/delete:"):
                api.delete_contact_method(mid)
                common.flash("Contact method removed (and its rules).")
                st.rerun()
            if not method["Verified"]:
                _verify(api, method)


def _verify(api, method: dict) -> None:
    mid = method["Id"]
    with st.form(f"verify-{mid}", clear_on_submit=True):
        code_col, verify_col, again_col = st.columns([2, 1, 1.4], vertical_alignment="bottom")
        code = code_col.text_input(
            "Code", key=f"verify-code-{mid}", max_chars=6, placeholder="123456",
            help="Sent there when you added it; it works for 15 minutes.",
        )  # fmt: skip
        verify = verify_col.form_submit_button("Verify", type="primary")
        again = again_col.form_submit_button("Send a new code")
    if verify:
        if not code.strip():
            st.error("Type the six-digit code sent there.")
            return
        api.verify_contact_method(mid, code=code.strip())
        common.flash("Verified: pages can go there now.")
        st.rerun()
    if again:
        api.verify_contact_method(mid)
        common.flash("A new code is on its way.")
        st.rerun()
    if common.is_admin() and st.button(
        "Mark verified (admin)", key=f"vouch-{mid}", help="You know the address is theirs."
    ):
        api.verify_contact_method(mid, verified=True)
        common.flash("Marked verified.")
        st.rerun()


def _add_method(api, person_id: int, available: dict[str, str]) -> None:
    usable = [kind for kind in KINDS if available.get(kind, "x") == ""]
    st.markdown("**Add a contact method**")
    # Outside the form: the address field follows the type (its example, hidden for secrets).
    kind = st.selectbox(
        "Type", usable, format_func=lambda k: KINDS[k], key="method_type",
        help="The daemon must be set up for a type before it is offered here.",
    )  # fmt: skip
    with st.form("add_method", clear_on_submit=True):
        address = st.text_input(
            "Address",
            key="method_address",
            placeholder=PLACEHOLDERS.get(kind or "", ""),
            type="password" if kind in SECRET_ADDRESSES else "default",
            help="Phone numbers in international form. URLs hold secrets: never shown again.",
        )
        name = st.text_input("Name (optional)", key="method_name", placeholder="work phone")
        if st.form_submit_button("Add method", icon=":material/add_alert:"):
            if not kind or not address.strip():
                st.error("Give the address to page.")
                return
            made = api.add_contact_method(person_id, kind, address.strip(), name.strip())
            if made.get("Secret"):
                st.session_state["_new_method_secret"] = made["Secret"]
            next_step = (
                "It is used for pages now."
                if made["Verified"]
                else "A code is on its way: type it here to verify."
            )
            common.flash(f"Added. {next_step}")
            st.rerun()
    missing = {kind: need for kind, need in available.items() if need}
    if missing:
        with st.expander(f"{len(missing)} more kind(s) once the daemon is set up for them"):
            for kind, need in missing.items():
                st.caption(f"**{KINDS.get(kind, kind)}** needs {common.line(need)}")


def _rules(api, person_id: int, methods: list[dict]) -> None:
    st.markdown("**Notification rules**: which method, how long after a page")
    by_id = {m["Id"]: m for m in methods}
    rules = api.notification_rules(person_id)
    for urgency in ("high", "low"):
        chosen = sorted(
            (r for r in rules if r["Urgency"] == urgency), key=lambda r: r["DelayMinutes"]
        )
        st.caption(f"{urgency.title()} urgency" + ("" if chosen else ": no rule"))
        for rule in chosen:
            method = by_id.get(rule["ContactMethodId"])
            what = _method_name(method) if method else "a removed method"
            when = "at once" if rule["DelayMinutes"] == 0 else f"after {rule['DelayMinutes']} min"
            text_col, remove = st.columns([4, 1], vertical_alignment="center")
            text_col.markdown(f"{common.line(what)}, {when}")
            if remove.button("Remove", key=f"rule-remove-{rule['Id']}"):
                api.delete_notification_rule(rule["Id"])
                st.rerun()
    verified = [m for m in methods if m["Verified"]]
    if not verified:
        st.caption("Verify a contact method to add rules (the first gets one, at once).")
        return
    with st.form("add_rule", clear_on_submit=True):
        method_col, delay_col, urgency_col = st.columns([2, 1, 1])
        method_id = method_col.selectbox(
            "Method", [m["Id"] for m in verified], format_func=lambda i: _method_name(by_id[i]),
            key="rule_method",
        )  # fmt: skip
        delay = delay_col.number_input("Minutes after", 0, 1440, 5, key="rule_delay")
        urgency = urgency_col.selectbox("Urgency", ["high", "low"], key="rule_urgency")
        if st.form_submit_button("Add rule", icon=":material/add:"):
            api.add_notification_rule(person_id, method_id, int(delay), urgency)
            st.rerun()


def _method_name(method: dict) -> str:
    return f"{KINDS.get(method['Type'], method['Type'])}" + (
        f" ({method['Name']})" if method["Name"] else ""
    )


def incident_pages(incident_id: int, people: dict[int, dict]) -> None:
    """Each page about the incident: to whom, by what, and how it went."""
    pages = common.client().incident_notifications(incident_id)
    if not pages:
        st.caption("No one has been paged through a contact method for this incident.")
        return
    frame = pd.DataFrame(
        {
            "Person": [common.full_name(people.get(p["UserId"])) for p in pages],
            "By": [KINDS.get(p["Type"] or "", p["Type"] or "removed method") for p in pages],
            "State": [p["Status"] for p in pages],
            "Due": [common.wall(p["DueAt"]) for p in pages],
            "Sent": pd.to_datetime(
                [common.wall(p["SentAt"]) if p.get("SentAt") else pd.NaT for p in pages]
            ),
            "Why": [p.get("Error") or "" for p in pages],
        }
    )
    colours = {s: f"color: {c}" for s, c in STATE_COLOURS.items()}
    st.dataframe(
        frame.style.map(lambda s: colours.get(s, ""), subset=["State"]),
        hide_index=True,
        width="stretch",
        column_config={
            "Due": common.datetime_column(seconds=True),
            "Sent": common.datetime_column(seconds=True),
        },
    )
