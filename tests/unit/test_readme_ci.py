"""README's two set-up commands and .ci/run stay in step."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _shell_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", text, flags=re.S)]


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return _shell_blocks(section)


def test_quick_start_has_exactly_two_commands() -> None:
    demo, tests = _quick_start_commands()  # unpacking fails unless there are exactly two
    assert "\n" not in demo and "\n" not in tests
    assert demo.startswith("python3 -m venv .venv") and "tcnad up --duration" in demo
    assert tests.startswith("python3 -m venv .venv") and tests.endswith("-m pytest")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, tests = _quick_start_commands()
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    assert script[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in script
    commands = [line for line in script if line and not line.startswith(("#", "echo", "set "))]
    assert tests in commands
    assert not [c for c in commands if "pytest" in c and c != tests]


def test_no_code_or_test_reads_outside_the_repository() -> None:
    """A user's clone has nothing beside it: no source or test file may name a folder
    beside the repository (CI runs the tests in such a clone)."""
    needles = ("../shared", "shared/datasets")
    sources = [
        p for d in ("detector", "state", "topology", "tests") for p in (ROOT / d).rglob("*.py")
    ]
    assert len(sources) > 50
    this = Path(__file__).resolve()
    offenders = [str(p) for p in sources if p != this and any(n in p.read_text() for n in needles)]
    assert offenders == []
