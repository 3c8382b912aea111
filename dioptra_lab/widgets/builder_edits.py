"""What the graph builder does, apart from widgets: edits, the questions panels ask, problems.

:class:`GraphEdits` is mixed into :class:`~dioptra_lab.widgets.builder.GraphBuilder`; each
edit changes the :class:`~dioptra_lab.widgets.graph_doc.GraphDocument` and calls
``_changed()``, which validates the YAML and redraws. The buttons call these methods.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from dioptra_lab import api
from dioptra_lab.entrypoints import EntryPoint, load_entrypoint_text
from dioptra_lab.errors import DioptraLabError
from dioptra_lab.models import ProblemInfo
from dioptra_lab.plugins.task import MISSING, InputSpec, TaskSpec
from dioptra_lab.types import ANY, compatible
from dioptra_lab.widgets.builder_parts import new_parameter_spec, problems_by_step
from dioptra_lab.widgets.graph_doc import GraphDocument, parse_literal

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
_UNSET: Any = object()


class GraphEdits:
    """Edits and questions of the graph builder, over its document and validated entry point."""

    doc: GraphDocument
    path: Path | None
    problems: list[ProblemInfo]
    _ep: EntryPoint
    _by_step: dict[str, list[ProblemInfo]]

    def _changed(self) -> None:
        raise NotImplementedError

    # -- what the graph is -------------------------------------------------------------------
    @property
    def entrypoint(self) -> EntryPoint:
        """The entry point as the validator reads it (its ``.problems`` may be non-empty)."""
        return self._ep

    @property
    def steps(self) -> list[str]:
        """The step names, in order."""
        return list(self.doc.steps)

    def task_spec(self, step: str) -> TaskSpec | None:
        """The task a step runs, as the entry point declares or the registry knows it."""
        loaded = self._ep.steps.get(step)
        return loaded.spec if loaded is not None else None

    def positional(self, step: str) -> list[str]:
        """The names of the step's task inputs that may be given by position, in order."""
        spec = self.task_spec(step)
        return [i.name for i in spec.inputs if i.kind in _POSITIONAL] if spec else []

    def input_specs(self, step: str) -> list[InputSpec]:
        """The inputs a step can bind: its task's, plus keywords it gives that the task does not name."""
        spec, doc_step = self.task_spec(step), self.doc.step(step)
        inputs = [i for i in spec.inputs if i.kind not in _VARIADIC] if spec else []
        named = {i.name for i in inputs}
        return inputs + [
            InputSpec(k, ANY, kind=inspect.Parameter.KEYWORD_ONLY) for k in doc_step.kwargs if k not in named
        ]

    def binding(self, step: str, input_name: str) -> tuple[bool, Any]:
        """``(bound, value)`` of one input of a step, as written (``$param``, ``$step.out``, a literal)."""
        return self.doc.step(step).binding(input_name, self.positional(step))

    def sources(self, step: str, input_name: str) -> list[str]:
        """The outputs (``step`` or ``step.output``) whose type fits the input, other steps first."""
        target = next((i.type for i in self.input_specs(step) if i.name == input_name), ANY)
        found = []
        for name, other in self._ep.steps.items():
            if name == step or other.spec is None:
                continue
            fitting = [o.name for o in other.outputs if compatible(o.type, target)]
            found += [name] if len(other.outputs) == 1 and fitting else [f"{name}.{o}" for o in fitting]
        for name, outputs in self._ep.artifact_inputs.items():
            fitting = [o.name for o in outputs if compatible(o.type, target)]
            found += [name] if len(outputs) == 1 and fitting else [f"{name}.{o}" for o in fitting]
        return found

    def step_problems(self, step: str) -> list[ProblemInfo]:
        """The problems of one step (a cycle counts for every step on it)."""
        return list(self._by_step.get(step, []))

    # -- edits (what the buttons call) --------------------------------------------------------
    def add_step(self, task: str, name: str | None = None) -> str:
        """Append a step running ``task``, named ``name`` (default: the task's name); return its name.

        Raises:
            UnknownTaskError: no such task (and none declared under ``tasks:``).
        """
        if not task:
            raise DioptraLabError("pick a task first")
        declared = self.doc.sections.get("tasks")
        if not (isinstance(declared, dict) and task in declared):
            api.task_info(task)
        name = self.doc.add_step(task, name)
        self._changed()
        return name

    def remove_step(self, name: str) -> None:
        """Remove a step; references to it show as problems until rebound."""
        self.doc.remove_step(name)
        self._changed()

    def rename_step(self, old: str, new: str) -> None:
        """Rename a step, and every reference and dependency to it."""
        self.doc.rename_step(old, new)
        self._changed()

    def move_step(self, name: str, offset: int) -> None:
        """Move a step up (``-1``) or down (``+1``) in the file."""
        self.doc.move_step(name, offset)
        self._changed()

    def set_dependencies(self, step: str, dependencies: list[str]) -> None:
        """Make ``step`` run after ``dependencies`` (Dioptra's explicit ``dependencies``)."""
        self.doc.set_dependencies(step, list(dependencies))
        self._changed()

    def bind(
        self,
        step: str,
        input_name: str,
        *,
        literal: Any = _UNSET,
        parameter: str | None = None,
        output: str | None = None,
    ) -> None:
        """Bind one input of a step to exactly one of a literal, a parameter or a step's output.

        Args:
            step: the step.
            input_name: one of its task's inputs.
            literal: a value; text is read with the input's type (``"0.5"`` for a float is 0.5).
            parameter: an entry-point parameter, created with the input's type, default and
                description when there is none of that name.
            output: ``"step"`` or ``"step.output"`` (another step's output, or an artifact input).
        """
        if sum((literal is not _UNSET, parameter is not None, output is not None)) != 1:
            raise DioptraLabError("bind to exactly one of literal=, parameter= or output=")
        spec = self.task_spec(step)
        inputs = {i.name: i for i in self.input_specs(step)}
        if spec is not None and input_name not in inputs and not spec.accepts_var_keywords:
            known = ", ".join(inputs) or "none"
            raise DioptraLabError(
                f"task {spec.name} of step {step!r} has no input {input_name!r}; its inputs: {known}"
            )
        found = inputs.get(input_name, InputSpec(input_name, ANY))
        if literal is not _UNSET:
            value = parse_literal(literal, found.type) if isinstance(literal, str) else literal
        elif parameter is not None:
            name = parameter.strip().lstrip("$")
            if not name:
                raise DioptraLabError("name the parameter (an existing one, or a new one to create)")
            if name not in self.doc.parameters:
                self.doc.set_parameter(name, new_parameter_spec(found, self.doc.sections.get("types")))
            value = f"${name}"
        else:
            source = (output or "").strip().lstrip("$")
            if not source:
                raise DioptraLabError("pick the step output to bind to")
            value = f"${source}"
        self.doc.step(step).bind(input_name, value, self.positional(step))
        self._changed()

    def unbind(self, step: str, input_name: str) -> None:
        """Leave an input unset (its default applies, if it has one)."""
        self.doc.step(step).unbind(input_name, self.positional(step))
        self._changed()

    def set_parameter(self, name: str, default: Any = _UNSET, description: str | None = None) -> None:
        """Add a parameter or change its default or description.

        Args:
            name: the parameter.
            default: its new default; text is read with the parameter's type, and ``MISSING``
                (:data:`dioptra_lab.plugins.task.MISSING`) makes it required.
            description: its new description (``""`` removes it).
        """
        spec = self.doc.parameters.get(name)
        long = dict(spec) if isinstance(spec, dict) else ({} if spec is None else {"default": spec})
        if default is MISSING:
            long.pop("default", None)
        elif default is not _UNSET:
            known = self._ep.parameters.get(name)
            ptype = known.type if known is not None else ANY
            long["default"] = parse_literal(default, ptype) if isinstance(default, str) else default
        if description:
            long["description"] = description
        elif description is not None:
            long.pop("description", None)
        if set(long) == {"default"} and long["default"] is not None:
            self.doc.set_parameter(name, long["default"])  # the short form, when it says everything
        else:
            self.doc.set_parameter(name, long or None)
        self._changed()

    def remove_parameter(self, name: str) -> None:
        """Remove a parameter; inputs bound to it show as problems until rebound."""
        self.doc.remove_parameter(name)
        self._changed()

    # -- validation ------------------------------------------------------------------------
    def _validate(self, text: str) -> None:
        """Load ``text`` as `dioptra-lab validate` does; sort its problems by step."""
        self._ep = load_entrypoint_text(text, name=self.path.stem if self.path else "entrypoint")
        self.problems = [ProblemInfo.of(p) for p in self._ep.problems]
        self._by_step = problems_by_step(self._ep, self.problems, list(self.doc.steps))
