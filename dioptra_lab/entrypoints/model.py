"""The :class:`EntryPoint` model: parameters, steps and artifact outputs.

An entry point is either a Dioptra-format task graph (YAML) or a notebook with a
cell tagged ``parameters``. ``run`` and ``submit`` are conveniences that import the
engine and the job layer when called, so this module depends on nothing above it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dioptra_lab.errors import EntryPointError, ParameterError, Problem
from dioptra_lab.plugins.task import MISSING, OutputSpec, TaskSpec
from dioptra_lab.types import ANY, ParamType, TypeMismatch

if TYPE_CHECKING:
    import nbformat

    from dioptra_lab.engine.results import RunResult
    from dioptra_lab.jobs.job import Job


@dataclass
class Parameter:
    """One parameter of an entry point."""

    name: str
    type: ParamType = ANY
    default: Any = MISSING
    description: str = ""
    declared: bool = False

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def coerce(self, value: Any, *, from_text: bool = False, lenient: bool = False) -> Any:
        """Check (or parse, for text) one value; raise :class:`TypeMismatch`."""
        if from_text and isinstance(value, str):
            return self.type.from_text(value)
        return self.type.check(value, lenient=lenient)

    def checked_default(self) -> Any:
        """The default as the type reads it (a ``models:/`` default becomes a URI to load)."""
        try:
            return self.type.check(self.default, lenient=True)
        except TypeMismatch:
            return self.default

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.name, "required": self.required, **self.type.describe()}
        if not self.required:
            info["default"] = self.default
        if self.description:
            info["description"] = self.description
        return info


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

    # -- validation ------------------------------------------------------------------
    @property
    def valid(self) -> bool:
        return not self.problems

    def validate(self) -> EntryPoint:
        """Raise :class:`EntryPointError` listing every problem; return ``self`` when valid."""
        if self.problems:
            raise EntryPointError(self.source, self.problems)
        return self

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
            ParameterError: unknown names, wrong types and missing required values.
        """
        problems: list[str] = []
        result: dict[str, Any] = {}
        known = set(self.parameters) | set(self.artifact_inputs)
        for name in values:
            if name not in known:
                hint = f"; known parameters: {', '.join(sorted(known))}" if known else ""
                problems.append(f"unknown parameter {name!r}{hint}")
        for name, param in self.parameters.items():
            if name in values:
                try:
                    result[name] = param.coerce(values[name], from_text=from_text, lenient=lenient)
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
        if problems:
            raise ParameterError(problems)
        return result

    # -- conveniences over higher layers ----------------------------------------------
    def compile(self) -> nbformat.NotebookNode:
        """A Papermill-ready notebook that runs this entry point (the notebook itself, for notebooks)."""
        from dioptra_lab.entrypoints.compile import compile_entrypoint

        return compile_entrypoint(self)

    def run(self, **params: Any) -> RunResult:
        """Run in the current process (for debugging in a notebook) and return the results.

        Starts the stack's Prefect server first when none answers, as `dioptra-lab run` does.
        """
        import sys

        from dioptra_lab.engine import run_entrypoint
        from dioptra_lab.stack import Stack

        Stack().ensure_prefect(announce=lambda message: print(message, file=sys.stderr))  # noqa: T201
        return run_entrypoint(self, params)

    def submit(self, params: Mapping[str, Any] | None = None, **options: Any) -> Job:
        """Submit to the queue (see :func:`dioptra_lab.submit` for the options)."""
        from dioptra_lab.jobs.submit import submit

        return submit(self, params, **options)
