"""Solves run in worker threads, so the API stays responsive while HiGHS works; each job's
status and result are kept in memory."""

from __future__ import annotations

import logging
import threading
import time as timer
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from oncall_opt.errors import (
    ConflictError,
    InfeasibleError,
    InvalidRequestError,
    NoSolutionInTimeError,
    NotFoundError,
    SolveCancelledError,
)
from oncall_opt.roster.cancel import Cancellation
from oncall_opt.roster.problem import Problem
from oncall_opt.times import format_timestamp

log = logging.getLogger(__name__)

MAX_TIME_LIMIT = 600.0

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
SOLVER_THREAD = "roster-solve"
STOPPED_MESSAGE = "the daemon stopped before this solve finished; start it again"


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
    team_id: int | None = None  # the team whose window it plans (None: an Input document)


def solver_threads_alive() -> bool:
    """Whether a solve worker of this process is still running (HiGHS may be in native code)."""
    return any(t.name == SOLVER_THREAD and t.is_alive() for t in threading.enumerate())


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
        self._cancellations: dict[str, Any] = {}  # running job id -> its Cancellation
        self._stopping = False

    def submit(
        self,
        problem: Problem,
        time_limit: float = 30.0,
        gap: float = 0.0,
        team_id: int | None = None,
    ) -> SolveJob:
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
            team_id=team_id,
        )
        with self._lock:
            if self._stopping:
                raise ConflictError("the daemon is stopping; start the solve again after it")
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
                threading.Thread(target=self._work, name=SOLVER_THREAD, daemon=True).start()
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
            while self._jobs[job_id].status not in FINISHED:
                left = None if deadline is None else deadline - timer.monotonic()
                if left is not None and left <= 0:
                    break
                self._changed.wait(left)
            return replace(self._jobs[job_id])

    def _prune(self) -> None:
        finished = [j for j in self._jobs.values() if j.status in FINISHED]
        for job in finished[: max(0, len(finished) - self._keep)]:
            del self._jobs[job.id]

    def shutdown(self, timeout: float = 1.5) -> bool:
        """Take no more solves, cancel the waiting ones and interrupt the running ones (HiGHS
        stops within milliseconds), then wait up to `timeout` seconds for the workers to end:
        a process must not exit while HiGHS runs in one of its threads. Each such job is
        recorded as cancelled. Returns whether every worker ended."""
        with self._lock:
            self._stopping = True
            while self._queue:
                job = self._queue.popleft()
                job.status, job.error, job.problem = CANCELLED, STOPPED_MESSAGE, None
                job.finished_at = self._now()
                log.info("solve job %s cancelled before it started: the daemon is stopping", job.id)
            cancellations = list(self._cancellations.values())
            for job_id in self._cancellations:
                log.info("solve job %s cancelled: the daemon is stopping", job_id)
            self._changed.notify_all()
        for cancellation in cancellations:
            cancellation.cancel()
        deadline = timer.monotonic() + timeout
        with self._lock:
            while self._active and timer.monotonic() < deadline:
                self._changed.wait(max(deadline - timer.monotonic(), 0.001))
            ended = self._active == 0
        if not ended:
            log.warning("a solve is still running %gs after it was cancelled", timeout)
        return ended

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._active -= 1
                    self._changed.notify_all()
                    return
                job = self._queue.popleft()
                job.status, job.started_at = RUNNING, self._now()
                cancellation = self._cancellations[job.id] = Cancellation()
                self._changed.notify_all()
            began = timer.perf_counter()
            result = self._run(job, cancellation)
            with self._lock:
                del self._cancellations[job.id]
                for key, value in result.items():
                    setattr(job, key, value)
                job.finished_at, job.problem = self._now(), None
                job.seconds = round(timer.perf_counter() - began, 3)
                self._prune()
                self._changed.notify_all()

    def _run(self, job: SolveJob, cancellation: Cancellation) -> dict[str, Any]:
        if self._solver is None:  # here, not at the top: the daemon starts without pyomo
            from oncall_opt.roster.solve import solve as solver
        else:
            solver = self._solver
        try:
            roster = solver(
                job.problem, time_limit=job.time_limit, gap=job.gap, cancellation=cancellation
            )
            return {"status": DONE, "output": roster.to_output()}
        except SolveCancelledError:
            return {"status": CANCELLED, "error": STOPPED_MESSAGE}
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
