"""What the pages share: the API client, signing in, the daemon-down banner, the page guard,
flash messages, the sidebar ("you are", time zone) and the time-zone helpers.

When the daemon asks for credentials (it has ONCALL_API_TOKEN), the console shows only a
sign-in form until the viewer signs in with their Slack handle and password or opens a one-time
link (`oncall-opt login-link`, `?login=<code>`, confirmed before it is used); the sign-in
itself happens in `server.py`, and the pages find it through the cookie (`sessions.py`). Every
request then carries that person's session, so the daemon applies their role. The console
never holds the daemon's own token.

Whatever people or alerts wrote goes into Markdown only through `text()` / `line()`.

Every page runs inside `run_page`, so an unreachable daemon shows the banner, an error answer
shows its message, and anything unexpected shows one line (the traceback goes to the log):
never a stack trace in the page.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import zoneinfo
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import streamlit as st

from oncall_opt import times
from oncall_opt.client import FIRST_ADMIN, ApiError, Client, DaemonUnavailable
from oncall_opt.console import sessions, signin

log = logging.getLogger("oncall_opt.console")

API_URL_ENV = "ONCALL_API_URL"
TIME_ZONE_ENV = "ONCALL_UI_TIME_ZONE"  # the zone to show when the browser does not say
START_COMMAND = "python -m oncall_opt.up"
# Live parts (incident list, on call now, Slack log) refresh on their own this often (seconds).
REFRESH_SECONDS = float(os.environ.get("ONCALL_UI_REFRESH", "5") or 5)
DAEMON_COMMAND = "python runner.py"

F = TypeVar("F", bound=Callable[..., Any])

COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Warsaw",
    "Europe/Athens",
    "Africa/Lagos",
    "Africa/Nairobi",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
)


# ----- the API --------------------------------------------------------------------------------
def api_url() -> str:
    """The daemon's address: ONCALL_API_URL, else ONCALL_BIND's port on this machine, else the
    default http://127.0.0.1:8080."""
    url = os.environ.get(API_URL_ENV, "").strip()
    if url:
        return url.rstrip("/")
    return times.daemon_url(os.environ)


SID = "_sid"  # this browser session's console session id (from the cookie), see sessions.py
WHO = "_who"  # what GET /auth/me said on this run


def console_session() -> sessions.ConsoleSession | None:
    """The viewer's sign-in: the one this browser session took up, else the one its cookie
    names (a reload, a new tab), while the console still holds it."""
    sid = st.session_state.get(SID)
    found = sessions.REGISTRY.get(sid)
    if found is None:
        try:
            secure = urlsplit(st.context.url or "").scheme == "https"
            sid = sessions.cookie_value(st.context.cookies, secure)
        except Exception:  # no browser (a bare script run)
            sid = None
        found = sessions.REGISTRY.get(sid)
    if found is None:
        st.session_state.pop(SID, None)
        return None
    st.session_state[SID] = sid
    return found


def client() -> Client:
    """This viewer's client for the configured daemon, signed as them when signed in (one per
    browser session: a session's token never serves another viewer)."""
    session = console_session()
    wanted = (api_url(), session.token if session else None)
    held = st.session_state.get("_client")
    if held is None or held[0] != wanted:
        if held is not None:
            held[1].close()
        held = (wanted, Client(wanted[0], token=wanted[1], timeout=15))
        st.session_state["_client"] = held
    return held[1]


def console_url() -> str:
    """This console's own address (scheme and host, as the browser reached it)."""
    parts = urlsplit(st.context.url or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return os.environ.get("ONCALL_CONSOLE_URL", "http://127.0.0.1:8501").rstrip("/")


# ----- data in Markdown -------------------------------------------------------------------------
# Everything Markdown, GFM and Streamlit's own syntax give meaning to: emphasis, code, links and
# images, headings, lists, quotes, tables, HTML, directives (`:red[...]`, `:green-badge[...]`,
# `:material/...:`), emoji shortcodes, LaTeX (`$`), entities (`&`).
_MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=^\"'@/])")
# What GFM's autolinks begin with: a scheme's colon, `www.`, and an e-mail's @ (after a
# character an address can end its name with).
_AUTOLINK = re.compile(r"((?i:https?|ftp|mailto):|(?<=[-.\w+])@|(?i:www)(?=\.))")


def text(value: object) -> str:
    """`value` (a name, an incident body, anything a person or an alert wrote) as literal text
    inside a Markdown string: every character with a meaning is escaped, so it shows as typed
    and can never become a link, an image, a badge or a heading; line breaks are kept."""
    # GFM turns bare URLs, www. names and e-mail addresses in text into links after parsing,
    # escapes or not: an invisible word joiner keeps them text.
    joined = _AUTOLINK.sub("\\1\u2060", str(value))
    escaped = _MARKDOWN_SYNTAX.sub(r"\\\1", joined)
    return escaped.replace("\r\n", "\n").replace("\n", "  \n")


def line(value: object) -> str:
    """`text(value)` on one line: for labels, headings and captions."""
    return text(" ".join(str(value).split()))


# ----- signing in -------------------------------------------------------------------------------
def who() -> dict:
    """What the daemon says the viewer is: `{AuthRequired, Role, Via, User}` (set by `gate`)."""
    return st.session_state.get(WHO) or {"AuthRequired": False, "Role": "admin", "User": None}


def is_admin() -> bool:
    return who()["Role"] == "admin"


def auth_required() -> bool:
    return bool(who()["AuthRequired"])


def sign_out() -> None:
    """End the viewer's sign-in: at the daemon, and here (every tab of the browser, whose
    cookie now names nothing)."""
    with contextlib.suppress(ApiError):  # expired, or the daemon is down: dropped here anyway
        client().logout()
    sessions.REGISTRY.drop(st.session_state.get(SID))
    for key in (SID, WHO, "me"):
        st.session_state.pop(key, None)
    st.session_state["_was_signed_in"] = False


def _here() -> str:
    """This page's path and query (for coming back after signing in), without a link's code."""
    parts = urlsplit(st.context.url or "")
    query = "&".join(p for p in parts.query.split("&") if p and not p.startswith("login="))
    return (parts.path or "/") + (f"?{query}" if query else "")


def gate() -> bool:
    """Whether the viewer may see the pages. A `?login=` code (a one-time link) is confirmed
    first; then the daemon is asked who the viewer is, and when it wants credentials and has
    none, only the sign-in form is shown (answer False). A daemon that is down lets the pages
    show their banner."""
    code = st.query_params.get("login")
    if code:
        del st.query_params["login"]  # kept out of the address bar (and of bookmarks)
        st.session_state["_link_code"] = code
    current = console_session()
    if st.session_state.get("_link_code"):
        _confirm_link(st.session_state["_link_code"], current)
        return False
    try:
        st.session_state[WHO] = client().me()
    except DaemonUnavailable:
        return True
    except ApiError as exc:
        if exc.status != 401:
            raise
        sessions.REGISTRY.drop(st.session_state.pop(SID, None))  # expired or revoked
        st.session_state.pop(WHO, None)
        sign_in_form(expired=bool(st.session_state.get("_was_signed_in")))
        return False
    st.session_state["_was_signed_in"] = current is not None
    return True


def _confirm_link(code: str, current: sessions.ConsoleSession | None) -> None:
    """A one-time link asks before it signs anyone in, and before it replaces a sign-in."""
    middle = st.columns([1, 2, 1])[1]
    with middle:
        st.title("Sign in with a link")
        who_now = label(current.user) if current else None
        st.html(signin.link_form(code, who_now, _here()))
        if current is not None and st.button(
            f"Stay signed in as {line(who_now)}", key="keep_session", icon=":material/undo:"
        ):
            st.session_state.pop("_link_code", None)
            st.rerun()


def sign_in_form(expired: bool = False) -> None:
    """The only thing an unsigned viewer sees when the daemon asks for credentials: a plain
    form that posts to the console's sign-in route (`server.py`), which sets the cookie."""
    show_flash()
    middle = st.columns([1, 2, 1])[1]
    with middle:
        st.title("Sign in")
        if expired:
            st.info("Your session ended: sign in again.", icon=":material/lock_clock:")
        st.html(signin.password_form(_here()))
        st.caption(
            "No password yet, or forgot it? An admin can send you a one-time sign-in link: "
            "`oncall-opt login-link <your Slack handle>` on the daemon's machine, or the "
            "**People** page. Set a password on the People page once you are in."
        )


def users() -> list[dict]:
    """Everyone, by name."""
    people = client().list_users()
    return sorted(people, key=lambda u: (full_name(u).lower(), u["Id"]))


def person_colors() -> dict[str, str]:
    """Each person's colour by name, from everyone in user-id order: the same person has the
    same colour on every page and chart (a colour-blind-safe palette)."""
    from oncall_opt.roster.charts import person_colors as by_order

    return by_order(full_name(u) for u in sorted(users(), key=lambda u: u["Id"]))


DEFAULT_TEAM = 1


def teams() -> list[dict]:
    """Every team, the Default team first."""
    return client().list_teams()


def team_id() -> int:
    """The team the planning pages and "On call now" show (sidebar), by default Default."""
    value = st.session_state.get("team")
    return int(value) if value else DEFAULT_TEAM


def team_members() -> list[dict]:
    """The chosen team's people, by name."""
    members = set(client().get_team(team_id())["UserIds"])
    return [u for u in users() if u["Id"] in members]


# ----- looks ----------------------------------------------------------------------------------
# Streamlit draws captions at 60% opacity (about 3:1 on white); they carry who acknowledged
# and when, so they get full opacity and a dark grey that meets WCAG AA (7.9:1). Code blocks'
# syntax colours (2.7-3.6:1 on their grey) give way to the text colour.
READABLE_CSS = """
<style>
[data-testid="stCaptionContainer"] { opacity: 1 !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p,
[data-testid="stWidgetLabel"] p, [data-testid="stMetricLabel"] p,
[data-testid="stTooltipHoverTarget"] small { color: #4b4f5a !important; }
[data-testid="stCode"] code span { color: inherit !important; }
/* The Incidents page's one-line summary is for phones; the cards for wider screens. */
.st-key-inc_summary { display: none; }
/* On a phone: filter buttons wrap instead of running off the screen; an incident shows its
   Acknowledge and Resolve right under its text (before the assignee and its age). */
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-top: 3rem; }
  h1 { font-size: 2rem !important; }
  /* The Incidents filters' labels are read out but not drawn (the controls say what they
     are), so the first incident moves up the screen. */
  .st-key-inc_status [data-testid="stWidgetLabel"],
  .st-key-inc_search [data-testid="stWidgetLabel"] {
    position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  }
  [data-testid="stButtonGroup"] > div { flex-wrap: wrap; }
  .st-key-inc_metrics { display: none; }
  .st-key-inc_summary { display: block; }
  [class*="st-key-incident-"] [data-testid="stHorizontalBlock"]
    > [data-testid="stColumn"]:nth-child(4) { order: 1; }
  [class*="st-key-incident-"] [data-testid="stHorizontalBlock"]
    > [data-testid="stColumn"]:nth-child(2) { order: 2; }
  [class*="st-key-incident-"] [data-testid="stHorizontalBlock"]
    > [data-testid="stColumn"]:nth-child(3) { order: 3; }
}
</style>
"""


def readable_styles() -> None:
    st.html(READABLE_CSS)


# ----- errors, banner, flash ------------------------------------------------------------------
def daemon_down(exc: DaemonUnavailable | None = None) -> None:
    """The banner shown instead of a page when the daemon cannot be reached."""
    st.error(
        f"**The on-call daemon is not running** (nothing answers at `{api_url()}`).\n\n"
        f"Start the whole system (daemon and this console) with `{START_COMMAND}`, or only the "
        f"daemon with `{DAEMON_COMMAND}`. If it runs elsewhere, set `{API_URL_ENV}` to its "
        "address and restart the console.",
        icon=":material/power_off:",
    )
    if exc is not None:
        st.caption(f"Details: {line(exc.message)}")
    st.button("Try again", key="daemon-retry", icon=":material/refresh:")


def api_error(exc: ApiError, doing: str | None = None) -> None:
    """An error answer from the daemon, in words."""
    prefix = f"Could not {doing}: " if doing else "The daemon refused this: "
    st.error(f"{prefix}{line(exc.message)}", icon=":material/error:")


def unexpected(exc: Exception) -> None:
    log.exception("the console hit an unexpected error")
    st.error(
        f"Something went wrong: {type(exc).__name__}: {line(exc)}. The console's log has the "
        "details.",
        icon=":material/error:",
    )


def handle(exc: Exception, doing: str | None = None) -> None:
    """Show `exc` the way the console shows errors."""
    if isinstance(exc, DaemonUnavailable):
        daemon_down(exc)
    elif isinstance(exc, ApiError):
        api_error(exc, doing)
    else:
        unexpected(exc)


def guarded(func: F) -> F:
    """`func` with its errors shown (for fragments, which rerun outside the page's guard).
    Streamlit's rerun / stop signals are BaseExceptions and pass through."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            handle(exc)
            return None

    return wrapper  # type: ignore[return-value]


def counted(title: str, waiting: int) -> str:
    """A browser tab's title with how many incidents wait for an acknowledgement in front,
    `(3) On call: Ana`, as mail and chat tabs count what is unread."""
    return f"({waiting}) {title}" if waiting else title


def flash(message: str, kind: str = "success") -> None:
    """A message shown once, on the next run (after `st.rerun()`)."""
    st.session_state.setdefault("_flash", []).append((kind, message))


def show_flash() -> None:
    """The messages `flash` kept, at the top of the page and as a toast (a toast shows where
    the viewer is looking even when they are scrolled down to the button they pressed)."""
    for kind, message in st.session_state.pop("_flash", []):
        icon = {
            "success": ":material/check_circle:",
            "warning": ":material/warning:",
            "error": ":material/error:",
            "info": ":material/info:",
        }.get(kind)
        getattr(st, kind, st.info)(message, icon=icon)
        st.toast(message, icon=icon)


def run_page(render: Callable[[], None]) -> None:
    """Run one page: flash messages first, then the page, its errors shown, not raised."""
    show_flash()
    try:
        first_admin_setup()
        render()
    except Exception as exc:
        handle(exc)


def first_admin_setup() -> None:
    """Signed in by the setup link of an empty database: say who you are, on every page,
    until you have."""
    user = who().get("User") or {}
    if not is_admin() or any(user.get(k) != v for k, v in FIRST_ADMIN.items()):
        return
    with st.form("first_admin", border=True):
        st.markdown(
            "**Welcome: you are this system's first admin.** Put your own name and Slack "
            "handle (you sign in with it), then set a password on the **People** page and add "
            "your team there."
        )
        left, right = st.columns(2)
        first = left.text_input("First name", key="fa_first")
        last = right.text_input("Last name", key="fa_last")
        handle_ = left.text_input("Slack handle", key="fa_handle", placeholder="ana")
        zones = list(COMMON_ZONES)
        zone_ = right.selectbox("Time zone", zones, index=None, key="fa_zone")
        if st.form_submit_button("Save", type="primary"):
            client().update_user(user["Id"], first, last, handle_, zone_)
            flash("Saved: this is you now.")
            st.rerun()


# ----- who, where -----------------------------------------------------------------------------
def full_name(user: dict | None) -> str:
    if not user:
        return "nobody"
    return f"{user.get('FirstName', '')} {user.get('LastName', '')}".strip() or f"#{user['Id']}"


def label(user: dict | None) -> str:
    """`Ana Silva (@ana)`."""
    if not user:
        return "nobody"
    handle_ = user.get("SlackHandle")
    return f"{full_name(user)} (@{handle_})" if handle_ else full_name(user)


def me() -> int | None:
    """The signed-in person's user id, else who the viewer said they are (sidebar), or None."""
    signed_in = who().get("User")
    if signed_in:
        return int(signed_in["Id"])
    value = st.session_state.get("me")
    return int(value) if value else None


def _browser_zone() -> str | None:
    try:
        return st.context.timezone
    except Exception:
        return None


def _valid_zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def default_zone_name() -> str:
    """The browser's zone, else ONCALL_UI_TIME_ZONE, else UTC."""
    for name in (_browser_zone(), os.environ.get(TIME_ZONE_ENV)):
        if _valid_zone(name) is not None:
            return str(name)
    return "UTC"


def zone_name() -> str:
    chosen = st.session_state.get("tz")
    if chosen and chosen != "browser" and _valid_zone(chosen) is not None:
        return chosen
    return default_zone_name()


def zone() -> zoneinfo.ZoneInfo:
    """The viewer's time zone: chosen in the sidebar, else the browser's."""
    return zoneinfo.ZoneInfo(zone_name())


def sidebar() -> None:
    """Daemon status, "you are" and the time zone, on every page."""
    with st.sidebar:
        _daemon_badge()
        try:
            people = users()
        except (DaemonUnavailable, ApiError):
            people = None
        signed_in = who().get("User")
        if signed_in:
            st.markdown(f"Signed in as **{line(label(signed_in))}** · {who()['Role']}")
            if st.button("Sign out", key="sign_out", icon=":material/logout:"):
                sign_out()
                st.rerun()
        elif people:
            st.warning(
                "No sign-in: anyone who opens this console acts as anyone "
                "(`python -m oncall_opt.up --no-auth`, a trial on one machine).",
                icon=":material/lock_open:",
            )
            ids = [u["Id"] for u in people]
            by_id = {u["Id"]: u for u in people}
            _from_address("me", ids)
            if st.session_state.get("me") not in (None, *ids):
                del st.session_state["me"]
            st.selectbox(
                "You are",
                ids,
                key="me",
                **({} if "me" in st.session_state else {"index": None}),
                format_func=lambda i: label(by_id.get(i)),
                placeholder="pick yourself",
                help="Recorded as who acknowledged or resolved, and your row on the "
                "availability page. Kept in the address (?me=), so a bookmark remembers it.",
                on_change=_to_address,
                args=("me",),
            )
        if people is not None:
            _team_picker()
        browser = default_zone_name()
        # The usual zones and every person's own (the team may live anywhere).
        theirs = sorted({u["TimeZone"] for u in people or () if u.get("TimeZone")})
        zones = ["browser", *[z for z in dict.fromkeys([*COMMON_ZONES, *theirs]) if z != browser]]
        if st.session_state.get("tz") not in (None, *zones):
            zones.append(st.session_state["tz"])
        _from_address("tz", zones)
        st.selectbox(
            "Time zone",
            zones,
            key="tz",
            format_func=lambda z: f"{browser} (this browser)" if z == "browser" else z,
            help="Every date and time in the console is shown in this zone.",
            on_change=_to_address,
            args=("tz",),
        )


@st.fragment(run_every=REFRESH_SECONDS)
def _daemon_badge() -> None:
    """Whether the daemon answers, checked again every REFRESH_SECONDS (not only when the page
    runs), so the badge never says "connected" to a daemon that has gone."""
    try:
        client().request("GET", "/healthz")
    except DaemonUnavailable:
        st.markdown(f":red-badge[● daemon down] `{api_url()}`")
    except ApiError as exc:
        st.markdown(f":orange-badge[● daemon error] {line(exc.message)}")
    else:
        st.markdown(f":green-badge[● connected] `{api_url()}`")


def _team_picker() -> None:
    """The team whose rota the planning pages and "On call now" show (with more than one)."""
    try:
        found = teams()
    except ApiError:
        return
    if len(found) < 2:
        st.session_state.pop("team", None)
        return
    by_id = {t["Id"]: t for t in found}
    _from_address("team", list(by_id))
    if st.session_state.get("team") not in by_id:
        st.session_state["team"] = DEFAULT_TEAM
    st.selectbox(
        "Team",
        list(by_id),
        key="team",
        format_func=lambda i: by_id[i]["Name"],
        help="Whose rota: On call now, Availability and the Roster planner show this team.",
        on_change=_to_address,
        args=("team",),
    )


def ask_who_you_are(people: list[dict]) -> None:
    """In the page itself (a phone hides the sidebar): when nobody is signed in and the viewer
    has not said who they are, ask, since what they do is recorded as theirs."""
    if who().get("User") or me() is not None or not people:
        return
    by_id = {u["Id"]: u for u in people}

    def chosen() -> None:
        st.session_state["me"] = st.session_state.get("me_inline")
        _to_address("me")

    st.selectbox(
        "Who are you?",
        list(by_id),
        index=None,
        key="me_inline",
        placeholder="pick yourself",
        format_func=lambda i: label(by_id[i]),
        on_change=chosen,
        help="Recorded as who acknowledged or resolved (also in the sidebar).",
    )


def _from_address(key: str, allowed: list) -> None:
    """A new browser session (a reload, a bookmark) takes the sidebar's choice from the
    address (`?me=3&team=2&tz=Europe/Paris`), if it is still one of `allowed`."""
    if key in st.session_state:
        return
    raw = st.query_params.get(key)
    if raw is None:
        return
    value: Any = int(raw) if raw.isdigit() else raw
    if value in allowed:
        st.session_state[key] = value


def _to_address(key: str) -> None:
    value = st.session_state.get(key)
    if value in (None, "browser"):
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = str(value)


# ----- time -----------------------------------------------------------------------------------
def now() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str | datetime | None) -> datetime | None:
    """An API timestamp (RFC 3339, `Z`) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def local(value: str | datetime) -> datetime:
    moment = parse_time(value)
    assert moment is not None
    return moment.astimezone(zone())


def wall(value: str | datetime) -> datetime:
    """Local wall time without a zone, for charts: Vega shows it as it is."""
    return local(value).replace(tzinfo=None)


def when(value: str | datetime | None, with_zone: bool = False) -> str:
    """`Tue 1 Dec 09:00` in the viewer's zone (the year when it is not this year)."""
    if value is None:
        return ""
    moment = local(value)
    text = f"{moment:%a} {moment.day} {moment:%b}"
    if moment.year != local(now()).year:
        text += f" {moment.year}"
    text += f" {moment:%H:%M}"
    if with_zone:
        text += f" {moment.tzname()}"
    return text


DATE_TIME = "ddd D MMM HH:mm"  # tables' dates: the same as `when` (Tue 1 Dec 09:00)


def datetime_column(label: str | None = None, seconds: bool = False) -> Any:
    """A table column of local wall times (see `wall`), shown as `when` shows them; it sorts
    by time, not as text."""
    return st.column_config.DatetimeColumn(label, format=DATE_TIME + (":ss" if seconds else ""))


def hours_column(label: str | None = None, help: str | None = None) -> Any:
    """A column of hours (floats) shown as `5.5 h`; it sorts as numbers."""
    return st.column_config.NumberColumn(label, format="%.1f h", help=help)


def hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def duration(delta: timedelta) -> str:
    """`3 d 4 h`, `5 h 20 min`, `12 min`, `now`."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return "<1 min"


def relative(value: str | datetime, reference: datetime | None = None) -> str:
    """`in 3 h` or `2 d ago`."""
    moment = parse_time(value)
    assert moment is not None
    delta = moment - (reference or now())
    if abs(delta.total_seconds()) < 60:
        return "now"
    return f"in {duration(delta)}" if delta.total_seconds() > 0 else f"{duration(delta)} ago"


def today() -> date:
    return local(now()).date()


# ----- widgets that keep their value ------------------------------------------------------------
KEPT = "_kept"  # widget values kept while their page is not shown


def kept(widget: Callable[..., Any], key: str, default: Any, *args: Any, **kwargs: Any) -> Any:
    """`widget(*args, key=key, **kwargs)` that shows its last value when its page is shown
    again (Streamlit forgets a widget's state once a run does not draw it), else `default`."""
    shadow = st.session_state.setdefault(KEPT, {})
    if key not in st.session_state:
        st.session_state[key] = shadow.get(key, default)
    value = widget(*args, key=key, **kwargs)
    shadow[key] = value
    return value


# ----- the planning window, shared by the availability and planner pages ----------------------
MAX_WINDOW_DAYS = 92


def default_window() -> tuple[date, date]:
    start = today() + timedelta(days=1)
    return start, start + timedelta(days=27)


def window_input(key: str, label: str = "Planning window") -> tuple[date, date] | None:
    """A first-day / last-day picker; the choice carries over between the planning pages.
    None while only the first day is picked."""
    shared = st.session_state.get("_window") or default_window()
    if key not in st.session_state:
        st.session_state[key] = shared
    value = st.date_input(
        label,
        key=key,
        format="YYYY-MM-DD",
        help=f"First and last day (both included), at most {MAX_WINDOW_DAYS} days.",
    )
    if not isinstance(value, list | tuple) or len(value) != 2:
        st.info("Pick the last day of the window too.", icon=":material/date_range:")
        return None
    start, end = value
    if (end - start).days + 1 > MAX_WINDOW_DAYS:
        end = start + timedelta(days=MAX_WINDOW_DAYS - 1)
        st.warning(f"Showing the first {MAX_WINDOW_DAYS} days, to {end}.")
    st.session_state["_window"] = (start, end)
    return start, end


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
