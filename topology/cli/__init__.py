"""The ``tcnad`` command line: one module per command, shared options in ``options``; the
offline lab commands in ``lab``.

A command module exposes ``register(subparsers) -> None``, which adds its parser and sets
``func`` (a callable taking the parsed namespace and returning an exit code).
"""

from tcnad.topology.cli.main import COMMANDS, build_parser, command_module, main

__all__ = ["COMMANDS", "build_parser", "command_module", "main"]
