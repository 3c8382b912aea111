"""The Dioptra-format corpus's valid cases marked ``run`` run end to end, as Dioptra runs them:
declared inputs (``required: false`` left out), null defaults, a lone ``$``, named outputs;
and a plugin written for Dioptra with its artifact tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dioptra_lab
from dioptra_lab.engine.artifacts import load_artifact
from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.plugins import Registry, set_registry
from tests.conftest import PLUGINS
from tests.unit.test_dioptra_corpus import CASES, _load
from tests.unit.test_dioptra_plugins import DIOPTRA_PLUGINS

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


def test_a_dioptra_plugin_runs_with_its_artifact_tasks(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin written for Dioptra (pyplugs tasks, an artifact-task class) runs unedited; the
    artifact outputs are serialized by their tasks, with the checked arguments."""
    monkeypatch.chdir(tmp_path)
    registry = Registry([PLUGINS, DIOPTRA_PLUGINS])
    result = dioptra_lab.run(load_entrypoint(DIOPTRA_PLUGINS / "report.yaml", registry), a=4)
    assert result.output("text") == "4.5 Points"
    assert Path(result.artifacts["report"]) == tmp_path / "artifacts" / "report.report"
    assert (tmp_path / "artifacts" / "report.report").read_text() == "4.5 POINTS"
    assert json.loads((tmp_path / "artifacts" / "total.json").read_text()) == 4.5
    # an artifact input given that file is read back by the task that wrote it
    set_registry(registry)
    try:
        assert load_artifact(result.artifacts["report"]) == "4.5 POINTS"
        assert load_artifact(result.artifacts["total"]) == 4.5
    finally:
        set_registry(None)


def test_an_imported_resource_repository_runs(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dioptra-lab import` of a repository in Dioptra's layout gives an entry point that runs:
    its plugin (pyplugs, no __init__.py) imports, `required: false` is honoured, the artifact
    class serializes."""
    from dioptra_lab.entrypoints.dioptra_import import import_dioptra
    from tests.unit.test_dioptra_import import make_repository

    monkeypatch.chdir(tmp_path)
    report = import_dioptra(make_repository(tmp_path / "repo", "hello_imported_run"), tmp_path / "out")
    registry = Registry([tmp_path / "out" / "plugins"])
    ep = load_entrypoint(report.entrypoints["hello-world"], registry)
    result = dioptra_lab.run(ep, who="Bo", earlier="unused.txt")
    assert result.output("twice") == "Hello, Bo Hello, Bo"
    assert (tmp_path / "artifacts" / "shouted.txt").read_text() == "HELLO, BO HELLO, BO"
