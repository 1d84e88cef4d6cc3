"""`tcnad nab`: not built yet."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("nab", help="(not available yet)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print("tcnad nab is not available in this version", file=sys.stderr)
    return 2
