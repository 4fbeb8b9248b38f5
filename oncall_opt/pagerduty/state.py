"""Which overrides of a PagerDuty schedule this tool created: PagerDuty overrides carry no tag,
so a push remembers their ids in a small JSON file per schedule, and removes only those later.
An override that is not in the file is somebody's own and is never removed.

The files live in PAGERDUTY_STATE_DIR, default $XDG_STATE_HOME/oncall-opt/pagerduty
(~/.local/state/...), so that runs from any directory share them. Each write is atomic: after a
failure half-way the file lists exactly the overrides that were created.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from oncall_opt.errors import ConfigError
from oncall_opt.roster.export import write_atomic

STATE_DIR_ENV = "PAGERDUTY_STATE_DIR"


def state_dir(environ: Mapping[str, str]) -> Path:
    given = environ.get(STATE_DIR_ENV, "").strip()
    if given:
        return Path(given)
    base = environ.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
    return Path(base) / "oncall-opt" / "pagerduty"


@dataclass
class Remembered:
    """The overrides created on one schedule of one account: override id -> what it was."""

    path: Path
    schedule: str
    url: str
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path, url: str, schedule: str) -> Remembered:
        host = re.sub(r"[^A-Za-z0-9.-]", "_", urlsplit(url).netloc or "pagerduty")
        name = re.sub(r"[^A-Za-z0-9_-]", "_", schedule)
        path = directory / f"{host}-{name}.json"
        remembered = cls(path, schedule, url)
        if path.exists():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                remembered.overrides = dict(saved["overrides"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ConfigError(
                    f"{path}: cannot read which overrides were created earlier ({exc}); "
                    "move the file away to start afresh (then no earlier override is removed)"
                ) from None
        return remembered

    def __contains__(self, override_id: str) -> bool:
        return override_id in self.overrides

    def add(self, override_id: str, start: str, end: str, user: str) -> None:
        self.overrides[override_id] = {"start": start, "end": end, "user": user}

    def forget(self, override_id: str) -> None:
        self.overrides.pop(override_id, None)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"schedule": self.schedule, "url": self.url, "overrides": self.overrides}
        write_atomic(self.path, json.dumps(document, indent=1, sort_keys=True) + "\n")
