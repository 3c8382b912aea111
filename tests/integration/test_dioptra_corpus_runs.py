"""The Dioptra-format corpus's valid cases marked ``run`` run end to end, as Dioptra runs them:
declared inputs (``required: false`` left out), null defaults, a lone ``$``, named outputs."""

from __future__ import annotations

import pytest

import dioptra_lab
from dioptra_lab.plugins import Registry
from tests.unit.test_dioptra_corpus import CASES, _load

pytestmark = pytest.mark.integration


def test_the_corpus_valid_cases_run(prefect_server: str, registry: Registry) -> None:
    """The cases marked ``run`` run end to end in-process, with the declared semantics."""
    ran = {}
    for case in (c for c in CASES if c.get("run")):
        result = dioptra_lab.run(_load(case, registry))
        ran[case["id"]] = {name: record.outputs for name, record in result.steps.items()}
    assert ran["required-false-left-out"]["a"]["message"] == "Hi, world"
    assert ran["null-default-parameter"]["a"]["out"] is None
    assert ran["lone-dollar"]["a"]["message"] == "$!"
    assert ran["two-outputs"]["b"]["out"] == 2
    assert ran["mixed-invocation"]["a"]["message"] == "Hey, you"
    assert ran["parameter-typed-reference"]["a"]["message"] == "Hello, joe"
