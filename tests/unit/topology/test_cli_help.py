"""Every flag of every command explains itself: help text, its default shown, plain text."""

from __future__ import annotations

import argparse

import pytest

from tcnad.topology.cli.main import COMMANDS, build_parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _flags(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in p._actions if not isinstance(a, argparse._HelpAction)]


def _shown_default(a: argparse.Action) -> bool:
    """Whether a flag has a default worth showing: a value other than None, False and empty.
    It counts as shown where the help says "default" or gives the value in parentheses."""
    return a.option_strings != [] and a.default not in (None, False, "", [], argparse.SUPPRESS)


def test_every_command_is_walked() -> None:
    assert sorted(_commands()) == sorted(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_flag_has_plain_help(name: str) -> None:
    p = _commands()[name]
    missing = [a.dest for a in _flags(p) if not (a.help or "").strip()]
    assert missing == [], f"tcnad {name}: no help for {missing}"
    raw = [a.dest for a in _flags(p) if "``" in (a.help or "")]
    assert raw == [], f"tcnad {name}: reStructuredText in the help of {raw}"
    assert "``" not in p.format_help()


@pytest.mark.parametrize("name", COMMANDS)
def test_every_default_is_shown(name: str) -> None:
    p = _commands()[name]
    formatter = p._get_formatter()
    hidden = []
    for a in _flags(p):
        if _shown_default(a):
            text = formatter._expand_help(a) if a.help else ""
            if "default" not in text and f"({a.default})" not in text:
                hidden.append(a.dest)
    assert hidden == [], f"tcnad {name}: the default of {hidden} is not shown"


def test_the_walker_catches_a_flag_without_help() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--x", default=3)
    (a,) = _flags(p)
    assert not a.help and _shown_default(a)
