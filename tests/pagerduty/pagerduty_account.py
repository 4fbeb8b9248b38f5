"""The fake PagerDuty account the bridge's tests share: its token, schedule and people."""

from __future__ import annotations

from datetime import UTC, datetime

TOKEN = "u+Sk3cr3tT0kenNeverPrinted"
SCHEDULE = "PSCHED1"
PEOPLE = [  # PagerDuty user id, name, email
    ("PANA001", "Ana Silva", "ana@example.com"),
    ("PBEN002", "Ben Okafor", "ben@example.com"),
    ("PCHL003", "Chloé Martin", "chloe@example.com"),
    ("PDEV004", "Dev Patel", "dev@example.com"),
]
ROTATION_START = datetime(2030, 1, 1, tzinfo=UTC)  # a weekly rotation of the four from then
