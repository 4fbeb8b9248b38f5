"""Roster data: each person's unavailable, preferred and avoided days, the input.json built from
them for a window, solves run in worker threads, and an output.json published as schedules.

Days are calendar days in the roster's time zone (one row per person and day, kinds
`unavailable`, `preferred`, `avoid`). A window is [Start, End] in days: its slots start at the
handoff time (00:00 by default) on Start, and every slot that starts before the handoff on the
day after End is planned, so End is the last day a slot starts (a weekly slot that starts on End
runs past it). Publishing replaces the window's shifts atomically (`schedules.publish`), so the
optimised roster decides who gets paged.

Field names in error messages are the API's (`Start`, `Days.2026-12-01`, `TimeZone`, ...).
"""

from __future__ import annotations

import logging
import re
import threading
import time as timer
import uuid
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from oncall_opt.engine.shifts import (
    PRIMARY,
    SECONDARY,
    Schedule,
    Shift,
    list_schedules,
    publish,
)
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.users import User, get_user, list_users, users_by_id
from oncall_opt.errors import (
    ConflictError,
    InfeasibleError,
    InputError,
    InvalidRequestError,
    NoSolutionInTimeError,
    NotFoundError,
)
from oncall_opt.roster.grid import MAX_SLOTS, parse_duration
from oncall_opt.roster.load import load_problem
from oncall_opt.roster.problem import Problem
from oncall_opt.roster.spec import format_timestamp

log = logging.getLogger(__name__)

UNAVAILABLE, PREFERRED, AVOID = "unavailable", "preferred", "avoid"
KINDS = (UNAVAILABLE, PREFERRED, AVOID)
MAX_DAYS = 1096  # three years: the longest range read, written or planned at once
MAX_TIME_LIMIT = 600.0
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HANDOFF = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})$")


# ----- days and windows ----------------------------------------------------------------------
def parse_day(field_name: str, value: Any) -> date:
    """A calendar date written `YYYY-MM-DD` (a `date` passes through)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DAY.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidRequestError(field_name, f"'{value}' is not a valid date: {exc}") from None
    raise InvalidRequestError(field_name, f"expected a date like 2026-12-01, got {value!r}")


def check_days(start: date, end: date, names: tuple[str, str] = ("Start", "End")) -> None:
    if end < start:
        raise InvalidRequestError(names[1], f"{end} is before {names[0]} {start}")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidRequestError(
            names[1], f"the range holds {(end - start).days + 1} days; at most {MAX_DAYS} at once"
        )


# ----- availability --------------------------------------------------------------------------
def set_days(
    store: Store, user_id: int, start: date, end: date, days: Mapping[Any, str | None]
) -> dict[date, str]:
    """Replace `user_id`'s days in [start, end]: each day given gets its kind (`None` clears
    it), every other day of the range is cleared. Returns the days now set in the range."""
    check_days(start, end)
    wanted: dict[date, str] = {}
    for key, kind in days.items():
        name = f"Days.{key}"
        day = parse_day(name, key)
        if not start <= day <= end:
            raise InvalidRequestError(name, f"is outside Start {start} to End {end}")
        if kind is None or kind == "":
            continue
        if kind not in KINDS:
            raise InvalidRequestError(name, f"{kind!r} is not one of {', '.join(KINDS)}")
        wanted[day] = kind

    def work(tx: Transaction) -> dict[date, str]:
        get_user(tx, user_id)
        tx.execute(
            "DELETE FROM availability WHERE user_id = ? AND day BETWEEN ? AND ?",
            [user_id, start, end],
        )
        if wanted:
            rows = sorted(wanted.items())
            marks = ", ".join("(?, ?, ?)" for _ in rows)
            params: list[Any] = []
            for day, kind in rows:
                params += [user_id, day, kind]
            tx.execute(f"INSERT INTO availability (user_id, day, kind) VALUES {marks}", params)
        return dict(sorted(wanted.items()))

    return store.write(work)


def _days(source: Store | Transaction, start: date, end: date, user_id: int | None = None):
    sql = "SELECT user_id, day, kind FROM availability WHERE day BETWEEN ? AND ?"
    params: list[Any] = [start, end]
    if user_id is not None:
        sql += " AND user_id = ?"
        params.append(user_id)
    found: dict[int, dict[date, str]] = {}
    for row in source.rows(sql + " ORDER BY user_id, day", params):
        found.setdefault(row["user_id"], {})[row["day"]] = row["kind"]
    return found


def user_days(store: Store, user_id: int, start: date, end: date) -> dict[date, str]:
    """`user_id`'s days in [start, end] (NotFoundError for an unknown user)."""
    check_days(start, end)
    get_user(store, user_id)
    return _days(store, start, end, user_id).get(user_id, {})


def team_days(store: Store, start: date, end: date) -> list[tuple[User, dict[date, str]]]:
    """Every user with their days in [start, end] (users with none get an empty mapping)."""
    check_days(start, end)
    found = _days(store, start, end)
    return [(user, found.get(user.id, {})) for user in list_users(store)]


# ----- input.json for a window ---------------------------------------------------------------
@dataclass(frozen=True)
class RosterOptions:
    """How a window is planned: the input.json extensions, under the API's field names."""

    shift_length: str = "P1D"  # ShiftLength
    time_zone: str = "UTC"  # TimeZone
    handoff: str = "00:00"  # Handoff: local time slots start at
    layers: int = 1  # Layers
    max_consecutive_shifts: int | None = None  # MaxConsecutiveShifts
    min_rest_shifts: int | None = None  # MinRestShifts
    weekend_balance: bool = False  # WeekendBalance
    balance_weight: float | None = None  # BalanceWeight
    happiness_weight: float | None = None  # HappinessWeight
    avoid_weight: float | None = None  # AvoidWeight
    stability_weight: float | None = None  # StabilityWeight
    user_ids: tuple[int, ...] | None = None  # UserIds: plan only these people (default all)
    keep_published: bool = False  # KeepPublished: prefer the shifts published in the window

    def checked(self) -> tuple[timedelta, zoneinfo.ZoneInfo, time]:
        """Validate; returns the slot length, the zone and the handoff time."""
        try:
            length = parse_duration(self.shift_length)
        except ValueError as exc:
            raise InvalidRequestError("ShiftLength", str(exc)) from None
        try:
            zone = zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidRequestError(
                "TimeZone", f"unknown IANA time zone {self.time_zone!r} (like Europe/Berlin)"
            ) from None
        match = _HANDOFF.match(self.handoff.strip())
        if not match or int(match["h"]) > 23 or int(match["m"]) > 59:
            raise InvalidRequestError(
                "Handoff", f"expected a time like 09:00, got {self.handoff!r}"
            )
        if self.layers not in (1, 2):
            raise InvalidRequestError("Layers", "must be 1 (primary) or 2 (primary and secondary)")
        if self.max_consecutive_shifts is not None and self.max_consecutive_shifts < 1:
            raise InvalidRequestError("MaxConsecutiveShifts", "must be at least 1")
        if self.min_rest_shifts is not None and self.min_rest_shifts < 0:
            raise InvalidRequestError("MinRestShifts", "must not be negative")
        for name, value in self._weights().items():
            if value < 0 or value != value or value in (float("inf"), float("-inf")):
                raise InvalidRequestError(f"{name.title()}Weight", "must be a number from 0 up")
        return length, zone, time(int(match["h"]), int(match["m"]))

    def _weights(self) -> dict[str, float]:
        weights = {
            "balance": self.balance_weight,
            "happiness": self.happiness_weight,
            "avoid": self.avoid_weight,
            "stability": self.stability_weight,
        }
        return {k: float(v) for k, v in weights.items() if v is not None}


@dataclass(frozen=True)
class Window:
    """The slots of [start day, end day]: the first starts at `first`, the last ends at `stop`."""

    first: datetime  # aware, in the roster's zone
    last: datetime  # the last slot's start: schedule_end
    stop: datetime  # the last slot's end
    slots: int


def window(start: date, end: date, options: RosterOptions) -> Window:
    check_days(start, end)
    length, zone, handoff = options.checked()
    first = datetime.combine(start, handoff, tzinfo=zone)
    limit = _utc(datetime.combine(end + timedelta(days=1), handoff, tzinfo=zone))
    # Wall-clock arithmetic, as the slot grid does it: a handoff stays at the same local hour.
    k = 1
    while _utc(first + k * length) < limit:
        k += 1
        if k > MAX_SLOTS:
            raise InvalidRequestError(
                "End", f"the window holds more than {MAX_SLOTS} slots of {options.shift_length}"
            )
    return Window(first, first + (k - 1) * length, first + k * length, k)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def build_input(
    store: Store, start: date, end: date, options: RosterOptions | None = None
) -> dict[str, Any]:
    """The input.json document for [start, end] from the users and their days."""
    options = options or RosterOptions()
    w = window(start, end, options)
    zone = w.first.tzinfo
    assert zone is not None
    if options.user_ids is not None:
        wanted = list(dict.fromkeys(options.user_ids))
        if not wanted:
            raise InvalidRequestError(
                "UserIds", "is empty: name at least one user, or leave it out"
            )
        known = users_by_id(store, set(wanted))
        for i, user_id in enumerate(wanted):
            if user_id not in known:
                raise NotFoundError(f"UserIds[{i}]: no user with id {user_id}")
        people = [known[i] for i in wanted]
    else:
        people = list_users(store)
    if not people:
        raise InvalidRequestError("users", "there are no users yet: create the team first")

    first_day, last_day = w.first.date(), (w.stop - timedelta(microseconds=1)).date()
    found = _days(store, first_day, last_day)
    users = []
    for person in people:
        unavailable, preferred, avoided = [], [], []
        for day, kind in sorted(found.get(person.id, {}).items()):
            midnight = datetime.combine(day, time(0), tzinfo=zone)
            if kind == UNAVAILABLE:
                # A bare date blocks every slot that overlaps the local day.
                if _utc(midnight) < _utc(w.stop) and _utc(midnight + timedelta(days=1)) > _utc(
                    w.first
                ):
                    unavailable.append(day.isoformat())
            elif _utc(w.first) <= _utc(midnight + timedelta(hours=12)) < _utc(w.stop):
                # A preferred or avoided date points at the slot on call at local noon.
                (preferred if kind == PREFERRED else avoided).append(day.isoformat())
        entry: dict[str, Any] = {
            "id": str(person.id),
            "name": person.full_name,
            "type": "user_reference",
            "unavailable": unavailable,
            "preferences": {"days": preferred},
        }
        if avoided:
            entry["preferences"]["avoid_days"] = avoided
        users.append(entry)

    doc: dict[str, Any] = {
        "schedule_start": format_timestamp(w.first),
        "schedule_end": format_timestamp(w.last),
        "users": users,
    }
    shift = {}
    if options.shift_length != "P1D":
        shift["length"] = options.shift_length
    if options.time_zone != "UTC":
        shift["time_zone"] = options.time_zone
    if shift:
        doc["shift"] = shift
    if options.layers != 1:
        doc["layers"] = options.layers
    if options.max_consecutive_shifts is not None:
        doc["max_consecutive_shifts"] = options.max_consecutive_shifts
    if options.min_rest_shifts is not None:
        doc["min_rest_shifts"] = options.min_rest_shifts
    if options.weekend_balance:
        doc["weekend_balance"] = True
    if options._weights():
        doc["objective"] = options._weights()
    if options.keep_published:
        previous = _published(store, w, {u["id"] for u in users}, options.layers)
        if previous["overrides"] or previous.get("secondary_overrides"):
            doc["previous"] = previous
    return doc


def _published(store: Store, w: Window, ids: set[str], layers: int) -> dict[str, Any]:
    """The shifts published in the window as an earlier output.json, for stable re-planning."""
    previous: dict[str, Any] = {"overrides": []}
    if layers > 1:
        previous["secondary_overrides"] = []
    for s in list_schedules(store, _utc(w.first), _utc(w.stop)):
        if str(s.user.id) not in ids or s.layer > layers:
            continue
        key = "overrides" if s.layer == PRIMARY else "secondary_overrides"
        previous[key].append(
            {
                "start": format_timestamp(s.start),
                "end": format_timestamp(s.end),
                "user": {"id": str(s.user.id), "name": s.user.full_name},
            }
        )
    return previous


def problem_for(document: Any, path: str = "Input") -> Problem:
    """Load an input.json document; every problem's JSON path is prefixed with `path`."""
    try:
        return load_problem(document)
    except InputError as exc:
        raise InputError(
            [(f"{path}.{where}", message) for where, message in exc.problems]
        ) from None


# ----- solving in worker threads -------------------------------------------------------------
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass
class SolveJob:
    """One solve: its status and, once finished, the output.json or why there is none."""

    id: str
    status: str
    created_at: datetime
    time_limit: float
    gap: float
    schedule_start: str
    schedule_end: str
    warnings: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seconds: float | None = None
    output: dict[str, Any] | None = None
    reasons: list[str] | None = None  # why no roster exists, in words
    error: str | None = None
    problem: Problem | None = field(default=None, repr=False)


class SolveJobs:
    """Runs `oncall_opt.roster.solve` in at most `workers` daemon threads at a time, so the API
    stays responsive; keeps every job's status and result in memory (the last `keep` finished ones).

    Worker threads start with work and end when the queue is empty, and are daemon threads: a
    daemon that is stopping does not wait for a long solve. `max_waiting` bounds the queue; a
    submit beyond it is refused (ConflictError) rather than piling up work."""

    def __init__(
        self,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        workers: int = 1,
        max_waiting: int = 4,
        keep: int = 50,
        solver: Callable[..., Any] | None = None,
    ):
        self._now, self._workers, self._max_waiting, self._keep = now, workers, max_waiting, keep
        self._solver = solver
        self._jobs: dict[str, SolveJob] = {}
        self._queue: deque[SolveJob] = deque()
        self._active = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def submit(self, problem: Problem, time_limit: float = 30.0, gap: float = 0.0) -> SolveJob:
        if not 0 < time_limit <= MAX_TIME_LIMIT:
            raise InvalidRequestError(
                "TimeLimit", f"must be more than 0 and at most {MAX_TIME_LIMIT:g} s"
            )
        if not 0 <= gap < 1:
            raise InvalidRequestError("Gap", "must be a fraction from 0 up to (not including) 1")
        grid = problem.grid
        job = SolveJob(
            id=uuid.uuid4().hex[:12],
            status=QUEUED,
            created_at=self._now(),
            time_limit=float(time_limit),
            gap=float(gap),
            schedule_start=format_timestamp(grid.local(grid.starts[0])),
            schedule_end=format_timestamp(grid.local(grid.starts[-1])),
            warnings=list(problem.warnings),
            problem=problem,
        )
        with self._lock:
            if len(self._queue) >= self._max_waiting:
                raise ConflictError(
                    f"{len(self._queue)} solves are already waiting for the solver; "
                    "try again when one has finished"
                )
            self._jobs[job.id] = job
            self._queue.append(job)
            self._prune()
            if self._active < self._workers:
                self._active += 1
                threading.Thread(target=self._work, name="roster-solve", daemon=True).start()
            return replace(job)

    def get(self, job_id: str) -> SolveJob:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFoundError(
                    f"no solve job with id {job_id!r} (finished jobs are kept "
                    f"in memory, the last {self._keep}, until the daemon stops)"
                )
            return replace(job)

    def jobs(self) -> list[SolveJob]:
        with self._lock:
            return [replace(job) for job in self._jobs.values()]

    def wait(self, job_id: str, timeout: float | None = None) -> SolveJob:
        """Block until the job has finished (or `timeout` seconds passed); returns it."""
        deadline = None if timeout is None else timer.monotonic() + timeout
        with self._lock:
            if job_id not in self._jobs:
                raise NotFoundError(f"no solve job with id {job_id!r}")
            while self._jobs[job_id].status in (QUEUED, RUNNING):
                left = None if deadline is None else deadline - timer.monotonic()
                if left is not None and left <= 0:
                    break
                self._changed.wait(left)
            return replace(self._jobs[job_id])

    def _prune(self) -> None:
        finished = [j for j in self._jobs.values() if j.status in (DONE, FAILED)]
        for job in finished[: max(0, len(finished) - self._keep)]:
            del self._jobs[job.id]

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._active -= 1
                    return
                job = self._queue.popleft()
                job.status, job.started_at = RUNNING, self._now()
                self._changed.notify_all()
            began = timer.perf_counter()
            result = self._run(job)
            with self._lock:
                for key, value in result.items():
                    setattr(job, key, value)
                job.finished_at, job.problem = self._now(), None
                job.seconds = round(timer.perf_counter() - began, 3)
                self._prune()
                self._changed.notify_all()

    def _run(self, job: SolveJob) -> dict[str, Any]:
        if self._solver is None:
            from oncall_opt.roster.solve import solve as solver
        else:
            solver = self._solver
        try:
            roster = solver(job.problem, time_limit=job.time_limit, gap=job.gap)
            return {"status": DONE, "output": roster.to_output()}
        except InfeasibleError as exc:
            return {
                "status": FAILED,
                "error": "no roster satisfies every rule",
                "reasons": list(exc.reasons),
            }
        except NoSolutionInTimeError as exc:
            return {"status": FAILED, "error": str(exc)}
        except Exception as exc:  # a solver bug must not kill the worker or hide the job
            log.exception("solve job %s failed", job.id)
            return {"status": FAILED, "error": f"internal error: {type(exc).__name__}: {exc}"}


# ----- publishing an output.json -------------------------------------------------------------
def _timestamp(name: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidRequestError(
                name, f"{value!r} is not an RFC 3339 timestamp (like 2026-12-01T09:00:00Z)"
            ) from None
    else:
        raise InvalidRequestError(name, f"expected an RFC 3339 timestamp string, got {value!r}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidRequestError(name, "timestamp has no UTC offset (add Z or +hh:mm)")
    return parsed.astimezone(UTC)


def _user_id(name: str, value: Any) -> int:
    ok = isinstance(value, str | int) and not isinstance(value, bool)
    text = str(value).strip() if ok else ""
    if not text.isdigit():
        raise InvalidRequestError(
            name, f"{value!r} is not a user id of this daemon (the number of a user, like '3')"
        )
    return int(text)


def output_shifts(output: Any, path: str = "Output") -> list[tuple[str, Shift]]:
    """The shifts an output.json asks for, each with the JSON path of its override:
    `overrides` in layer 1, `secondary_overrides` in layer 2."""
    if not isinstance(output, dict):
        raise InvalidRequestError(path, "expected an output.json object with overrides")
    if "overrides" not in output:
        raise InvalidRequestError(f"{path}.overrides", "required field is missing")
    found = []
    for key, layer in (("overrides", PRIMARY), ("secondary_overrides", SECONDARY)):
        items = output.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise InvalidRequestError(f"{path}.{key}", "expected an array of overrides")
        for i, item in enumerate(items):
            where = f"{path}.{key}[{i}]"
            if not isinstance(item, dict):
                raise InvalidRequestError(where, "expected an override object")
            for part in ("start", "end", "user"):
                if part not in item:
                    raise InvalidRequestError(f"{where}.{part}", "required field is missing")
            user = item["user"]
            if not isinstance(user, dict) or "id" not in user:
                raise InvalidRequestError(f"{where}.user.id", "required field is missing")
            start = _timestamp(f"{where}.start", item["start"])
            end = _timestamp(f"{where}.end", item["end"])
            if end <= start:
                raise InvalidRequestError(f"{where}.end", "must be after start")
            found.append(
                (where, Shift(_user_id(f"{where}.user.id", user["id"]), start, end, layer))
            )
    return found


def _merged(shifts: Iterable[Shift]) -> list[Shift]:
    """Back-to-back shifts of one person in one layer become one (who is on call is the same)."""
    merged: list[Shift] = []
    for s in sorted(shifts, key=lambda s: (s.layer, s.start)):
        last = merged[-1] if merged else None
        if last and (last.layer, last.user_id, last.end) == (s.layer, s.user_id, s.start):
            merged[-1] = replace(last, end=s.end)
        else:
            merged.append(s)
    return merged


def publish_output(
    store: Store,
    output: Any,
    start: datetime | None = None,
    end: datetime | None = None,
    merge: bool = True,
) -> list[Schedule]:
    """Publish an output.json as schedules, replacing the window [start, end) atomically in the
    layers it uses (all or nothing). Without `start`/`end` the window is the span the overrides
    cover. Override user ids must be ids of users here. With `merge`, back-to-back shifts of one
    person are stored as one."""
    found = output_shifts(output)
    if (start is None) != (end is None):
        raise InvalidRequestError(
            "End" if end is None else "Start", "give both Start and End, or neither"
        )
    if start is None or end is None:
        if not found:
            raise InvalidRequestError(
                "Output.overrides", "is empty: give Start and End to say which window to clear"
            )
        start = min(s.start for _, s in found)
        end = max(s.end for _, s in found)
    else:
        start, end = _timestamp("Start", start), _timestamp("End", end)
        if end <= start:
            raise InvalidRequestError("End", "must be after Start")
        for where, s in found:
            if s.start < start or s.end > end:
                raise InvalidRequestError(
                    where,
                    f"lies outside the window {format_timestamp(start)} to "
                    f"{format_timestamp(end)} being published",
                )
    by_layer = sorted(found, key=lambda pair: (pair[1].layer, pair[1].start))
    for (before, a), (after, b) in pairwise(by_layer):
        if a.layer == b.layer and b.start < a.end:
            raise InvalidRequestError(after, f"overlaps {before}: one person is on call at a time")
    known = users_by_id(store, {s.user_id for _, s in found})
    for where, s in found:
        if s.user_id not in known:
            raise NotFoundError(f"{where}.user.id: no user with id {s.user_id}")
    shifts = [s for _, s in found]
    return publish(store, start, end, _merged(shifts) if merge else shifts)
