"""Builds the ``tcnad`` parser from the command modules and runs the chosen command."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

COMMANDS = ("up", "worker", "produce", "alerts", "train", "score", "nab", "plot", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tcnad", description="Streaming anomaly detection with a causal dilated TCN."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"tcnad.topology.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
