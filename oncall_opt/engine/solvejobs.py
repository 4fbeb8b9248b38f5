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
)
from oncall_opt.roster.problem import Problem
from oncall_opt.times import format_timestamp

log = logging.getLogger(__name__)

MAX_TIME_LIMIT = 600.0

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
