"""`tcnad train`: train a global TCN quantile forecaster and write a checkpoint."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from tcnad.detector.errors import DetectorError
from tcnad.detector.spec import DEFAULT_QUANTILES, TCNSpec
from tcnad.topology.cli.options import add_skip_bad_rows

if TYPE_CHECKING:
    from tcnad.detector.lab.train import TrainConfig


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "train",
        help="train a model on CSV/Parquet series and/or the synthetic corpus",
        description="Train a global TCN quantile forecaster. Series files are read as by "
        "tcnad score: a timestamp column, then one column per model input (--n-inputs), rows "
        "in time order. The checkpoint is STEM.safetensors + STEM.json.",
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        metavar="STEM",
        help="the checkpoint to write, STEM.safetensors and STEM.json (e.g. models/mine); "
        "STEM is what --model and TCNAD_MODEL take",
    )
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="DIR",
        help="directory of .csv/.parquet series, searched recursively (repeatable; default: none)",
    )
    p.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="add N series of the built-in synthetic corpus (default: %(default)s)",
    )
    add_skip_bad_rows(p)
    _add_model_shape(p)
    _add_schedule(p)
    p.set_defaults(func=_run)


def _add_model_shape(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--synthetic-length",
        type=int,
        default=4096,
        metavar="N",
        help="readings per synthetic series (default: %(default)s)",
    )
    p.add_argument(
        "--n-inputs",
        type=int,
        default=1,
        metavar="N",
        help="values per reading: the value columns of every file (default: %(default)s)",
    )
    p.add_argument(
        "--channels", type=int, default=32, help="channels per TCN layer (default: %(default)s)"
    )
    p.add_argument(
        "--kernel-size",
        type=int,
        default=3,
        help="taps of each causal convolution (default: %(default)s)",
    )
    p.add_argument(
        "--dilations",
        default="1,2,4,8,16,32,64,128",
        help="comma-separated dilation of each residual block (default: %(default)s)",
    )
    p.add_argument(
        "--quantiles",
        default=",".join(str(q) for q in DEFAULT_QUANTILES),
        help="comma-separated quantiles the model forecasts, the median among them "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--dropout", type=float, default=0.1, help="dropout while training (default: %(default)s)"
    )


def _add_schedule(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--window",
        type=int,
        default=2048,
        help="readings per training window (default: %(default)s)",
    )
    p.add_argument(
        "--batch-size", type=int, default=16, help="windows per batch (default: %(default)s)"
    )
    p.add_argument("--epochs", type=int, default=30, help="most epochs (default: %(default)s)")
    p.add_argument(
        "--steps-per-epoch",
        type=int,
        default=40,
        help="optimiser steps per epoch (default: %(default)s)",
    )
    p.add_argument(
        "--lr", type=float, default=2e-3, help="AdamW learning rate (default: %(default)s)"
    )
    p.add_argument(
        "--patience",
        type=int,
        default=5,
        help="stop after this many epochs without a better validation loss (default: %(default)s)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of sampling and weights (default: %(default)s)"
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto, cpu, cuda, cuda:1, ... (default: %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for torch, 0: torch's default (default: %(default)s)",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="stop after the epoch that passes this wall time, 0: no limit (default: %(default)s)",
    )


def _config(args: argparse.Namespace) -> TrainConfig:
    from tcnad.detector.lab.train import TrainConfig  # imports torch: only when training

    spec = TCNSpec(
        n_inputs=args.n_inputs,
        channels=args.channels,
        kernel_size=args.kernel_size,
        dilations=tuple(int(d) for d in args.dilations.split(",")),
        dropout=args.dropout,
        quantiles=tuple(float(q) for q in args.quantiles.split(",")),
    )
    return TrainConfig(
        out=args.checkpoint,
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
        skip_bad_rows=args.skip_bad_rows,
    )


def _run(args: argparse.Namespace) -> int:
    from tcnad.detector.lab.train import TrainingDataError, train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        meta = train(_config(args))
    except TrainingDataError as exc:  # a series file or --data: as tcnad score, exit code 1
        print(f"tcnad train: {exc}", file=sys.stderr)
        return 1
    except (DetectorError, ValueError) as exc:
        print(f"tcnad train: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.checkpoint}.safetensors and {args.checkpoint}.json "
        f"(best validation pinball {meta['best_val_pinball']:.5f}, {meta['seconds']} s)"
    )
    return 0
