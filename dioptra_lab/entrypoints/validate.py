"""Whole-graph checks: references, dependencies, cycles, argument binding and types.

Every problem is appended to ``ep.problems`` with its place; nothing raises here.
Parameters without a declared type get one inferred from the inputs they feed, and
every parameter is bound to all of those inputs (``Parameter.constraints``), so that
its values are checked against the bounds and choices of each one.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

from dioptra_lab.entrypoints.graph import find_cycle
from dioptra_lab.entrypoints.model import EntryPoint, Parameter, Step
from dioptra_lab.entrypoints.references import Ref, contains_refs, iter_refs, parse_ref
from dioptra_lab.errors import Problem
from dioptra_lab.plugins.task import MISSING, InputSpec
from dioptra_lab.types import ANY, ParamType, TypeMismatch, accepts, compatible, type_of_value

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def step_dependencies(step: Step, ep: EntryPoint) -> set[str]:
    """Steps this step needs: referenced steps plus explicit ``dependencies``."""
    deps = {ref.name for ref, _ in iter_refs([step.args, step.kwargs]) if ref.name in ep.steps}
    return deps | {d for d in step.dependencies if d in ep.steps}


def bind_arguments(step: Step) -> tuple[dict[str, tuple[InputSpec, Any, str]], list[str]]:
    """Match a step's args and kwargs to its task's inputs.

    Returns the bound inputs (input, value, place) and the binding problems.
    """
    spec = step.spec
    assert spec is not None
    problems: list[str] = []
    bound: dict[str, tuple[InputSpec, Any, str]] = {}
    positional = [i for i in spec.inputs if i.kind in _POSITIONAL]
    if len(step.args) > len(positional) and not spec.accepts_var_positional:
        problems.append(f"{spec.name} takes {len(positional)} positional argument(s), got {len(step.args)}")
    for index, (pos, value) in enumerate(zip(positional, step.args, strict=False)):
        bound[pos.name] = (pos, value, f"args[{index}]")
    for key, value in step.kwargs.items():
        inp = spec.input(key)
        if inp is None or inp.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            if not spec.accepts_var_keywords:
                names = ", ".join(
                    i.name
                    for i in spec.inputs
                    if i.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
                )
                problems.append(f"unknown keyword {key!r} for {spec.name}; its inputs are: {names}")
            continue
        if inp.kind == inspect.Parameter.POSITIONAL_ONLY:
            problems.append(f"input {key!r} of {spec.name} is positional-only; pass it in args")
            continue
        if key in bound:
            problems.append(f"input {key!r} is given both by position and by keyword")
            continue
        bound[key] = (inp, value, key)
    for inp in spec.inputs:
        if inp.required and inp.name not in bound:
            problems.append(f"missing required input {inp.name!r} ({inp.type}) of {spec.name}")
    return bound, problems


class _Validator:
    def __init__(self, ep: EntryPoint) -> None:
        self.ep = ep

    def report(self, place: str, message: str) -> None:
        self.ep.problems.append(Problem(place, message))

    def run(self) -> None:
        ep = self.ep
        for name in set(ep.parameters) & set(ep.steps):
            self.report(f"graph.{name}", f"{name!r} is both a parameter and a step; rename one")
        for name, step in ep.steps.items():
            place = f"graph.{name}"
            for dep in step.dependencies:
                if dep not in ep.steps:
                    self.report(f"{place}.dependencies", f"unknown step {dep!r}{self._hint(dep)}")
            for ref, where in iter_refs([step.args, step.kwargs]):
                self.check_ref(ref, f"{place}.{self._where(where)}", name)
        deps = {name: step_dependencies(step, ep) for name, step in ep.steps.items()}
        cycle = find_cycle(deps)
        if cycle:
            self.report("graph", "cycle between steps: " + " -> ".join(cycle))
        self.infer_parameter_types()
        for step in ep.steps.values():
            if step.spec is not None:
                self.check_binding(step)
        for name, out in ep.artifact_outputs.items():
            for ref, _ in iter_refs(out.contents):
                self.check_ref(ref, f"artifact_outputs.{name}.contents", None)
            if parse_ref(out.contents) is None:
                self.report(f"artifact_outputs.{name}.contents", "expected a reference such as $step.output")

    @staticmethod
    def _where(where: str) -> str:
        # iter_refs over [args, kwargs] yields "[0][i]" for args and "[1].key" for kwargs.
        if where.startswith("[0]"):
            return "args" + where[3:]
        return "kwargs" + where[3:]

    def _hint(self, name: str) -> str:
        import difflib

        names = list(self.ep.steps) + list(self.ep.parameters) + list(self.ep.artifact_inputs)
        close = difflib.get_close_matches(name, names, n=1)
        return f"; did you mean {close[0]!r}?" if close else ""

    def check_ref(self, ref: Ref, place: str, current: str | None) -> None:
        ep = self.ep
        if ref.name in ep.parameters:
            if ref.output:
                self.report(place, f"{ref}: parameters have no outputs; write ${ref.name}")
            return
        if ref.name in ep.artifact_inputs:
            outs = [o.name for o in ep.artifact_inputs[ref.name]]
            if ref.output and ref.output not in outs:
                self.report(place, f"{ref}: artifact input {ref.name!r} has outputs {outs}")
            return
        step = ep.steps.get(ref.name)
        if step is None:
            self.report(
                place,
                f"unknown reference {ref}: no parameter, artifact input or step "
                f"named {ref.name!r}{self._hint(ref.name)}",
            )
            return
        if ref.name == current:
            self.report(place, f"step {current!r} refers to itself")
            return
        if step.spec is None:
            return
        names = [o.name for o in step.outputs]
        if ref.output is None:
            if not names:
                self.report(place, f"{ref}: step {ref.name!r} has no output (its task returns None)")
            elif len(names) > 1:
                self.report(
                    place,
                    f"{ref}: step {ref.name!r} has several outputs ({', '.join(names)}); "
                    f"name one, e.g. ${ref.name}.{names[0]}",
                )
        elif ref.output not in names:
            self.report(
                place,
                f"{ref}: step {ref.name!r} has no output {ref.output!r}; "
                f"its outputs: {', '.join(names) or 'none'}",
            )

    def ref_type(self, ref: Ref) -> ParamType:
        ep = self.ep
        if ref.name in ep.parameters:
            return ep.parameters[ref.name].type
        step = ep.steps.get(ref.name)
        if step is not None and step.outputs:
            want = ref.output or step.outputs[0].name
            for out in step.outputs:
                if out.name == want:
                    return out.type
        return ANY

    def infer_parameter_types(self) -> None:
        """Type undeclared parameters, and bind every parameter to all the inputs it feeds.

        Each input a parameter is given to directly (``$name``) becomes one of its
        ``constraints``, so a value is checked against the bounds and choices of every
        input, not only the first; an undeclared parameter takes the type of the first
        input that accepts its default.
        """
        usage: dict[str, list[ParamType]] = {}
        for param in self.ep.parameters.values():
            param.constraints = []
        for step in self.ep.steps.values():
            if step.spec is None:
                continue
            bound, _ = bind_arguments(step)
            for inp, value, _ in bound.values():
                ref = parse_ref(value)
                if ref is not None and ref.name in self.ep.parameters and inp.type is not ANY:
                    usage.setdefault(ref.name, []).append(inp.type)
                    if ref.output is None:
                        place = f"graph.{step.name}.{inp.name}"
                        self.ep.parameters[ref.name].constraints.append((place, inp.type))
        for name, param in self.ep.parameters.items():
            place = f"parameters.{name}"
            if param.declared:
                self.check_default(param.type, param.default, place)
            else:
                for candidate in usage.get(name, []):
                    if param.default is MISSING or param.default is None or accepts(candidate, param.default):
                        param.type = candidate
                        break
                else:
                    if param.default is not MISSING:
                        param.type = type_of_value(param.default)
            self.check_default_fits_inputs(param, place)

    def check_default_fits_inputs(self, param: Parameter, place: str) -> None:
        """A default must fit every input the parameter feeds (inputs of other types are
        reported as incompatible by :meth:`check_binding`)."""
        if param.default is MISSING or param.default is None or not accepts(param.type, param.default):
            return
        fitting = [(where, t) for where, t in param.constraints if compatible(param.type, t)]
        try:
            replace(param, constraints=fitting).check_constraints(param.checked_default())
        except TypeMismatch as exc:
            self.report(place, f"bad default: {exc}")

    def check_default(self, ptype: ParamType, default: Any, place: str) -> None:
        if default is MISSING or default is None:
            return
        try:
            ptype.check(default)
        except TypeMismatch as exc:
            self.report(place, f"bad default: {exc}")

    def check_binding(self, step: Step) -> None:
        place = f"graph.{step.name}"
        bound, problems = bind_arguments(step)
        for problem in problems:
            self.report(place, problem)
        for inp, value, where in bound.values():
            ref = parse_ref(value)
            if ref is not None:
                source = self.ref_type(ref)
                if not compatible(source, inp.type):
                    self.report(
                        f"{place}.{where}",
                        f"incompatible types: {ref} is {source}, "
                        f"input {inp.name!r} of {step.spec.name if step.spec else '?'} takes {inp.type}",
                    )
            elif not contains_refs(value) and not accepts(inp.type, value):
                self.report(
                    f"{place}.{where}", f"input {inp.name!r}: expected {inp.type.expected}, got {value!r}"
                )


def validate_graph(ep: EntryPoint) -> EntryPoint:
    """Run every whole-graph check on ``ep``; problems land in ``ep.problems``."""
    _Validator(ep).run()
    return ep
