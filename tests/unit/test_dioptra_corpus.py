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


def test_the_corpus_has_a_valid_and_an_invalid_case_for_every_rule() -> None:
    assert len({c["id"] for c in CASES}) == len(CASES)
    verdicts: dict[str, set[bool]] = {}
    for case in CASES:
        verdicts.setdefault(case["topic"], set()).add(case["valid"])
    assert {topic: seen for topic, seen in verdicts.items() if seen != {True, False}} == {}
    assert len(verdicts) >= 26
    assert all("dioptra_says" in c for c in CASES if not c["valid"])


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
    """Dioptra gives the same verdict, and names the problem each invalid case is about."""
    theirs = dioptra_verdicts(CASES_FILE)
    disagree = {c["id"]: theirs[c["id"]] for c in CASES if theirs[c["id"]]["valid"] != c["valid"]}
    assert disagree == {}
    unnamed = {
        c["id"]: theirs[c["id"]]["errors"]
        for c in CASES
        if not c["valid"] and not any(c["dioptra_says"] in e for e in theirs[c["id"]]["errors"])
    }
    assert unnamed == {}
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


def _describe(**sections: Any) -> dict[str, Any]:
    return {"id": "case", "description": sections}


def test_every_problem_is_reported_at_once(registry: Registry) -> None:
    """A wrong reference in one step does not hide a type error in another, nor a cycle."""
    description = _describe(
        tasks={
            "shout": {
                "plugin": "hello_plugin.tasks.shout",
                "inputs": [{"message": "string"}],
                "outputs": {"message": "string"},
            },
            "count": {
                "plugin": "corpus_plugin.tasks.count",
                "inputs": [{"n": "integer"}],
                "outputs": {"n": "integer"},
            },
            "odd": {
                "plugin": "corpus_plugin.tasks.echo",
                "inputs": [{"x": "nowhere"}],
                "outputs": {"y": "any"},
            },
        },
        graph={
            "a": {"shout": ["$nobody"]},
            "b": {"count": ["three"]},
            "c": {"odd": [1]},
            "d": {"count": ["$c"]},
            "e": {"shout": ["$f"]},
            "f": {"shout": ["$e"]},
        },
    )
    problems = [str(p) for p in _load(description, registry).problems]
    assert any(p.startswith("graph.a: unknown reference $nobody") for p in problems), problems
    assert "graph.b.n: incompatible types: input 'n' of task 'count' takes integer, given string" in problems
    assert "tasks.odd.inputs: input 'x' has unknown type 'nowhere'" in problems
    assert any(p.startswith("graph: cycle between steps:") for p in problems), problems
    # d uses c, whose task is unsound: its types are not judged (no echo of c's problem)
    assert not [p for p in problems if p.startswith("graph.d")], problems
    # shouted strings do flow into shout: no type error for e and f
    assert not [p for p in problems if p.startswith(("graph.e.", "graph.f."))], problems


def test_a_problem_is_reported_once_when_both_rules_see_it(registry: Registry) -> None:
    description = _describe(tasks={"shout": {"plugin": "shout"}}, graph={"a": {"shout": []}})
    problems = [str(p) for p in _load(description, registry).problems]
    assert [p for p in problems if p.startswith("tasks.shout.plugin")] == [
        "tasks.shout.plugin: 'shout': a plugin is `module.function` (at least one dot)"
    ]


def test_a_file_without_tasks_keeps_our_shorthand(registry: Registry) -> None:
    """No `tasks:` section: tasks come from the registry by short name, their inputs and
    outputs from the function's signature (a documented extension of ours)."""
    ep = _load(_describe(graph={"a": {"shout": ["hi"]}, "b": {"shout": ["$a"]}}), registry)
    assert not ep.dioptra
    assert ep.problems == []
    assert ep.steps["a"].spec.qualname == "hello_plugin.tasks.shout"
    # Dioptra's rules would refuse the same graph: every task must be declared
    ours = _load(
        _describe(tasks={"echo": {"plugin": "corpus_plugin.tasks.echo"}}, graph={"a": {"shout": ["hi"]}}),
        registry,
    )
    assert ours.dioptra
    assert any("unknown task 'shout'" in str(p) for p in ours.problems)


def test_declarations_that_contradict_the_function_are_warned(registry: Registry) -> None:
    ep = _load(
        _describe(
            tasks={
                "count": {
                    "plugin": "corpus_plugin.tasks.count",
                    "inputs": [{"n": "integer"}],
                    "outputs": {"n": "string"},
                },
                "needs": {"plugin": "corpus_plugin.tasks.needs", "outputs": {"value": "string"}},
            },
            graph={"c": {"count": [1]}, "n": {"needs": {}}},
        ),
        registry,
    )
    warnings = [str(w) for w in ep.warnings]
    assert any(
        "output 'n' is declared str but corpus_plugin.tasks.count annotates int" in w for w in warnings
    ), warnings
    assert any(
        "corpus_plugin.tasks.needs requires 'value', which the task does not declare" in w for w in warnings
    ), warnings
    assert ep.problems == []
