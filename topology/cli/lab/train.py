"""`tcnad train`: train a global TCN quantile forecaster and write a checkpoint."""

from __future__ import annotations

import argparse
import logging
import sys

from tcnad.detector.errors import DetectorError
from tcnad.detector.lab.train import TrainConfig, train
from tcnad.detector.spec import DEFAULT_QUANTILES, TCNSpec


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "train",
        help="train a model on CSV/Parquet series and/or the synthetic corpus",
        description="Train a global TCN quantile forecaster. Series files have a header "
        "'timestamp,value[,value2...]'. The checkpoint is OUT.safetensors + OUT.json.",
    )
    p.add_argument("--out", required=True, help="checkpoint path stem, e.g. models/mine")
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="DIR",
        help="directory of .csv/.parquet series (repeatable)",
    )
    p.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="add N series of the built-in synthetic corpus",
    )
    p.add_argument("--synthetic-length", type=int, default=4096)
    p.add_argument("--n-inputs", type=int, default=1, help="values per reading")
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--kernel-size", type=int, default=3)
    p.add_argument("--dilations", default="1,2,4,8,16,32,64,128")
    p.add_argument("--quantiles", default=",".join(str(q) for q in DEFAULT_QUANTILES))
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--window", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--steps-per-epoch", type=int, default=40)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--patience", type=int, default=5, help="epochs without improvement")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    p.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="stop after the epoch that passes this wall time (0: no limit)",
    )
    p.set_defaults(func=_run)


def _config(args: argparse.Namespace) -> TrainConfig:
    spec = TCNSpec(
        n_inputs=args.n_inputs,
        channels=args.channels,
        kernel_size=args.kernel_size,
        dilations=tuple(int(d) for d in args.dilations.split(",")),
        dropout=args.dropout,
        quantiles=tuple(float(q) for q in args.quantiles.split(",")),
    )
    return TrainConfig(
        out=args.out,
        spec=spec,
        data_dirs=tuple(args.data),
        synthetic_series=args.synthetic,
        synthetic_length=args.synthetic_length,
        window=args.window,
        batch_size=args.batch_size,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        lr=args.lr,
        patience=args.patience,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        max_minutes=args.max_minutes,
    )


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        meta = train(_config(args))
    except (DetectorError, ValueError) as exc:
        print(f"tcnad train: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.out}.safetensors and {args.out}.json "
        f"(best validation pinball {meta['best_val_pinball']:.5f}, {meta['seconds']} s)"
    )
    return 0
