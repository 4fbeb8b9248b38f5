"""Reading input.json: JSON text or a dict in, a validated `Problem` out, or an `InputError`
whose every problem names its JSON path (`users[2].preferences.days[0]`) in plain words."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from oncall_opt.errors import InputError
from oncall_opt.roster.problem import Problem, build_problem
from oncall_opt.roster.structure import check_balance_steps
from oncall_opt.roster.validate import validate_document


def load_problem(source: str | os.PathLike | dict[str, Any]) -> Problem:
    """A problem from a path to input.json (`-` reads standard input) or an already-parsed dict."""
    if isinstance(source, str | os.PathLike):
        source = read_json(source)
    problem = build_problem(validate_document(source))
    check_balance_steps(problem)
    return problem


def read_json(source: str | os.PathLike) -> Any:
    try:
        text = sys.stdin.read() if str(source) == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError([(str(source), f"cannot read the file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        raise InputError([(str(source), "is not UTF-8 text")]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        name = "standard input" if str(source) == "-" else str(source)
        raise InputError(
            [(name, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")]
        ) from None
