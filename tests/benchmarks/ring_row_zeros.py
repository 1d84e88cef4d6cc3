"""How many of the ring-row values a save sends are exact zeros (the rings hold ReLU
outputs): the shipped model stepped over recordings of a labelled corpus, the row each
step wrote into every ring but the first (the model's input) sampled every ``--every``
readings after ``--skip``. Prints the zero fraction and the zeros per row at the 10th, 50th
and 90th percentiles, and what a mask-and-values row encoding would send. Asserts nothing.

Run: .venv/bin/python -m tests.benchmarks.ring_row_zeros [--corpus realinject] [--files 12]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from tcnad.detector.engine import Detector
from tcnad.detector.lab import corpora
from tcnad.detector.lab.nab import load_corpus
from tcnad.detector.state import RING_ITEMSIZE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="realinject")
    ap.add_argument("--files", type=int, default=12)
    ap.add_argument("--readings", type=int, default=1500)
    ap.add_argument("--skip", type=int, default=300)
    ap.add_argument("--every", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(1)
    corpus = load_corpus(corpora.unpack(args.corpus))[: args.files]
    n = len(corpus)
    det = Detector.from_checkpoint(None, device="cpu", capacity=n)
    slots = np.arange(n)
    det.put(slots, [det.new_state() for _ in range(n)])
    length = min(args.readings, *(len(c.series.values) for c in corpus))
    zeros, width = [], 0
    for t in range(length):
        det.step(slots, np.array([[c.series.values[t]] for c in corpus], dtype=np.float64))
        if t < args.skip or t % args.every:
            continue
        for state in det.get(slots):
            for ring in state.rings[1:]:
                row = ring[(state.step - 1) % ring.shape[0]]
                zeros.append(int((row == 0).sum()))
                width = row.size
    z = np.array(zeros)
    share = z.sum() / (z.size * width)
    item = RING_ITEMSIZE[det.layout.ring_dtype]
    dense = width * item
    sparse = 4 + (1 - share) * dense  # a 32-bit mask, then the non-zero values
    rings = len(det.spec.ring_shapes) - 1
    print(
        f"{args.corpus}: {n} files, readings {args.skip + 1}..{length} every {args.every}th; "
        f"{z.size} rows of {width} ({det.layout.ring_dtype}): zero fraction {share:.3f}, "
        f"zeros per row p10/p50/p90 {np.percentile(z, [10, 50, 90]).tolist()}; "
        f"mask and values {sparse:.1f} B a row against {dense} dense, "
        f"{rings * (dense - sparse):.0f} B fewer a one-reading save"
    )


if __name__ == "__main__":
    main()
