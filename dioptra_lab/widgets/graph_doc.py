"""The editable text of a task graph: the data the graph builder changes and writes.

A :class:`GraphDocument` holds an entry point as the plain data of its Dioptra YAML
(parameters as written, steps in order with their invocation style, every other section
untouched), so that load → save keeps what the builder does not edit. It knows nothing
of widgets; the builder validates its YAML with the same loader as ``dioptra-lab validate``.
"""

from __future__ import annotations

import re
from typing import Any

from dioptra_lab.entrypoints.dioptra_format import parse_yaml
from dioptra_lab.entrypoints.writer import dump_entrypoint_yaml, plain
from dioptra_lab.errors import DioptraLabError, EntryPointError, Problem
from dioptra_lab.widgets.step_doc import StepDoc, literal_text, parse_literal, rename_refs

STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
__all__ = ["GraphDocument", "StepDoc", "literal_text", "parse_literal", "rename_refs"]


class GraphDocument:
    """An entry point's YAML data, with the edits the graph builder makes."""

    def __init__(self) -> None:
        self.sections: dict[str, Any] = {}  # every top-level key but parameters and graph
        self.parameters: dict[str, Any] = {}  # name -> the value as written (short or long form)
        self.steps: dict[str, StepDoc] = {}

    # -- reading and writing ------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str, source: str = "<string>") -> GraphDocument:
        """Read Dioptra-format YAML (comments are not kept).

        Raises:
            EntryPointError: the text is not YAML, or its ``parameters``/``graph`` are not
                mappings (the builder cannot edit them; fix them in a text editor).
        """
        data, problems = parse_yaml(text, source)  # limits on depth and aliases; never quotes text
        if problems:
            raise EntryPointError(source, problems)
        return cls.from_data({} if data is None else data, source)

    @classmethod
    def from_data(cls, data: Any, source: str = "<data>") -> GraphDocument:
        """Read the data of a Dioptra-format entry point (what ``yaml.safe_load`` gives)."""
        if not isinstance(data, dict):
            raise EntryPointError(source, [Problem("", "an entry point must be a YAML mapping")])
        doc = cls()
        params = data.get("parameters")
        if isinstance(params, list):  # the list form: names without defaults
            params = {str(name): None for name in params}
        if params is not None and not isinstance(params, dict):
            raise EntryPointError(source, [Problem("parameters", "expected a mapping of name: default")])
        graph = data.get("graph")
        if graph is not None and not isinstance(graph, dict):
            raise EntryPointError(source, [Problem("graph", "expected a mapping of step: invocation")])
        doc.parameters = {str(k): v for k, v in (params or {}).items()}
        doc.steps = {str(k): StepDoc.read(str(k), v) for k, v in (graph or {}).items()}
        doc.sections = {k: v for k, v in data.items() if k not in ("parameters", "graph")}
        return doc

    def to_data(self) -> dict[str, Any]:
        """The entry point as plain data, ready for :func:`dump_entrypoint_yaml`."""
        data: dict[str, Any] = dict(self.sections)
        if self.parameters:
            data["parameters"] = dict(self.parameters)
        data["graph"] = {name: step.body() for name, step in self.steps.items()}
        return data

    def to_yaml(self) -> str:
        """Dioptra-format YAML text."""
        return dump_entrypoint_yaml(self.to_data())

    # -- steps ---------------------------------------------------------------------------
    def step(self, name: str) -> StepDoc:
        """One step by name.

        Raises:
            DioptraLabError: no such step.
        """
        if name not in self.steps:
            known = ", ".join(self.steps) or "none yet"
            raise DioptraLabError(f"no step named {name!r}; the steps are: {known}")
        return self.steps[name]

    def check_new_name(self, name: str) -> None:
        """Raise :class:`DioptraLabError` unless ``name`` can name a new step."""
        if not STEP_NAME.match(name):
            raise DioptraLabError(
                f"step name {name!r}: use letters, digits, '_' and '-', starting with a letter "
                "(a '.' would read as $step.output)"
            )
        if name in self.steps or name in self.parameters:
            what = "step" if name in self.steps else "parameter"
            raise DioptraLabError(f"a {what} is already named {name!r}; choose another name")

    def free_name(self, base: str) -> str:
        """``base`` (made a valid name), or ``base_2``, ``base_3``… when taken."""
        base = re.sub(r"[^A-Za-z0-9_-]", "_", base) or "step"
        base = base if STEP_NAME.match(base) else f"step_{base}"
        name, number = base, 1
        while name in self.steps or name in self.parameters:
            number += 1
            name = f"{base}_{number}"
        return name

    def add_step(self, task: str, name: str | None = None) -> str:
        """Append a keyword-style step with no arguments; return its name."""
        name = name or self.free_name(task.rsplit(".", 1)[-1])
        self.check_new_name(name)
        self.steps[name] = StepDoc(name, task)
        return name

    def remove_step(self, name: str) -> None:
        """Remove a step and the explicit dependencies on it.

        References to it stay, so the validator shows each one that needs a new source.
        """
        self.step(name)
        del self.steps[name]
        for step in self.steps.values():
            step.dependencies = [d for d in step.dependencies if d != name]

    def rename_step(self, old: str, new: str) -> None:
        """Rename a step and every reference and dependency pointing at it."""
        self.step(old)
        if new == old:
            return
        self.check_new_name(new)
        renamed: dict[str, StepDoc] = {}
        for name, step in self.steps.items():
            if step.raw is None:
                step.args = rename_refs(step.args, old, new)
                step.kwargs = rename_refs(step.kwargs, old, new)
                step.dependencies = [new if d == old else d for d in step.dependencies]
            if name == old:
                step.name = name = new
            renamed[name] = step
        self.steps = renamed
        for key in ("artifact_outputs", "artifacts"):
            outputs = self.sections.get(key)
            if isinstance(outputs, dict):
                self.sections[key] = {
                    n: {**b, "contents": rename_refs(b["contents"], old, new)}
                    if isinstance(b, dict) and "contents" in b
                    else b
                    for n, b in outputs.items()
                }

    def move_step(self, name: str, offset: int) -> None:
        """Move a step ``offset`` places (``-1`` up, ``+1`` down); the ends stop it."""
        self.step(name)
        order = list(self.steps)
        index = order.index(name)
        target = max(0, min(len(order) - 1, index + offset))
        order.insert(target, order.pop(index))
        self.steps = {n: self.steps[n] for n in order}

    def set_dependencies(self, name: str, dependencies: list[str]) -> None:
        """Replace a step's explicit ``dependencies``."""
        self.step(name).dependencies = [d for d in dependencies if d != name]

    # -- parameters ----------------------------------------------------------------------
    def set_parameter(self, name: str, spec: Any) -> None:
        """Add or replace a parameter, written as ``spec`` (a default, or type/default/description)."""
        if not name.isidentifier():
            raise DioptraLabError(f"parameter name {name!r} must be a Python identifier")
        if name in self.steps:
            raise DioptraLabError(f"a step is already named {name!r}; choose another parameter name")
        self.parameters[name] = plain(spec)

    def remove_parameter(self, name: str) -> None:
        """Remove a parameter; references to it stay, for the validator to show."""
        if name not in self.parameters:
            raise DioptraLabError(f"no parameter named {name!r}")
        del self.parameters[name]
