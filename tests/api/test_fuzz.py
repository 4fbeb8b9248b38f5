"""Schemathesis against the app's own OpenAPI document: generated requests, valid and not,
never get a 5xx and every answer matches the documented schema. Bounded in examples, so the
suite stays quick; a deeper run: SCHEMATHESIS_EXAMPLES=200 pytest tests/api/test_fuzz.py."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error, response_schema_conformance

from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))

_store = Store(Path(tempfile.mkdtemp(prefix="oncall-fuzz-")) / "fuzz.duckdb")
# Schemathesis calls the app by the name "testserver", which a daemon without a token would
# refuse as a name it does not have.
app = create_app(_store, Settings(allowed_hosts=("testserver",)), run_jobs=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
# One pytest item per operation (not schemathesis' own subtests, which pytest-xdist skips).
OPERATIONS = {op.label: op for op in (r.ok() for r in schema.get_all_operations())}


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_server_error_and_answers_match_the_schema(label):
    operation = OPERATIONS[label]

    @given(data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same cases every run: a failure is reproducible
    )
    def check(data) -> None:
        case = data.draw(operation.as_strategy())
        case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

    check()


def test_every_operation_is_fuzzed():
    assert len(OPERATIONS) >= 29 and "POST /incidents" in OPERATIONS
