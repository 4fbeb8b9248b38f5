"""On-call analytics: who carries the pages.

- `GET /teams/{id}/analytics?Start=&End=`: for the team, each service, each person and each
  month of [Start, End) (at most 400 days): incidents, pages sent, night and weekend pages (in
  the paged person's zone), time to acknowledge and to resolve (median and nearest-rank 90th
  percentile, minutes), incidents resolved without an acknowledgement, escalations past the
  first step and hours on call by layer; and pages by hour of the week (7 x 24, Monday first,
  on the team's clock). Members of the team and admins only (`access.RULES`).

What each figure counts is `engine/analytics.py`'s docstrings, and the README's "Analytics: who
carries the pages".
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from oncall_opt.api.common import ERROR_RESPONSES, IdPath, JSONBodyRoute, UserOut, UtcTime, store_of
from oncall_opt.api.routes.schedules import TimeRange
from oncall_opt.engine import analytics

router = APIRouter(route_class=JSONBodyRoute, tags=["analytics"], responses=ERROR_RESPONSES)

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class DurationsOut(BaseModel):
    Count: int  # incidents with such a time
    MedianMinutes: float | None
    P90Minutes: float | None  # nearest rank: the ceil(0.9 n)-th smallest

    @classmethod
    def of(cls, d: analytics.Durations) -> DurationsOut:
        return cls(
            Count=d.count,
            MedianMinutes=_round(d.median_minutes),
            P90Minutes=_round(d.p90_minutes),
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class FiguresOut(BaseModel):
    Incidents: int  # opened in the window (for a person: assigned to them)
    Pages: int  # page notifications sent or delivered in the window
    NightPages: int  # 22:00-07:00 in the paged person's zone
    WeekendPages: int  # Saturday or Sunday in the paged person's zone
    TimeToAcknowledge: DurationsOut  # to the first real acknowledgement (resolving is not one)
    TimeToResolve: DurationsOut
    ResolvedWithoutAcknowledgement: int
    EscalatedPastFirstStep: int  # for a person: incidents their step 1 page did not stop
    HoursOnCall: float  # the final schedule (roster and overrides), all layers
    HoursByLayer: dict[str, float]

    @classmethod
    def of(cls, f: analytics.Figures) -> FiguresOut:
        return cls(
            Incidents=f.incidents,
            Pages=f.pages,
            NightPages=f.night_pages,
            WeekendPages=f.weekend_pages,
            TimeToAcknowledge=DurationsOut.of(f.to_acknowledge),
            TimeToResolve=DurationsOut.of(f.to_resolve),
            ResolvedWithoutAcknowledgement=f.resolved_without_acknowledgement,
            EscalatedPastFirstStep=f.escalated_past_first_step,
            HoursOnCall=round(f.hours_on_call, 2),
            HoursByLayer={str(k): round(v, 2) for k, v in f.hours_by_layer.items()},
        )


class ServiceFiguresOut(FiguresOut):
    ServiceId: int
    Name: str


class MonthOut(FiguresOut):
    Month: str  # YYYY-MM on the team's clock


class PersonFiguresOut(FiguresOut):
    User: UserOut
    Member: bool  # a current member (else paged or on call for the team in the window)
    Months: list[MonthOut]


class HourOfWeekOut(BaseModel):
    Days: list[str]  # Mon..Sun
    Counts: list[list[int]]  # [day][hour 0-23]: pages sent then, on the team's clock


class AnalyticsOut(BaseModel):
    TeamId: int
    TeamName: str
    Start: UtcTime
    End: UtcTime
    TimeZone: str  # the team's clock: months and hours of the week
    Team: FiguresOut
    Services: list[ServiceFiguresOut]
    People: list[PersonFiguresOut]
    Months: list[MonthOut]
    PagesByHourOfWeek: HourOfWeekOut


def _month(month: str, f: analytics.Figures) -> MonthOut:
    return MonthOut(Month=month, **FiguresOut.of(f).model_dump())


@router.get("/teams/{id}/analytics", response_model=AnalyticsOut)
def team_analytics(id: IdPath, request: Request, window: TimeRange) -> AnalyticsOut:
    """Who carried the team's pages over [Start, End) (at most 400 days)."""
    found = analytics.team_analytics(store_of(request), id, *window)
    return AnalyticsOut(
        TeamId=found.team_id,
        TeamName=found.team_name,
        Start=found.start,
        End=found.end,
        TimeZone=found.time_zone,
        Team=FiguresOut.of(found.team),
        Services=[
            ServiceFiguresOut(ServiceId=service_id, Name=name, **FiguresOut.of(f).model_dump())
            for service_id, name, f in found.services
        ],
        People=[
            PersonFiguresOut(
                User=UserOut.of(p.user),
                Member=p.member,
                Months=[_month(m, f) for m, f in found.person_months[p.user.id]],
                **FiguresOut.of(p.figures).model_dump(),
            )
            for p in found.people
        ],
        Months=[_month(m, f) for m, f in found.months],
        PagesByHourOfWeek=HourOfWeekOut(Days=list(DAYS), Counts=found.pages_by_hour_of_week),
    )
