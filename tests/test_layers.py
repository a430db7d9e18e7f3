"""The package's layers are a contract: pyproject.toml's import-linter contracts hold, and
an import that points up, or a cycle, breaks them (counting imports inside functions)."""

from __future__ import annotations

import logging
import pathlib
import shutil
import subprocess
import sys

import pytest
from importlinter.cli import lint_imports

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "daskfft"


def test_the_layers_hold(monkeypatch):
    # lint_imports configures logging with dictConfig, which disables every logger that
    # exists (daskfft's too, and later tests read its records), and puts the working
    # folder on sys.path: both are put back.
    loggers = [logging.getLogger(name) for name in logging.root.manager.loggerDict]
    for logger in loggers:
        monkeypatch.setattr(logger, "disabled", logger.disabled)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0


def _lint_copy(tmp_path, module, line, contract):
    """Run the contracts on a copy of the package with ``line`` added to ``module``
    inside a function, as the imports that once hid a cycle were."""
    shutil.copytree(
        PACKAGE, tmp_path / "src" / "daskfft", ignore=shutil.ignore_patterns("__pycache__")
    )
    target = tmp_path / "src" / "daskfft" / module
    target.write_text(target.read_text() + f"\n\ndef _upward():\n    {line}\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, "
        f"limit_to_contracts=({contract!r},)))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "src"), "PATH": ""},
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # The copy as it is: every contract kept (so a failure below is the added line's).
        ("kernels/grid.py", "pass", None),
        # A kernel that reaches for the run (the old pyramid -> plan import).
        ("kernels/overview.py", "from daskfft.run.plan import make_plan", "layers"),
        # The lazy API reading a file through io: siblings stay independent.
        ("api/lowpass.py", "from daskfft.io import probe", "layers"),
        # A kernel importing dask.
        ("kernels/block.py", "import dask.array", "kernels-numpy-only"),
        # The old cycle's last link (outputs -> tasks, now levels -> tasks), closed from tasks.
        ("run/tasks.py", "from daskfft.run.levels import build_overviews", "acyclic"),
    ],
)
def test_an_upward_import_or_a_cycle_breaks_a_contract(tmp_path, module, line, broken):
    if broken is None:
        for contract in ("layers", "kernels-numpy-only", "api-no-io", "acyclic"):
            assert _lint_copy(tmp_path / contract, module, line, contract).returncode == 0
        return
    result = _lint_copy(tmp_path, module, line, broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout
