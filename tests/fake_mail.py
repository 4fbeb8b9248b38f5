"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it is sent, for the email
channel's tests: `mail.take(1)` waits for one message and returns it, parsed."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from email.message import Message

from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeMail:
    def __init__(self) -> None:
        self.received: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self._taken = 0
        fake = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with fake._lock:
                    fake.received.append(
                        email.message_from_bytes(envelope.content, policy=email.policy.default)
                    )
                    fake.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                return "250 OK"

        self.port = _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def settings(self) -> dict:
        """What a daemon's Settings need to send here."""
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_from": "oncall@example.com",
            "smtp_starttls": False,
            "smtp_timeout": 5.0,
        }

    def take(self, count: int, timeout: float = 10.0) -> list[Message]:
        """The next `count` messages (waiting up to `timeout` for them to arrive)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.received) - self._taken >= count:
                    found = self.received[self._taken : self._taken + count]
                    self._taken += count
                    return found
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} new mail(s), got {self.new()}")
            time.sleep(0.01)

    def new(self) -> int:
        with self._lock:
            return len(self.received) - self._taken

    def stop(self) -> None:
        """Stop taking mail (again: nothing more)."""
        if getattr(self.controller, "_thread", None) is not None:
            self.controller.stop()


def plain_text(message: Message) -> str:
    part = message.get_body(preferencelist=("plain",)) if hasattr(message, "get_body") else None
    if part is None:
        for candidate in message.walk():
            if candidate.get_content_type() == "text/plain":
                part = candidate
                break
    assert part is not None
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
