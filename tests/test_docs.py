"""The README documents what the code declares: every setting, CLI subcommand and API route.

Settings, commands and routes are declared once as data (cmp.settings.SETTINGS,
consentry.cli.build_parser(), consentry.openapi.OPERATIONS); these tests fail when one is added or
renamed without the README following.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmp.settings import SETTINGS
from consentry.cli import build_parser
from consentry.openapi import OPERATIONS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text("utf-8")


def subcommands(parser: argparse.ArgumentParser, prefix: str = "consentry") -> Iterator[str]:
    """Every leaf command, e.g. "consentry serve", "consentry ledger verify"."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix
        return
    for action in subs:
        for name, sub in action.choices.items():
            yield from subcommands(sub, f"{prefix} {name}")


@pytest.mark.parametrize("name", [s.name for s in SETTINGS])
def test_every_setting_has_a_row_in_the_settings_table(name: str) -> None:
    row = re.compile(rf"^\| `{re.escape(name)}` \|", re.M)
    assert row.search(README), f"setting {name!r} has no row in the README's settings table"


@pytest.mark.parametrize("command", sorted(set(subcommands(build_parser()))))
def test_every_cli_subcommand_is_documented(command: str) -> None:
    assert f"`{command}" in README, f"CLI command {command!r} is not in the README"


@pytest.mark.parametrize("method,path", sorted({(op[0].upper(), op[1]) for op in OPERATIONS}))
def test_every_route_is_documented_with_its_method(method: str, path: str) -> None:
    assert f"`{path}`" in README, f"route {path} is not in the README"
    lines = [ln for ln in README.splitlines() if f"`{path}`" in ln and method in ln]
    assert lines, f"{method} {path} is not in the README's API table"


def test_subcommand_walk_finds_nested_commands() -> None:
    # Guard the walker itself: a silently empty list would make the test above vacuous.
    found = set(subcommands(build_parser()))
    assert {"consentry serve", "consentry ledger verify"} <= found


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run takes the first README line that runs pytest; it must exist and keep the
    browser tests in their own process."""
    lines = [ln for ln in README.splitlines() if "python -m pytest" in ln]
    assert lines, "the README has no test command"
    cmd = lines[0]
    assert "--ignore=tests/browser" in cmd and "tests/browser" in cmd.replace(
        "--ignore=tests/browser", ""), cmd
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert "grep -m1 -F 'python -m pytest' README.md" in ci
