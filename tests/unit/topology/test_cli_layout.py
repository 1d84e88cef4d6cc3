"""The CLI is one module per command: commands share options and helpers through
``tcnad.topology.cli.options`` (or the lab modules), never by importing each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tcnad.topology.cli import COMMANDS

CLI = Path(__file__).resolve().parents[3] / "topology" / "cli"
PACKAGE = "tcnad.topology.cli"


def _cli_modules_imported(path: Path) -> set[str]:
    """Names of the modules of the cli package that ``path`` imports (absolute or relative)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = PACKAGE if node.level else (node.module or "")
            if node.level and node.module:
                base = f"{PACKAGE}.{node.module}"
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith(PACKAGE + "."):
                found.add(name[len(PACKAGE) + 1 :].split(".")[0])
    return found


def test_every_command_has_its_module() -> None:
    assert all((CLI / f"{name}.py").is_file() for name in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_imports_another_command(command: str) -> None:
    others = _cli_modules_imported(CLI / f"{command}.py") & (set(COMMANDS) - {command})
    assert not others, f"{command}.py imports the command module(s) {sorted(others)}"


def test_the_check_sees_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from tcnad.topology.cli.score import x\nfrom . import plot\n"
        "from .up import y\nimport tcnad.topology.cli.nab\n"
    )
    assert _cli_modules_imported(probe) == {"score", "plot", "up", "nab"}
