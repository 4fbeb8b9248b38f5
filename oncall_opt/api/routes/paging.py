"""Paging people: a person's contact methods and notification rules (the person or an admin),
and what was sent about an incident.

Contact methods:

- `GET /users/{id}/contact-methods`, `POST /users/{id}/contact-methods {Type, Address, Name}`
  (a webhook's answer carries its signing `Secret`, once);
- `PUT /contact-methods/{id} {Name?, Address?}`, `DELETE /contact-methods/{id}`;
- `POST /contact-methods/{id}/verify {Code}` (without a Code: a new code is sent;
  `{"Verified": true}`: an admin vouches for the address);
- `POST /contact-methods/{id}/test`: a test sent now, answered with how it went.

Addresses are shown masked where they hold a secret (a push topic, a webhook's path).

- `GET|POST /users/{id}/notification-rules {ContactMethodId, DelayMinutes, Urgency}`,
  `DELETE /notification-rules/{id}`;
- `GET /incidents/{id}/notifications`: each page about the incident, with its state;
- `GET|POST /actions/{token}`: a page's one-time link: what it would do, and doing it (the
  link is the credential; the console's `/oncall/act/{token}` page asks first);
- `POST /integrations/slack/interactivity`: a press of a page's button in Slack;
- `POST /integrations/twilio/sms`, `POST /integrations/twilio/voice`: a reply to a page's text,
  a key pressed in a page's call; `POST /integrations/twilio/status`: whether a text or a call
  reached the person."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from oncall_opt.api.access import principal_of
from oncall_opt.api.common import (
    ERROR_RESPONSES,
    IdPath,
    JSONBodyRoute,
    RequestBody,
    UtcTime,
    now_of,
    store_of,
)
from oncall_opt.engine import cover, incidents
from oncall_opt.engine.auth import require_self_or_admin
from oncall_opt.engine.paging import (
    actions,
    cover_links,
    deliver,
    methods,
    notifications,
    rules,
    slack_buttons,
    twilio_replies,
)
from oncall_opt.engine.paging.channels import available, slack_dm
from oncall_opt.engine.paging.methods import ContactMethod
from oncall_opt.engine.paging.notifications import Notification
from oncall_opt.engine.slack import escape
from oncall_opt.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)

log = logging.getLogger("oncall_opt.api")

router = APIRouter(route_class=JSONBodyRoute, tags=["paging"], responses=ERROR_RESPONSES)

MethodType = Literal["email", "sms", "voice", "push", "slack", "webhook", "apprise"]


class MethodIn(RequestBody):
    Type: MethodType
    Address: str = Field(max_length=2048)
    Name: str = Field("", max_length=200)


class MethodUpdate(RequestBody):
    Name: str | None = Field(None, max_length=200)
    Address: str | None = Field(None, max_length=2048)


class VerifyIn(RequestBody):
    Code: str | None = Field(None, max_length=20)
    Verified: bool | None = None  # an admin's word for it


class MethodOut(BaseModel):
    Id: int
    UserId: int
    Type: str
    Name: str
    Address: str  # masked where the address holds a secret
    Verified: bool
    VerifiedAt: UtcTime | None
    CreatedAt: UtcTime

    @classmethod
    def of(cls, method: ContactMethod) -> MethodOut:
        return cls(
            Id=method.id,
            UserId=method.user_id,
            Type=method.type,
            Name=method.name,
            Address=method.shown,
            Verified=method.verified,
            VerifiedAt=method.verified_at,
            CreatedAt=method.created_at,
        )


class MethodCreated(MethodOut):
    Secret: str | None = None  # a webhook's signing secret: shown this once


class MethodList(BaseModel):
    Items: list[MethodOut]
    Available: dict[str, str]  # each type: "" when this daemon can use it, else what it needs


class NotificationOut(BaseModel):
    Id: int
    Kind: str
    ContactMethodId: int
    Status: str
    Attempts: int
    Error: str | None
    DueAt: UtcTime
    SentAt: UtcTime | None
    DeliveredAt: UtcTime | None = None

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls(
            Id=n.id,
            Kind=n.kind,
            ContactMethodId=n.contact_method_id,
            Status=n.status,
            Attempts=n.attempts,
            Error=n.last_error,
            DueAt=n.due_at,
            SentAt=n.sent_at,
            DeliveredAt=n.delivered_at,
        )


def _own(request: Request, method_id: int) -> ContactMethod:
    """The method, when it is the caller's (or the caller is an admin): 404 or 403 otherwise."""
    method = methods.get(store_of(request), method_id)
    require_self_or_admin(principal_of(request), method.user_id, "manage contact methods")
    return method


@router.get("/users/{id}/contact-methods", response_model=MethodList)
def list_methods(id: IdPath, request: Request) -> MethodList:
    """The person's contact methods, and which types this daemon can deliver to."""
    settings = request.app.state.settings
    return MethodList(
        Items=[MethodOut.of(m) for m in methods.of_user(store_of(request), id)],
        Available=available(settings),
    )


@router.post("/users/{id}/contact-methods", response_model=MethodCreated, status_code=201)
def create_method(id: IdPath, params: MethodIn, request: Request) -> MethodCreated:
    """A new contact method. Email and push are sent a six-digit code and are not paged until
    verified; a webhook's signing secret is in this answer only."""
    method, secret = methods.create(
        store_of(request), id, params.Type, params.Address, params.Name, now_of(request),
        request.app.state.settings,
    )  # fmt: skip
    return MethodCreated(**MethodOut.of(method).model_dump(), Secret=secret)


@router.put("/contact-methods/{id}", response_model=MethodOut)
def update_method(id: IdPath, params: MethodUpdate, request: Request) -> MethodOut:
    """Rename it, or give it a new address (which is verified again)."""
    _own(request, id)
    settings = request.app.state.settings
    updated = methods.update(
        store_of(request), id, now_of(request), settings, name=params.Name, address=params.Address
    )
    return MethodOut.of(updated)


@router.delete("/contact-methods/{id}", response_model=MethodOut)
def delete_method(id: IdPath, request: Request) -> MethodOut:
    """Remove it, with its notification rules; what was waiting to go to it is cancelled."""
    _own(request, id)
    return MethodOut.of(methods.delete(store_of(request), id, now_of(request)))


@router.post("/contact-methods/{id}/verify", response_model=MethodOut)
def verify_method(id: IdPath, request: Request, params: VerifyIn | None = None) -> MethodOut:
    """Check the code sent there; without one, send a new code. `{"Verified": true}`: an
    admin marks it verified."""
    _own(request, id)
    params = params or VerifyIn()
    store, now = store_of(request), now_of(request)
    if params.Verified:
        if not principal_of(request).is_admin:
            raise PermissionDeniedError("Verified: only an admin may vouch for an address")
        return MethodOut.of(methods.mark_verified(store, id, now))
    return MethodOut.of(methods.verify(store, id, params.Code, now))


@router.post("/contact-methods/{id}/test", response_model=NotificationOut)
def test_method(id: IdPath, request: Request) -> NotificationOut:
    """Send a test there now; the answer says whether it went (`sent`), will be tried again
    (`queued`, with the error) or was refused (`failed`). Only to a verified method (a code
    already tests a new one; tests to any typed number would be free texts for anyone)."""
    if not _own(request, id).verified:
        raise ConflictError("verify this method first: its code is the test of a new one")
    done = deliver.send_test(store_of(request), id, now_of(request), request.app.state.settings)
    return NotificationOut.of(done)


# ----- notification rules ---------------------------------------------------------------------
class RuleIn(RequestBody):
    ContactMethodId: int = Field(ge=1)
    DelayMinutes: int = Field(0, ge=0, le=rules.MAX_DELAY)
    Urgency: Literal["high", "low"] = "high"


class RuleOut(BaseModel):
    Id: int
    UserId: int
    ContactMethodId: int
    DelayMinutes: int
    Urgency: str

    @classmethod
    def of(cls, rule: rules.Rule) -> RuleOut:
        return cls(
            Id=rule.id,
            UserId=rule.user_id,
            ContactMethodId=rule.contact_method_id,
            DelayMinutes=rule.delay_minutes,
            Urgency=rule.urgency,
        )


class RuleList(BaseModel):
    Items: list[RuleOut]


@router.get("/users/{id}/notification-rules", response_model=RuleList)
def list_rules(id: IdPath, request: Request) -> RuleList:
    """When the person is paged, which method is used how many minutes later, per urgency."""
    return RuleList(Items=[RuleOut.of(r) for r in rules.of_user(store_of(request), id)])


@router.post("/users/{id}/notification-rules", response_model=RuleOut, status_code=201)
def create_rule(id: IdPath, params: RuleIn, request: Request) -> RuleOut:
    """Use one of the person's methods `DelayMinutes` after they are paged, for incidents of
    that urgency (the same rule twice is one rule)."""
    rule = rules.create(
        store_of(request), id, params.ContactMethodId, params.DelayMinutes, params.Urgency,
        now_of(request),
    )  # fmt: skip
    return RuleOut.of(rule)


@router.delete("/notification-rules/{id}", response_model=RuleOut)
def delete_rule(id: IdPath, request: Request) -> RuleOut:
    rule = rules.get(store_of(request), id)
    require_self_or_admin(principal_of(request), rule.user_id, "manage notification rules")
    return RuleOut.of(rules.delete(store_of(request), id))


# ----- what was sent about an incident ---------------------------------------------------------
class IncidentNotificationOut(NotificationOut):
    UserId: int
    Type: str | None  # the method's type (None once the method is removed)


class IncidentNotificationList(BaseModel):
    Items: list[IncidentNotificationOut]


@router.get("/incidents/{id}/notifications", response_model=IncidentNotificationList)
def incident_notifications(id: IdPath, request: Request) -> IncidentNotificationList:
    """Every page sent (or waiting, or cancelled) about the incident, in due order."""
    store = store_of(request)
    incidents.get_incident(store, id)  # 404 for an unknown incident
    kinds = {m["id"]: m["type"] for m in store.rows("SELECT id, type FROM contact_methods")}
    return IncidentNotificationList(
        Items=[
            IncidentNotificationOut(
                **NotificationOut.of(n).model_dump(),
                UserId=n.user_id,
                Type=kinds.get(n.contact_method_id),
            )
            for n in notifications.of_incident(store, id)
        ]
    )


# ----- one-time action links --------------------------------------------------------------------
class ActionOut(BaseModel):
    Action: Literal["acknowledge", "resolve"]
    IncidentId: int
    Summary: str
    Status: str
    Person: str  # whom the link acts as
    Via: str
    Done: bool = False  # true in the answer of the POST that acted


@router.get("/actions/{token}", response_model=ActionOut)
def peek_action(token: Annotated[str, Path(max_length=100)], request: Request) -> ActionOut:
    """What a page's one-time link would do; nothing is spent (the link is the credential)."""
    store = store_of(request)
    link = actions.peek(store, token, now_of(request))
    return ActionOut(**actions.describe(store, link))


@router.post("/actions/{token}", response_model=ActionOut)
def use_action(token: Annotated[str, Path(max_length=100)], request: Request) -> ActionOut:
    """Do what the link says, as the person it was sent to, once (409 when the incident is
    already acknowledged or resolved; the link is spent either way)."""
    store, now = store_of(request), now_of(request)
    actions.peek(store, token, now)  # a clear 401 for a used or expired link
    link = store.write(lambda tx: actions.spend(tx, token, now))
    act = incidents.acknowledge if link.action == "acknowledge" else incidents.resolve
    act(store, link.incident_id, now, link.user_id, via=link.via)
    return ActionOut(**actions.describe(store, link), Done=True)


# ----- Slack's buttons ------------------------------------------------------------------------
@router.post("/integrations/slack/interactivity")
async def slack_interactivity(request: Request) -> Response:
    """Slack's interactivity requests (a Slack app's "Request URL"): a press of Acknowledge or
    Resolve, on a page sent as a DM (acts as the person paged, once) or on a team channel's
    message (acts as the presser, through their verified Slack contact method); the message
    then says who did what, in place. Verified with ONCALL_SLACK_SIGNING_SECRET (401
    otherwise); the answer is empty."""
    store, now, settings = store_of(request), now_of(request), request.app.state.settings
    body = await request.body()
    press = slack_buttons.verified_press(body, dict(request.headers), settings, now)
    if press is None:
        return Response(status_code=200)

    def act() -> tuple[str, bool]:
        if press.action in slack_buttons.COVER_ACTIONS.values():
            return _answer_cover(store, press, now, settings.public_url)
        if press.incident_id is not None:  # a team channel's button
            user_id = slack_buttons.user_of(store, press.slack_user)
            incident_id = press.incident_id
        else:
            link = actions.peek(store, press.token, now)
            slack_buttons.check_presser(store, link.user_id, press.slack_user)
            link = store.write(lambda tx: actions.spend(tx, press.token, now))
            user_id, incident_id = link.user_id, link.incident_id
        act_on = incidents.acknowledge if press.action == "acknowledge" else incidents.resolve
        try:
            incident = act_on(store, incident_id, now, user_id, via="Slack")
        except (ConflictError, NotFoundError) as exc:
            return f"#{incident_id}: {exc}", False
        person = incident.resolved_by if press.action == "resolve" else incident.acknowledged_by
        who = f"{person.first_name} {person.last_name}" if person else "someone"
        return f"{'Resolved' if press.action == 'resolve' else 'Acknowledged'} by {who}", True

    try:
        said, done = await run_in_threadpool(act)
    except (UnauthenticatedError, PermissionDeniedError) as exc:
        said, done = str(exc), False
    if press.response_url:
        blocks = (
            slack_dm.after_press(list(press.blocks), said, press.action == "resolve")
            if done and press.blocks
            else None
        )
        await run_in_threadpool(_tell_slack, press.response_url, said, blocks)
    return Response(status_code=200)


def _answer_cover(store, press: slack_buttons.Press, now, console_url) -> tuple[str, bool]:
    """A cover ask's Accept or Decline pressed in Slack, as the person asked (once)."""
    link = cover_links.peek(store, press.token, now)
    slack_buttons.check_presser(store, link.user_id, press.slack_user)
    try:
        if press.action == "cover-accept":
            done, _ = cover.accept(store, link.request_id, link.user_id, now, "Slack", press.token)
            person = done.covered_by
            name = f"{person.first_name} {person.last_name}" if person else "you"
            return f"Accepted: {name} covers {done.for_user.full_name}", True
        cover.decline(store, link.request_id, link.user_id, now, press.token, console_url)
        return "Declined: the next person is asked", True
    except (ConflictError, NotFoundError) as exc:
        return str(exc), False


def _tell_slack(response_url: str, said: str, blocks: list[dict] | None) -> None:
    """Tell the presser how it went through Slack's response_url: done, the message itself is
    updated in place (`blocks`: its text, who did what, the buttons still of use); refused,
    only the presser sees why. A failure here is only logged."""
    from slack_sdk.webhook import WebhookClient

    try:
        if blocks is not None:
            WebhookClient(response_url, timeout=10).send(
                text=escape(said), blocks=blocks, replace_original=True
            )
        else:
            WebhookClient(response_url, timeout=10).send(
                text=escape(said), replace_original=False, response_type="ephemeral"
            )
    except Exception as exc:  # the press was done; telling Slack is a courtesy
        log.warning("could not tell Slack how a button press went: %s", type(exc).__name__)


# ----- Twilio: replies to texts, keys pressed in calls --------------------------------------------
MAX_TWILIO_FIELDS = 100


def _twiml(xml: str) -> Response:
    return Response(xml, media_type="application/xml")


async def _twilio_form(request: Request) -> tuple[dict[str, str], str]:
    """Twilio's form fields, and the URL it called (as Twilio saw it: the public address when
    ONCALL_PUBLIC_API_URL is set), after its signature has been checked."""
    from urllib.parse import parse_qsl

    settings = request.app.state.settings
    twilio_replies.check_enabled(settings)  # before reading anything
    body = (await request.body()).decode("utf-8", "replace")
    try:  # Twilio sends a few dozen fields: more is not Twilio
        fields = parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_TWILIO_FIELDS)
    except ValueError:
        raise PermissionDeniedError("not Twilio's: too many form fields") from None
    params = dict(fields)
    url = str(request.url)
    if settings.public_api_url:
        query = f"?{request.url.query}" if request.url.query else ""
        url = f"{settings.public_api_url.rstrip('/')}{request.url.path}{query}"
    signature = request.headers.get("x-twilio-signature")
    await run_in_threadpool(twilio_replies.check_signature, settings, url, params, signature)
    return params, url


@router.post("/integrations/twilio/sms")
async def twilio_sms(request: Request) -> Response:
    """A text to the pages' number (the number's "A message comes in" webhook): "1"
    acknowledges and "2" resolves the newest open incident paged to that number, as its
    person; the answer is the text sent back (TwiML)."""
    from twilio.twiml.messaging_response import MessagingResponse

    params, _ = await _twilio_form(request)
    store, now = store_of(request), now_of(request)
    answer = MessagingResponse()

    def act() -> str:
        sid = params.get("MessageSid", "")
        if not sid or not twilio_replies.first_time(store, sid[:64], now):
            return "This reply was handled already."
        page = twilio_replies.newest_page_to(store, params.get("From", ""), now)
        if page is None:
            return "This number has no page from us to answer."
        wanted = twilio_replies.action_of(params.get("Body", ""))
        if wanted is None:
            return f"Incident #{page.incident_id}: reply 1 to acknowledge, 2 to resolve."
        act_on = incidents.acknowledge if wanted == "acknowledge" else incidents.resolve
        try:
            act_on(store, page.incident_id, now, page.user_id, via="SMS")
        except ConflictError:
            current = incidents.get_incident(store, page.incident_id).status
            return f"Incident #{page.incident_id} is already {current}."
        done = "acknowledged" if wanted == "acknowledge" else "resolved"
        return f"Incident #{page.incident_id} {done}."

    answer.message(await run_in_threadpool(act))
    return _twiml(str(answer))


@router.post("/integrations/twilio/voice")
async def twilio_voice(request: Request) -> Response:
    """A key pressed during a page's call: 1 acknowledges as the person called (the call's
    one-time link, in the URL Twilio was given)."""
    from twilio.twiml.voice_response import VoiceResponse

    params, _ = await _twilio_form(request)
    store, now = store_of(request), now_of(request)
    token = request.query_params.get("token", "")
    answer = VoiceResponse()

    def act() -> str:
        if params.get("Digits") != "1":
            return "Nothing was done. Goodbye."
        try:
            link = store.write(lambda tx: actions.spend(tx, token, now))
        except UnauthenticatedError:
            return "This page was answered already. Goodbye."
        try:
            incidents.acknowledge(store, link.incident_id, now, link.user_id, via="phone call")
        except ConflictError:
            return "It is acknowledged already. Goodbye."
        return f"Incident {link.incident_id} acknowledged. Goodbye."

    answer.say(await run_in_threadpool(act))
    return _twiml(str(answer))


# Twilio's final states: a text delivered or not; a call answered, or why not.
_DELIVERED = {"delivered", "completed"}
_NOT_DELIVERED = {"undelivered", "failed", "busy", "no-answer", "canceled"}


@router.post("/integrations/twilio/status", status_code=204)
async def twilio_status(request: Request) -> Response:
    """Twilio's status callback for a page's text or call: `delivered` (a text delivered, a
    call answered) or `failed` with the reason; anything not final is ignored."""
    params, _ = await _twilio_form(request)
    sid = params.get("MessageSid") or params.get("CallSid") or ""
    state = params.get("MessageStatus") or params.get("CallStatus") or ""
    if sid and state in _DELIVERED | _NOT_DELIVERED:
        what = "call" if "CallSid" in params and "MessageSid" not in params else "text"
        code = params.get("ErrorCode")
        reason = f"Twilio: {what} {state}" + (f" (error {code})" if code else "")
        store, now = store_of(request), now_of(request)
        await run_in_threadpool(
            deliver.provider_report, store, sid, state in _DELIVERED, reason[:200], now
        )
    return Response(status_code=204)
