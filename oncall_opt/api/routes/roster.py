"""Roster data and the optimizer: availability per person, the input.json of a window, solves
in a worker thread, and publishing an output.json as the window's schedules.

- `GET|PUT /users/{id}/availability`, `GET /availability` (everyone: a grid): days are
  `YYYY-MM-DD`, kinds `unavailable`, `preferred`, `avoid`; a PUT replaces the range.
- `GET /roster/input?Start=&End=&...options`: the input.json the optimizer would get.
- `POST /roster/solve` answers at once (202) with a `JobId`; `GET /roster/solve/{JobId}` says
  `queued`, `running`, `done` (with `Output`, the output.json) or `failed` (with `Error`, and
  `Reasons` in words when no roster satisfies the rules). Infeasibility is a result, not an
  HTTP error; a malformed input is a 400 at submission.
- `POST /roster/publish {Output | JobId}` replaces the window's shifts atomically.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from oncall_opt.api.access import principal_of
from oncall_opt.api.common import (
    ID_MAX,
    IdPath,
    JSONBodyRoute,
    RequestBody,
    ScheduleList,
    ScheduleOut,
    Timestamp,
    UserOut,
    UtcTime,
    now_of,
    store_of,
)
from oncall_opt.engine import availability, cover, planning
from oncall_opt.engine.planning import RosterOptions
from oncall_opt.engine.solvejobs import SolveJob, SolveJobs
from oncall_opt.engine.teams import get_team, is_member
from oncall_opt.errors import ConflictError, InvalidRequestError, PermissionDeniedError

_jobs_lock = threading.Lock()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Merged into the app's lifespan: at shutdown, running solves are cancelled (recorded as
    `cancelled`) before the process may exit, since HiGHS must not be left running in a thread
    of an exiting process. A daemon that runs its jobs looks for solves from the start, so one
    left by a daemon that died is picked up again."""
    if getattr(app.state, "run_jobs", False):
        solve_jobs(app)
    try:
        yield
    finally:
        jobs = getattr(app.state, "roster_jobs", None)
        if jobs is not None:
            await asyncio.to_thread(jobs.shutdown)
            app.state.roster_jobs = None


router = APIRouter(route_class=JSONBodyRoute, tags=["roster"], lifespan=lifespan)


def solve_jobs(app: FastAPI) -> SolveJobs:
    """The app's solve registry, made on first use (a test may install its own first)."""
    jobs = getattr(app.state, "roster_jobs", None)
    if jobs is None:
        with _jobs_lock:
            jobs = getattr(app.state, "roster_jobs", None)
            if jobs is None:
                jobs = app.state.roster_jobs = SolveJobs(app.state.store, now=app.state.clock.now)
    return jobs


StartDay = Annotated[str, Query(alias="Start", description="first day, YYYY-MM-DD")]
EndDay = Annotated[str, Query(alias="End", description="last day (included), YYYY-MM-DD")]
DayKinds = dict[str, str | None]


def _day(name: str, value: str) -> date:
    return availability.parse_day(name, value)


def _days_out(days: dict[date, str]) -> dict[str, str]:
    return {day.isoformat(): kind for day, kind in sorted(days.items())}


# ----- availability ------------------------------------------------------------------------
class AwayShiftOut(BaseModel):
    """A shift of the person's, still to come, on days they marked away: cover it."""

    TeamId: int
    Team: str
    Layer: int
    Start: UtcTime
    End: UtcTime
    CoverRequestId: int | None  # a cover request already asking (or covered) for it
    CoverStatus: str | None

    @classmethod
    def of(cls, s: cover.AwayShift) -> AwayShiftOut:
        return cls(
            TeamId=s.team_id, Team=s.team, Layer=s.layer, Start=s.start, End=s.end,
            CoverRequestId=s.request_id, CoverStatus=s.request_status,
        )  # fmt: skip


class AvailabilityOut(BaseModel):
    UserId: int
    Start: date
    End: date
    Days: dict[str, str]
    # The person's shifts on the final schedule, from now on, over the days marked away
    # (whole days in their time zone), each clipped to those days: what needs cover.
    AwayShifts: list[AwayShiftOut] = Field(default_factory=list)


def _away_shifts(request: Request, user_id: int, first: date, last: date) -> list[AwayShiftOut]:
    found = cover.away_shifts(store_of(request), user_id, first, last, now_of(request))
    return [AwayShiftOut.of(s) for s in found]


class AvailabilityIn(RequestBody):
    Start: str = Field(description="first day of the range, YYYY-MM-DD")
    End: str = Field(description="last day of the range (included)")
    Days: DayKinds = Field(
        default_factory=dict,
        description="day -> unavailable | preferred | avoid; other days of the range are cleared",
    )


class TeamAvailabilityRow(BaseModel):
    UserId: int
    FirstName: str
    LastName: str
    Days: dict[str, str]


class TeamAvailability(BaseModel):
    Start: date
    End: date
    Items: list[TeamAvailabilityRow]


@router.get("/users/{id}/availability", response_model=AvailabilityOut)
def get_availability(
    id: IdPath,
    request: Request,
    start: StartDay,
    end: EndDay,
) -> AvailabilityOut:
    """User `id`'s unavailable, preferred and avoided days from Start to End (both included)."""
    first, last = _day("Start", start), _day("End", end)
    days = availability.user_days(store_of(request), id, first, last)
    return AvailabilityOut(
        UserId=id, Start=first, End=last, Days=_days_out(days),
        AwayShifts=_away_shifts(request, id, first, last),
    )  # fmt: skip


@router.put("/users/{id}/availability", response_model=AvailabilityOut)
def put_availability(id: IdPath, params: AvailabilityIn, request: Request) -> AvailabilityOut:
    """Replace user `id`'s days from Start to End: the days given get their kind, every other
    day of the range is cleared (so `"Days": {}` clears the range)."""
    first, last = _day("Start", params.Start), _day("End", params.End)
    days = availability.set_days(store_of(request), id, first, last, params.Days)
    return AvailabilityOut(
        UserId=id, Start=first, End=last, Days=_days_out(days),
        AwayShifts=_away_shifts(request, id, first, last),
    )  # fmt: skip


@router.get("/availability", response_model=TeamAvailability)
def team_availability(
    request: Request,
    start: StartDay,
    end: EndDay,
    team_id: Annotated[int | None, Query(alias="TeamId", ge=1, le=ID_MAX)] = None,
) -> TeamAvailability:
    """Everyone's days from Start to End (only a team's members with `TeamId`): one row per
    person, people with no days included."""
    first, last = _day("Start", start), _day("End", end)
    rows = [
        TeamAvailabilityRow(
            UserId=user.id, FirstName=user.first_name, LastName=user.last_name, Days=_days_out(d)
        )
        for user, d in availability.team_days(store_of(request), first, last, team_id)
    ]
    return TeamAvailability(Start=first, End=last, Items=rows)


# ----- input.json and options --------------------------------------------------------------
class OptionsIn(RequestBody):
    """How the window is planned (all optional; the defaults are the template's)."""

    ShiftLength: str = Field("P1D", description="ISO 8601 duration: P1D, P7D, PT12H")
    TimeZone: str = Field("UTC", description="IANA zone the days and handoff are read in")
    Handoff: str = Field("00:00", description="local time shifts start, e.g. 09:00")
    Layers: int = Field(1, description="2: a primary and a secondary in every slot")
    MaxConsecutiveShifts: int | None = None
    MinRestShifts: int | None = None
    WeekendBalance: bool = False
    BalanceWeight: float | None = None
    HappinessWeight: float | None = None
    AvoidWeight: float | None = None
    StabilityWeight: float | None = None
    UserIds: list[int] | None = Field(None, description="plan only these users (default all)")
    KeepPublished: bool | None = Field(
        None,
        description="prefer the shifts already published in the window (stability); default: "
        "whenever the window has published shifts",
    )
    FreezeHours: float = Field(
        48.0, description="published slots starting before now + this are kept (0: none)"
    )
    HistoryFromReport: bool = Field(
        True, description="count the shifts people worked in the window just before (history)"
    )
    TeamId: int = Field(1, ge=1, le=ID_MAX, description="the team to plan (default: Default)")
    AwayMeans: str | None = Field(
        None, description="how a day marked away is read (default: the team's AwayMeans)"
    )
    BalanceBy: str = Field(
        "shifts",
        description="shifts: everyone about as many shifts; burden: about as much expected "
        "burden (a day on call plus the pages the team's history expects then, nights weighing "
        "NightWeight; see GET /teams/{id}/burden)",
    )
    NightWeight: float = Field(
        3.0, description="with BalanceBy burden: how many day pages a night page counts as"
    )

    def options(self) -> RosterOptions:
        return RosterOptions(
            shift_length=self.ShiftLength,
            time_zone=self.TimeZone,
            handoff=self.Handoff,
            layers=self.Layers,
            max_consecutive_shifts=self.MaxConsecutiveShifts,
            min_rest_shifts=self.MinRestShifts,
            weekend_balance=self.WeekendBalance,
            balance_weight=self.BalanceWeight,
            happiness_weight=self.HappinessWeight,
            avoid_weight=self.AvoidWeight,
            stability_weight=self.StabilityWeight,
            user_ids=tuple(self.UserIds) if self.UserIds is not None else None,
            keep_published=self.KeepPublished,
            team_id=self.TeamId,
            freeze_hours=self.FreezeHours,
            history_from_report=self.HistoryFromReport,
            away_means=self.AwayMeans,
            balance_by=self.BalanceBy,
            night_weight=self.NightWeight,
        )


class InputQuery(OptionsIn):
    # A query string holds only text: numbers and booleans are read from it, as FastAPI does.
    model_config = ConfigDict(extra="forbid", strict=False)

    Start: str = Field(description="first day of the window, YYYY-MM-DD")
    End: str = Field(description="last day a shift starts, YYYY-MM-DD")


@router.get("/roster/input")
def roster_input(request: Request, params: Annotated[InputQuery, Query()]) -> dict[str, Any]:
    """The input.json for the window Start..End built from the users and their days; solve it
    with `POST /roster/solve` or the `oncall-opt` command line."""
    _may_read_burden(request, params)
    document = planning.build_input(
        store_of(request),
        _day("Start", params.Start),
        _day("End", params.End),
        params.options(),
        now_of(request),
    )
    planning.problem_for(document, "input")  # what we hand out always loads
    return document


def _may_read_burden(request: Request, params: OptionsIn) -> None:
    """A what-if by shifts is every member's; one balanced by burden carries the team's page
    history (each slot's expected pages, what each person bore), which only its members and
    admins read (`GET /teams/{id}/burden`)."""
    principal = principal_of(request)
    if params.BalanceBy != "burden" or principal.is_admin:
        return
    if principal.user_id is None or not is_member(
        store_of(request), params.TeamId, principal.user_id
    ):
        raise PermissionDeniedError(
            f"TeamId: BalanceBy burden reads team {params.TeamId}'s page history; only its "
            "members (or an admin) may plan by it"
        )


class BurdenQuery(RequestBody):
    model_config = ConfigDict(extra="forbid", strict=False)

    Start: str = Field(description="first day of the window, YYYY-MM-DD")
    End: str = Field(description="last day a shift starts, YYYY-MM-DD")
    ShiftLength: str = Field("P1D", description="ISO 8601 duration: P1D, P7D, PT12H")
    TimeZone: str = Field("UTC", description="IANA zone the days, handoff and nights are read in")
    Handoff: str = Field("00:00", description="local time shifts start, e.g. 09:00")
    NightWeight: float = Field(3.0, description="how many day pages a night page counts as")


class SlotBurdenOut(BaseModel):
    Start: UtcTime
    End: UtcTime
    Pages: float = Field(description="pages expected in the slot")
    NightPages: float = Field(description="of those, between 22:00 and 07:00")
    Points: int = Field(description="the slot's weight for the optimizer (slot_weights)")


class BurdenOut(BaseModel):
    TeamId: int
    Explanation: str = Field(description="how the estimate was made, in a sentence")
    TimeZone: str
    NightWeight: float
    Weeks: float = Field(description="weeks of page history read")
    Pages: int = Field(description="pages seen in them")
    HourOfWeek: list[float] = Field(
        description="168 expected pages per hour of the week, Monday 00:00 first (smoothed)"
    )
    Slots: list[SlotBurdenOut]


@router.get("/teams/{id}/burden", response_model=BurdenOut)
def team_burden(id: IdPath, request: Request, params: Annotated[BurdenQuery, Query()]):
    """The expected burden of each slot of Start..End from the team's page history: what
    `BalanceBy: burden` hands the optimizer as slot weights, and why."""
    store = store_of(request)
    get_team(store, id)
    options = RosterOptions(
        shift_length=params.ShiftLength,
        time_zone=params.TimeZone,
        handoff=params.Handoff,
        team_id=id,
        balance_by="burden",
        night_weight=params.NightWeight,
    )
    w = planning.window(_day("Start", params.Start), _day("End", params.End), options)
    found, slots = planning.burden_estimate(store, w, options, now_of(request))
    return BurdenOut(
        TeamId=id,
        Explanation=found.explain(),
        TimeZone=found.zone,
        NightWeight=found.night_weight,
        Weeks=found.weeks,
        Pages=found.pages,
        HourOfWeek=[round(r, 4) for r in found.rates],
        Slots=[
            SlotBurdenOut(
                Start=s.start,
                End=s.end,
                Pages=round(s.pages, 3),
                NightPages=round(s.night_pages, 3),
                Points=s.points,
            )
            for s in slots
        ],
    )


# ----- solving -----------------------------------------------------------------------------
class SolveIn(OptionsIn):
    Start: str | None = Field(None, description="first day of the window (or give Input)")
    End: str | None = Field(None, description="last day a shift starts")
    Input: dict[str, Any] | None = Field(None, description="an input.json document to solve")
    TimeLimit: float = Field(30.0, description="seconds, at most 600")
    Gap: float = Field(0.0, description="relative gap at which the solver may stop, e.g. 0.01")


class SolveJobOut(BaseModel):
    JobId: str
    TeamId: int | None = None
    Status: str = Field(description="queued | running | done | failed")
    CreatedAt: UtcTime
    StartedAt: UtcTime | None = None
    FinishedAt: UtcTime | None = None
    Seconds: float | None = None
    TimeLimit: float
    ScheduleStart: str
    ScheduleEnd: str
    Warnings: list[str] = []
    Statistics: dict[str, Any] | None = None
    Output: dict[str, Any] | None = None
    Reasons: list[str] | None = None
    Error: str | None = None

    @classmethod
    def of(cls, job: SolveJob, output: bool = True) -> SolveJobOut:
        return cls(
            JobId=job.id,
            TeamId=job.team_id,
            Status=job.status,
            CreatedAt=job.created_at,
            StartedAt=job.started_at,
            FinishedAt=job.finished_at,
            Seconds=job.seconds,
            TimeLimit=job.time_limit,
            ScheduleStart=job.schedule_start,
            ScheduleEnd=job.schedule_end,
            Warnings=job.warnings,
            Statistics=job.output.get("statistics") if job.output else None,
            Output=job.output if output else None,
            Reasons=job.reasons,
            Error=job.error,
        )


class SolveJobList(BaseModel):
    Items: list[SolveJobOut]


_WINDOW_OPTIONS = set(OptionsIn.model_fields)


@router.post(
    "/roster/solve", response_model=SolveJobOut, response_model_exclude_none=True, status_code=202
)
def solve(params: SolveIn, request: Request) -> SolveJobOut:
    """Start solving a window (Start, End and options, from the stored days) or a given input.json
    (`Input`); answers at once with the job. Poll `GET /roster/solve/{JobId}`."""
    if params.Input is not None:
        given = [
            name for name in ("Start", "End", *_WINDOW_OPTIONS) if name in params.model_fields_set
        ]
        if given:
            raise InvalidRequestError(
                given[0], "give either Input or a window (Start, End, options)"
            )
        problem = planning.problem_for(params.Input, "Input")
        document = params.Input
    else:
        if params.Start is None or params.End is None:
            raise InvalidRequestError(
                "Start" if params.Start is None else "End",
                "required: give Start and End (days), or an Input document",
            )
        _may_read_burden(request, params)
        document = planning.build_input(
            store_of(request),
            _day("Start", params.Start),
            _day("End", params.End),
            params.options(),
            now_of(request),
        )
        problem = planning.problem_for(document, "input")
    team = None if params.Input is not None else params.TeamId
    job = solve_jobs(request.app).submit(problem, params.TimeLimit, params.Gap, team, document)
    return SolveJobOut.of(job)


def _hides_burden(request: Request, job: SolveJob, members: dict[int, bool]) -> bool:
    """Whether the caller may not see the job's figures: a solve balanced by a team's burden
    gives each person's burden points, which only its members and admins read (`members`
    keeps the answer for each team asked about)."""
    statistics = job.output.get("statistics") if job.output else None
    users = statistics.get("users") if isinstance(statistics, dict) else None
    weighted = isinstance(users, list) and any("burden" in u for u in users)
    principal = principal_of(request)
    if not weighted or job.team_id is None or principal.is_admin:
        return False
    if job.team_id not in members:
        members[job.team_id] = principal.user_id is not None and is_member(
            store_of(request), job.team_id, principal.user_id
        )
    return not members[job.team_id]


@router.get("/roster/solve", response_model=SolveJobList, response_model_exclude_none=True)
def list_solves(request: Request) -> SolveJobList:
    """The solve jobs kept in memory, oldest first, without their outputs (nor the Statistics
    of one balanced by the burden of a team the caller is not in)."""
    members: dict[int, bool] = {}
    items = []
    for job in solve_jobs(request.app).jobs():
        item = SolveJobOut.of(job, output=False)
        if _hides_burden(request, job, members):
            item.Statistics = None
        items.append(item)
    return SolveJobList(Items=items)


@router.get("/roster/solve/{job_id}", response_model=SolveJobOut, response_model_exclude_none=True)
def get_solve(job_id: str, request: Request) -> SolveJobOut:
    """A solve job: `Output` (the output.json) once done, `Reasons`/`Error` when it failed."""
    job = solve_jobs(request.app).get(job_id)
    if _hides_burden(request, job, {}):
        raise PermissionDeniedError(
            f"solve job {job.id} is balanced by team {job.team_id}'s burden: only its members "
            "(or an admin) may read it"
        )
    return SolveJobOut.of(job)


# ----- publishing --------------------------------------------------------------------------
class PublishIn(RequestBody):
    Output: Any = Field(None, description="an output.json document (overrides, ...)")
    JobId: str | None = Field(None, description="publish this finished solve job's output instead")
    Input: Any = Field(
        None,
        description="the input.json Output was solved from: its shift length, run and rest rules "
        "become the team's (with JobId, the job's own input is used)",
    )
    Start: Timestamp | None = Field(None, description="window start (default: the first override)")
    End: Timestamp | None = Field(None, description="window end (default: the last override's end)")
    Merge: bool = Field(True, description="store back-to-back shifts of one person as one")
    TeamId: int | None = Field(
        None,
        ge=1,
        le=ID_MAX,
        description="the team whose shifts these are (default: the solve job's team, else Default)",
    )
    FreezeHours: float = Field(
        48.0, description="shifts published before now + this stay as they are (0: none)"
    )


class ChangeOut(BaseModel):
    Layer: int
    Start: UtcTime
    End: UtcTime
    Before: UserOut | None
    After: UserOut | None


class PublishOut(ScheduleList):
    Changes: list[ChangeOut]  # exactly what changed (also posted in the team's channel)
    FrozenUntil: UtcTime  # published shifts before this were kept


@router.post("/roster/publish", response_model=PublishOut)
def publish(params: PublishIn, request: Request) -> PublishOut:
    """Publish a roster as schedules: the window's shifts (in the layers the roster has) are
    replaced, all or nothing, except those published before now + FreezeHours (48 h), which
    stay. Override `user.id`s must be user ids of this daemon. The answer and the team's
    channel say exactly whose shifts changed."""
    if (params.Output is None) == (params.JobId is None):
        raise InvalidRequestError("Output", "give either Output (an output.json) or JobId")
    output, team_id, planned_with = params.Output, params.TeamId, params.Input
    if planned_with is not None and not isinstance(planned_with, dict):
        raise InvalidRequestError("Input", "expected the input.json object the roster came from")
    if params.JobId is not None:
        job = solve_jobs(request.app).get(params.JobId)
        if job.output is None:
            raise ConflictError(f"solve job {job.id} is {job.status}: it has no roster to publish")
        output = job.output
        team_id = team_id or job.team_id
        planned_with = solve_jobs(request.app).document(job.id)
    published = planning.publish_output(
        store_of(request),
        output,
        params.Start,
        params.End,
        merge=params.Merge,
        team_id=team_id or 1,
        now=now_of(request),
        freeze_hours=params.FreezeHours,
        planned_with=planned_with,
    )
    return PublishOut(
        Items=[ScheduleOut.of(s) for s in published.shifts],
        Changes=[
            ChangeOut(
                Layer=c.layer,
                Start=c.start,
                End=c.end,
                Before=UserOut.of(c.before),
                After=UserOut.of(c.after),
            )
            for c in published.changes
        ],
        FrozenUntil=published.frozen_until,
    )
