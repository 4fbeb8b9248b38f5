"""The notebooks run top to bottom against the bundled data, and are stored without outputs.

Each notebook runs as Jupyter runs it: in its own folder, on a `python3` kernel started from the
interpreter running the tests (so it sees the same installed `oncall_opt`). A cell that raises
fails the test with the cell and its traceback. Offline notebooks need nothing but the bundled
data; a notebook that talks to a running daemon gets its own test that starts one first and
calls `execute` the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from testkit import ROOT

NOTEBOOKS = ROOT / "notebooks"
OFFLINE = ["what_if_roster.ipynb"]  # run against the bundled data alone; live_team has its own
CELL_TIMEOUT = 120  # seconds; the bundled problems solve in well under one


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory) -> KernelSpecManager:
    """Kernel specs holding only a `python3` that runs this interpreter, whatever else is
    installed for the user or the system."""
    folder = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(folder / "python3")
    return KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)


def execute(path: Path, kernel_specs: KernelSpecManager) -> nbformat.NotebookNode:
    """Run every cell of the notebook at `path` in its folder; raises on the first failing cell."""
    notebook = nbformat.read(path, as_version=4)
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=kernel_specs)
    assert manager.kernel_spec.argv[0] == sys.executable
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_notebook_runs_top_to_bottom(name, kernel_specs):
    notebook = execute(NOTEBOOKS / name, kernel_specs)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells and all(cell.execution_count for cell in code_cells)
    stderr = [out.text for out in outputs(notebook) if out.get("name") == "stderr"]
    assert not stderr, f"{name} writes warnings or errors:\n" + "\n".join(stderr)
    charts = [out for out in outputs(notebook) if "text/html" in out.get("data", {})]
    assert any("vega" in out["data"]["text/html"] for out in charts)  # the charts rendered


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_stored_notebook_has_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    stale = [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not stale, f"{path.name}: cells {stale} hold outputs; clear them before committing"


def test_every_offline_notebook_exists():
    assert {p.name for p in NOTEBOOKS.glob("*.ipynb")} >= set(OFFLINE)


def test_live_notebook_reads_the_daemon_and_writes_nothing(kernel_specs, tmp_path, monkeypatch):
    """On the quick start's team (the demo): the notebook plans the window after what is
    published, with the team's published rules, and asks about the busiest person of it."""
    from datetime import UTC, datetime, timedelta

    from live_server import serve

    from oncall_opt.api import create_app
    from oncall_opt.client import Client
    from oncall_opt.demo import seed
    from oncall_opt.engine.settings import Settings
    from oncall_opt.engine.store import Store

    store = Store(tmp_path / "live.duckdb")
    seed(store, say=lambda line: None)
    with serve(create_app(store, Settings(), run_jobs=False)) as url:
        client = Client(url)
        now = datetime.now(UTC)
        ahead = client.final_schedule(1, now, now + timedelta(days=180), layer=1)
        published_until = max(datetime.fromisoformat(s["End"]) for s in ahead).date()
        tables = ("users", "schedules", "incidents", "outbox", "availability")
        before = {t: store.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
        monkeypatch.setenv("ONCALL_API_URL", url)
        notebook = execute(NOTEBOOKS / "live_team.ipynb", kernel_specs)
        after = {t: store.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
    store.close()
    assert after == before  # reading, solving and what-ifs wrote nothing
    printed = "".join(out.get("text", "") for out in outputs(notebook))
    assert "optimal" in printed and "not published" in printed
    window = f"planning {published_until} to {published_until + timedelta(days=27)} for Default"
    assert window in printed and "'Handoff': '00:00'" in printed, printed[:2000]
    assert " away from " in printed
