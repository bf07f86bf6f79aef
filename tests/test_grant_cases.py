"""The shared case table (tests/grant_cases.json) against the Python grant rule.

The same file runs against the banner's JS in Chromium (tests/browser/test_grant_cases.py), so
the server and the banner decide alike or one of the two runs fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cmp.grants import Action, Answers, GrantSite, choose, effective
from cmp.types import Choices, Model

TABLE = json.loads((Path(__file__).parent / "grant_cases.json").read_text("utf-8"))


class _State:
    """A verified token's state as the rule reads it (cmp.grants.State)."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.subject = "c_case"
        self.revision = int(d["revision"])
        self.purposes = frozenset(d["purposes"])
        self.vendors = frozenset(d["vendors"])
        self.separate = frozenset(d["separate"])
        self.gpc = bool(d["gpc"])


def run(case: dict[str, Any]) -> dict[str, dict[str, bool]]:
    cfg = TABLE["configs"][case["config"]]
    site, model = GrantSite.from_doc(cfg), Model(cfg["model"])
    if case["kind"] == "choose":
        a = case["answers"]
        return choose(site, Action(case["action"]), Answers(a["purposes"], a["vendors"],
                      a["separate"]), model=model, gpc=case["gpc"]).as_dict()
    state = case["state"]
    defaults: Choices = choose(site, Action.DEFAULTS, model=model, gpc=case["gpc"])
    g = effective(site, None if state in (None, "invalid") else _State(state),
                  token_presented=state is not None, gpc=case["gpc"], defaults=defaults)
    return g.as_choices(site).as_dict()


def test_the_table_is_large_and_covers_every_action() -> None:
    cases = TABLE["cases"]
    assert len(cases) >= 40
    assert {c["action"] for c in cases if c["kind"] == "choose"} == {a.value for a in Action}
    states = [c["state"] for c in cases if c["kind"] == "effective"]
    assert None in states and "invalid" in states and any(isinstance(s, dict) for s in states)
    assert len({c["name"] for c in cases}) == len(cases)


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["name"] for c in TABLE["cases"]])
def test_case(case: dict[str, Any]) -> None:
    assert run(case) == case["expect"]
