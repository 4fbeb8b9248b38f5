"""Errors a user can cause and fix: each carries a message meant for people, not a traceback."""

from __future__ import annotations


class OncallOptError(Exception):
    """Base class for every error the package reports to users."""


class InputError(OncallOptError):
    """The input document is malformed: `problems` lists `(json_path, message)` pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{path}: {message}" for path, message in problems))


class InfeasibleError(OncallOptError):
    """No roster satisfies every hard rule; `reasons` says why in a team lead's words."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("no roster satisfies every rule:\n" + "\n".join(f"- {r}" for r in reasons))


class NoSolutionInTimeError(OncallOptError):
    """The time limit ran out before any roster was found (the problem may still be feasible)."""


class NotFoundError(OncallOptError):
    """What was asked for does not exist (HTTP 404)."""


class ConflictError(OncallOptError):
    """The request clashes with the current state, e.g. an overlapping shift (HTTP 409)."""


class InvalidRequestError(OncallOptError):
    """A field of a request is wrong: `field` names it (HTTP 400)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class SolveCancelledError(OncallOptError):
    """A solve was stopped before it finished (the daemon is shutting down)."""


class ConfigError(ValueError):
    """A setting is malformed: the message names the variable."""


class UnauthenticatedError(OncallOptError):
    """No valid credential: a wrong password, an expired sign-in link (HTTP 401)."""


class PermissionDeniedError(OncallOptError):
    """The credential is valid but its role may not do this (HTTP 403)."""


class TooManyRequestsError(OncallOptError):
    """Slow down: too many attempts, for example failed sign-ins (HTTP 429)."""


class UpstreamError(OncallOptError):
    """A service the daemon called for the request (PagerDuty) refused it or did not answer
    (HTTP 502): the message says what was asked and why it failed."""


class UnavailableError(OncallOptError):
    """Something the daemon needs does not answer, e.g. its database (HTTP 503): retry."""
