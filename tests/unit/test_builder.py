"""The graph builder: round trips of every example, building with clicks, problems, picture."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dioptra_lab import api
from dioptra_lab.entrypoints import EntryPoint, load_entrypoint, load_entrypoint_text
from dioptra_lab.entrypoints.writer import dump_entrypoint_yaml, step_body
from dioptra_lab.errors import DioptraLabError, UnknownTaskError
from dioptra_lab.plugins import Registry
from dioptra_lab.widgets.builder import GraphBuilder
from tests.conftest import ENTRYPOINTS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def builtin() -> Iterator[Registry]:
    """The built-in plugins as the process-wide registry."""
    from dioptra_lab.plugins.registry import set_registry

    reg = Registry([ROOT / "plugins"], distributions=False).discover()
    set_registry(reg)
    yield reg
    set_registry(None)


def graph_of(ep: EntryPoint) -> dict[str, Any]:
    """What must survive a round trip: steps, tasks, bindings, parameters, the other sections."""
    return {
        "steps": [(s.name, s.task, s.style, s.args, s.kwargs, s.dependencies) for s in ep.steps.values()],
        "parameters": {
            n: (str(p.type), repr(p.default), p.description, p.declared) for n, p in ep.parameters.items()
        },
        "types": {n: str(t) for n, t in ep.types.items()},
        "artifact_inputs": {
            n: [(o.name, str(o.type)) for o in outs] for n, outs in ep.artifact_inputs.items()
        },
        "artifact_outputs": {n: (o.contents, o.task, o.args) for n, o in ep.artifact_outputs.items()},
        "description": ep.description,
        "problems": [str(p) for p in ep.problems],
    }


def round_trip(path: Path, tmp_path: Path) -> None:
    original = load_entrypoint(path)
    builder = GraphBuilder.load(path)
    assert builder.steps == list(original.steps)
    assert graph_of(load_entrypoint_text(builder.yaml())) == graph_of(original)
    saved = builder.save(tmp_path / path.name)
    again = GraphBuilder.load(saved)
    assert again.doc.to_data() == builder.doc.to_data()
    assert again.yaml() == builder.yaml()  # the writer's output is a fixed point
    assert graph_of(again.entrypoint) == graph_of(original)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_round_trips(path: Path, builtin: Registry, tmp_path: Path) -> None:
    round_trip(path, tmp_path)
    assert GraphBuilder.load(path).problems == []


def test_dioptra_features_round_trip(registry: Registry, tmp_path: Path) -> None:
    # types, tasks declarations, positional/keyword/mixed styles, a $$ escape, dependencies
    round_trip(ENTRYPOINTS / "hello_dioptra.yaml", tmp_path)
    text = (
        "artifact_inputs:\n  words:\n    - first: string\n    - rest: string\n"
        "parameters: [who]\n"
        "graph:\n  s:\n    shout: $words.rest\n  t:\n    hello: {name: $who}\n"
        "artifact_outputs:\n  saved:\n    contents: $s\n    task:\n      name: record\n      args: {}\n"
    )
    source = tmp_path / "artifacts.yaml"
    source.write_text(text)
    (tmp_path / "out").mkdir()
    round_trip(source, tmp_path / "out")


def shown(widget: Any) -> str:
    """The text an HTML widget shows."""
    return html.unescape(widget.value)


def steps_in(svg: str) -> list[str]:
    return re.findall(r'<g class="step" data-name="([^"]+)"', svg)


def test_build_a_graph_with_clicks(registry: Registry, tmp_path: Path) -> None:
    builder = GraphBuilder()
    builder.task_picker.value = "greet"
    builder.step_name.value = "hi"
    builder.add_button.click()
    assert builder.steps == ["hi"]
    assert "missing required input 'greeting'" in shown(builder.panels["hi"].problems)

    row = builder.panels["hi"].rows["greeting"]
    row.mode.value, row.parameter.value = "parameter", "greeting"
    row.set_button.click()
    assert builder.doc.parameters == {"greeting": {"type": "string"}}  # created with the input's type
    row = builder.panels["hi"].rows["name"]
    row.mode.value, row.literal.value = "literal", "ann"
    row.set_button.click()
    assert builder.binding("hi", "name") == (True, "ann")

    builder.task_picker.value = "shout"
    builder.add_button.click()
    row = builder.panels["shout"].rows["message"]
    assert list(row.output.options) == ["hi"]
    row.mode.value, row.output.value = "output", "hi"
    row.set_button.click()

    builder.task_picker.value = "measure"
    builder.add_button.click()
    builder.bind("measure", "message", output="shout")
    builder.task_picker.value = "scale"
    builder.add_button.click()
    x = builder.panels["scale"].rows["x"]
    # str outputs do not fit a float input; the int outputs of measure do
    assert list(x.output.options) == ["measure.length", "measure.words"]
    x.mode.value, x.output.value = "output", "measure.words"
    x.set_button.click()
    factor = builder.panels["scale"].rows["factor"]
    factor.mode.value, factor.parameter.value = "parameter", "factor"
    factor.set_button.click()
    assert builder.doc.parameters["factor"] == {"type": "number", "default": 2.0, "description": "multiplier"}
    assert builder.problems == []
    assert builder.entrypoint.valid

    path = builder.save(tmp_path / "built.yaml")
    assert "saved" in builder.status.value
    assert "problem" not in builder.status.value
    info = api.validate(path)
    assert [s.name for s in info.steps] == ["hi", "shout", "measure", "scale"]
    assert {p.name for p in info.parameters} == {"greeting", "factor"}
    assert sorted(steps_in(builder.picture.value)) == sorted(builder.steps)  # one node per step
    assert builder.picture.value.count('<g class="parameter"') == 2


def test_methods_bind_literals_with_the_input_type(registry: Registry) -> None:
    builder = GraphBuilder()
    builder.add_step("scale")
    builder.bind("scale", "x", literal="1.5")
    builder.bind("scale", "factor", literal="3")
    assert builder.doc.steps["scale"].kwargs == {"x": 1.5, "factor": 3.0}
    builder.bind("scale", "factor", literal="11")  # out of [0, 10]: the validator says so
    assert any("factor" in p.message and "<= 10" in p.message for p in builder.step_problems("scale"))
    builder.add_step("greet")
    builder.bind("greet", "greeting", literal="$5")  # a literal dollar, escaped
    assert builder.doc.steps["greet"].kwargs["greeting"] == "$$5"
    assert builder.panels["greet"].rows["greeting"].literal.value == "$5"
    with pytest.raises(DioptraLabError, match="has no input 'nope'"):
        builder.bind("greet", "nope", literal="x")
    with pytest.raises(DioptraLabError, match="exactly one"):
        builder.bind("greet", "name", literal="x", parameter="y")


def test_an_output_that_does_not_fit_is_not_offered(registry: Registry) -> None:
    builder = GraphBuilder()
    builder.add_step("greet")
    builder.add_step("score")
    builder.add_step("divide")
    assert builder.sources("divide", "x") == ["score"]  # greet's str does not fit a float
    assert builder.sources("greet", "name") == []  # and float outputs do not fit a str
    assert "greet" not in builder.panels["divide"].rows["x"].output.options
    builder.bind("divide", "x", output="greet")  # by hand: the validator names the mismatch
    problems = shown(builder.panels["divide"].problems)
    assert "incompatible types" in problems
    assert "greet" in builder.panels["divide"].rows["x"].output.options  # shown until changed


def test_a_cycle_shows_next_to_its_steps(registry: Registry) -> None:
    builder = GraphBuilder()
    builder.add_step("greet", "a")
    builder.add_step("shout", "b")
    builder.bind("a", "greeting", literal="hi")
    builder.bind("b", "message", output="a")
    assert builder.problems == []
    builder.panels["a"].dependencies.value = ("b",)  # the multi-select: a after b, b reads a
    assert builder.doc.steps["a"].dependencies == ["b"]
    for step in ("a", "b"):
        assert "cycle between steps" in shown(builder.panels[step].problems)
    assert "cycle" not in builder.general_problems.value
    assert 'class="edge dependency"' in builder.picture.value
    builder.set_dependencies("a", [])
    assert builder.problems == []


def test_unknown_references_and_missing_inputs_show_their_problems(registry: Registry) -> None:
    builder = GraphBuilder()
    builder.add_step("greet", "a")
    assert "missing required input 'greeting'" in shown(builder.panels["a"].problems)
    builder.bind("a", "greeting", output="nowhere")
    assert "unknown reference $nowhere" in shown(builder.panels["a"].problems)
    builder.add_step("shout", "b")
    builder.bind("a", "greeting", literal="hi")
    builder.bind("b", "message", output="a")
    builder.remove_step("a")  # b's reference stays, and says so
    assert builder.steps == ["b"]
    assert "unknown reference $a" in shown(builder.panels["b"].problems)


def test_rename_move_and_remove_with_buttons(registry: Registry) -> None:
    builder = GraphBuilder()
    for task, name in (("greet", "a"), ("shout", "b"), ("measure", "c")):
        builder.add_step(task, name)
    builder.bind("a", "greeting", literal="hi")
    builder.bind("b", "message", output="a")
    builder.bind("c", "message", output="a")
    builder.set_dependencies("c", ["b"])
    panel = builder.panels["a"]
    panel.rename_text.value = "first"
    panel.rename_button.click()
    assert builder.steps == ["first", "b", "c"]
    assert builder.binding("b", "message") == (True, "$first")
    assert builder.problems == []
    builder.panels["c"].up_button.click()
    assert builder.steps == ["first", "c", "b"]
    builder.panels["first"].down_button.click()
    assert builder.steps == ["c", "first", "b"]
    builder.panels["b"].remove_button.click()
    assert builder.steps == ["c", "first"]
    assert builder.doc.steps["c"].dependencies == []  # explicit dependencies on it go too
    builder.panels["c"].rename_text.value = "first"
    builder.panels["c"].rename_button.click()  # taken: the error shows, nothing changes
    assert "already named 'first'" in shown(builder.errors)
    assert builder.steps == ["c", "first"]


def test_invocation_styles_are_kept_while_editing(registry: Registry) -> None:
    builder = GraphBuilder.from_text("parameters:\n  who: ann\ngraph:\n  g:\n    greet: [Hi]\n")
    builder.bind("g", "name", parameter="who")
    assert builder.doc.steps["g"].style == "positional"
    assert builder.doc.steps["g"].args == ["Hi", "$who"]
    builder.unbind("g", "greeting")  # later positional arguments move to keywords
    assert (builder.doc.steps["g"].style, builder.doc.steps["g"].kwargs) == ("keyword", {"name": "$who"})
    builder.bind("g", "greeting", literal="Hey")
    assert "greet:\n      name: $who\n      greeting: Hey\n" in builder.yaml()
    mixed = GraphBuilder.from_text("graph:\n  g:\n    task: greet\n    args: [Hi]\n")
    mixed.bind("g", "name", literal="bob")
    assert load_entrypoint_text(mixed.yaml()).steps["g"].style == "mixed"
    assert mixed.problems == []


def test_nested_references_and_parameters(registry: Registry) -> None:
    builder = GraphBuilder()
    builder.add_step("sleep_then", "left")
    builder.add_step("sleep_then", "right")
    for step in ("left", "right"):
        builder.bind(step, "label", literal=step)
        builder.bind(step, "seconds", parameter="seconds")
    builder.add_step("join_labels", "join")
    builder.bind("join", "labels", literal="[$left, $right]")  # references inside a list stay references
    assert builder.doc.steps["join"].kwargs["labels"] == ["$left", "$right"]
    assert builder.doc.parameters["seconds"] == {"type": "number"}  # no default: required
    assert [p.message for p in builder.problems] == []
    builder.set_parameter("seconds", default="0.5", description="how long")
    assert builder.doc.parameters["seconds"] == {"type": "number", "default": 0.5, "description": "how long"}
    svg = builder.picture.value
    assert sorted(steps_in(svg)) == ["join", "left", "right"]
    assert svg.count('class="edge reference"') == 2
    assert svg.count('class="edge parameter"') == 2
    builder.parameters.rows["seconds"].remove_button.click()
    assert "unknown reference $seconds" in shown(builder.panels["left"].problems)


def test_unknown_task_and_saving_with_problems(registry: Registry, tmp_path: Path) -> None:
    builder = GraphBuilder()
    assert "missing or empty `graph:`" in shown(builder.general_problems)
    builder.parameters.new_name.value, builder.parameters.new_default.value = "p", "1"
    builder.parameters.add_button.click()
    assert builder.doc.parameters == {"p": 1}
    assert builder.picture.value.count('<g class="parameter"') == 1  # drawn before any step
    builder.remove_parameter("p")
    with pytest.raises(UnknownTaskError):
        builder.add_step("no_such_task")
    builder.task_picker.value = "helo"
    builder.add_button.click()
    assert "unknown task 'helo'" in shown(builder.errors)
    builder.add_step("greet")
    builder.file_path.value = str(tmp_path / "draft.yaml")
    builder.save_button.click()
    assert (tmp_path / "draft.yaml").is_file()
    assert "1 problem" in builder.status.value
    reopened = GraphBuilder.load(tmp_path / "draft.yaml")
    assert reopened.steps == ["greet"]
    assert len(reopened.problems) == 1


def test_writer_orders_sections_and_keeps_styles() -> None:
    data = {
        "graph": {
            "a": step_body("t", "keyword", kwargs={"x": 1}, dependencies=["b"]),
            "b": step_body("t", "positional", args=[[1, 2]]),
            "c": step_body("t", "keyword", args=[1], kwargs={"y": "$a"}),  # both: mixed
        },
        "parameters": {"eps": 0.1},
        "description": "d",
    }
    text = dump_entrypoint_yaml(data)
    assert list(re.findall(r"^(\w+):", text, re.M)) == ["description", "parameters", "graph"]
    assert "    t: [[1, 2]]\n" not in text  # a list argument is a nested block, still one argument
    assert "#" not in text
    import yaml

    graph = yaml.safe_load(text)["graph"]
    assert graph["b"] == {"t": [[1, 2]]}
    assert graph["c"] == {"task": "t", "args": [1], "kwargs": {"y": "$a"}}
    assert graph["a"] == {"t": {"x": 1}, "dependencies": ["b"]}
