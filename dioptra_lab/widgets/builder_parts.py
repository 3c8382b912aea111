"""Parts of the graph builder: the parameter list, new parameters, problems by step, the picture."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from dioptra_lab import api
from dioptra_lab.entrypoints import EntryPoint
from dioptra_lab.entrypoints.graph import find_cycle
from dioptra_lab.entrypoints.picture import Edge, Node, graph_svg
from dioptra_lab.entrypoints.references import iter_refs
from dioptra_lab.entrypoints.validate import step_dependencies
from dioptra_lab.entrypoints.writer import plain
from dioptra_lab.models import ProblemInfo
from dioptra_lab.plugins.task import MISSING, InputSpec
from dioptra_lab.types import DIOPTRA_BUILTINS, ConstrainedType, NamedType, OpaqueType, ParamType
from dioptra_lab.widgets.common import guarded
from dioptra_lab.widgets.graph_doc import literal_text

if TYPE_CHECKING:
    from dioptra_lab.widgets.builder import GraphBuilder


def task_names() -> list[str]:
    """Every task's short name, or its qualified name where two plugins share the short one."""
    tasks = api.list_tasks()
    shorts = [t.name for t in tasks]
    return [t.qualname if shorts.count(t.name) > 1 else t.name for t in tasks]


def type_name(ptype: ParamType, types: Any = None) -> str | None:
    """The Dioptra name of a type a parameter can declare (``number``…), or ``None``.

    Bounds are left out: the validator checks a parameter against every input it feeds.
    """
    while True:
        if isinstance(ptype, NamedType | OpaqueType) and isinstance(types, dict) and ptype.name in types:
            return ptype.name
        if not isinstance(ptype, ConstrainedType | NamedType):
            break
        ptype = ptype.base
    return next((n for n in ("string", "integer", "number", "boolean") if DIOPTRA_BUILTINS[n] == ptype), None)


def new_parameter_spec(inp: InputSpec, types: Any = None) -> Any:
    """How a parameter made for ``inp`` is written: its type, default and description."""
    spec: dict[str, Any] = {}
    name = type_name(inp.type, types)
    if name:
        spec["type"] = name
    if inp.default is not MISSING:
        try:
            spec["default"] = plain(inp.default)
        except ValueError:
            pass  # an object default cannot be written; the parameter becomes required
    if inp.description:
        spec["description"] = inp.description
    if set(spec) == {"default"} and spec["default"] is not None:
        return spec["default"]  # the short form says it all
    return spec or None  # Dioptra: a null value is a parameter without a default


class _ParameterRow(w.HBox):
    def __init__(self, builder: GraphBuilder, name: str) -> None:
        self.label = w.HTML(layout=w.Layout(width="260px"))
        self.default = w.Text(placeholder="required", layout=w.Layout(width="160px"))
        self.description = w.Text(placeholder="description", layout=w.Layout(width="260px"))
        self.set_button = w.Button(description="set", layout=w.Layout(width="60px"))
        self.remove_button = w.Button(description="remove", layout=w.Layout(width="80px"))

        def apply() -> None:
            text = self.default.value
            builder.set_parameter(name, default=text if text else MISSING, description=self.description.value)

        self.set_button.on_click(lambda _: guarded(apply, builder.errors))
        self.remove_button.on_click(lambda _: guarded(lambda: builder.remove_parameter(name), builder.errors))
        self._shown: Any = MISSING
        super().__init__([self.label, self.default, self.description, self.set_button, self.remove_button])

    def refresh(self, name: str, spec: Any, shown_type: str) -> None:
        self.label.value = f"<code>${html.escape(name)}</code> <small>{html.escape(shown_type)}</small>"
        if spec == self._shown:
            return  # keep what is being typed
        self._shown = spec
        long = spec if isinstance(spec, dict) else {"default": spec} if spec is not None else {}
        self.default.value = literal_text(long["default"]) if "default" in long else ""
        self.description.value = str(long.get("description", ""))


class ParameterList(w.VBox):
    """The entry point's parameters (default and description editable) and a row to add one."""

    def __init__(self, builder: GraphBuilder) -> None:
        self.builder = builder
        self.rows: dict[str, _ParameterRow] = {}
        self.new_name = w.Text(placeholder="new parameter", layout=w.Layout(width="260px"))
        self.new_default = w.Text(placeholder="default (empty: required)", layout=w.Layout(width="160px"))
        self.add_button = w.Button(description="add parameter")

        def add() -> None:
            builder.set_parameter(self.new_name.value.strip(), default=self.new_default.value or MISSING)
            self.new_name.value = self.new_default.value = ""

        self.add_button.on_click(lambda _: guarded(add, builder.errors))
        self.adder = w.HBox([self.new_name, self.new_default, self.add_button])
        super().__init__([self.adder])

    def refresh(self) -> None:
        builder = self.builder
        rows = {}
        for name, spec in builder.doc.parameters.items():
            row = self.rows.get(name) or _ParameterRow(builder, name)
            known = builder.entrypoint.parameters.get(name)
            row.refresh(name, spec, str(known.type) if known is not None else "")
            rows[name] = row
        self.rows = rows
        self.children = (w.HTML("<b>parameters</b>"), *rows.values(), self.adder)


def problems_by_step(
    ep: EntryPoint, problems: list[ProblemInfo], steps: list[str]
) -> dict[str, list[ProblemInfo]]:
    """Each step's problems, by their places (``graph.STEP…``); a cycle belongs to every step on it."""
    found: dict[str, list[ProblemInfo]] = {}
    names = sorted(steps, key=len, reverse=True)  # "a-b" before "a"
    for problem in problems:
        if not problem.place.startswith("graph."):
            continue
        place = problem.place[len("graph.") :]
        owner = next(
            (n for n in names if place.startswith(n) and place[len(n) : len(n) + 1] in ("", ".", "[")), None
        )
        if owner is not None:
            found.setdefault(owner, []).append(problem)
    cycle = find_cycle({name: step_dependencies(step, ep) for name, step in ep.steps.items()})
    if cycle:  # the validator reports it at `graph`, naming the path find_cycle gives
        path = " -> ".join(cycle)
        for problem in problems:
            if problem.place == "graph" and path in problem.message:
                for name in dict.fromkeys(cycle):
                    found.setdefault(name, []).append(problem)
    return found


def picture_of(builder: GraphBuilder) -> str:
    """The graph as SVG: steps, parameters and artifact inputs, references and dependencies."""
    doc, ep = builder.doc, builder.entrypoint
    nodes = [Node(f"parameter:{p}", f"${p}", "parameter") for p in doc.parameters]
    nodes += [Node(f"artifact:{a}", f"${a}", "artifact") for a in ep.artifact_inputs]
    nodes += [
        Node(f"step:{name}", f"{name} ({step.task})", "step", bool(builder.step_problems(name)))
        for name, step in doc.steps.items()
    ]
    titles: dict[tuple[str, str, str], list[str]] = {}
    for name, step in doc.steps.items():
        positional = builder.positional(name)
        given = [(positional[i] if i < len(positional) else f"args[{i}]", v) for i, v in enumerate(step.args)]
        for input_name, value in [*given, *step.kwargs.items()]:
            for ref, _ in iter_refs(value):
                if ref.name in doc.steps:
                    key = (f"step:{ref.name}", f"step:{name}", "reference")
                elif ref.name in doc.parameters:
                    key = (f"parameter:{ref.name}", f"step:{name}", "parameter")
                else:
                    key = (f"artifact:{ref.name}", f"step:{name}", "parameter")
                titles.setdefault(key, []).append(f"{ref} → {name}.{input_name}")
        for dep in step.dependencies:
            titles.setdefault((f"step:{dep}", f"step:{name}", "dependency"), []).append(
                f"{name} runs after {dep}"
            )
    edges = [Edge(s, t, kind, "\n".join(found)) for (s, t, kind), found in titles.items()]
    return graph_svg(nodes, edges)
