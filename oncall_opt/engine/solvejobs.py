"""Solves run in worker threads, so the API stays responsive while HiGHS works; each job's
status and result are kept in the store, where any daemon on the same database can run it."""

from __future__ import annotations

import json
import logging
import threading
import time as timer
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall_opt.engine.store import Store, Transaction
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
    team_id: int | None = None  # the team whose window it plans (None: an Input document)


def solver_threads_alive() -> bool:
    """Whether a solve worker of this process is still running (HiGHS may be in native code)."""
    return any(t.name == SOLVER_THREAD and t.is_alive() for t in threading.enumerate())


_COLUMNS = (
    "id, status, team_id, time_limit, gap, schedule_start, schedule_end, warnings, created_at, "
    "started_at, finished_at, seconds, output, reasons, error"
)


def _job(row: dict[str, Any]) -> SolveJob:
    return SolveJob(
        id=row["id"],
        status=row["status"],
        created_at=row["created_at"],
        time_limit=row["time_limit"],
        gap=row["gap"],
        schedule_start=row["schedule_start"],
        schedule_end=row["schedule_end"],
        warnings=json.loads(row["warnings"] or "[]"),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        seconds=row["seconds"],
        output=json.loads(row["output"]) if row["output"] else None,
        reasons=json.loads(row["reasons"]) if row["reasons"] else None,
        error=row["error"],
        team_id=row["team_id"],
    )


class SolveJobs:
    """Solve jobs kept in the store, run by at most `workers` daemon threads of this process at
    a time, so the API stays responsive. Any daemon on the same database may run a queued job:
    a worker claims it (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and keeps a heartbeat while it
    runs; a job whose heartbeat is older than `lease` seconds (its daemon died) is claimed again
    by another. A poller looks for such work every `poll` seconds.

    Worker threads start with work and end when there is none, and are daemon threads: a daemon
    that is stopping does not wait for a long solve. `max_waiting` bounds the queue; a submit
    beyond it is refused (ConflictError) rather than piling up work."""

    def __init__(
        self,
        store: Store,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        workers: int = 1,
        max_waiting: int = 4,
        keep: int = 50,
        solver: Callable[..., Any] | None = None,
        lease: float = 30.0,
        poll: float = 2.0,
    ):
        self.store, self._now, self._workers = store, now, workers
        self._max_waiting, self._keep, self._solver, self._lease = max_waiting, keep, solver, lease
        self.daemon_id = uuid.uuid4().hex[:12]
        self._problems: dict[str, Problem] = {}  # submitted here: no need to parse them again
        self._active = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._cancellations: dict[str, Any] = {}  # running job id -> its Cancellation
        self._stopping = threading.Event()
        self._poller = threading.Thread(
            target=self._poll_loop, args=(poll,), name="roster-solve-poll", daemon=True
        )
        self._poller.start()

    def submit(
        self,
        problem: Problem,
        time_limit: float = 30.0,
        gap: float = 0.0,
        team_id: int | None = None,
        document: dict[str, Any] | None = None,
    ) -> SolveJob:
        """Queue a solve of `problem` (its input.json `document`, for whichever daemon runs
        it; by default the problem's own)."""
        if not 0 < time_limit <= MAX_TIME_LIMIT:
            raise InvalidRequestError(
                "TimeLimit", f"must be more than 0 and at most {MAX_TIME_LIMIT:g} s"
            )
        if not 0 <= gap < 1:
            raise InvalidRequestError("Gap", "must be a fraction from 0 up to (not including) 1")
        if self._stopping.is_set():
            raise ConflictError("the daemon is stopping; start the solve again after it")
        grid = problem.grid
        job_id = uuid.uuid4().hex[:12]
        if document is None:
            document = problem.document.model_dump(mode="json", exclude_none=True)

        def work(tx: Transaction) -> SolveJob:
            waiting = tx.row("SELECT count(*) AS n FROM solve_jobs WHERE status = ?", [QUEUED])
            if waiting and waiting["n"] >= self._max_waiting:
                raise ConflictError(
                    f"{waiting['n']} solves are already waiting for the solver; "
                    "try again when one has finished"
                )
            row = tx.row(
                "INSERT INTO solve_jobs (id, status, team_id, input, time_limit, gap, "
                "schedule_start, schedule_end, warnings, created_at, submitted_by) VALUES "
                f"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                [
                    job_id,
                    QUEUED,
                    team_id,
                    json.dumps(document),
                    float(time_limit),
                    float(gap),
                    format_timestamp(grid.local(grid.starts[0])),
                    format_timestamp(grid.local(grid.starts[-1])),
                    json.dumps(list(problem.warnings)),
                    self._now(),
                    self.daemon_id,
                ],
            )
            assert row is not None
            return _job(row)

        job = self.store.write(work)
        with self._lock:
            self._problems[job.id] = problem
        self._prune()
        self._start_worker()
        return job

    def get(self, job_id: str) -> SolveJob:
        row = self.store.row(f"SELECT {_COLUMNS} FROM solve_jobs WHERE id = ?", [job_id])
        if row is None:
            raise NotFoundError(
                f"no solve job with id {job_id!r} (the last {self._keep} finished jobs are kept)"
            )
        return _job(row)

    def document(self, job_id: str) -> dict[str, Any] | None:
        """The input.json a job solved (its rules: shift length, runs, rest), if still kept."""
        row = self.store.row("SELECT input FROM solve_jobs WHERE id = ?", [job_id])
        return json.loads(row["input"]) if row and row["input"] else None

    def jobs(self) -> list[SolveJob]:
        rows = self.store.rows(
            f"SELECT {_COLUMNS} FROM solve_jobs ORDER BY created_at DESC, id LIMIT ?",
            [self._keep + self._max_waiting + self._workers],
        )
        return [_job(row) for row in reversed(rows)]

    def wait(self, job_id: str, timeout: float | None = None) -> SolveJob:
        """Block until the job has finished (or `timeout` seconds passed); returns it."""
        deadline = None if timeout is None else timer.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.status in FINISHED or (deadline is not None and timer.monotonic() > deadline):
                return job
            with self._lock:
                self._changed.wait(0.05)

    def _prune(self) -> None:
        """Keep the newest `keep` finished jobs."""
        self.store.write(
            lambda tx: tx.execute(
                "DELETE FROM solve_jobs WHERE status IN (?, ?, ?) AND id NOT IN (SELECT id FROM "
                "solve_jobs WHERE status IN (?, ?, ?) ORDER BY finished_at DESC LIMIT ?)",
                [*FINISHED, *FINISHED, self._keep],
            )
        )

    def shutdown(self, timeout: float = 1.5) -> bool:
        """Take no more solves, cancel the ones submitted here that wait and interrupt the ones
        running here (HiGHS stops within milliseconds), then wait up to `timeout` seconds for
        the workers to end: a process must not exit while HiGHS runs in one of its threads.
        Each such job is recorded as cancelled. Returns whether every worker ended."""
        self._stopping.set()
        now = self._now()
        cancelled = self.store.write(
            lambda tx: tx.rows(
                "UPDATE solve_jobs SET status = ?, error = ?, finished_at = ? WHERE status = ? "
                "AND submitted_by = ? RETURNING id",
                [CANCELLED, STOPPED_MESSAGE, now, QUEUED, self.daemon_id],
            )
        )
        for row in cancelled:
            log.info("solve job %s cancelled before it started: the daemon is stopping", row["id"])
        with self._lock:
            cancellations = list(self._cancellations.items())
            self._changed.notify_all()
        for job_id, cancellation in cancellations:
            log.info("solve job %s cancelled: the daemon is stopping", job_id)
            cancellation.cancel()
        deadline = timer.monotonic() + timeout
        with self._lock:
            while self._active and timer.monotonic() < deadline:
                self._changed.wait(max(deadline - timer.monotonic(), 0.001))
            ended = self._active == 0
        if not ended:
            log.warning("a solve is still running %gs after it was cancelled", timeout)
        return ended

    # ----- running -----------------------------------------------------------------------------
    def _start_worker(self) -> None:
        with self._lock:
            if self._stopping.is_set() or self._active >= self._workers:
                return
            self._active += 1
        threading.Thread(target=self._work, name=SOLVER_THREAD, daemon=True).start()

    def _poll_loop(self, every: float) -> None:
        """Now and then: is there a queued job, or one whose daemon died? Then work."""
        while not self._stopping.wait(every):
            try:
                if self._claimable():
                    self._start_worker()
            except Exception:  # the database is away for a moment: try again next time
                log.exception("looking for solve jobs failed")

    def _claimable(self) -> bool:
        stale = self._now() - timedelta(seconds=self._lease)
        return (
            self.store.row(
                "SELECT id FROM solve_jobs WHERE status = ? OR (status = ? AND heartbeat_at < ?) "
                "LIMIT 1",
                [QUEUED, RUNNING, stale],
            )
            is not None
        )

    def _claim(self) -> tuple[SolveJob, str] | None:
        now = self._now()
        stale = now - timedelta(seconds=self._lease)

        def work(tx: Transaction) -> tuple[SolveJob, str] | None:
            row = tx.row(
                "SELECT id, input FROM solve_jobs WHERE status = ? OR (status = ? AND "
                f"heartbeat_at < ?) ORDER BY created_at, id LIMIT 1{tx.claim}",
                [QUEUED, RUNNING, stale],
            )
            if row is None:
                return None
            claimed = tx.row(
                "UPDATE solve_jobs SET status = ?, claimed_by = ?, started_at = ?, "
                f"heartbeat_at = ? WHERE id = ? RETURNING {_COLUMNS}",
                [RUNNING, self.daemon_id, now, now, row["id"]],
            )
            assert claimed is not None
            return _job(claimed), row["input"]

        return self.store.write(work)

    def _work(self) -> None:
        while True:
            if self._stopping.is_set():
                claimed = None
            else:
                try:
                    claimed = self._claim()
                except Exception:
                    log.exception("claiming a solve job failed")
                    claimed = None
            if claimed is None:
                with self._lock:
                    self._active -= 1
                    self._changed.notify_all()
                return
            job, document = claimed
            with self._lock:
                problem = self._problems.pop(job.id, None)
                cancellation = self._cancellations[job.id] = Cancellation()
                self._changed.notify_all()
            beating = threading.Event()
            threading.Thread(
                target=self._heartbeat,
                args=(job.id, beating),
                name="roster-solve-beat",
                daemon=True,
            ).start()
            began = timer.perf_counter()
            try:
                result = self._run(job, problem, document, cancellation)
            finally:
                beating.set()
            self._finish(job.id, result, round(timer.perf_counter() - began, 3))
            with self._lock:
                del self._cancellations[job.id]
                self._changed.notify_all()
            self._prune()

    def _heartbeat(self, job_id: str, done: threading.Event) -> None:
        while not done.wait(self._lease / 3):
            try:
                self.store.write(
                    lambda tx: tx.execute(
                        "UPDATE solve_jobs SET heartbeat_at = ? WHERE id = ? AND claimed_by = ?",
                        [self._now(), job_id, self.daemon_id],
                    )
                )
            except Exception:
                log.exception("the heartbeat of solve job %s failed", job_id)

    def _finish(self, job_id: str, result: dict[str, Any], seconds: float) -> None:
        self.store.write(
            lambda tx: tx.execute(
                "UPDATE solve_jobs SET status = ?, output = ?, reasons = ?, error = ?, "
                "finished_at = ?, seconds = ? WHERE id = ? AND claimed_by = ?",
                [
                    result["status"],
                    json.dumps(result["output"]) if result.get("output") else None,
                    json.dumps(result["reasons"]) if result.get("reasons") else None,
                    result.get("error"),
                    self._now(),
                    seconds,
                    job_id,
                    self.daemon_id,
                ],
            )
        )

    def _run(
        self, job: SolveJob, problem: Problem | None, document: str, cancellation: Cancellation
    ) -> dict[str, Any]:
        if self._solver is None:  # here, not at the top: the daemon starts without pyomo
            from oncall_opt.roster.solve import solve as solver
        else:
            solver = self._solver
        try:
            if problem is None:  # submitted by another daemon (or before a restart)
                from oncall_opt.roster.load import load_problem

                problem = load_problem(json.loads(document))
            roster = solver(
                problem, time_limit=job.time_limit, gap=job.gap, cancellation=cancellation
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
