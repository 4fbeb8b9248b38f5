"""The house rules: imports flow one way (import-linter's contracts in pyproject.toml, cycles
included), and the light entry points never load the optimizer's heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pyomo", "pandas", "highspy")


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.is_file(), "import-linter is a dev dependency: pip install -e '.[dev]'"
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def loaded_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import oncall_opt",
        "import oncall_opt.client",
        "from oncall_opt.roster import cli\ntry: cli.main(['--help'])\nexcept SystemExit: pass",
        "import oncall_opt as oo\noo.pagerduty.push, oo.pagerduty.pull",
        "import oncall_opt as oo, oncall_opt.importing.pagerduty as p, oncall_opt.importing."
        "grafana_oncall as g\noo.importing.run_import",
    ],
    ids=["package", "client", "cli-help", "pagerduty-bridge", "importers"],
)
def test_light_entry_points_load_no_optimizer(code):
    assert not loaded_after(code) & set(HEAVY)


def test_the_notebook_api_loads_on_first_use():
    loaded = loaded_after("import oncall_opt as oo\noo.load_problem\noo.solve")
    assert "highspy" in loaded  # the solver came with `solve` ...
    assert "pyomo" not in loaded  # ... which hands HiGHS the model's matrices, not Pyomo's
    assert "pyomo" in loaded_after("import oncall_opt as oo\noo.build_model")
    assert "pandas" not in loaded  # a roster's DataFrames load it when first asked for
    frames = loaded_after(
        "import oncall_opt as oo\nfrom pathlib import Path\n"
        "r = oo.solve(oo.load_problem(Path('data/input.json')))\nr.per_user"
    )
    assert "pandas" in frames
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        import oncall_opt

        oncall_opt.nope  # noqa: B018
