"""Builds the ``tcnad`` parser from the command modules and runs the chosen command.

Settings errors are reported here, once for every command: a ``TCNAD_*`` variable or a flag
that fails validation gives one line on stderr naming it, its value and what is allowed,
and exit code 2 (as argparse's own usage errors, which are also one line here).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

from pydantic import ValidationError
from pydantic_settings import SettingsError

OPERATIONS = ("up", "worker", "produce", "alerts", "notify", "ui")
LAB = ("train", "score", "nab", "plot", "bench")  # offline, in tcnad.topology.cli.lab
COMMANDS = OPERATIONS + LAB
USAGE_ERROR = 2  # a bad flag or TCNAD_ variable; nothing was started
_SECRET_FIELD = re.compile(r"pass|secret|token", re.IGNORECASE)


def command_module(name: str) -> str:
    """The module that implements command ``name``."""
    return f"tcnad.topology.cli.{'lab.' if name in LAB else ''}{name}"


class BadSetting(Exception):
    """A setting failed validation; ``str()`` is the one line that says which and why."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (the usage is one ``--help`` away), and plain
    descriptions: a command module's docstring shows without its reStructuredText quotes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if isinstance(kwargs.get("description"), str):
            kwargs["description"] = kwargs["description"].replace("``", "")
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def package_version() -> str:
    try:
        return version("tcnad")
    except PackageNotFoundError:  # a source tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tcnad", description="Streaming anomaly detection with a causal dilated TCN."
    )
    parser.add_argument("--version", action="version", version=f"tcnad {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(command_module(name))
        module.register(sub)
    return parser


def env_name(field: str) -> str:
    """The variable that sets ``field``: as spelled in the environment, else upper case."""
    wanted = f"TCNAD_{field}".upper()
    return next((k for k in os.environ if k.upper() == wanted), wanted)


def shown_value(field: str, value: Any) -> str:
    """``value`` as an error line shows it: secrets as ``***``, URLs without passwords."""
    from tcnad.topology.security import redact_url

    if _SECRET_FIELD.search(field):
        return "'***'"
    text = str(value)
    return repr(redact_url(text) if "://" in text else value)


def describe(exc: ValidationError, flags: Mapping[str, str] | None = None) -> str:
    """One line for a settings ``ValidationError``: each bad setting by its flag (``flags``:
    field -> flag, for the fields a flag set) or else by its variable, with its value and
    pydantic's account of what is allowed."""
    flags = flags or {}
    parts = []
    for err in exc.errors(include_url=False):
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not err["loc"]:  # a check across fields
            parts.append(f"invalid settings: {msg}")
            continue
        field = str(err["loc"][0])
        name = flags.get(field) or env_name(field)
        parts.append(f"{name}={shown_value(field, err.get('input'))} is not valid: {msg}")
    return "; ".join(parts) or str(exc).splitlines()[0]


def settings_from(flags: Mapping[str, tuple[str, Any]], cls: type[Any] | None = None) -> Any:
    """``Settings`` (or ``cls``) from the ``TCNAD_*`` environment, overridden by the flags
    given: ``flags`` maps a field to ``(flag, value)``, a value None meaning not given.
    Raises ``BadSetting`` with the one line to show."""
    if cls is None:
        from tcnad.topology.settings import Settings

        cls = Settings
    given = {field: value for field, (_, value) in flags.items() if value is not None}
    try:
        return cls(**given)
    except ValidationError as exc:
        named = {field: flag for field, (flag, value) in flags.items() if value is not None}
        raise BadSetting(describe(exc, named)) from None
    except SettingsError as exc:  # a variable pydantic-settings could not even parse
        raise BadSetting(str(exc)) from None


def _fail(prog: str, line: str) -> int:
    print(f"{prog}: {line}", file=sys.stderr)
    return USAGE_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings_from({})  # every command, --help too: a bad TCNAD_ variable is named at once
    except BadSetting as exc:
        return _fail("tcnad", str(exc))
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BadSetting as exc:
        return _fail(f"tcnad {args.command}", str(exc))
    except ValidationError as exc:
        if exc.title != "Settings":  # not a setting: a bug worth its traceback
            raise
        return _fail(f"tcnad {args.command}", describe(exc))
