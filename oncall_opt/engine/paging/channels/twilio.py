"""Text messages and phone calls through Twilio's REST API (the `twilio` client):
`ONCALL_TWILIO_ACCOUNT_SID`, `ONCALL_TWILIO_AUTH_TOKEN`, `ONCALL_TWILIO_FROM` (the number
pages come from). A text says the incident and asks for a reply ("1" acknowledges, "2"
resolves: `POST /integrations/twilio/sms`); a call reads it out and "press 1" acknowledges
(`POST /integrations/twilio/voice`). Both of Twilio's requests to the daemon are checked with
the auth token (`RequestValidator`)."""

from __future__ import annotations

import re
from urllib.parse import quote

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

from oncall_opt.engine.paging.channels import Destination, Message
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SendResult

E164 = re.compile(r"\+[1-9]\d{7,14}")
SMS_LIMIT = 320  # two segments


def missing_sms(settings: Settings) -> str:
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from):
        return "ONCALL_TWILIO_ACCOUNT_SID, ONCALL_TWILIO_AUTH_TOKEN and ONCALL_TWILIO_FROM"
    return ""


def missing_voice(settings: Settings) -> str:
    return missing_sms(settings) or (
        "" if settings.public_api_url else "ONCALL_PUBLIC_API_URL (where Twilio reaches the daemon)"
    )


def _status_callback(settings: Settings) -> dict[str, str]:
    """Where Twilio reports whether a text was delivered or a call answered, when it can
    reach the daemon."""
    if not settings.public_api_url:
        return {}
    return {"status_callback": f"{settings.public_api_url.rstrip('/')}/integrations/twilio/status"}


def _client(settings: Settings) -> Client:
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    client = Client(settings.twilio_account_sid, token)
    client.api.base_url = settings.twilio_api_url.rstrip("/")
    return client


def _result(exc: Exception) -> SendResult:
    if isinstance(exc, TwilioRestException):
        status = exc.status
        reason = f"Twilio {exc.code or status}"
        if status == 429 or status >= 500:
            return SendResult.retry(reason, status)
        return SendResult.permanent(reason, status)
    return SendResult.retry(f"Twilio not reachable ({type(exc).__name__})")


def sms_text(message: Message, numbered: bool) -> str:
    text = message.subject
    if message.link:
        text += f"\n{message.link}"
    if numbered:
        text += "\nReply 1 to acknowledge, 2 to resolve."
    else:
        text = f"{message.subject}\n{message.text}"
    return text[:SMS_LIMIT]


class TwilioSms:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = _client(settings)

    def send(self, to: Destination, message: Message) -> SendResult:
        try:
            sent = self.client.messages.create(
                to=to.address,
                from_=self.settings.twilio_from,
                body=sms_text(message, numbered=bool(message.actions)),
                **_status_callback(self.settings),
            )
        except (TwilioException, OSError) as exc:
            return _result(exc)
        return SendResult(ok=True, status=201, provider_id=sent.sid)


def call_twiml(message: Message, gather_url: str | None) -> str:
    """What the call says (TwiML, made by the twilio library: data is escaped as XML)."""
    response = VoiceResponse()
    spoken = " ".join(message.subject.split())[:300]
    if gather_url:
        gather = Gather(num_digits=1, action=gather_url, method="POST", timeout=10)
        gather.say(f"On-call page. {spoken}. Press 1 to acknowledge.", loop=2)
        response.append(gather)
        response.say("Nothing was pressed. Goodbye.")
    else:
        response.say(f"{spoken}.", loop=2)
    return str(response)


class TwilioVoice:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = _client(settings)

    def send(self, to: Destination, message: Message) -> SendResult:
        acknowledge = next((a for a in message.actions if a.label == "Acknowledge"), None)
        gather_url = None
        if acknowledge is not None and self.settings.public_api_url:
            token = acknowledge.url.rstrip("/").rsplit("/", 1)[-1]
            gather_url = (
                f"{self.settings.public_api_url.rstrip('/')}/integrations/twilio/voice"
                f"?token={quote(token, safe='')}"
            )
        if not message.actions:  # a code or a test: read the text, a code digit by digit
            spoken = re.sub(r"\d{4,}", lambda m: ", ".join(m.group()), message.text)
            message = Message(subject=spoken, text=spoken)
        try:
            call = self.client.calls.create(
                to=to.address,
                from_=self.settings.twilio_from,
                twiml=call_twiml(message, gather_url),
                **_status_callback(self.settings),
            )
        except (TwilioException, OSError) as exc:
            return _result(exc)
        return SendResult(ok=True, status=201, provider_id=call.sid)
