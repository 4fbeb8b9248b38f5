"""People: everyone as a table (names, Slack handle, time zone, role), editable by admins, a
form to add someone, the teams (members, Slack channel, PagerDuty schedule), your account
(password, API keys), how you are paged (contact methods and notification rules), sign-in links
for others (admins), and Slack: send a test message and see what the daemon's outbox delivered."""

from __future__ import annotations

import zoneinfo

import pandas as pd
import streamlit as st

from oncall_opt.console import common, paging

EDITOR = "people_editor"
FIELDS = {"FirstName": "First name", "LastName": "Last name", "SlackHandle": "Slack handle"}
ROLES = ("member", "admin")
STATUS_COLOURS = {
    "sent": "#2e7d32",
    "pending": "#e65100",
    "failed": "#c62828",
    "skipped": "#757575",
}


@st.cache_data(show_spinner=False)
def all_zones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def people_frame(people: list[dict]) -> pd.DataFrame:
    rows = [
        {
            "FirstName": u["FirstName"],
            "LastName": u["LastName"],
            "SlackHandle": u["SlackHandle"],
            "TimeZone": u.get("TimeZone") or "",
            "Role": u.get("Role") or "member",
        }
        for u in people
    ]
    return pd.DataFrame(
        rows,
        index=pd.Index([u["Id"] for u in people], name="Id"),  # kept, never shown
        columns=[*FIELDS, "TimeZone", "Role"],
    )


def changed_people(before: pd.DataFrame, after: pd.DataFrame) -> dict[int, dict[str, str]]:
    """user id -> the fields that changed (API names; TimeZone "" clears it)."""
    changes: dict[int, dict[str, str]] = {}
    for user_id in after.index:
        old, new = before.loc[user_id], after.loc[user_id]
        fields = {
            name: str(new[name] or "").strip()
            for name in after.columns
            if str(new[name] or "").strip() != str(old[name] or "").strip()
        }
        if fields:
            changes[int(user_id)] = fields
    return changes


def _team(people: list[dict]) -> None:
    st.subheader("The team")
    if not people:
        st.info("Nobody yet: add the first person below.", icon=":material/group_add:")
        return
    original = people_frame(people)
    if not common.is_admin():
        st.dataframe(original, hide_index=True, width="stretch")
        st.caption("Only an admin can change other people; edit yourself under **Your account**.")
        return
    edited = st.data_editor(
        original,
        key=EDITOR,
        hide_index=True,
        num_rows="fixed",
        width="stretch",
        column_config={
            "FirstName": st.column_config.TextColumn("First name", required=True),
            "LastName": st.column_config.TextColumn("Last name", required=True),
            "SlackHandle": st.column_config.TextColumn(
                "Slack handle", required=True, help="Without the @; used to mention them."
            ),
            "TimeZone": st.column_config.SelectboxColumn(
                "Time zone", options=["", *all_zones()], help="Where they live (IANA zone)."
            ),
            "Role": st.column_config.SelectboxColumn(
                "Role",
                options=list(ROLES),
                required=True,
                help="admin: may change people, shifts, rosters and settings; member: may "
                "handle incidents and edit their own days.",
            ),
        },
    )
    changes = changed_people(original, edited)
    save, discard, note = st.columns([1.3, 1, 5], vertical_alignment="center")
    if save.button(
        "Save changes",
        type="primary",
        icon=":material/save:",
        disabled=not changes,
        key="people_save",
    ):
        api = common.client()
        for user_id, fields in changes.items():
            api.update_user(
                user_id,
                first_name=fields.get("FirstName"),
                last_name=fields.get("LastName"),
                slack_handle=fields.get("SlackHandle"),
                time_zone=fields.get("TimeZone"),
                role=fields.get("Role"),
            )
        st.session_state.pop(EDITOR, None)
        common.flash(f"Saved {len(changes)} person(s).")
        st.rerun()
    if discard.button("Discard", disabled=not changes, key="people_discard"):
        st.session_state.pop(EDITOR, None)
        st.rerun()
    if changes:
        note.markdown(f":orange[{len(changes)} row(s) with unsaved changes]")


def _add_person() -> None:
    with st.form("add_person", clear_on_submit=True):
        st.markdown("**Add a person**")
        first, last, handle, zone = st.columns(4)
        first_name = first.text_input("First name", key="add_first")
        last_name = last.text_input("Last name", key="add_last")
        slack = handle.text_input("Slack handle", key="add_slack", placeholder="without @")
        time_zone = zone.selectbox(
            "Time zone", ["", *all_zones()], key="add_zone", format_func=lambda z: z or "—"
        )
        if st.form_submit_button("Add", type="primary", icon=":material/person_add:"):
            missing = [
                label
                for label, value in (
                    ("first name", first_name),
                    ("last name", last_name),
                    ("Slack handle", slack),
                )
                if not value.strip()
            ]
            if missing:
                st.error(f"Fill in the {', '.join(missing)}.")
                return
            user = common.client().create_user(
                first_name.strip(),
                last_name.strip(),
                slack.strip().lstrip("@"),
                time_zone or None,
            )
            common.flash(f"Added {common.line(common.label(user))}.")
            st.rerun()


def rules_in_words(rules: dict | None) -> str:
    """A team's rules as overrides and swaps keep them, in a line."""
    rules = rules or {}
    parts = [
        f"{rules.get('ShiftLength', 'P1D')} shifts from {rules.get('Handoff', '00:00')} "
        f"{rules.get('TimeZone', 'UTC')}",
    ]
    if rules.get("MaxConsecutiveShifts"):
        parts.append(f"at most {rules['MaxConsecutiveShifts']} in a row")
    if rules.get("MinRestShifts"):
        parts.append(f"at least {rules['MinRestShifts']} free between runs")
    if len(parts) == 1:
        parts.append("no limit on shifts in a row or rest")
    return "; ".join(parts) + "; never two layers at once; never on a day marked away"


def _rules_inputs(team: dict) -> dict:
    """The team's rules, as overrides, swaps and "I'll take it" keep them (the planner sets
    them when it publishes a roster): sent as `RosterRules`, an empty field or 0 for none."""
    rules = team.get("RosterRules") or {}
    key = team["Id"]
    st.markdown(
        "**Rules** that overrides, swaps and *I'll take it* keep (publishing a roster from the "
        "planner sets them too)"
    )
    a, b, c = st.columns(3)
    zone = a.text_input(
        "Time zone", rules.get("TimeZone", ""), key=f"team-zone-{key}", placeholder="UTC"
    )
    handoff = b.text_input(
        "Handoff", rules.get("Handoff", ""), key=f"team-handoff-{key}", placeholder="00:00"
    )
    length = c.text_input(
        "Shift length",
        rules.get("ShiftLength", ""),
        key=f"team-length-{key}",
        placeholder="P1D",
        help="An ISO 8601 duration: P1D a day, PT12H twelve hours, P7D a week.",
    )
    d, e = st.columns(2)
    in_a_row = d.number_input(
        "At most shifts in a row (0: no limit)", 0, 1000,
        int(rules.get("MaxConsecutiveShifts") or 0), key=f"team-max-{key}",
    )  # fmt: skip
    rest = e.number_input(
        "At least free shifts between runs (0: none)", 0, 1000,
        int(rules.get("MinRestShifts") or 0), key=f"team-rest-{key}",
    )  # fmt: skip
    return {
        "TimeZone": zone.strip() or None,
        "Handoff": handoff.strip() or None,
        "ShiftLength": length.strip() or None,
        "MaxConsecutiveShifts": int(in_a_row) or None,
        "MinRestShifts": int(rest) or None,
    }


def _teams(people: list[dict]) -> None:
    """Teams, their members, Slack channels and PagerDuty schedules (admins edit)."""
    st.subheader("Teams")
    api = common.client()
    by_id = {u["Id"]: u for u in people}
    for team in api.list_teams():
        members = ", ".join(common.full_name(by_id.get(i)) for i in team["UserIds"]) or "nobody"
        name = common.line(team["Name"])
        if team.get("SlackChannel"):
            channel = f"Slack app channel {team['SlackChannel']}"
        elif team["HasSlackWebhook"]:
            channel = "its own Slack webhook"
        else:
            channel = "the global channel"
        linked = (
            f" · PagerDuty schedule {common.line(team['PagerDutySchedule'])}"
            if team.get("PagerDutySchedule")
            else ""
        )
        with st.expander(
            f"{name} · {len(team['UserIds'])} member(s) · {channel}{linked}",
            icon=":material/groups:",
        ):
            st.caption(f"Members: {common.line(members)}")
            st.caption(f"Rules: {common.line(rules_in_words(team.get('RosterRules')))}")
            if not common.is_admin():
                continue
            chosen = st.multiselect(
                "Members",
                list(by_id),
                default=[i for i in team["UserIds"] if i in by_id],
                format_func=lambda i: common.label(by_id[i]),
                key=f"team-members-{team['Id']}",
            )
            webhook = st.text_input(
                "Slack webhook URL (a secret: never shown again)",
                type="password",
                key=f"team-webhook-{team['Id']}",
                help="Messages about this team's incidents go there; empty keeps the current one.",
            )
            slack_channel = st.text_input(
                "Slack channel id, for the Slack app's buttons",
                value=team.get("SlackChannel") or "",
                placeholder="C0123ABCD",
                key=f"team-channel-{team['Id']}",
                help="With the Slack app set up, the team's messages go to this channel with "
                "Acknowledge and Resolve buttons; empty: the webhook above.",
            )
            pagerduty_schedule = st.text_input(
                "PagerDuty schedule id, to push the team's schedule to",
                value=team.get("PagerDutySchedule") or "",
                placeholder="PABC123",
                key=f"team-pagerduty-{team['Id']}",
                help="The end of the schedule's address in PagerDuty. With it, the planner can "
                "push the team's final schedule there as overrides; empty: not linked.",
            )
            roster_rules = _rules_inputs(team)
            save, remove, delete, _ = st.columns([1, 1.6, 1, 2])
            if save.button("Save", key=f"team-save-{team['Id']}", icon=":material/save:"):
                fields = {
                    "UserIds": chosen,
                    "SlackChannel": slack_channel.strip(),
                    "PagerDutySchedule": pagerduty_schedule.strip(),
                    "RosterRules": roster_rules,
                }
                if webhook.strip():
                    fields["SlackWebhookUrl"] = webhook.strip()
                api.update_team(team["Id"], **fields)
                common.flash(f"Saved the team {name}.")
                st.rerun()
            if team["HasSlackWebhook"] and remove.button(
                "Use the global channel", key=f"team-unhook-{team['Id']}"
            ):
                api.update_team(team["Id"], SlackWebhookUrl="")
                st.rerun()
            if team["Id"] != common.DEFAULT_TEAM and delete.button(
                "Delete", key=f"team-delete-{team['Id']}", icon=":material/delete:"
            ):
                api.delete_team(team["Id"])
                common.flash(f"Deleted the team {name}.")
                st.rerun()
    if common.is_admin():
        with st.form("add_team", clear_on_submit=True):
            st.markdown("**Add a team**")
            name_col, members_col = st.columns([1, 2])
            name = name_col.text_input("Name", key="new_team_name", placeholder="Payments")
            chosen = members_col.multiselect(
                "Members",
                list(by_id),
                format_func=lambda i: common.label(by_id[i]),
                key="new_team_members",
            )
            if st.form_submit_button("Add team", icon=":material/group_add:"):
                if not name.strip():
                    st.error("Give the team a name.")
                    return
                api.create_team(name.strip(), chosen)
                common.flash(f"Added the team {common.line(name.strip())}.")
                st.rerun()


def _your_account(people: list[dict]) -> None:
    """The viewer's password and API keys (the person signed in, or picked under "You are")."""
    mine = common.me()
    person = next((u for u in people if u["Id"] == mine), None)
    st.subheader("Your account")
    if person is None:
        st.caption(
            "Pick yourself under **You are** in the sidebar to manage your password and keys."
        )
        return
    api = common.client()
    left, right = st.columns(2)
    with left, st.form("password", clear_on_submit=True):
        st.markdown(f"**Console password** for {common.text(common.label(person))}")
        own = common.who().get("User") and common.who()["User"]["Id"] == person["Id"]
        current = (
            st.text_input(
                "Current password",
                type="password",
                key="current_password",
                help="Leave it empty if you have none yet: you can set your first one within "
                "15 minutes of signing in with a one-time link.",
            )
            if own
            else None
        )
        new = st.text_input(
            "New password",
            type="password",
            key="new_password",
            help="At least 10 characters. Signs out your other console sessions and revokes "
            "the API keys they made.",
        )
        again = st.text_input("The same again", type="password", key="new_password_again")
        if st.form_submit_button("Set password", icon=":material/password:"):
            if new != again:
                st.error("The two passwords differ.")
            else:
                api.set_password(person["Id"], new, current)
                common.flash("Password set: your other sessions are signed out.")
                st.rerun()
    with right:
        _api_keys(api, person)


def _api_keys(api, person: dict) -> None:
    st.markdown("**API keys** (for scripts and monitoring: `Authorization: Bearer <key>`)")
    fresh = st.session_state.pop("_new_key", None)
    if fresh:
        st.success(
            f"Key **{common.line(fresh['Name'])}** made. Copy it now: it is not shown again.",
            icon=":material/key:",
        )
        st.code(fresh["Key"], language=None)
    keys = api.list_api_keys(person["Id"])
    for key in keys:
        name, used, revoke = st.columns([3, 3, 1.2], vertical_alignment="center")
        name.markdown(
            f"{common.line(key['Prefix'])}… **{common.line(key['Name'])}** · {key['Role']}"
        )
        used.caption(
            "last used " + (common.relative(key["LastUsedAt"]) if key["LastUsedAt"] else "never")
        )
        if revoke.button("Revoke", key=f"revoke_{key['Id']}", icon=":material/key_off:"):
            api.revoke_api_key(key["Id"])
            common.flash(f"Key {common.line(key['Name'])} revoked.")
            st.rerun()
    with st.form("new_key", clear_on_submit=True):
        name = st.text_input("Name", key="new_key_name", placeholder="grafana, my laptop…")
        if st.form_submit_button("Make a key", icon=":material/add:"):
            if not name.strip():
                st.error("Say what the key is for.")
            else:
                st.session_state["_new_key"] = api.create_api_key(person["Id"], name.strip())
                st.rerun()


def _sign_in_links(people: list[dict]) -> None:
    """Admins: a one-time sign-in link for someone without a password (or who forgot it)."""
    if not (common.is_admin() and common.auth_required()):
        return
    by_id = {u["Id"]: u for u in people}
    with st.form("sign_in_link"):
        st.markdown("**Sign-in link** for someone (works once, for 15 minutes)")
        who = st.selectbox(
            "Person", list(by_id), format_func=lambda i: common.label(by_id[i]), key="link_for"
        )
        if st.form_submit_button("Make a link", icon=":material/link:"):
            link = common.client().login_link(who)
            st.code(f"{common.console_url()}/?login={link['Code']}", language=None)
            st.caption(
                f"Send it to {common.line(common.full_name(by_id[who]))} privately; it expires "
                f"{common.when(link['ExpiresAt'])}."
            )


def _slack() -> None:
    st.subheader("Slack")
    api = common.client()
    with st.form("slack_test", clear_on_submit=True):
        text = st.text_input(
            "Test message",
            key="slack_text",
            placeholder="Test message from oncall_opt: Slack delivery works.",
        )
        if st.form_submit_button("Send a test message", icon=":material/send:"):
            message = api.send_test_message(text.strip() or None)
            common.flash(
                f"Test message #{message['Id']} queued: the daemon posts it within seconds "
                "(it stays pending while no Slack webhook is configured)."
            )
            st.rerun()
    _slack_log()


@st.fragment(run_every=common.REFRESH_SECONDS)
@common.guarded
def _slack_log() -> None:
    """The last 20 messages, refreshed on their own (delivery happens in the background)."""
    messages = common.client().list_messages("all", limit=20)
    st.caption(f"The last {len(messages)} message(s), as of {common.when(common.now())}")
    if not messages:
        st.caption("No Slack messages yet.")
        return
    pending = sum(1 for m in messages if m["Status"] == "pending")
    failed = [m for m in messages if m["Status"] == "failed"]
    if failed:
        st.error(
            f"Slack refused {len(failed)} recent message(s): "
            f"{common.line(failed[0].get('LastError') or '')}",
            icon=":material/error:",
        )
    elif pending:
        st.info(
            f"{pending} message(s) waiting for delivery. If they stay pending, the daemon has "
            "no Slack webhook: set ONCALL_SLACK_WEBHOOK_URL (or data/secrets.env) and restart it.",
            icon=":material/schedule_send:",
        )
    frame = pd.DataFrame(
        {
            "Status": [m["Status"] for m in messages],
            "Kind": [m["Kind"] for m in messages],
            "Text": [m["Text"] for m in messages],
            "Queued": [common.wall(m["CreatedAt"]) for m in messages],
            # Not sent yet: an empty cell (NaT), not the word "None".
            "Sent": pd.to_datetime(
                [common.wall(m["SentAt"]) if m.get("SentAt") else pd.NaT for m in messages]
            ),
            "Tries": [m["Attempts"] for m in messages],
            "Last error": [m.get("LastError") or "" for m in messages],
        }
    )
    colours = {s: f"color: {c}" for s, c in STATUS_COLOURS.items()}
    st.dataframe(
        frame.style.map(lambda s: colours.get(s, ""), subset=["Status"]),
        hide_index=True,
        column_config={
            "Status": st.column_config.TextColumn("Status", width=80),
            "Text": st.column_config.TextColumn("Text", width="large"),
            "Queued": common.datetime_column(seconds=True),
            "Sent": common.datetime_column(seconds=True),
        },
    )


def render() -> None:
    st.title("People")
    st.caption("Who can be on call, how to reach them in Slack, and where they are.")
    people = common.users()
    _team(people)
    if common.is_admin():
        _add_person()
    _teams(people)
    _your_account(people)
    paging.how_you_are_paged(people)
    _sign_in_links(people)
    if common.is_admin():
        _slack()


if __name__ == "__main__":
    common.run_page(render)
