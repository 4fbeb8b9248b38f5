"""Cancelling a solve from another thread (the daemon's shutdown), kept apart from the solver
so that holding one does not load pyomo."""

from __future__ import annotations

import threading
from typing import Any


class Cancellation:
    """Stops a running solve from another thread: `cancel()` interrupts HiGHS at its next check
    (within milliseconds, in LPs and MIPs alike), and the solve raises SolveCancelledError."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._models: dict[int, Any] = {}  # the highspy models of this solve, by id

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def watching(self) -> bool:
        """Whether HiGHS has been handed a model of this solve (so `cancel()` interrupts it)."""
        with self._lock:
            return bool(self._models)

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
        if self.cancelled:
            highs.cancelSolve()
