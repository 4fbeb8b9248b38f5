"""The sign-in form, as plain HTML with no script: a form that posts to the console's own
sign-in route (`server.py`), whose answer sets the session cookie. The same form appears in the
Streamlit page (through `st.html`, sanitised, no JavaScript) and on the route's own pages.
Everything interpolated is escaped with `html.escape`."""

from __future__ import annotations

from html import escape

SIGN_IN_PATH = "/oncall/sign-in"

STYLE = """
<style>
.oo-sign-in { display: grid; gap: 0.9rem; max-width: 26rem; font-family: inherit; }
.oo-sign-in label { display: grid; gap: 0.3rem; font-size: 0.95rem; color: #31333f; }
.oo-sign-in input { font: inherit; padding: 0.55rem 0.7rem; border: 1px solid #6b7280;
  border-radius: 0.5rem; background: #fff; color: #31333f; }
.oo-sign-in input:focus { outline: 2px solid #ff4b4b; outline-offset: 1px; }
.oo-sign-in button { font: inherit; justify-self: start; padding: 0.5rem 1.1rem; border: 0;
  min-height: 48px; min-width: 48px;
  border-radius: 0.5rem; background: #d63a3a; color: #fff; cursor: pointer; }
.oo-sign-in button.secondary { background: #fff; color: #31333f; border: 1px solid #6b7280; }
.oo-error { color: #a4161a; background: #fdecea; padding: 0.6rem 0.8rem; border-radius: 0.5rem; }
</style>
"""


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this console, never another site."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ch in value for ch in "\r\n\t"):
        return "/"
    return value


def password_form(next_path: str = "/") -> str:
    """Slack handle and password, posted to the sign-in route."""
    return (
        f'{STYLE}<form class="oo-sign-in" method="post" action="{SIGN_IN_PATH}">'
        f'<input type="hidden" name="next" value="{escape(safe_next(next_path))}">'
        '<label>Slack handle<input name="SlackHandle" aria-label="Slack handle" '
        'autocomplete="username" required maxlength="200" placeholder="katy"></label>'
        '<label>Password<input type="password" name="Password" aria-label="Password" '
        'autocomplete="current-password" required maxlength="256"></label>'
        '<button type="submit">Sign in</button></form>'
    )


def link_form(code: str, signed_in_as: str | None, next_path: str = "/") -> str:
    """The confirmation a sign-in link leads to: nothing is spent or switched until the
    viewer says so (a link preview, or a link someone else sent, signs nobody in)."""
    switching = (
        f"<p>You are signed in as <strong>{escape(signed_in_as)}</strong>. This link is for "
        "signing in as the person it was made for: continuing signs you out first.</p>"
        if signed_in_as
        else "<p>This one-time link signs you in as the person it was made for.</p>"
    )
    return (
        f'{STYLE}{switching}<form class="oo-sign-in" method="post" action="{SIGN_IN_PATH}">'
        f'<input type="hidden" name="Code" value="{escape(code)}">'
        f'<input type="hidden" name="next" value="{escape(safe_next(next_path))}">'
        f'<button type="submit">{"Sign out and continue" if signed_in_as else "Sign in"}'
        "</button></form>"
    )


def page(title: str, body: str, error: str | None = None, hint: bool = True) -> str:
    """A whole page of the console's own routes (sign-in after a failed attempt, a link opened
    straight on the route, a page's action link); `body` is HTML made here, escaped."""
    problem = f'<p class="oo-error" role="alert">{escape(error)}</p>' if error else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · On-call console</title>"
        "<style>body { font-family: system-ui, sans-serif; margin: 0; color: #31333f; }"
        "main { max-width: 30rem; margin: 4rem auto; padding: 0 1.2rem; }"
        "h1 { font-size: 2rem; } .hint { color: #4b4f5a; font-size: 0.9rem; }</style>"
        f"</head><body><main><h1>{escape(title)}</h1>{problem}{body}"
        + (
            '<p class="hint">No password yet, or forgot it? An admin can send you a one-time '
            "sign-in link: <code>oncall-opt login-link &lt;your Slack handle&gt;</code> on the "
            "daemon's machine, or the People page.</p>"
            if hint
            else ""
        )
        + "</main></body></html>"
    )


def action_form(path: str, what: dict) -> str:
    """The confirmation a page's action link opens: the incident, what the button does and as
    whom; only the button (a POST) acts."""
    verb = "Acknowledge" if what["Action"] == "acknowledge" else "Resolve"
    return (
        f"{STYLE}<p><strong>#{escape(str(what['IncidentId']))}</strong> "
        f"{escape(str(what['Summary']))}</p>"
        f"<p>It is {escape(str(what['Status']))}. The button {verb.lower()}s it as "
        f"<strong>{escape(str(what['Person']))}</strong>.</p>"
        f'<form class="oo-sign-in" method="post" action="{escape(path)}">'
        f'<button type="submit">{verb} #{escape(str(what["IncidentId"]))}</button></form>'
    )


def cover_form(path: str, what: dict, span: str) -> str:
    """The confirmation a cover ask's link opens: whose shift, when, and what the button does
    as whom; only the button (a POST) answers."""
    accepting = what["Action"] == "accept"
    does = (
        f"puts <strong>{escape(str(what['Person']))}</strong> on call then"
        if accepting
        else f"says <strong>{escape(str(what['Person']))}</strong> cannot, and asks the next"
    )
    return (
        f"{STYLE}<p><strong>{escape(str(what['For']))}</strong> needs cover: "
        f"{escape(span)}.</p><p>The request is {escape(str(what['Status']))}. The button "
        f"{does}.</p>"
        f'<form class="oo-sign-in" method="post" action="{escape(path)}">'
        f'<button type="submit">{"Accept: I cover it" if accepting else "Decline"}</button>'
        "</form>"
    )
