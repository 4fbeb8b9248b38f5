"""A roster as output.json, CSV or an iCalendar file, and atomic writes to disk."""

from __future__ import annotations

import io
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from oncall_opt.roster.spec import LAYER_NAMES

if TYPE_CHECKING:
    from oncall_opt.roster.result import Roster

FORMATS = ("json", "csv", "ics")


def render(roster: Roster, fmt: str = "json", merge: bool = False) -> str:
    """The roster as text in `fmt`: json (output.json), csv or ics."""
    if fmt == "json":
        return json.dumps(roster.to_output(merge=merge), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return to_csv(roster)
    if fmt == "ics":
        return to_ics(roster)
    raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")


def to_csv(roster: Roster) -> str:
    frame = roster.assignments.copy()
    frame["start"] = frame["start"].map(lambda ts: ts.isoformat())
    frame["end"] = frame["end"].map(lambda ts: ts.isoformat())
    frame["layer"] = frame["layer"].map(LAYER_NAMES)
    buffer = io.StringIO()
    frame.drop(columns=["slot"]).to_csv(buffer, index=False)
    return buffer.getvalue()


def to_ics(roster: Roster, now: datetime | None = None) -> str:
    """One event per person's run of consecutive slots, importable into any calendar."""
    import icalendar  # only calendars need it

    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//oncall_opt//roster//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "On-call roster")
    stamp = now or datetime.now(UTC)
    problem = roster.problem
    for layer in problem.layers:
        for override in roster.overrides(layer, merge=True):
            event = icalendar.Event()
            start = datetime.fromisoformat(override["start"])
            who = override["user"].get("name") or override["user"]["id"]
            event.add(
                "uid",
                f"{override['user']['id']}-{layer}-{start.astimezone(UTC):%Y%m%dT%H%M%SZ}@oncall-opt",
            )
            event.add("dtstamp", stamp)
            event.add("dtstart", start.astimezone(UTC))
            event.add("dtend", datetime.fromisoformat(override["end"]).astimezone(UTC))
            event.add("summary", f"On call ({LAYER_NAMES[layer]}): {who}")
            event.add("transp", "TRANSPARENT")
            calendar.add_component(event)
    return calendar.to_ical().decode("utf-8")


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write the whole file or nothing: a temporary file beside it, then an atomic rename."""
    target = Path(path)
    mode = target.stat().st_mode & 0o777 if target.exists() else _default_file_mode()
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)  # mkstemp makes it private; keep what a plain write would
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
