"""The wheel installs one top-level name, ``tcnad``, with every package folder in it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"detector": "tcnad/detector", "state": "tcnad/state", "topology": "tcnad/topology"}


def package_inits() -> set[str]:
    """``tcnad/.../__init__.py`` for every package folder of the source tree."""
    names = set()
    for folder in FOLDERS:
        for init in (ROOT / folder).rglob("__init__.py"):
            names.add("tcnad/" + init.relative_to(ROOT).as_posix())
    return names


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    src = tmp_path_factory.mktemp("src") / "tcnad"
    ignore = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT, src, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*cmd, "-w", str(out), str(src)], check=True, capture_output=True)
    (whl,) = out.glob("tcnad-*.whl")
    return zipfile.ZipFile(whl)


def test_the_only_top_level_name_is_tcnad(wheel: zipfile.ZipFile) -> None:
    tops = {n.split("/")[0] for n in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"tcnad"}


def test_every_package_folder_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    expected = package_inits()
    assert "tcnad/topology/worker/__init__.py" in expected
    assert expected <= set(wheel.namelist()), sorted(expected - set(wheel.namelist()))


def test_the_wheel_carries_the_model_and_type_markers(wheel: zipfile.ZipFile) -> None:
    assert {
        "tcnad/detector/models/default.safetensors",
        "tcnad/detector/models/default.json",
        "tcnad/detector/py.typed",
        "tcnad/state/py.typed",
        "tcnad/topology/py.typed",
    } <= set(wheel.namelist())


def test_the_wheel_carries_every_shipped_corpus_with_its_licence(wheel: zipfile.ZipFile) -> None:
    assert {
        "tcnad/detector/lab/corpora/nab.tar.xz",
        "tcnad/detector/lab/corpora/NAB-LICENSE.txt",
        "tcnad/detector/lab/corpora/realinject.tar.xz",
        "tcnad/detector/lab/corpora/realinject-NOTICE.txt",
        "tcnad/detector/lab/corpora/realheld.tar.xz",
        "tcnad/detector/lab/corpora/realheld-NOTICE.txt",
    } <= set(wheel.namelist())


def test_the_console_script_is_tcnad(wheel: zipfile.ZipFile) -> None:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    lines = wheel.read(name).decode().split("\n")
    assert "tcnad = tcnad.topology.cli:main" in [line.strip() for line in lines]
