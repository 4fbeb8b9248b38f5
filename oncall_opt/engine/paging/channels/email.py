"""Email through the operator's SMTP server (`ONCALL_SMTP_*`): a plain-text message with the
incident's link and its action links, and an HTML part whose every piece of data is escaped."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from html import escape

from oncall_opt.engine.paging.channels import Destination, Message
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SendResult


def missing(settings: Settings) -> str:
    if not settings.smtp_host or not settings.smtp_from:
        return "ONCALL_SMTP_HOST and ONCALL_SMTP_FROM (an SMTP server to send from)"
    return ""


def compose(settings: Settings, to: str, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = " ".join(message.subject.split())[:200]
    mail["From"] = formataddr(("On-call", settings.smtp_from or ""))
    mail["To"] = to
    mail["Message-ID"] = make_msgid(domain=(settings.smtp_from or "oncall").rpartition("@")[2])
    lines = [message.text]
    if message.link:
        lines += ["", f"Open it: {message.link}"]
    for action in message.actions:
        lines.append(f"{action.label}: {action.url}")
    mail.set_content("\n".join(lines))
    parts = [f"<p style='white-space: pre-wrap'>{escape(message.text)}</p>"]
    if message.link:
        parts.append(f'<p><a href="{escape(message.link)}">Open the incident</a></p>')
    for action in message.actions:
        parts.append(f'<p><a href="{escape(action.url)}">{escape(action.label)}</a></p>')
    mail.add_alternative("<html><body>" + "".join(parts) + "</body></html>", subtype="html")
    return mail


class EmailChannel:
    def __init__(self, settings: Settings):
        self.settings = settings

    def send(self, to: Destination, message: Message) -> SendResult:
        s = self.settings
        try:
            with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_user and s.smtp_password:
                    smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
                refused = smtp.send_message(compose(s, to.address, message))
        except smtplib.SMTPRecipientsRefused:
            return SendResult.permanent("the mail server refused the address")
        except smtplib.SMTPAuthenticationError:
            return SendResult.retry("the mail server refused ONCALL_SMTP_USER's password")
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code}"
            if 500 <= exc.smtp_code < 600:
                return SendResult.permanent(error)
            return SendResult.retry(error)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            return SendResult.retry(f"mail server not reachable ({type(exc).__name__})")
        if refused:
            return SendResult.permanent("the mail server refused the address")
        return SendResult.success(None)
