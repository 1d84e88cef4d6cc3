"""Does the band follow the daily cycle? For every file of a captured corpus with readings
hourly or finer, its 8 quietest and 8 busiest hours of the day (by the median reading in
each hour), and in each: how often a normal reading (warm, outside every labelled window)
lies outside the calibrated band, the band's median width and the readings' spread. The
band is scored with the default ``AlertPolicy`` over forecasts captured by
``tests.benchmarks.judge capture``. Prints a line per corpus (means over files) and one per
file. Asserts nothing.

Run: .venv/bin/python -m tests.benchmarks.band_by_hour --cache /tmp/judge realinject realheld
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

from tcnad.detector import scoring
from tests.benchmarks.level_novelty import Captured
from tests.benchmarks.nab_run import replay_steps

HOURS = 8  # the quietest and the busiest hours compared


def by_hour(c: Captured) -> list[tuple[str, float, float, float, float, float, float]]:
    """Per file hourly or finer: miss rate, band width and readings' spread in its quiet and
    busy hours."""
    n, horizon = c.values.shape
    outside = np.zeros((n, horizon), dtype=bool)
    warm = np.zeros((n, horizon), dtype=bool)
    width = np.full((n, horizon), np.nan)
    policy = scoring.AlertPolicy()
    for t, idx, res in replay_steps(policy, c.levels, c.pending, c.values, c.lengths, c.times):
        outside[idx, t], warm[idx, t] = res.outside, res.warm
        width[idx, t] = res.upper[:, 0] - res.lower[:, 0]
    rows = []
    for i, item in enumerate(c.corpus):
        length = int(c.lengths[i])
        ts = c.times[i, :length]
        if not np.nanmedian(np.diff(ts)) <= 3600:
            continue
        normal = warm[i, :length].copy()
        for a, b in item.windows:
            normal[a : b + 1] = False
        hour = ((ts % 86400) // 3600).astype(int)
        v = c.values[i, :length]
        level = [
            np.median(v[normal & (hour == h)]) for h in range(24) if (normal & (hour == h)).any()
        ]
        if len(level) < 24:
            continue
        order = np.argsort(level)
        quiet = normal & np.isin(hour, order[:HOURS])
        busy = normal & np.isin(hour, order[-HOURS:])
        w, o = width[i, :length], outside[i, :length]
        rows.append(
            (
                item.name,
                float(o[quiet].mean()),
                float(o[busy].mean()),
                float(np.nanmedian(w[quiet])),
                float(np.nanmedian(w[busy])),
                float(np.std(v[quiet])),
                float(np.std(v[busy])),
            )
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True, help="a judge cache (judge capture --cache)")
    ap.add_argument("names", nargs="+", help="corpora captured there")
    args = ap.parse_args()
    for name in args.names:
        with (Path(args.cache) / f"{name}.pkl").open("rb") as f:
            rows = by_hour(pickle.load(f))
        if not rows:
            print(f"{name}: no file hourly or finer")
            continue
        a = np.array([r[1:] for r in rows])
        print(
            f"{name}: {len(rows)} files; normal readings outside the band, quiet / busy hours "
            f"{a[:, 0].mean():.4f} / {a[:, 1].mean():.4f}; band width quiet / busy (median "
            f"over files) {np.median(a[:, 2] / a[:, 3]):.2f}; readings' spread quiet / busy "
            f"{np.median(a[:, 4] / np.maximum(a[:, 5], 1e-12)):.2f}"
        )
        for r in rows:
            print(
                f"  {r[0]:48s} outside {r[1]:.4f} / {r[2]:.4f}  width {r[3]:.1f} / {r[4]:.1f}  "
                f"spread {r[5]:.1f} / {r[6]:.1f}"
            )


if __name__ == "__main__":
    main()
