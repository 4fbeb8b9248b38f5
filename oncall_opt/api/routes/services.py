"""Services and escalation policies.

- `POST /services {Name, TeamId, EscalationPolicyId?, AckTimeoutMinutes?, AutoResolveMinutes?}`
  answers with the service and its `IntegrationKey` in full, the only time it is shown;
  `GET /services[?TeamId=]`, `GET/PUT/DELETE /services/{id}`,
  `POST /services/{id}/rotate-key` (a new key, shown once; the old one stops at once).
- `POST/GET /escalation-policies`, `GET/PUT/DELETE /escalation-policies/{id}`: ordered
  `Steps` of `{DelayMinutes, Targets: [{"Type": "layer", "TeamId", "Layer"} |
  {"Type": "user", "UserId"}]}`, `Repeat` and `RepeatAfterMinutes`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
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
from oncall_opt.api.routes.integrations import forget_keys
from oncall_opt.engine import changes, maintenance, policies, services
from oncall_opt.engine.policies import Step, Target

router = APIRouter(route_class=JSONBodyRoute, tags=["services"], responses=ERROR_RESPONSES)

Id = Annotated[int, Field(ge=1, le=ID_MAX)]
Minutes = Annotated[int, Field(ge=0, le=services.MAX_TIMEOUT, description="0: none")]


# ----- services ---------------------------------------------------------------------------------
class ServiceIn(RequestBody):
    Name: str
    TeamId: Id = 1
    EscalationPolicyId: Id | None = Field(
        None, description="default: the team's own (the Default policy for the Default team)"
    )
    AckTimeoutMinutes: Minutes | None = None  # an acknowledged incident is triggered again
    AutoResolveMinutes: Minutes | None = None  # an open incident not triggered again: resolved


class ServiceUpdate(RequestBody):
    """Only the fields given change; a timeout of 0 turns it off."""

    Name: str | None = None
    TeamId: Id | None = None
    EscalationPolicyId: Id | None = None
    AckTimeoutMinutes: Minutes | None = None
    AutoResolveMinutes: Minutes | None = None
    EventsPerMinute: int | None = Field(
        None, description="the integration key's rate limit; null: the daemon's default"
    )


class ServiceOut(BaseModel):
    Id: int
    Name: str
    TeamId: int
    EscalationPolicyId: int
    IntegrationKeyPrefix: str  # the key's first characters ("" until one is made)
    AckTimeoutMinutes: int | None
    AutoResolveMinutes: int | None
    EventsPerMinute: int | None = None  # null: the daemon's ONCALL_EVENTS_PER_MINUTE
    InMaintenanceUntil: UtcTime | None = None  # a maintenance window is on until then
    CreatedAt: UtcTime

    @classmethod
    def of(cls, service: services.Service) -> ServiceOut:
        return cls(
            Id=service.id,
            Name=service.name,
            TeamId=service.team_id,
            EscalationPolicyId=service.escalation_policy_id,
            IntegrationKeyPrefix=service.key_prefix,
            AckTimeoutMinutes=service.ack_timeout_minutes,
            AutoResolveMinutes=service.auto_resolve_minutes,
            EventsPerMinute=service.events_per_minute,
            CreatedAt=service.created_at,
        )


class ServiceWithKey(ServiceOut):
    IntegrationKey: str  # shown this once: the Events API routing_key, the Alertmanager URL's


class ServiceList(BaseModel):
    Items: list[ServiceOut]


@router.post("/services", response_model=ServiceWithKey, status_code=201)
def create_service(params: ServiceIn, request: Request) -> ServiceWithKey:
    """A new service and its integration key, shown in this answer only."""
    service, key = services.create_service(
        store_of(request), params.Name, now_of(request), params.TeamId,
        params.EscalationPolicyId, params.AckTimeoutMinutes, params.AutoResolveMinutes,
    )  # fmt: skip
    return ServiceWithKey(**ServiceOut.of(service).model_dump(), IntegrationKey=key)


@router.get("/services", response_model=ServiceList)
def list_services(
    request: Request, team_id: Annotated[int | None, Query(alias="TeamId", ge=1, le=ID_MAX)] = None
) -> ServiceList:
    store = store_of(request)
    windows = maintenance.active_by_service(store, now_of(request))
    return ServiceList(
        Items=[
            _with_window(ServiceOut.of(s), windows) for s in services.list_services(store, team_id)
        ]
    )


def _with_window(out: ServiceOut, windows: dict) -> ServiceOut:
    window = windows.get(out.Id)
    return out.model_copy(update={"InMaintenanceUntil": window.ends_at}) if window else out


@router.get("/services/{id}", response_model=ServiceOut)
def get_service(id: IdPath, request: Request) -> ServiceOut:
    store = store_of(request)
    found = ServiceOut.of(services.get_service(store, id))
    return _with_window(found, maintenance.active_by_service(store, now_of(request)))


class ChangeOut(BaseModel):
    Id: int
    ServiceId: int
    Summary: str
    Source: str | None
    At: UtcTime  # when it happened (the event's timestamp, else when it arrived)
    Details: dict | None
    ReceivedAt: UtcTime

    @classmethod
    def of(cls, change: changes.Change) -> ChangeOut:
        return cls(
            Id=change.id, ServiceId=change.service_id, Summary=change.summary,
            Source=change.source, At=change.happened_at, Details=change.details,
            ReceivedAt=change.received_at,
        )  # fmt: skip


class ChangeList(BaseModel):
    Items: list[ChangeOut]


@router.get("/services/{id}/changes", response_model=ChangeList)
def service_changes(id: IdPath, request: Request) -> ChangeList:
    """The service's latest change events (`POST /v2/change/enqueue`), newest first."""
    store = store_of(request)
    services.get_service(store, id)  # 404 for an unknown service
    return ChangeList(Items=[ChangeOut.of(c) for c in changes.of_service(store, id)])


@router.get("/incidents/{id}/changes", response_model=ChangeList)
def incident_changes(id: IdPath, request: Request) -> ChangeList:
    """The changes on the incident's service in the hour before it opened, newest first:
    what changed just before it broke."""
    found = changes.before_incident(store_of(request), id)
    return ChangeList(Items=[ChangeOut.of(c) for c in found])


@router.put("/services/{id}", response_model=ServiceOut)
def update_service(id: IdPath, params: ServiceUpdate, request: Request) -> ServiceOut:
    given = params.model_fields_set
    timeouts = {
        name: getattr(params, field)
        for name, field in (
            ("ack_timeout_minutes", "AckTimeoutMinutes"),
            ("auto_resolve_minutes", "AutoResolveMinutes"),
            ("events_per_minute", "EventsPerMinute"),
        )
        if field in given
    }
    service = services.update_service(
        store_of(request), id, params.Name, params.TeamId, params.EscalationPolicyId, **timeouts
    )
    forget_keys(request.app)
    return ServiceOut.of(service)


@router.post("/services/{id}/rotate-key", response_model=ServiceWithKey)
def rotate_key(id: IdPath, request: Request) -> ServiceWithKey:
    """A new integration key (shown this once); the old one stops working at once."""
    service, key = services.rotate_key(store_of(request), id)
    forget_keys(request.app)
    return ServiceWithKey(**ServiceOut.of(service).model_dump(), IntegrationKey=key)


@router.delete("/services/{id}", response_model=ServiceOut)
def delete_service(id: IdPath, request: Request) -> ServiceOut:
    """Delete a service with no open incidents."""
    deleted = services.delete_service(store_of(request), id)
    forget_keys(request.app)
    return ServiceOut.of(deleted)


# ----- escalation policies ----------------------------------------------------------------------
class LayerTarget(RequestBody):
    Type: Literal["layer"]
    TeamId: Id
    Layer: int = Field(1, ge=1, le=2, description="1 primary, 2 secondary")


class UserTarget(RequestBody):
    Type: Literal["user"]
    UserId: Id


class StepIn(RequestBody):
    DelayMinutes: int = Field(0, ge=0, le=policies.MAX_DELAY, description="after the step before")
    Targets: list[Annotated[LayerTarget | UserTarget, Field(discriminator="Type")]]

    def step(self) -> Step:
        return Step(
            self.DelayMinutes,
            tuple(
                Target("layer", team_id=t.TeamId, layer=t.Layer)
                if isinstance(t, LayerTarget)
                else Target("user", user_id=t.UserId)
                for t in self.Targets
            ),
        )


class PolicyIn(RequestBody):
    Name: str
    Steps: list[StepIn]
    Repeat: int = Field(0, ge=0, le=policies.MAX_REPEATS, description="runs again this often")
    RepeatAfterMinutes: int = Field(
        policies.DEFAULT_REPEAT_AFTER, ge=1, le=policies.MAX_DELAY,
        description="after the last step, before the policy runs again",
    )  # fmt: skip


class PolicyUpdate(RequestBody):
    Name: str | None = None
    Steps: list[StepIn] | None = None
    Repeat: int | None = Field(None, ge=0, le=policies.MAX_REPEATS)
    RepeatAfterMinutes: int | None = Field(None, ge=1, le=policies.MAX_DELAY)


class TargetOut(BaseModel):
    Type: Literal["layer", "user"]
    TeamId: int | None = None
    Layer: int | None = None
    UserId: int | None = None


class StepOut(BaseModel):
    DelayMinutes: int
    Targets: list[TargetOut]


class PolicyOut(BaseModel):
    Id: int
    Name: str
    Steps: list[StepOut]
    Repeat: int
    RepeatAfterMinutes: int
    CreatedAt: UtcTime

    @classmethod
    def of(cls, policy: policies.Policy) -> PolicyOut:
        return cls(
            Id=policy.id,
            Name=policy.name,
            Steps=[
                StepOut(
                    DelayMinutes=step.delay_minutes,
                    Targets=[TargetOut(**t.as_json()) for t in step.targets],
                )
                for step in policy.steps
            ],
            Repeat=policy.repeats,
            RepeatAfterMinutes=policy.repeat_after_minutes,
            CreatedAt=policy.created_at,
        )


class PolicyList(BaseModel):
    Items: list[PolicyOut]


@router.post("/escalation-policies", response_model=PolicyOut, status_code=201)
def create_policy(params: PolicyIn, request: Request) -> PolicyOut:
    policy = policies.create_policy(
        store_of(request), params.Name, [s.step() for s in params.Steps], now_of(request),
        params.Repeat, params.RepeatAfterMinutes,
    )  # fmt: skip
    return PolicyOut.of(policy)


@router.get("/escalation-policies", response_model=PolicyList)
def list_policies(request: Request) -> PolicyList:
    return PolicyList(Items=[PolicyOut.of(p) for p in policies.list_policies(store_of(request))])


@router.get("/escalation-policies/{id}", response_model=PolicyOut)
def get_policy(id: IdPath, request: Request) -> PolicyOut:
    return PolicyOut.of(policies.get_policy(store_of(request), id))


@router.put("/escalation-policies/{id}", response_model=PolicyOut)
def update_policy(id: IdPath, params: PolicyUpdate, request: Request) -> PolicyOut:
    """Change the fields given; incidents on their way go on from the step they reached."""
    steps = [s.step() for s in params.Steps] if params.Steps is not None else None
    policy = policies.update_policy(
        store_of(request), id, params.Name, steps, params.Repeat, params.RepeatAfterMinutes
    )
    return PolicyOut.of(policy)


@router.delete("/escalation-policies/{id}", response_model=PolicyOut)
def delete_policy(id: IdPath, request: Request) -> PolicyOut:
    """Delete a policy no service uses."""
    return PolicyOut.of(policies.delete_policy(store_of(request), id))
