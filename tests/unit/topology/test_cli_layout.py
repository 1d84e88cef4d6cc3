"""The CLI is one module per command: commands share options and helpers through
``tcnad.topology.cli.options`` (or the lab modules), never by importing each other."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from tcnad.topology.cli import COMMANDS, command_module

MODULES = {name: command_module(name) for name in COMMANDS}


def _imported(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved against
    the module's own package), with every ``from X import name`` also as ``X.name``."""
    package = ".".join(command_module_of(path).split(".")[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def command_module_of(path: Path) -> str:
    """The dotted name of the command module at ``path`` (a probe file: a cli module)."""
    for module in MODULES.values():
        spec = importlib.util.find_spec(module)
        if spec and spec.origin and Path(spec.origin).resolve() == path.resolve():
            return module
    return "tcnad.topology.cli.probe"


def _path(name: str) -> Path:
    spec = importlib.util.find_spec(MODULES[name])
    assert spec is not None and spec.origin is not None, name
    return Path(spec.origin)


def test_every_command_has_its_module() -> None:
    assert all(_path(name).is_file() for name in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_imports_another_command(command: str) -> None:
    others = {n for n, m in MODULES.items() if n != command and m in _imported(_path(command))}
    assert not others, f"{command} imports the command module(s) {sorted(others)}"


def test_the_check_sees_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from tcnad.topology.cli.lab.score import x\nfrom .lab import plot\n"
        "from .up import y\nimport tcnad.topology.cli.lab.nab\n"
    )
    seen = _imported(probe)
    assert {MODULES[n] for n in ("score", "plot", "up", "nab")} <= seen
