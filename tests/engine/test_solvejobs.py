"""Solve jobs at shutdown: a solve running inside HiGHS is interrupted and recorded as cancelled,
waiting ones are cancelled, and no new one is taken (a process must not exit while HiGHS runs in
one of its threads: that aborted the daemon with SIGABRT)."""

from __future__ import annotations

import sys
import threading

import pytest
from testkit import ROOT, team, wait_for

import oncall_opt as oo
from oncall_opt.engine.solvejobs import CANCELLED, DONE, SolveJobs
from oncall_opt.errors import ConflictError, SolveCancelledError
from oncall_opt.roster.cancel import Cancellation

sys.path.insert(0, str(ROOT / "benchmarks"))
from instances import TIGHT_ROTATION, instance


@pytest.fixture(scope="module")
def long_problem():
    """A tight rotation HiGHS works on far longer than any test (see instances.py)."""
    return oo.load_problem(instance(**TIGHT_ROTATION))


def test_shutdown_interrupts_a_solve_inside_highs_and_cancels_the_waiting(store, long_problem):
    jobs = SolveJobs(store, workers=1)
    running = jobs.submit(long_problem, time_limit=600)
    waiting = jobs.submit(oo.load_problem(team()), time_limit=60)

    def inside_highs() -> bool:
        cancellation = jobs._cancellations.get(running.id)
        return cancellation is not None and cancellation.watching

    wait_for(inside_highs, timeout=120, message="HiGHS to start on the long solve")
    assert jobs.shutdown(timeout=30)  # True: the worker ended (its solve was interrupted)
    for job in (jobs.get(running.id), jobs.get(waiting.id)):
        assert job.status == CANCELLED and "start it again" in job.error
        assert job.output is None
    with pytest.raises(ConflictError, match="stopping"):
        jobs.submit(long_problem)


def test_a_cancelled_solve_raises_and_an_uncancelled_one_is_untouched(long_problem):
    small = oo.load_problem(team())
    cancelled = Cancellation()
    cancelled.cancel()
    with pytest.raises(SolveCancelledError):
        oo.solve(small, cancellation=cancelled)
    kept = Cancellation()
    roster = oo.solve(small, cancellation=kept)
    assert roster.statistics["status"] == "optimal"
    assert kept.watching and not kept._models  # it let go of every model once it had run
    plain = oo.solve(small)
    assert roster.to_output()["overrides"] == plain.to_output()["overrides"]
    assert roster.statistics["objective"] == plain.statistics["objective"]

    # From another thread, while HiGHS works on the MIP:
    cancellation, outcome = Cancellation(), []

    def run() -> None:
        try:
            oo.solve(long_problem, time_limit=600, cancellation=cancellation)
            outcome.append("finished")
        except SolveCancelledError:
            outcome.append("cancelled")

    thread = threading.Thread(target=run)
    thread.start()
    wait_for(lambda: cancellation.watching, timeout=120, message="HiGHS to start")
    cancellation.cancel()
    thread.join(60)
    assert outcome == ["cancelled"]


def test_jobs_run_as_before_when_nothing_is_cancelled(store):
    jobs = SolveJobs(store)
    job = jobs.submit(oo.load_problem(team()), time_limit=60)
    assert jobs.wait(job.id, timeout=120).status == DONE
    assert jobs.shutdown(timeout=30)
