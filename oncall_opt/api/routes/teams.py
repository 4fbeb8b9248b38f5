"""Teams: `POST/GET /teams`, `GET/PUT/DELETE /teams/{id}`, `PUT /teams/{id}/members`.

A team's Slack webhook is write-only: answers say `HasSlackWebhook`, never the URL. A team's
`PagerDutySchedule` is where `POST /teams/{id}/pagerduty/push` (routes/pagerduty.py) pushes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from oncall_opt.api.common import (
    ERROR_RESPONSES,
    ID_MAX,
    IdPath,
    JSONBodyRoute,
    RequestBody,
    UtcTime,
    now_of,
    store_of,
)
from oncall_opt.engine import teams
from oncall_opt.errors import InvalidRequestError

router = APIRouter(route_class=JSONBodyRoute, tags=["teams"], responses=ERROR_RESPONSES)


SLACK_CHANNEL_HELP = (
    "the team's Slack channel id (C0123ABCD) for the Slack app (ONCALL_SLACK_BOT_TOKEN): its "
    'messages are posted there with Acknowledge and Resolve buttons; "" removes it'
)
PAGERDUTY_SCHEDULE_HELP = (
    "the PagerDuty schedule id (PABC123) the team's final schedule is pushed to, as overrides, "
    'by POST /teams/{id}/pagerduty/push and the console\'s planner; "" removes the link'
)
AWAY_MEANS_HELP = (
    "how the planner reads a day someone marked away: 'day' the whole local day (every shift "
    "overlapping it), 'shift-start' the shifts that start that day, 'working-hours' 09:00-17:00 "
    "of that day"
)


class TeamIn(RequestBody):
    Name: str
    UserIds: list[int] = Field(default_factory=list, description="the members")
    SlackWebhookUrl: str | None = Field(
        None, description="the team's channel (a secret, never shown); default: the global one"
    )
    AwayMeans: str = Field("day", description=AWAY_MEANS_HELP)
    SlackChannel: str | None = Field(None, description=SLACK_CHANNEL_HELP)
    PagerDutySchedule: str | None = Field(None, description=PAGERDUTY_SCHEDULE_HELP)


class TeamUpdate(RequestBody):
    """Only the fields given change; `SlackWebhookUrl: ""` removes the team's webhook."""

    Name: str | None = None
    UserIds: list[int] | None = None
    SlackWebhookUrl: str | None = None
    AwayMeans: str | None = Field(None, description=AWAY_MEANS_HELP)
    RosterRules: Any = Field(
        None,
        description="the team's rules, merged into those it has (a rule set to null is removed; "
        "RosterRules: null removes them all): TimeZone, Handoff, Layers, ShiftLength, "
        "MaxConsecutiveShifts (1 to 1,000), MinRestShifts (0 to 1,000). Overrides, swaps and "
        "take-now keep them; the planner publishing a roster sets them",
    )
    SlackChannel: str | None = Field(None, description=SLACK_CHANNEL_HELP)
    PagerDutySchedule: str | None = Field(None, description=PAGERDUTY_SCHEDULE_HELP)


class MembersIn(RequestBody):
    UserIds: list[int] = Field(description="the team's members from now on")


class TeamOut(BaseModel):
    Id: int
    Name: str
    UserIds: list[int]
    HasSlackWebhook: bool
    SlackChannel: str | None = None
    PagerDutySchedule: str | None = None
    RosterRules: dict | None = Field(
        None, description="the rules of the roster it last published or an admin set: TimeZone, "
        "Handoff, Layers, ShiftLength, MaxConsecutiveShifts, MinRestShifts (the planner starts "
        "from them; overrides, swaps and take-now keep them)",
    )  # fmt: skip
    AwayMeans: str
    CreatedAt: UtcTime

    @classmethod
    def of(cls, team: teams.Team) -> TeamOut:
        return cls(
            Id=team.id,
            Name=team.name,
            UserIds=list(team.member_ids),
            HasSlackWebhook=team.has_slack_webhook,
            SlackChannel=team.slack_channel,
            PagerDutySchedule=team.pagerduty_schedule,
            RosterRules=team.roster_rules,
            AwayMeans=team.away_means,
            CreatedAt=team.created_at,
        )


class TeamList(BaseModel):
    Items: list[TeamOut]


def _ids(values: list[int] | None) -> list[int] | None:
    if values is None:
        return None
    for i, value in enumerate(values):
        if not 1 <= value <= ID_MAX:
            raise InvalidRequestError(f"UserIds[{i}]", "is not a user id")
    return values


@router.post("/teams", response_model=TeamOut, status_code=201)
def create_team(params: TeamIn, request: Request) -> TeamOut:
    team = teams.create_team(
        store_of(request), params.Name, now_of(request), _ids(params.UserIds) or [],
        params.SlackWebhookUrl, params.AwayMeans,
        allow_private=request.app.state.settings.allow_private_webhooks,
        slack_channel=params.SlackChannel, pagerduty_schedule=params.PagerDutySchedule,
    )  # fmt: skip
    return TeamOut.of(team)


@router.get("/teams", response_model=TeamList)
def list_teams(request: Request) -> TeamList:
    return TeamList(Items=[TeamOut.of(t) for t in teams.list_teams(store_of(request))])


@router.get("/teams/{id}", response_model=TeamOut)
def get_team(id: IdPath, request: Request) -> TeamOut:
    return TeamOut.of(teams.get_team(store_of(request), id))


@router.put("/teams/{id}", response_model=TeamOut)
def update_team(id: IdPath, params: TeamUpdate, request: Request) -> TeamOut:
    fields = {}
    if "SlackWebhookUrl" in params.model_fields_set:
        fields["slack_webhook_url"] = params.SlackWebhookUrl or ""
    if "SlackChannel" in params.model_fields_set:
        fields["slack_channel"] = params.SlackChannel or ""
    if "PagerDutySchedule" in params.model_fields_set:
        fields["pagerduty_schedule"] = params.PagerDutySchedule or ""
    if "RosterRules" in params.model_fields_set:
        given = params.RosterRules
        if isinstance(given, dict):  # merged: a rule given null is removed
            given = {**(teams.get_team(store_of(request), id).roster_rules or {}), **given}
        fields["roster_rules"] = given
    team = teams.update_team(
        store_of(request), id, params.Name, _ids(params.UserIds), **fields,
        away_means=params.AwayMeans,
        allow_private=request.app.state.settings.allow_private_webhooks,
    )  # fmt: skip
    return TeamOut.of(team)


@router.put("/teams/{id}/members", response_model=TeamOut)
def set_members(id: IdPath, params: MembersIn, request: Request) -> TeamOut:
    """Replace the team's members (a person may be in several teams)."""
    return TeamOut.of(teams.update_team(store_of(request), id, member_ids=_ids(params.UserIds)))


@router.delete("/teams/{id}", response_model=TeamOut)
def delete_team(id: IdPath, request: Request) -> TeamOut:
    """Delete a team; refused (409, saying what) while services, escalation policies or shifts
    that have not ended depend on it."""
    return TeamOut.of(teams.delete_team(store_of(request), id, now_of(request)))
