"""The :class:`EntryPoint` model: parameters, steps and artifact outputs.

An entry point is either a Dioptra-format task graph (YAML) or a notebook with a
cell tagged ``parameters``. This module imports nothing above :mod:`dioptra_lab.plugins`;
compiling, running and submitting an entry point are functions of the layers that do
them (:func:`dioptra_lab.compile`, :func:`dioptra_lab.run`, :func:`dioptra_lab.submit`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dioptra_lab.errors import EntryPointError, ParameterError, Problem, brief
from dioptra_lab.plugins.artifact_tasks import ArtifactTaskSpec
from dioptra_lab.plugins.task import MISSING, OutputSpec, TaskSpec
from dioptra_lab.types import ANY, ParamType, TypeMismatch
from dioptra_lab.types.limits import measure, text_problem, total_problem


@dataclass
class Parameter:
    """One parameter of an entry point.

    ``constraints`` are the task inputs the parameter is bound to directly (``$name``), as
    (place ``graph.STEP.INPUT``, the input's type); the validator fills them. A value must
    fit the parameter's own type and then every one of them, so bounds are checked at
    submit time against every input the parameter flows into.
    """

    name: str
    type: ParamType = ANY
    default: Any = MISSING
    description: str = ""
    declared: bool = False
    constraints: list[tuple[str, ParamType]] = field(default_factory=list)

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def coerce(self, value: Any, *, from_text: bool = False, lenient: bool = False) -> Any:
        """Check (or parse, for text) one value, then check it against every input it feeds.

        Raises:
            TypeMismatch: the value does not fit; the message names the inputs it misses.
        """

        def convert(ptype: ParamType) -> Any:
            if from_text and isinstance(value, str):
                return ptype.from_text(value)
            return ptype.check(value, lenient=lenient)

        try:
            result = convert(self.type)
        except TypeMismatch as exc:
            if not any(ptype is self.type for _, ptype in self.constraints):
                raise
            # the type was inferred from an input: name every input the value does not fit
            raise self._mismatch(self._failures(convert) or [(exc, [])]) from None
        self.check_constraints(result, lenient=lenient)
        return result

    def check_constraints(self, value: Any, *, lenient: bool = False) -> None:
        """Raise :class:`TypeMismatch` naming each input whose type (bounds, choices) ``value`` misses."""
        failures = self._failures(lambda ptype: ptype.check(value, lenient=lenient))
        if failures:
            raise self._mismatch(failures)

    def _failures(self, convert: Any) -> list[tuple[TypeMismatch, list[str]]]:
        """Failed constraints, grouped by message: ``[(mismatch, [place, …]), …]``."""
        groups: dict[str, tuple[TypeMismatch, list[str]]] = {}
        for place, ptype in self.constraints:
            try:
                convert(ptype)
            except TypeMismatch as exc:
                groups.setdefault(str(exc), (exc, []))[1].append(place)
        return list(groups.values())

    @staticmethod
    def _mismatch(failures: list[tuple[TypeMismatch, list[str]]]) -> TypeMismatch:
        parts = []
        for exc, places in failures:
            inputs = ", ".join(
                f"input {place.rsplit('.', 1)[-1]!r} at {place.rsplit('.', 1)[0]}" for place in places
            )
            parts.append(f"{exc} ({inputs})" if inputs else str(exc))
        first = failures[0][0]
        error = TypeMismatch(first.expected, first.value)
        error.args = ("; ".join(parts),)
        return error

    def checked_default(self) -> Any:
        """The default as the type reads it (a ``models:/`` default becomes a URI to load)."""
        try:
            return self.type.check(self.default, lenient=True)
        except TypeMismatch:
            return self.default

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for forms; the bounds are the tightest of the type and inputs."""
        info: dict[str, Any] = {"name": self.name, "required": self.required, **self.type.describe()}
        lower: list[tuple[float, bool]] = []  # (bound, exclusive)
        upper: list[tuple[float, bool]] = []
        choices: list[list[Any]] = []
        for ptype in [self.type, *(t for _, t in self.constraints)]:
            found = self._limits(ptype.describe())
            for key, exclusive in (("ge", False), ("gt", True)):
                if found.get(key) is not None:
                    lower.append((found[key], exclusive))
            for key, exclusive in (("le", False), ("lt", True)):
                if found.get(key) is not None:
                    upper.append((found[key], exclusive))
            if "choices" in found:
                choices.append(list(found["choices"]))
        if lower:
            bound, exclusive = max(lower)  # the highest; exclusive wins a tie
            for key in ("ge", "gt"):
                info.pop(key, None)
            info["gt" if exclusive else "ge"] = info["minimum"] = bound
        if upper:
            bound, inclusive = min((b, not e) for b, e in upper)  # the lowest; exclusive wins a tie
            for key in ("le", "lt"):
                info.pop(key, None)
            info["le" if inclusive else "lt"] = info["maximum"] = bound
        if choices and "choices" not in info:
            info["choices"] = [c for c in choices[0] if all(c in other for other in choices[1:])]
        if not self.required:
            info["default"] = self.default
        if self.description:
            info["description"] = self.description
        if self.constraints:
            info["inputs"] = [place for place, _ in self.constraints]
        return info

    @staticmethod
    def _limits(info: dict[str, Any]) -> dict[str, Any]:
        """Bounds and choices of one type's description (of its one bounded option, for a union)."""
        keys = ("ge", "gt", "le", "lt", "choices")
        if any(key in info for key in keys):
            return {key: info[key] for key in keys if key in info}
        bounded = [o for o in info.get("options", []) if any(key in o for key in keys)]
        return Parameter._limits(bounded[0]) if len(bounded) == 1 else {}


@dataclass
class Step:
    """One invocation of a task in the graph."""

    name: str
    task: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    style: str = "keyword"
    spec: TaskSpec | None = None
    outputs: list[OutputSpec] = field(default_factory=list)
    unpack: bool = False

    def split_outputs(self, value: Any) -> dict[str, Any]:
        """Name the task's return value as this step's outputs."""
        if self.spec is None:
            return {}
        from dataclasses import replace

        return replace(self.spec, outputs=self.outputs, unpack=self.unpack).split_outputs(value)


@dataclass
class ArtifactOutput:
    """An artifact the graph saves after it ran (Dioptra's ``artifact_outputs``)."""

    name: str
    contents: Any
    task: str
    args: dict[str, Any] = field(default_factory=dict)
    spec: TaskSpec | None = None
    # a Dioptra artifact task (a class with serialize/deserialize/validation), when the
    # name is one; ``spec`` is then None
    artifact_task: ArtifactTaskSpec | None = None


@dataclass
class EntryPoint:
    """A parameterized task graph or parameterized notebook."""

    name: str
    source: str
    kind: str  # "yaml" or "notebook"
    text: str = ""
    description: str = ""
    parameters: dict[str, Parameter] = field(default_factory=dict)
    artifact_inputs: dict[str, list[OutputSpec]] = field(default_factory=dict)
    steps: dict[str, Step] = field(default_factory=dict)
    artifact_outputs: dict[str, ArtifactOutput] = field(default_factory=dict)
    types: dict[str, ParamType] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    path: Path | None = None
    # Things worth knowing that do not stop a run (a declaration the plugin's annotation
    # disagrees with, a union listing a type twice); ``validate`` does not raise them.
    warnings: list[Problem] = field(default_factory=list)
    # Whether the file is a complete Dioptra description (it has ``tasks:``), judged by
    # Dioptra's rules (:mod:`dioptra_lab.entrypoints.dioptra_rules`).
    dioptra: bool = False

    # -- validation ------------------------------------------------------------------
    @property
    def valid(self) -> bool:
        return not self.problems

    def validate(self) -> EntryPoint:
        """Raise :class:`EntryPointError` listing every problem; return ``self`` when valid."""
        if self.problems:
            raise EntryPointError(self.source, self.problems)
        return self

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Rich display in a notebook: the parameters table, the steps, the problems."""
        import html

        from dioptra_lab.display import html_table, text_table
        from dioptra_lab.entrypoints.picture import entrypoint_svg

        headers = ["parameter", "type", "default", "description"]
        rows = [
            [p.name, str(p.type), "required" if p.required else repr(p.default), p.description]
            for p in self.parameters.values()
        ]
        steps = [[name, step.spec.qualname if step.spec else step.task] for name, step in self.steps.items()]
        problems = "".join(f"<li>{html.escape(str(p))}</li>" for p in self.problems)
        head = (
            f"{self.name} ({self.kind} entry point, {len(self.parameters)} parameters, "
            f"{len(self.steps)} steps)"
        )
        sections = [head, text_table(headers, rows), text_table(["step", "task"], steps)]
        if self.problems:
            listed = "\n".join(f"  - {p}" for p in self.problems)
            sections.append(f"{len(self.problems)} problem(s):\n{listed}")
        if self.warnings:
            listed = "\n".join(f"  - {p}" for p in self.warnings)
            sections.append(f"{len(self.warnings)} warning(s):\n{listed}")
        warnings = "".join(f"<li>{html.escape(str(p))}</li>" for p in self.warnings)
        text = "\n\n".join(sections)
        markup = (
            f"<p><b>{html.escape(self.name)}</b> — {html.escape(self.description or self.source)}</p>"
            + html_table(headers, rows)
            + (entrypoint_svg(self) if self.steps else "")
            + (f"<p style='color:#b00020'>Problems:</p><ul>{problems}</ul>" if problems else "")
            + (f"<p style='color:#8a5a00'>Warnings:</p><ul>{warnings}</ul>" if warnings else "")
        )
        return {"text/plain": text, "text/html": markup}

    @property
    def digest(self) -> str:
        """sha256 of the entry point's source text."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    # -- parameters ------------------------------------------------------------------
    def coerce(
        self, values: Mapping[str, Any], *, from_text: bool = False, lenient: bool = False
    ) -> dict[str, Any]:
        """Check given values, fill defaults; every problem is reported at once.

        Args:
            values: parameter values by name (text when ``from_text``).
            from_text: values are text from a command line or form field.
            lenient: accept numbers for strings and the like (values guessed by Papermill).

        Raises:
            ParameterError: unknown names, wrong types, missing required values, values
                over the size limits (:mod:`dioptra_lab.types.limits`: per value and for all
                together) or with text that is not UTF-8.
        """
        problems: list[str] = []
        result: dict[str, Any] = {}
        known = set(self.parameters) | set(self.artifact_inputs)
        for name in values:
            if name not in known:
                hint = f"; known parameters: {', '.join(sorted(known))}" if known else ""
                problems.append(f"unknown parameter {brief(name, 60)}{hint}")
        for name, param in self.parameters.items():
            if name in values:
                value = values[name]
                early = text_problem(value) if from_text and isinstance(value, str) else None
                if early:  # not parsed at all: reading 50 MB of YAML would take minutes
                    problems.append(f"parameter {name!r}: {early}")
                    continue
                try:
                    result[name] = param.coerce(value, from_text=from_text, lenient=lenient)
                except TypeMismatch as exc:
                    problems.append(f"parameter {name!r}: {exc}")
            elif param.required:
                problems.append(f"parameter {name!r} is required (type {param.type}); pass a value")
            else:
                result[name] = param.checked_default()
        for name in self.artifact_inputs:
            if name in values:
                result[name] = values[name]
            else:
                problems.append(f"artifact input {name!r} is required; pass a path or a runs:/ URI")
        total = 0
        for name, value in result.items():
            size, problem = measure(value)
            total += size
            if problem:
                problems.append(f"parameter {name!r}: {problem}")
        if not problems and total_problem(total):
            problems.append(str(total_problem(total)))
        if problems:
            raise ParameterError(problems)
        return result
