"""What several commands share: the model options and the helpers behind them.

Command modules (``tcnad.topology.cli.main.COMMANDS``) import from here, never from each
other (a unit test checks it), so each command stays one module with one job.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tqdm import tqdm

from tcnad.detector.lab.offline import Scored, score_series
from tcnad.detector.lab.series import Series
from tcnad.detector.lab.tables import Table, skipped_summary
from tcnad.detector.state import DEFAULT_RING_DTYPE

if TYPE_CHECKING:
    from tcnad.detector.engine import Detector, StreamDetector


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model, --device and --threads, defaulting to TCNAD_MODEL and TCNAD_DEVICE."""
    p.add_argument(
        "--model",
        default=os.environ.get("TCNAD_MODEL", ""),
        help="checkpoint path (default: $TCNAD_MODEL, else the shipped model)",
    )
    p.add_argument(
        "--device",
        default=os.environ.get("TCNAD_DEVICE", "auto"),
        help="auto, cpu, cuda, ... (default: $TCNAD_DEVICE or auto)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: batches of a few dozen streams run fastest "
        "on one thread; 0 keeps torch's default)",
    )


def add_skip_bad_rows(p: argparse.ArgumentParser) -> None:
    """--skip-bad-rows, for every command that reads series files."""
    p.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="leave out rows that are not readings (an empty or unreadable value, a timestamp "
        "not after the previous row's, ...) and report how many in one line, instead of "
        "stopping at the first with FILE:LINE: reason and exit code 1",
    )


def report_skipped(prog: str, tables: Sequence[Table]) -> None:
    """One line on stderr counting the bad rows ``--skip-bad-rows`` left out, if any."""
    line = skipped_summary(tables)
    if line:
        print(f"{prog}: {line}", file=sys.stderr)


def set_threads(threads: int) -> None:
    """Apply --threads (0: leave torch's default)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def load_engine(
    model: str, device: str, capacity: int, ring_dtype: str = DEFAULT_RING_DTYPE
) -> Detector:
    """The worker's Detector with a pool of ``capacity`` slots (--model and --device), its
    rings held as ``ring_dtype``."""
    from tcnad.detector.engine import Detector

    return Detector.from_checkpoint(
        model or None,
        device=None if device == "auto" else device,
        capacity=capacity,
        ring_dtype=ring_dtype,
    )


def score_all(engine: StreamDetector, series: Sequence[Series], capacity: int) -> list[Scored]:
    """``score_series`` with a progress bar on stderr counting readings."""
    total = sum(len(s) for s in series)
    bar = tqdm(
        total=total, unit="rd", unit_scale=True, desc="scoring", file=sys.stderr, mininterval=1.0
    )
    with bar:
        return score_series(engine, series, capacity, on_step=bar.update)
