"""Cancelling a solve from another thread (the daemon's shutdown), and keeping each of its
HiGHS runs within the solve's time limit; kept apart from the solver so that holding a
`Cancellation` does not load pyomo."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from oncall_opt.errors import SolveCancelledError


class Cancellation:
    """Stops a running solve from another thread: `cancel()` interrupts HiGHS at its next check
    (within milliseconds, in LPs and MIPs alike), and the solve raises SolveCancelledError."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._models: dict[int, Any] = {}  # the highspy models running now, by id
        self._handed = False

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def watching(self) -> bool:
        """Whether HiGHS has been handed a model of this solve (so `cancel()` interrupts it)."""
        with self._lock:
            return self._handed

    def cancel(self) -> None:
        self._event.set()
        with self._lock:
            models = list(self._models.values())
        for highs in models:
            highs.cancelSolve()

    def watch(self, highs: Any) -> None:
        """Let `cancel()` reach this highspy model (its interrupt callbacks are turned on only
        here, so a solve that cannot be cancelled pays nothing for them)."""
        with self._lock:
            if id(highs) not in self._models:
                highs.HandleUserInterrupt = True
                self._models[id(highs)] = highs
            self._handed = True
        if self.cancelled:
            highs.cancelSolve()

    def forget(self, highs: Any) -> None:
        """The model's run ended: `cancel()` no longer needs to reach it, nor to keep it (the
        neighbourhood search makes thousands of small models in a solve)."""
        with self._lock:
            self._models.pop(id(highs), None)


@dataclass
class Clock:
    """A solve's deadline (`time.perf_counter()` seconds) and its cancellation."""

    deadline: float
    cancellation: Cancellation | None = None

    def left(self) -> float:
        return max(0.0, self.deadline - time.perf_counter())

    def share(self, fraction: float) -> Clock:
        """A clock for a step that may take `fraction` of the time left."""
        return Clock(time.perf_counter() + fraction * self.left(), self.cancellation)

    def within(self, seconds: float) -> Clock:
        """A clock for a step that may take `seconds`, within the time left."""
        return Clock(time.perf_counter() + min(seconds, self.left()), self.cancellation)

    def check(self) -> None:
        if self.cancellation is not None and self.cancellation.cancelled:
            raise SolveCancelledError("the solve was cancelled")


def run_highs(highs: Any, clock: Clock) -> Any:
    """One HiGHS run within what is left of the time, cancellable through the clock; its
    model status."""
    clock.check()
    # HiGHS's time limit counts every run of the same model since it was made.
    highs.setOptionValue("time_limit", highs.getRunTime() + max(clock.left(), 0.01))
    if clock.cancellation is not None:
        clock.cancellation.watch(highs)
    try:
        highs.run()
    finally:
        if clock.cancellation is not None:
            clock.cancellation.forget(highs)
    clock.check()  # an interrupted solve ends like a time-out: it must not pass for one
    return highs.getModelStatus()
