"""Plugins written for Dioptra load as they are: ``dioptra.pyplugs.register`` tasks and
artifact-task classes, with the artifact tasks' arguments checked against their schema."""

from __future__ import annotations

import sys

import pytest

from dioptra_lab.entrypoints import load_entrypoint, load_entrypoint_text
from dioptra_lab.plugins import Registry
from dioptra_lab.plugins.artifact_tasks import BUILTIN_ARTIFACT_TASKS
from tests.conftest import FIXTURES, PLUGINS

DIOPTRA_PLUGINS = FIXTURES / "dioptra_plugins"


@pytest.fixture
def dioptra_registry() -> Registry:
    return Registry([PLUGINS, DIOPTRA_PLUGINS])


def test_pyplugs_tasks_and_artifact_classes_are_discovered(dioptra_registry: Registry) -> None:
    add = dioptra_registry.get("dioptra_hello.tasks.add")
    assert [(i.name, str(i.type)) for i in add.inputs] == [("a", "float"), ("b", "float")]
    assert dioptra_registry.get("describe").qualname == "dioptra_hello.tasks.describe"
    report = dioptra_registry.find_artifact_task("ReportArtifactTask")
    assert report is not None
    assert report.qualname == "dioptra_hello.tasks.ReportArtifactTask"
    assert report.plugin == "dioptra_hello"
    assert (
        dioptra_registry.find_artifact_task("NumpyArrayArtifactTask")
        is BUILTIN_ARTIFACT_TASKS["NumpyArrayArtifactTask"]
    )
    assert dioptra_registry.find_artifact_task("NoSuchTask") is None
    # the stand-in is in place only because the real package is not installed
    assert getattr(sys.modules["dioptra"], "__dioptra_lab_standin__", False)


def test_a_description_over_dioptra_plugins_validates(dioptra_registry: Registry) -> None:
    ep = load_entrypoint(DIOPTRA_PLUGINS / "report.yaml", dioptra_registry)
    assert ep.problems == []
    assert ep.dioptra
    assert ep.artifact_outputs["report"].artifact_task is not None
    assert ep.artifact_outputs["report"].args == {"case": "upper"}


def test_artifact_task_arguments_are_checked_against_its_schema(dioptra_registry: Registry) -> None:
    text = (DIOPTRA_PLUGINS / "report.yaml").read_text()
    bad = text.replace("args: {case: upper}", "args: {case: title, colour: red}")
    problems = [str(p) for p in load_entrypoint_text(bad, dioptra_registry).problems]
    assert any(
        "artifact_outputs.report.task.args: case: 'title' is not one of ['upper', 'lower']" in p
        for p in problems
    ), problems
    assert any("Additional properties are not allowed ('colour' was unexpected)" in p for p in problems), (
        problems
    )
    xml = text.replace("name: JsonArtifactTask}", "name: DataFrameArtifactTask, args: {format: xml}}")
    problems = [str(p) for p in load_entrypoint_text(xml, dioptra_registry).problems]
    assert problems == ["artifact_outputs.total.task.args: format: 'xml' is not one of ['csv', 'json']"]
    unknown = text.replace("name: JsonArtifactTask", "name: JsonArtefactTask")
    problems = [str(p) for p in load_entrypoint_text(unknown, dioptra_registry).problems]
    assert problems == [
        "artifact_outputs.total.task.name: unknown artifact task 'JsonArtefactTask': no plugin class of that "
        "name (built-in: " + ", ".join(BUILTIN_ARTIFACT_TASKS) + ")"
    ]


@pytest.mark.parametrize(
    ("task", "value", "args"),
    [
        ("StringArtifactTask", "héllo", {"encoding": "utf-8"}),
        ("BytesArtifactTask", b"\x00\x01", {}),
        ("JsonArtifactTask", {"a": [1, 2]}, {"indent": 2}),
        ("NumpyArrayArtifactTask", [[1.0, 2.0]], {}),
        ("DataFrameArtifactTask", {"x": [1, 2], "y": ["a", "b"]}, {"format": "json"}),
        ("TorchModelArtifactTask", None, {}),
    ],
)
def test_builtin_artifact_tasks_round_trip(task: str, value: object, args: dict, tmp_path) -> None:  # noqa: ANN001
    spec = BUILTIN_ARTIFACT_TASKS[task]
    assert spec.argument_problems(args) == []
    if task == "DataFrameArtifactTask":
        import pandas as pd

        value = pd.DataFrame(value)
    if task == "TorchModelArtifactTask":
        import torch

        value = torch.nn.Linear(2, 1)
    path = spec.serialize(tmp_path, "thing", value, **args)
    assert path.parent == tmp_path
    back = spec.deserialize(tmp_path, path.name)
    if task == "NumpyArrayArtifactTask":
        assert back.tolist() == value
    elif task == "DataFrameArtifactTask":
        assert back.to_dict("list") == {"x": [1, 2], "y": ["a", "b"]}
    elif task == "TorchModelArtifactTask":
        assert set(back) == {"weight", "bias"}
    else:
        assert back == value
