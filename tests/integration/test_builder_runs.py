"""A graph built in the graph builder validates and runs like any entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from dioptra_lab import api
from dioptra_lab.plugins import Registry
from dioptra_lab.widgets.builder import GraphBuilder

pytestmark = pytest.mark.integration


def test_a_built_graph_is_saved_validated_and_run(
    prefect_server: str, registry: Registry, tmp_path: Path
) -> None:
    builder = GraphBuilder()
    builder.task_picker.value = "greet"
    builder.step_name.value = "hello"
    builder.add_button.click()
    builder.bind("hello", "greeting", parameter="greeting")
    builder.set_parameter("greeting", default="Hi")
    builder.bind("hello", "name", literal="ann")
    builder.add_step("shout")
    row = builder.panels["shout"].rows["message"]
    row.mode.value, row.output.value = "output", "hello"
    row.set_button.click()
    builder.add_step("split_words", "parts")
    builder.bind("parts", "message", output="shout")
    builder.add_step("shout", "last")
    builder.bind("last", "message", output="parts.rest")
    builder.set_dependencies("last", ["hello"])
    assert builder.problems == []

    path = builder.save(tmp_path / "built.yaml")
    info = api.validate(path)
    assert [s.name for s in info.steps] == ["hello", "shout", "parts", "last"]
    result = api.run(path, greeting="Hey")
    assert result.output("shout") == "HEY, ANN!"
    assert result.output("last") == "ANN!!"
    assert result.output("parts", "first") == "HEY,"
