"""Fuzzing (issue 13): any input to the loaders, the validator, the types and references ends in
a value or in a DioptraLabError with a message, never another exception, never a hang.

Property-based with hypothesis; no services. The budget is ``DIOPTRA_LAB_FUZZ_EXAMPLES``
examples per test (default 100: the whole file in well under a minute on 2 cores; `make
reliability` raises it), each under a deadline of ``DIOPTRA_LAB_FUZZ_DEADLINE`` seconds
(default 5: generous on a loaded machine, while a hang still fails). Every exception the fuzzer
found is pinned below by an ``@example``.
"""

from __future__ import annotations

import ast
import datetime
import json
import os
import tempfile
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dioptra_lab import Bounds
from dioptra_lab.entrypoints import load_entrypoint, load_entrypoint_text
from dioptra_lab.entrypoints.compile import compile_entrypoint
from dioptra_lab.entrypoints.dioptra_format import parse_yaml
from dioptra_lab.entrypoints.graph import find_cycle, topological_order
from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.entrypoints.notebook import read_parameters
from dioptra_lab.entrypoints.references import contains_refs, iter_refs, parse_ref, substitute
from dioptra_lab.errors import DioptraLabError, EntryPointError, ParameterError
from dioptra_lab.plugins.registry import Registry
from dioptra_lab.types import TypeMismatch, from_annotation, parse_type_definitions
from dioptra_lab.types.limits import value_problem
from tests.conftest import PLUGINS

pytestmark = pytest.mark.reliability

EXAMPLES = int(os.environ.get("DIOPTRA_LAB_FUZZ_EXAMPLES", "100"))
DEADLINE = datetime.timedelta(seconds=float(os.environ.get("DIOPTRA_LAB_FUZZ_DEADLINE", "5")))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=DEADLINE,
    database=None,  # no .hypothesis folder in the repository; failures print their example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
REGISTRY = Registry([PLUGINS], distributions=False)

# -- strategies ------------------------------------------------------------------------------
# Text of every kind: surrogates, NUL and control characters included.
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
# Pieces of YAML, so that random joins reach deep into the parser and the loader.
YAML_TOKENS = [
    "graph:", "parameters:", "tasks:", "types:", "artifact_outputs:", "artifact_inputs:", "name:",
    "\n", "\n  ", "\n    ", "\n      ", "  ", "- ", ": ", ":", "[", "]", "{", "}", ",", "&a ", "*a",
    "!!", "!!python/object ", "!!binary ", "!!float ", "!!int ", "!!set ", "$x", "$s.out", "$$x",
    "'", '"', "#", "\t", "? ", "|", ">", "%YAML 1.1\n", "---\n", "...\n", "<<: ", "hello", "scale",
    "x", "s", "1", "-1", "0.5", ".nan", ".inf", "null", "~", "true", "2001-13-45", "2001-01-01",
    "9" * 60, "1e400", "\\u", "\\x", "\x00", "\ufeff", "\x85", "é", "../", "/", "a/b",
]  # fmt: skip
yamlish_text = st.lists(st.sampled_from(YAML_TOKENS), max_size=40).map("".join)

names = st.sampled_from(["a", "b", "s", "t", "x", "eps", "name", "items", "message", "../x", "a/b", "", " ",
                         "$x", "1", "graph", "hello", "é", "class", "a.b"]) | any_text  # fmt: skip
TASKS = ["hello", "greet", "shout", "scale", "pick", "collect", "measure", "split_words", "record",
         "hello_plugin.tasks.hello", "hello_plugin.tasks.scale", "nosuch", "hello_plugin.tasks",
         "hello_plugin.nosuch.f", "x"]  # fmt: skip
task_names = st.sampled_from(TASKS)
refs = st.builds(lambda n, o: f"${n}" + (f".{o}" if o else ""), names, st.none() | names) | st.just("$$x")
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | any_text
    | refs
    | st.dates()
    | st.binary(max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names | st.integers(), inner, max_size=3),
    max_leaves=12,
)
TYPE_NAMES = ["string", "integer", "number", "boolean", "null", "any", "str", "int", "widget", "t1", "t2"]
type_specs = st.recursive(
    st.sampled_from(TYPE_NAMES) | st.none(),
    lambda inner: st.dictionaries(
        st.sampled_from(["list", "tuple", "union", "mapping", "is_a", "other"]),
        inner | st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=2),
        min_size=1,
        max_size=2,
    ),
    max_leaves=6,
)
step_bodies = st.one_of(
    st.dictionaries(task_names, values, min_size=1, max_size=2),
    st.fixed_dictionaries(
        {"task": task_names | values},
        optional={
            "args": st.lists(values, max_size=3) | values,
            "kwargs": st.dictionaries(names, values, max_size=3) | values,
            "dependencies": st.lists(names, max_size=2) | names | values,
        },
    ),
    values,
)
parameter_specs = values | st.fixed_dictionaries(
    {}, optional={"type": type_specs, "default": values, "description": any_text, "other": values}
)
documents = (
    st.fixed_dictionaries(
        {},
        optional={
            "name": names | st.integers() | values,
            "description": any_text | values,
            "types": st.dictionaries(names, type_specs, max_size=3) | values,
            "parameters": st.dictionaries(names, parameter_specs, max_size=4) | st.lists(names, max_size=3),
            "artifact_inputs": st.dictionaries(
                names,
                type_specs | st.lists(st.dictionaries(names, type_specs, max_size=1), max_size=2),
                max_size=2,
            ),
            "tasks": st.dictionaries(
                names,
                st.fixed_dictionaries(
                    {
                        "plugin": st.sampled_from(
                            [
                                "hello_plugin.tasks.hello",
                                "hello_plugin.tasks.scale",
                                "hello_plugin.tasks.nosuch",
                                "hello_plugin",
                                "x",
                            ]
                        )
                    },  # fmt: skip
                    optional={"inputs": values, "outputs": values | type_specs},
                )
                | values,
                max_size=2,
            ),
            "graph": st.dictionaries(names, step_bodies, max_size=4) | values,
            "artifact_outputs": st.dictionaries(
                names,
                st.fixed_dictionaries(
                    {"contents": refs | values, "task": st.fixed_dictionaries({"name": task_names | values})}
                )
                | values,
                max_size=2,
            ),
            "extra": values,
        },
    )
    | values
)


def _dump(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def _loads_or_refuses(text: str) -> EntryPoint | None:
    """Load ``text``; only a DioptraLabError may come out, and then with a message."""
    try:
        ep = load_entrypoint_text(text, REGISTRY)
    except DioptraLabError as exc:
        error = exc
    else:
        assert all(p.message for p in ep.problems), ep.problems
        return ep
    assert str(error)
    return None


def _file_loads_or_refuses(path: Path) -> EntryPoint | None:
    try:
        ep = load_entrypoint(path, REGISTRY)
    except EntryPointError as exc:
        problems = exc.problems
    else:
        assert all(p.message for p in ep.problems), ep.problems
        return ep
    assert problems
    return None


def _check_entrypoint(ep: EntryPoint) -> None:
    """A loaded entry point validates, or raises EntryPointError; a valid one compiles to a
    notebook whose parameters cell is Python that runs."""
    if ep.problems:
        with pytest.raises(EntryPointError):
            ep.validate()
        return
    notebook = compile_entrypoint(ep, portable=True)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    namespace: dict[str, Any] = {}
    code = compile(ast.parse(cell.source), "<parameters>", "exec")
    exec(code, {"__builtins__": {"float": float, "set": set}}, namespace)
    assert set(namespace) == set(ep.parameters) | set(ep.artifact_inputs)


# -- the YAML loader and the validator --------------------------------------------------------------
@FUZZ
@given(any_text)
@example("x: 2001-13-45")  # PyYAML: ValueError (month must be in 1..12)
@example("x: " + "9" * 5000)  # PyYAML: ValueError (over 4,300 digits)
@example("x: " + "[" * 3000 + "]" * 3000)  # PyYAML: RecursionError
@example("x: !!float abc")  # PyYAML: ValueError
@example("graph:\n  s:\n    1: 2\n")  # a step whose task key is not text: KeyError
@example("graph:\n  s:\n    collect:\n      items: &a [*a]\n")  # a list that holds itself
def test_any_text_loads_or_is_refused(text: str) -> None:
    ep = _loads_or_refuses(text)
    if ep is not None:
        _check_entrypoint(ep)


@FUZZ
@given(yamlish_text)
def test_yaml_like_text_loads_or_is_refused(text: str) -> None:
    ep = _loads_or_refuses(text)
    if ep is not None:
        _check_entrypoint(ep)


@FUZZ
@given(documents)
@example({"parameters": {"x": float("nan")}, "graph": {"s": {"scale": {"x": "$x"}}}})  # `x = nan`
@example({"parameters": {"d": datetime.date(2001, 1, 1)}, "graph": {"s": {"hello": "$d"}}})
@example({"parameters": {"x": {"description": "a\nimport os"}}, "graph": {"s": {"hello": "x"}}})
@example({"parameters": {"x": {datetime.date(2001, 1, 1): 1}}, "graph": {"s": {"hello": "x"}}})
def test_structured_documents_load_validate_and_compile(document: Any) -> None:
    ep = _loads_or_refuses(_dump(document))
    if ep is not None:
        _check_entrypoint(ep)


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([".yaml", ".yml", ".ipynb"]))
@example(b"graph:\n  s:\n    hello: caf\xe9\n", ".yaml")
@example(b"\xff\xfeg\x00r\x00", ".yaml")
@example(b'{"cells": [{"cell_type": "code", "source": 5, "metadata": {"tags": ["parameters"]}}]}', ".ipynb")
def test_any_file_loads_or_is_refused(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzzed{suffix}"
        path.write_bytes(data)
        ep = _file_loads_or_refuses(path)
        if ep is not None:
            _check_entrypoint(ep)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
cells = st.fixed_dictionaries(
    {"cell_type": st.sampled_from(["code", "markdown", "raw", "other"]), "source": any_text | json_values},
    optional={
        "metadata": st.fixed_dictionaries({}, optional={"tags": json_values}) | json_values,
        "outputs": json_values,
        "id": json_values,
    },  # fmt: skip
)
notebooks = st.fixed_dictionaries(
    {"cells": st.lists(cells, max_size=3) | json_values},
    optional={
        "nbformat": st.integers(0, 5) | json_values,
        "nbformat_minor": json_values,
        "metadata": json_values,
    },
)


@FUZZ
@given(notebooks)
def test_any_notebook_json_loads_or_is_refused(notebook: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.ipynb"
        path.write_text(json.dumps(notebook))
        _file_loads_or_refuses(path)


PYTHON_TOKENS = [
    "x", "y", " = ", ": ", "int", "float", "str", "Literal[", "Optional[", "Annotated[", "]", "(", ")", "[",
    "{", "}", ", ", "1", "-1", "'a'", '"b"', "# comment", "\n", "    ", "lambda: ", "**", "9", "|", "None",
    "[1]", "\x00", "import os", "Bounds(ge=0)", "...",
]  # fmt: skip


@FUZZ
@given(any_text | st.lists(st.sampled_from(PYTHON_TOKENS), max_size=30).map("".join))
@example("x: 9**9**9 = 1")  # was evaluated as an annotation: a hang
@example("x = {[1]: 2}")  # literal_eval: TypeError
@example("x = 1\x00")  # ast.parse: ValueError (NUL)
@example("x = " + "(" * 200 + ")" * 200)  # deep nesting
def test_any_parameters_cell_reads(source: str) -> None:
    params, problems = read_parameters(source)
    assert all(p.message for p in problems)
    for name in params:
        assert name.isidentifier()


@FUZZ
@given(st.dictionaries(names, st.none() | type_specs | values, max_size=4))
def test_type_definitions_never_raise(definitions: dict[str, Any]) -> None:
    reported: list[tuple[str, str]] = []
    built = parse_type_definitions(definitions, lambda place, message: reported.append((place, message)))
    for ptype in built.values():
        str(ptype)
        ptype.describe()


# -- the types: coercion from text and from values ------------------------------------------------
class Model:
    """A class used as an annotation (an opaque type)."""


ANNOTATIONS: list[Any] = [
    int, float, str, bool, None, typing.Any, Model, list, dict, tuple,
    list[int], list[str], dict[str, float], dict[int, str], tuple[int, str], tuple[float, ...],
    Literal["fast", "slow"], Literal[1, True, "1", None], typing.Union[int, None], int | str, float | None,  # noqa: UP007
    Annotated[float, Bounds(ge=0, le=10)], Annotated[int, Bounds(gt=0)], Annotated[float, Bounds(lt=-1)],
    list[Literal["a", "b"]], list[Annotated[float, Bounds(ge=0)]], dict[str, list[int | None]],
]  # fmt: skip
param_types = st.sampled_from(ANNOTATIONS).map(from_annotation)


@FUZZ
@given(param_types, any_text | yamlish_text | st.integers().map(str) | st.floats().map(str))
@example(from_annotation(typing.Any), "2001-13-45")  # _yaml_value: ValueError escaped
@example(from_annotation(list[int]), "[" * 3000)  # _yaml_value: RecursionError escaped
@example(from_annotation(float), "9" * 5000)
def test_types_from_text(ptype: Any, text: str) -> None:
    try:
        ptype.from_text(text)
    except TypeMismatch as exc:
        message = str(exc)
    else:
        return
    assert message.startswith("expected ")


@FUZZ
@given(param_types, values | st.sets(st.integers(), max_size=3) | st.just(10**5000), st.booleans())
@example(from_annotation(float), 10**400, False)  # float(10**400): OverflowError
@example(from_annotation(float), 10**5000, True)  # repr of the int in the message: ValueError
@example(from_annotation(Literal["fast", "slow"]), 10**5000, True)  # str() of the int: ValueError
@example(from_annotation(str), 10**5000, True)  # str() of the int: ValueError
def test_types_from_values(ptype: Any, value: Any, lenient: bool) -> None:
    try:
        ptype.check(value, lenient)
    except TypeMismatch as exc:
        message = str(exc)
    else:
        return
    assert message.startswith("expected ")


@FUZZ
@given(
    st.dictionaries(names, any_text | yamlish_text, max_size=5),
    st.dictionaries(names, values | st.just(10**5000) | st.just(float("nan")), max_size=5),
)
def test_entrypoint_coerce_raises_only_parameter_errors(
    texts: dict[str, str], objects: dict[str, Any]
) -> None:
    ep = load_entrypoint_text(
        "parameters:\n  x:\n    type: number\n  n: 1\n  s: hi\n  items: [a]\n  mode: fast\n  anything:\n"
        "graph:\n  a:\n    scale:\n      x: $x\n      factor: $n\n  b:\n    pick:\n      mode: $mode\n"
        "  c:\n    collect:\n      items: $items\n      label: $s\n  d:\n    record: $anything\n",
        REGISTRY,
    ).validate()
    for given_values, from_text in ((texts, True), (objects, False)):
        try:
            checked = ep.coerce(given_values, from_text=from_text)
        except ParameterError as exc:
            problems = exc.problems
        else:
            assert value_problem(checked) is None
            continue
        assert problems
        assert all(problems)


# -- references and the graph ------------------------------------------------------------------
@FUZZ
@given(values)
def test_references_parse_walk_and_substitute(value: Any) -> None:
    ref = parse_ref(value)
    if ref is not None:
        assert isinstance(value, str)
        assert value.startswith("$")
    found = list(iter_refs(value))
    assert contains_refs(value) or not found
    substitute(value, lambda r: str(r))


@FUZZ
@given(st.dictionaries(names, st.sets(names, max_size=4), max_size=30))
def test_cycles_and_order(deps: dict[str, set[str]]) -> None:
    cycle = find_cycle(deps)
    if cycle is None:
        order = topological_order(deps)
        assert sorted(order) == sorted(deps)
        seen: set[str] = set()
        for node in order:
            assert {d for d in deps[node] if d in deps} <= seen
            seen.add(node)
    else:
        assert cycle[0] == cycle[-1]
        with pytest.raises(ValueError, match="cycle"):
            topological_order(deps)


def test_a_long_chain_of_steps_neither_recurses_nor_crawls() -> None:
    """find_cycle was recursive (RecursionError past ~1,000 steps) and topological_order quadratic."""
    deps = {f"s{i}": {f"s{i - 1}"} if i else set() for i in range(20_000)}
    assert find_cycle(deps) is None
    assert topological_order(deps)[-1] == "s19999"
    assert parse_yaml("x: 1", "<test>") == ({"x": 1}, [])
