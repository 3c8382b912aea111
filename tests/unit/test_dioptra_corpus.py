"""Dioptra's format, exactly: our verdict on the corpus, and Dioptra's own validator's.

The corpus (``tests/fixtures/dioptra_corpus/cases.yaml``) has one valid and one invalid
description per rule of Dioptra's format. Each is loaded as a Dioptra description (it has
``tasks:``); valid ones must load without problems (and with the warning the case names),
invalid ones must be refused with the problem the case names. A second test runs NIST
Dioptra's validator (its wheel, installed by ``tests/dioptra_validator.py``) on the same
files and asserts the same verdicts, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from dioptra_lab.entrypoints import load_entrypoint_text
from dioptra_lab.plugins import Registry
from tests.conftest import FIXTURES
from tests.dioptra_validator import dioptra_verdicts

CASES_FILE = FIXTURES / "dioptra_corpus" / "cases.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(CASES_FILE.read_text())


def _load(case: dict[str, Any], registry: Registry):  # noqa: ANN202 - test helper
    return load_entrypoint_text(
        yaml.safe_dump(case["description"], sort_keys=False), registry, name=case["id"]
    )


def test_the_corpus_has_a_valid_and_an_invalid_case_for_most_rules() -> None:
    assert len({c["id"] for c in CASES}) == len(CASES)
    valid = sum(c["valid"] for c in CASES)
    assert valid >= 20
    assert len(CASES) - valid >= 30


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_our_verdict(case: dict[str, Any], registry: Registry) -> None:
    ep = _load(case, registry)
    assert ep.dioptra
    problems = [str(p) for p in ep.problems]
    warnings = [str(w) for w in ep.warnings]
    if case["valid"]:
        assert problems == [], case["rule"]
    else:
        assert problems, f"accepted, but Dioptra refuses it: {case['rule']}"
        assert any(case["expect"] in p for p in problems), problems
    if "warn" in case:
        assert any(case["warn"] in w for w in warnings), warnings


def test_dioptras_own_validator_agrees() -> None:
    theirs = dioptra_verdicts(CASES_FILE)
    disagree = {c["id"]: theirs[c["id"]] for c in CASES if theirs[c["id"]]["valid"] != c["valid"]}
    assert disagree == {}
    warned = {c["id"] for c in CASES if theirs[c["id"]]["warnings"]}
    assert warned == {c["id"] for c in CASES if "warn" in c and "declared" not in c["warn"]}


def test_random_descriptions_get_dioptras_verdict() -> None:
    """Differential fuzzing (``tests/reliability/dioptra_differential.py``): 300 random
    descriptions with mistakes mixed in, about a fifth of them valid; `make reliability` runs 2000."""
    from tests.reliability.dioptra_differential import compare

    agree, differ = compare(300, seed=7)
    assert differ == []
    assert agree == 300


@pytest.mark.parametrize(
    ("section", "name", "expected"),
    [
        ("graph", "a/b", "step name 'a/b' is not allowed"),
        ("graph", "two words", "step name 'two words' is not allowed"),
        ("parameters", "__import__('os')", "must be a Python identifier"),
        ("parameters", "class", "must be a Python identifier"),
    ],
)
def test_our_stricter_names_hold_in_dioptra_mode(
    section: str, name: str, expected: str, registry: Registry
) -> None:
    """Dioptra accepts these names; we cannot (they become files, metric keys and notebook
    variables: issue 13), so a Dioptra description with one is refused with our reason."""
    description: dict[str, Any] = {
        "tasks": {"shout": {"plugin": "hello_plugin.tasks.shout", "inputs": [{"message": "string"}]}},
        "graph": {"a": {"shout": ["hi"]}},
    }
    if section == "graph":
        description["graph"][name] = {"shout": ["hi"]}
    else:
        description["parameters"] = {name: "x"}
    ep = _load({"id": "names", "description": description}, registry)
    assert ep.dioptra
    assert [p for p in map(str, ep.problems) if expected in p], ep.problems
    assert name not in ep.steps
    assert name not in ep.parameters


def test_a_dotted_step_name_is_reported_once(registry: Registry) -> None:
    description = {
        "tasks": {"shout": {"plugin": "hello_plugin.tasks.shout", "inputs": [{"message": "string"}]}},
        "graph": {"a.b": {"shout": ["hi"]}},
    }
    ep = _load({"id": "dot", "description": description}, registry)
    assert [str(p) for p in ep.problems] == [
        "graph.a.b: a step name may not contain a dot ($a.b means step a's output b)"
    ]
