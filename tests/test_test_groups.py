"""The suite's xdist groups hold: tests that share one running system (a module's `up`, its
browser, and the order they run in) must run on one worker, in order. pytest-xdist marks a
grouped test by appending `@group` to its id on the worker; when a pytest release breaks that
(pytest-dev/pytest-xdist#1386), grouping stops silently and order-dependent tests fail now
and then. This test fails instead, every time."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.xdist_group("group-check")


def test_a_grouped_test_carries_its_group_on_an_xdist_worker(request):
    if "PYTEST_XDIST_WORKER" not in os.environ:
        pytest.skip("not on an xdist worker (run with the suite's -n 2 --dist loadgroup)")
    assert request.node.nodeid.endswith("@group-check"), (
        f"{request.node.nodeid}: pytest-xdist no longer groups tests on this pytest version"
    )
