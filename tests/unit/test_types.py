"""mypy passes on the package as a wheel installs it (docs/operations.md, "Lint and types"):
strict for tcnad.detector and tcnad.state, checked for the rest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mypy_passes_on_the_installed_package(tmp_path: Path) -> None:
    if shutil.which("mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("mypy is missing: it is in the dev extra (pip install -e '.[dev]')")
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns(".git", ".venv", ".typecheck", "build", "*.egg-info")
    shutil.copytree(ROOT, src, ignore=ignore)
    subprocess.run([*pip, "--target", str(target), str(src)], check=True, capture_output=True)
    env = {**os.environ, "MYPYPATH": str(target)}
    config = str(ROOT / "pyproject.toml")
    cmd = [sys.executable, "-m", "mypy", "--config-file", config, "--no-incremental"]
    out = subprocess.run(
        [*cmd, "-p", "tcnad"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-4000:]
    assert "Success" in out.stdout
