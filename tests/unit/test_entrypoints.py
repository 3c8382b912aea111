"""Loading Dioptra-format YAML and notebooks; every validation error, with its place."""

from __future__ import annotations

import textwrap

import pytest

from dioptra_lab.entrypoints import load_entrypoint, load_entrypoint_text
from dioptra_lab.entrypoints.graph import topological_order
from dioptra_lab.entrypoints.references import Ref, iter_refs, parse_ref, substitute
from dioptra_lab.errors import EntryPointError, ParameterError
from dioptra_lab.plugins import Registry
from tests.conftest import ENTRYPOINTS


def load(text: str, registry: Registry):  # noqa: ANN201 - test helper
    return load_entrypoint_text(textwrap.dedent(text), registry)


def problems(text: str, registry: Registry) -> list[str]:
    return [str(p) for p in load(text, registry).problems]


def test_dioptra_hello_world_loads(registry: Registry) -> None:
    ep = load_entrypoint(ENTRYPOINTS / "hello_dioptra.yaml").validate()
    assert ep.kind == "yaml"
    assert list(ep.parameters) == ["name", "greeting"]
    assert str(ep.parameters["greeting"].type) == "str"
    assert ep.parameters["name"].default == "joe"
    steps = ep.steps
    assert steps["hello_step"].style == "keyword"
    assert steps["price_step"].style == "positional"
    assert steps["mixed_step"].style == "mixed"
    assert steps["mixed_step"].args == ["Hey"]
    assert [o.name for o in steps["split_step"].outputs] == ["first", "rest"]
    assert steps["split_step"].dependencies == ["shout_step"]
    assert steps["hello_step"].spec is not None
    assert steps["hello_step"].spec.qualname == "hello_plugin.tasks.hello"


def test_tasks_section_is_optional(registry: Registry) -> None:
    ep = load(
        """
        parameters:
          eps: 1
        graph:
          s:
            scale:
              x: $eps
        """,
        registry,
    ).validate()
    # an int default feeding a float input makes a float parameter
    assert str(ep.parameters["eps"].type) == "float"
    assert ep.coerce({"eps": "0.5"}, from_text=True) == {"eps": 0.5}


def test_parameter_forms(registry: Registry) -> None:
    ep = load(
        """
        parameters:
          a: 1
          b:
          c:
            default:
          d:
            type: number
            default: 0.5
            description: a number
        graph:
          s:
            pick: fast
        """,
        registry,
    ).validate()
    p = ep.parameters
    assert p["a"].default == 1
    assert p["b"].required
    assert not p["c"].required
    assert p["c"].default is None
    assert (str(p["d"].type), p["d"].description) == ("float", "a number")
    list_form = load("parameters: [x, y]\ngraph:\n  s:\n    pick: fast\n", registry)
    assert all(q.required for q in list_form.parameters.values())


def test_coerce_reports_every_parameter_problem(registry: Registry) -> None:
    ep = load(
        """
        parameters:
          x:
            type: number
          n:
            type: integer
            default: 1
        graph:
          s:
            scale:
              x: $x
        """,
        registry,
    )
    with pytest.raises(ParameterError) as info:
        ep.coerce({"n": "abc", "zzz": "1"}, from_text=True)
    text = str(info.value)
    assert "3 invalid parameters" in text
    assert "unknown parameter 'zzz'" in text
    assert "parameter 'n': expected an integer, got 'abc'" in text
    assert "parameter 'x' is required" in text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("graph:\n  s:\n    nosuchtask: 1\n", "graph.s.nosuchtask: unknown task 'nosuchtask'"),
        ("graph:\n  s:\n    helo: x\n", "did you mean 'hello'"),
        ("graph:\n  s:\n    hello: $nobody\n", "graph.s.args[0]: unknown reference $nobody"),
        ("graph:\n  s:\n    hello: $s\n", "step 's' refers to itself"),
        (
            "graph:\n  a:\n    shout: $b\n  b:\n    shout: $a\n",
            "graph: cycle between steps: a -> b -> a",
        ),
        ("graph:\n  s:\n    greet:\n      name: x\n", "missing required input 'greeting'"),
        ("graph:\n  s:\n    greet:\n      greeting: x\n      colour: red\n", "unknown keyword 'colour'"),
        ("graph:\n  s:\n    hello: [a, b]\n", "hello takes 1 positional argument(s), got 2"),
        ("graph:\n  s:\n    scale:\n      x: abc\n", "graph.s.x: input 'x': expected a float, got 'abc'"),
        (
            "graph:\n  a:\n    hello: x\n  b:\n    scale:\n      x: $a\n",
            "incompatible types: $a is str, input 'x' of scale takes float",
        ),
        (
            "graph:\n  a:\n    measure: x\n  b:\n    shout: $a\n",
            "step 'a' has several outputs (length, words); name one, e.g. $a.length",
        ),
        ("graph:\n  a:\n    hello: x\n  b:\n    shout: $a.nope\n", "step 'a' has no output 'nope'"),
        ("graph:\n  a:\n    record: x\n  b:\n    shout: $a\n", "step 'a' has no output"),
        (
            "graph:\n  s:\n    hello: x\n    dependencies: [nope]\n",
            "graph.s.dependencies: unknown step 'nope'",
        ),
        (
            "parameters:\n  n:\n    type: integer\n    default: abc\ngraph:\n  s:\n    hello: x\n",
            "parameters.n: bad default: expected an integer, got 'abc'",
        ),
        ("parameters:\n  n:\n    type: widget\ngraph:\n  s:\n    hello: x\n", "unknown type 'widget'"),
        ("graph: {}\n", "missing or empty `graph:`"),
        ("graph:\n  s:\n    hello: x\nextra: 1\n", "extra: unknown top-level key"),
        ("graph:\n  s:\n    hello: x\n    shout: y\n", "expected exactly one task invocation"),
        (
            "tasks:\n  t:\n    plugin: nowhere.fn\ngraph:\n  s:\n    t: x\n",
            "tasks.t.plugin: unknown task 'nowhere.fn'",
        ),
        ("parameters:\n  bad-name: 1\ngraph:\n  s:\n    hello: x\n", "must be a Python identifier"),
        ("graph:\n  s:\n    pick: medium\n", "expected one of 'fast', 'slow', got 'medium'"),
    ],
)
def test_each_validation_error(registry: Registry, body: str, expected: str) -> None:
    found = problems(body, registry)
    assert any(expected in p for p in found), found


def test_all_problems_reported_at_once(registry: Registry) -> None:
    ep = load(
        """
        graph:
          a:
            nosuchtask: 1
          b:
            hello: $missing
          c:
            greet:
              greeting: hi
              colour: red
        """,
        registry,
    )
    assert len(ep.problems) == 3
    with pytest.raises(EntryPointError, match="3 problems") as info:
        ep.validate()
    assert [p.place for p in info.value.problems] == ["graph.a.nosuchtask", "graph.b.args[0]", "graph.c"]


def test_yaml_syntax_error_has_line_number(registry: Registry) -> None:
    found = problems("graph:\n  s:\n    hello: [unclosed\n  t: 1\n", registry)
    assert len(found) == 1
    assert found[0].startswith("line 4, column")
    assert "YAML syntax error" in found[0]


def test_references_nested_anywhere(registry: Registry) -> None:
    ep = load(
        """
        parameters:
          a: x
        graph:
          s:
            collect:
              items: [$a, "$$a", {nested: [$a]}]
        """,
        registry,
    )
    refs = [str(r) for r, _ in iter_refs([ep.steps["s"].args, ep.steps["s"].kwargs])]
    assert refs == ["$a", "$a"]
    value = substitute(ep.steps["s"].kwargs, lambda r: "X")
    assert value == {"items": ["X", "$a", {"nested": ["X"]}]}


def test_parse_ref() -> None:
    assert parse_ref("$step.out") == Ref("step", "out")
    assert parse_ref("$p") == Ref("p")
    assert parse_ref("$$p") is None
    assert parse_ref("a$b") is None
    assert parse_ref(3) is None


def test_topological_order_keeps_declaration_order() -> None:
    deps = {"a": set(), "b": {"c"}, "c": set(), "d": {"a", "b"}}
    assert topological_order(deps) == ["a", "c", "b", "d"]
    with pytest.raises(ValueError, match="cycle: x -> y -> x"):
        topological_order({"x": {"y"}, "y": {"x"}})


def test_artifact_inputs_and_outputs(registry: Registry) -> None:
    ep = load(
        """
        artifact_inputs:
          words:
            - first: string
            - rest: string
        graph:
          s:
            shout: $words.rest
        artifacts:
          saved:
            contents: $s
            task:
              name: shout
        """,
        registry,
    ).validate()
    assert [o.name for o in ep.artifact_inputs["words"]] == ["first", "rest"]
    assert ep.artifact_outputs["saved"].spec is not None
    with pytest.raises(ParameterError, match="artifact input 'words' is required"):
        ep.coerce({})
    bad = problems("artifact_inputs:\n  w: string\ngraph:\n  s:\n    shout: $w.nope\n", registry)
    assert any("has outputs ['string']" in p or "has outputs" in p for p in bad)


def test_notebook_entrypoint_parameters() -> None:
    ep = load_entrypoint(ENTRYPOINTS / "params.ipynb").validate()
    assert ep.kind == "notebook"
    p = ep.parameters
    assert (str(p["x"].type), p["x"].default, p["x"].description) == ("float", 1.5, "the number to double")
    assert str(p["label"].type) == "str"
    assert p["mode"].type.describe()["choices"] == ["a", "b"]
    assert p["count"].default == 3
    assert ep.description == "A notebook entry point"
    assert ep.coerce({"x": "2"}, from_text=True)["x"] == 2.0


def test_notebook_without_parameters_cell(tmp_path) -> None:  # noqa: ANN001
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "plain.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(EntryPointError, match="no cell tagged 'parameters'"):
        load_entrypoint(path).validate()


def test_missing_and_unknown_files(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(EntryPointError, match="no such file"):
        load_entrypoint(tmp_path / "nope.yaml")
    other = tmp_path / "x.txt"
    other.write_text("x")
    with pytest.raises(EntryPointError, match="unknown kind of file"):
        load_entrypoint(other)


# -- issue 13: bad inputs are refused at load time, with their place ---------------------


@pytest.mark.parametrize(
    ("body", "place"),
    [
        ("name: ../../x\ngraph:\n  s:\n    hello: x\n", "name"),
        ("name: a/b\ngraph:\n  s:\n    hello: x\n", "name"),
        ("name: '..'\ngraph:\n  s:\n    hello: x\n", "name"),
        ("graph:\n  ../s:\n    hello: x\n", "graph"),
        (
            "graph:\n  s:\n    hello: x\nartifact_outputs:\n  ../../evil:\n"
            "    contents: $s\n    task:\n      name: shout\n",
            "artifact_outputs",
        ),
    ],
)
def test_names_that_could_leave_a_folder_are_refused(registry: Registry, body: str, place: str) -> None:
    """Bug 5 of issue 13: `name: ../../x` and `name: a/b` were accepted at submit."""
    found = load(body, registry).problems
    assert any(p.place == place and "name" in p.message for p in found), found


def test_bundle_materialize_refuses_paths_outside_the_workspace(tmp_path) -> None:  # noqa: ANN001
    """Bug 5 of issue 13: a bundle naming ``../../x`` wrote outside the worker's workspace."""
    from dioptra_lab.errors import DioptraLabError
    from dioptra_lab.tracking.bundles import Bundle

    workspace = tmp_path / "a" / "workspace"
    workspace.mkdir(parents=True)
    entry = {"name": "x", "kind": "yaml", "filename": "../../x.yaml", "text": "graph: {}", "sha256": ""}
    bundle = Bundle({"format": 1, "entrypoint": entry, "notebook": {}, "plugins": {}, "parameters": {}})
    with pytest.raises(DioptraLabError, match="outside"):
        bundle.materialize(workspace)
    plugin = Bundle({**bundle.content, "entrypoint": {**entry, "filename": "x.yaml"}})
    plugin.content["plugins"] = {"p": {"../../../evil.py": "print(1)"}}
    with pytest.raises(DioptraLabError, match="outside"):
        plugin.materialize(workspace)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []


SECRET_LINES = [
    "root:$6$Zx8s0mething$VeRySeCrEtHaSh:20228:0:99999:7:::",
    "daemon:*:20228:0:99999:7:::",
    "API_TOKEN: ghp_s3cr3tt0k3nvalue",
]


@pytest.mark.parametrize("suffix", [".yaml", ".ipynb"])
def test_errors_never_quote_a_files_contents(registry: Registry, tmp_path, suffix: str) -> None:  # noqa: ANN001
    """Bug 10 of issue 13: a symbolic link to /etc/shadow named x.yaml listed its lines."""
    secret = tmp_path / "secret"
    secret.write_text("\n".join(SECRET_LINES) + "\n")
    link = tmp_path / f"x{suffix}"
    link.symlink_to(secret)
    with pytest.raises(EntryPointError) as info:
        load_entrypoint(link).validate()
    text = str(info.value)
    for piece in ("root:", "daemon", "VeRySeCrEt", "ghp_s3cr3t", "API_TOKEN", "20228"):
        assert piece not in text, text


def test_yaml_errors_give_the_place_and_the_problem_only(registry: Registry) -> None:
    """Bug 10 of issue 13: a YAML syntax error names line and column, not the text around it."""
    found = load("graph:\n  s:\n    hello: [unclosed secretvalue\n  t: 1\n", registry).problems
    assert len(found) == 1
    assert found[0].place.startswith("line 4, column")
    assert "secretvalue" not in found[0].message


def test_parameter_values_have_a_size_limit(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bug 7 of issue 13: a 50 MB string was queued; the limit (256 KiB) is named in the error."""
    ep = load("parameters:\n  s: x\n  t: x\ngraph:\n  a:\n    shout: $s\n  b:\n    shout: $t\n", registry)
    assert ep.validate().coerce({"s": "y" * 1000}) == {"s": "y" * 1000, "t": "x"}
    limit = r"parameter 's'.* over the limit of 256 KiB.*DIOPTRA_LAB_MAX_PARAM_BYTES"
    with pytest.raises(ParameterError, match=limit):
        ep.coerce({"s": "y" * (2 << 20)})
    with pytest.raises(ParameterError, match=r"over the limit of 500,000 bytes for one job"):
        ep.coerce({"s": "y" * 250_000, "t": "z" * 250_000})
    monkeypatch.setenv("DIOPTRA_LAB_MAX_PARAM_BYTES", "100")
    with pytest.raises(ParameterError, match="over the limit of 100 bytes"):
        ep.coerce({"s": "y" * 101})
    with pytest.raises(ParameterError, match="over the limit of 100 bytes"):
        ep.coerce({"s": "[" + "1, " * 60 + "1]"}, from_text=True)
