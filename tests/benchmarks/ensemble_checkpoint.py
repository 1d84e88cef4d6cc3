"""Two checkpoints of one spec as one checkpoint of twice the channels: an ensemble.

Each convolution of the result holds both models' weights on its diagonal (no channel of
one model reads the other's), and the head averages the two heads' outputs (the median
and the quantiles' unconstrained spacings), so the forecast's median is the mean of the two
models' medians and its other quantiles are close to their means. It steps, saves and is
judged like any model (``judge capture --checkpoint``), at four times a step's
multiply-adds and twice the ring bytes. From the repository root::

    python -m tests.benchmarks.ensemble_checkpoint A B --out /tmp/ens

Checks the median against the two models' on random inputs and prints the difference.
"""

from __future__ import annotations

import argparse

import torch

from tcnad.detector.checkpoint import load_checkpoint, save_checkpoint
from tcnad.detector.model import Weights, folded_forward
from tcnad.detector.spec import TCNSpec

# The weights that read a reading's values, which both halves of the ensemble read whole
# (told apart by name: by shape they match the others where a reading has ``channels`` values).
READS_INPUTS = ("conv0.weight", "down0.weight")


def ensemble(spec: TCNSpec, a: Weights, b: Weights) -> tuple[TCNSpec, Weights]:
    """The spec and weights of the two-model ensemble of ``a`` and ``b`` (both of ``spec``)."""
    c = spec.channels
    d = spec.to_dict()
    d["channels"] = 2 * c
    out: Weights = {}
    for k, x in a.items():
        y = b[k]
        if k == "head.weight":
            out[k] = torch.cat([x, y], 1) / 2
        elif k == "head.bias":
            out[k] = (x + y) / 2
        elif k.endswith(".bias") or k in READS_INPUTS:  # both models' filters stacked
            out[k] = torch.cat([x, y], 0)
        else:  # a convolution between blocks: block diagonal
            z = torch.zeros((2 * c, 2 * c, *x.shape[2:]), dtype=x.dtype)
            z[:c, :c], z[c:, c:] = x, y
            out[k] = z
    return TCNSpec.from_dict(d), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    (sa, wa, _), (sb, wb, _) = load_checkpoint(args.a), load_checkpoint(args.b)
    if sa.to_dict() != sb.to_dict():
        raise SystemExit("the two checkpoints have different specs")
    spec, weights = ensemble(sa, wa, wb)
    save_checkpoint(args.out, spec, weights, {"ensemble_of": [args.a, args.b]})
    torch.manual_seed(0)
    z = torch.randn(2, 500, spec.n_inputs)
    m = spec.median_index
    with torch.inference_mode():
        qa, qb, qe = (folded_forward(s, w, z) for s, w in ((sa, wa), (sb, wb), (spec, weights)))
    err = (qe[..., m] - (qa[..., m] + qb[..., m]) / 2).abs().max().item()
    tails = (qe - (qa + qb) / 2).abs().max().item()
    print(f"wrote {args.out}: median vs the mean of both {err:.1e}, quantiles within {tails:.3f}")


if __name__ == "__main__":
    main()
