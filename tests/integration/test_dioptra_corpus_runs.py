"""The Dioptra-format corpus's valid cases marked ``run`` run end to end, as Dioptra runs them:
declared inputs (``required: false`` left out), null defaults, a lone ``$``, named outputs;
and a plugin written for Dioptra with its artifact tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dioptra_lab
from dioptra_lab.engine.artifacts import load_artifact
from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.plugins import Registry, set_registry
from tests.conftest import PLUGINS, TESTS
from tests.dioptra_validator import dioptra_sdk_path
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


REAL_DIOPTRA_RUN = """
from pathlib import Path

import dioptra_lab
from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.entrypoints.dioptra_import import import_dioptra
from dioptra_lab.plugins import Registry
from tests.unit.test_dioptra_import import make_repository

report = import_dioptra(make_repository(Path("repo"), "hello_real_dioptra"), Path("out"))
ep = load_entrypoint(report.entrypoints["hello-world"], Registry([Path("out/plugins")]))
assert ep.problems == [], ep.problems
import dioptra.pyplugs

print("stand-in:", getattr(dioptra, "__dioptra_lab_standin__", False), "from:", dioptra.pyplugs.__file__)
from dioptra.pyplugs._plugins import _PLUGINS

print("registered by Dioptra:", sorted(_PLUGINS["hello_real_dioptra"]["tasks"]))
result = dioptra_lab.run(ep, who="Bo", earlier="unused.txt")
print("twice:", result.output("twice"))
print("shouted:", Path("artifacts/shouted.txt").read_text())
"""


def test_an_imported_repository_runs_with_the_real_dioptra_package(
    prefect_server: str, tmp_path: Path
) -> None:
    """With NIST Dioptra's own package importable (its wheel and structlog), a plugin written for
    Dioptra registers with Dioptra's real ``pyplugs`` (no stand-in) and still runs here: a
    Dioptra description names its tasks by path, which needs no registration of ours."""
    root = TESTS.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), dioptra_sdk_path()])}
    done = subprocess.run(
        [sys.executable, "-c", REAL_DIOPTRA_RUN],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert f"stand-in: False from: {root / '.cache'}" in "\n".join(lines), lines
    assert "registered by Dioptra: ['hello', 'repeat']" in lines, lines
    assert "twice: Hello, Bo Hello, Bo" in lines
    assert "shouted: HELLO, BO HELLO, BO" in lines
