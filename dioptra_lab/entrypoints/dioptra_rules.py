"""Dioptra's own rules, for a file that is a complete Dioptra description (it has ``tasks:``).

Such a file is judged as Dioptra's task engine judges it, from its declarations alone:
the ``tasks:`` section is the contract (declared inputs, their order, ``required:``, their
types and the outputs), not the Python functions behind the plugins. The checks follow
Dioptra's task-engine reference, in two rounds like Dioptra's: the **shape** of every
section first (a file with a malformed shape gets no further checks, as its parts cannot
be read), then the **meaning**: names, declarations, references, dependencies, cycles and
types (:mod:`dioptra_lab.entrypoints.dioptra_types`). Every problem is reported at once
with its place. Our own extensions (no ``tasks:``, short names from the registry, outputs
from return annotations) apply only to files without ``tasks:``.

Two top-level keys outside Dioptra's schema are accepted in both modes: ``name`` and
``description``, the entry point's metadata (Dioptra keeps them on its entry-point
resource, beside the YAML).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from dioptra_lab.entrypoints.dioptra_types import (
    BUILTINS,
    STRUCTURE_KEYS,
    DType,
    TypeRegistry,
    fits,
    infer,
    is_reference,
    references_of,
    type_cycle,
)
from dioptra_lab.entrypoints.graph import find_cycle
from dioptra_lab.errors import Problem, brief

DIOPTRA_SECTIONS = ("types", "parameters", "artifact_inputs", "tasks", "graph", "artifact_outputs")
METADATA = ("name", "description")
_SCALARS = (str, int, float, bool, type(None))


def is_dioptra_description(data: Any) -> bool:
    """Whether parsed YAML is a complete Dioptra description (it has a ``tasks:`` section)."""
    return isinstance(data, dict) and "tasks" in data


def outputs_of(task: dict[str, Any]) -> list[tuple[str, str]]:
    """A task declaration's outputs as (name, type name), in order."""
    outputs = task.get("outputs", [])
    return [next(iter(o.items())) for o in (outputs if isinstance(outputs, list) else [outputs])]


def inputs_of(task: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """A task declaration's inputs as (name, type name, required), in order."""
    found = []
    for item in task.get("inputs", []):
        if "name" in item:
            found.append((item["name"], item["type"], bool(item.get("required", True))))
        else:
            ((name, tname),) = item.items()
            found.append((name, tname, True))
    return found


def step_task(step: dict[str, Any]) -> Any:
    """The task short name a step invokes (``task:`` or its one non-``dependencies`` key)."""
    if "task" in step:
        return step["task"]
    return next((k for k in step if k != "dependencies"), None)


def step_arguments(step: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """A well-formed step's positional and keyword arguments."""
    if "task" in step:
        args, kwargs = step.get("args", []), step.get("kwargs", {})
    else:
        value = step[step_task(step)]
        args, kwargs = ([], value) if isinstance(value, dict) else (value, {})
    return (args if isinstance(args, list) else [args]), kwargs


def references_in(value: Any) -> Iterator[str]:
    """References (without the ``$``) anywhere in an argument value."""
    if isinstance(value, str):
        if is_reference(value):
            yield value[1:]
    elif isinstance(value, dict):
        for item in value.values():
            yield from references_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from references_in(item)


class _Checker:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, place: str, message: str) -> None:
        self.errors.append(Problem(place, message))

    def warn(self, place: str, message: str) -> None:
        self.warnings.append(Problem(place, message))

    # -- shape ------------------------------------------------------------------------
    def shape(self) -> None:
        data = self.data
        for key in data:
            if key not in DIOPTRA_SECTIONS and key not in METADATA and key != "artifacts":
                self.error(
                    brief(key, 40) if isinstance(key, str) else "",
                    f"unknown top-level key {brief(key, 40)}; Dioptra's format has "
                    f"{', '.join(DIOPTRA_SECTIONS)}",
                )
        if "artifacts" in data:
            self.error(
                "artifacts", "a Dioptra description names this section `artifact_outputs` (not `artifacts`)"
            )
        for key in METADATA:
            if key in data and not isinstance(data[key], str):
                self.error(key, f"expected text, got {brief(data[key])}")
        for key in DIOPTRA_SECTIONS:
            if key in data and not isinstance(data[key], dict):
                self.error(key, f"expected a mapping, got {type(data[key]).__name__}")
        if "graph" not in data:
            self.error("graph", "missing `graph:`; a Dioptra description needs `tasks:` and `graph:`")
        for key in ("tasks", "graph"):
            if isinstance(data.get(key), dict) and not data[key]:
                self.error(key, f"`{key}:` is empty; give at least one")
        if self.errors:
            return
        shapes = {
            "types": self.type_definition_shape,
            "parameters": self.parameter_shape,
            "tasks": self.task_shape,
            "graph": self.step_shape,
            "artifact_inputs": self.outputs_shape,
            "artifact_outputs": self.artifact_output_shape,
        }
        for section, check in shapes.items():
            for name, spec in data.get(section, {}).items():
                check(spec, f"{section}.{name}")

    def type_definition_shape(self, spec: Any, place: str) -> None:
        if spec is None:
            return
        if isinstance(spec, dict) and "is_a" in spec:
            if set(spec) != {"is_a"}:
                self.error(place, "a simple type takes `is_a` only; a structure or union has no super-type")
            elif not isinstance(spec["is_a"], str):
                self.error(f"{place}.is_a", "expected a type name")
            return
        self.structure_shape(spec, place, top=True)

    def structure_shape(self, spec: Any, place: str, top: bool = False) -> None:
        if isinstance(spec, str) and not top:
            return
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in STRUCTURE_KEYS:
            allowed = "null, `is_a: TYPE` or " if top else "a type name or "
            self.error(place, f"expected {allowed}one of list, tuple, mapping, union; got {brief(spec)}")
            return
        ((key, value),) = spec.items()
        if key == "list":
            self.structure_shape(value, f"{place}.list")
        elif key in ("tuple", "union"):
            if not isinstance(value, list):
                self.error(f"{place}.{key}", f"expected a list of types, got {brief(value)}")
                return
            for index, item in enumerate(value):
                self.structure_shape(item, f"{place}.{key}[{index}]")
        elif isinstance(value, list):
            if len(value) != 2:
                self.error(f"{place}.mapping", "a key/value mapping is `[KEY_TYPE, VALUE_TYPE]`")
                return
            for index, item in enumerate(value):
                self.structure_shape(item, f"{place}.mapping[{index}]")
        elif isinstance(value, dict):
            for name, item in value.items():
                self.structure_shape(item, f"{place}.mapping.{brief(name, 40)}")
        else:
            self.error(f"{place}.mapping", "expected `[KEY_TYPE, VALUE_TYPE]` or a mapping of names to types")

    def parameter_shape(self, spec: Any, place: str) -> None:
        if isinstance(spec, dict):
            extra = sorted(brief(k, 40) for k in set(spec) - {"type", "default"})
            if not spec:
                self.error(place, "the long form needs `type:`, `default:` or both")
            if extra:
                self.error(
                    place, f"unknown keys {', '.join(extra)}; Dioptra's long form takes type and default"
                )
            if "type" in spec and not isinstance(spec["type"], str):
                self.error(f"{place}.type", f"expected a type name, got {brief(spec['type'])}")
        elif not isinstance(spec, _SCALARS + (list,)):
            self.error(place, f"expected a default value or `{{type: …, default: …}}`, got {brief(spec)}")

    def task_shape(self, spec: Any, place: str) -> None:
        if not isinstance(spec, dict):
            self.error(place, "expected `plugin: package.module.function` (and inputs, outputs)")
            return
        extra = sorted(brief(k, 40) for k in set(spec) - {"plugin", "inputs", "outputs"})
        if extra:
            self.error(place, f"unknown keys {', '.join(extra)}; a task takes plugin, inputs, outputs")
        plugin = spec.get("plugin")
        if not isinstance(plugin, str) or len(plugin) < 3:
            self.error(f"{place}.plugin", "expected `plugin: package.module.function`")
        inputs = spec.get("inputs", [])
        if not isinstance(inputs, list):
            self.error(f"{place}.inputs", "expected a list of inputs (`- name: type`)")
        else:
            for index, item in enumerate(inputs):
                self.input_shape(item, f"{place}.inputs[{index}]")
        if "outputs" in spec:
            self.outputs_shape(spec["outputs"], f"{place}.outputs")

    def input_shape(self, item: Any, place: str) -> None:
        if isinstance(item, dict) and "name" in item:
            if not {"name", "type"} <= set(item) or set(item) - {"name", "type", "required"}:
                self.error(place, "the long form of an input takes name, type and optionally required")
            elif not isinstance(item["name"], str) or not isinstance(item["type"], str):
                self.error(place, "an input's name and type are text")
            elif not isinstance(item.get("required", True), bool):
                self.error(f"{place}.required", "expected true or false")
        elif not (isinstance(item, dict) and len(item) == 1 and isinstance(next(iter(item.values())), str)):
            self.error(place, f"malformed input {brief(item)}; write `- name: type`")

    def outputs_shape(self, spec: Any, place: str) -> None:
        items = spec if isinstance(spec, list) else [spec]
        for item in items:
            if not (isinstance(item, dict) and len(item) == 1 and isinstance(next(iter(item.values())), str)):
                self.error(place, f"malformed output {brief(item)}; write `name: type` (or a list of them)")

    def step_shape(self, spec: Any, place: str) -> None:
        if not isinstance(spec, dict) or not spec:
            self.error(place, "a step is a mapping `task_name: arguments` (or task/args/kwargs)")
            return
        deps = spec.get("dependencies", [])
        if not isinstance(deps, str) and not (
            isinstance(deps, list) and all(isinstance(d, str) for d in deps)
        ):
            self.error(f"{place}.dependencies", "expected a step name or a list of step names")
        if "task" in spec:
            extra = sorted(brief(k, 40) for k in set(spec) - {"task", "args", "kwargs", "dependencies"})
            if extra:
                self.error(place, f"unknown keys {', '.join(extra)} in a task/args/kwargs step")
            if not isinstance(spec["task"], str) or not spec["task"]:
                self.error(f"{place}.task", f"expected a task name, got {brief(spec['task'])}")
            if "args" in spec and not isinstance(spec["args"], _SCALARS + (list,)):
                self.error(f"{place}.args", "expected a value or a list of values")
            if "kwargs" in spec and not isinstance(spec["kwargs"], dict):
                self.error(f"{place}.kwargs", "expected a mapping of input names to values")
            return
        invocations = [k for k in spec if k != "dependencies"]
        if len(invocations) != 1:
            self.error(
                place,
                f"expected exactly one task invocation (`task_name: arguments`), found {len(invocations)}",
            )

    def artifact_output_shape(self, spec: Any, place: str) -> None:
        task = spec.get("task") if isinstance(spec, dict) else None
        if (
            not isinstance(spec, dict)
            or set(spec) != {"contents", "task"}
            or not isinstance(spec["contents"], str)
            or not isinstance(task, dict)
            or not isinstance(task.get("name"), str)
            or set(task) - {"name", "args"}
            or not isinstance(task.get("args", {}), dict)
        ):
            self.error(place, "expected `contents: $step.output` and `task: {name: TASK, args: {...}}`")

    # -- meaning ----------------------------------------------------------------------
    def meaning(self) -> None:
        data = self.data
        types = data.get("types", {})
        params = data.get("parameters", {})
        tasks = data["tasks"]
        graph = data["graph"]
        key_problems = self.string_keys(types, params, tasks, graph)
        if not key_problems:
            for name in params:
                if "." in name:
                    self.error(
                        f"parameters.{name}",
                        "a parameter name may not contain a dot ($a.b means step a's output b)",
                    )
            for name in graph:
                if "." in name:
                    self.error(
                        f"graph.{name}", "a step name may not contain a dot ($a.b means step a's output b)"
                    )
        type_names = set(BUILTINS) | set(types)
        # Names whose types cannot be judged (a faulty declaration, step or parameter): the
        # type check below skips the steps that use them, so that every other problem is
        # still reported at once, as in the rest of our messages.
        unsound: set[Any] = set()
        for short, task in tasks.items():
            if self.found(self.task_declaration, str(short), task, type_names):
                unsound |= {
                    s for s, step in graph.items() if isinstance(step, dict) and step_task(step) == short
                }
        structure_ok = self.steps_name_tasks(graph)
        collisions = {n for n in params if n in graph}
        for name in sorted(collisions, key=str):
            self.error(f"graph.{name}", f"{name!r} is both a parameter and a step; rename one")
        judged = False
        if structure_ok and not key_problems:
            known = [s for s, step in graph.items() if step_task(step) in tasks]
            if len(known) == len(graph):
                for name, step in graph.items():
                    if self.found(self.invocation, name, step):
                        unsound.add(name)
                if not collisions:
                    unsound |= self.references()
                    self.cycle()
                    judged = True
        for name, spec in params.items():
            if isinstance(spec, dict):
                if "type" in spec and spec["type"] not in type_names:
                    self.error(
                        f"parameters.{name}.type", f"unknown type {spec['type']!r}; define it under `types:`"
                    )
                    unsound.add(name)
                if "type" not in spec and "default" not in spec:
                    self.error(
                        f"parameters.{name}",
                        "give a type or a default; Dioptra types a parameter by one of them",
                    )
                    unsound.add(name)
        for name, outputs in data.get("artifact_inputs", {}).items():
            for out, tname in outputs_of({"outputs": outputs}):
                if tname not in type_names:
                    self.error(f"artifact_inputs.{name}", f"output {out!r} has unknown type {tname!r}")
                    unsound.add(name)
        types_before = len(self.errors)
        for name, spec in types.items():
            if name in BUILTINS:
                self.error(f"types.{name}", f"{name!r} is a built-in type; choose another name")
            for ref in references_of(spec):
                if ref not in type_names:
                    self.error(f"types.{name}", f"unknown type {ref!r}; define it under `types:`")
        cycle = None if key_problems else type_cycle(types)
        if cycle:
            self.error("types", "types defined in terms of themselves: " + " -> ".join(cycle))
        if judged and len(self.errors) == types_before:
            self.check_types(unsound)

    def found(self, check: Callable[..., None], *args: Any) -> bool:
        """Run ``check(*args)``; whether it reported an error."""
        before = len(self.errors)
        check(*args)
        return len(self.errors) > before

    def string_keys(self, *sections: dict[Any, Any]) -> bool:
        found = False
        for label, section in zip(("type", "parameter", "task", "step"), sections, strict=True):
            where = {"type": "types", "parameter": "parameters", "task": "tasks", "step": "graph"}[label]
            for key in section:
                if not isinstance(key, str):
                    self.error(where, f"{label} names must be text; {brief(key)} is a {type(key).__name__}")
                    found = True
                elif not key.strip():
                    self.error(where, f"{label} names may not be empty or blank")
                    found = True
        return found

    def task_declaration(self, short: str, task: dict[str, Any], type_names: set[str]) -> None:
        place = f"tasks.{short}"
        plugin = task["plugin"]
        if "." not in plugin:
            self.error(f"{place}.plugin", f"{plugin!r}: a plugin is `module.function` (at least one dot)")
        elif any(not part for part in plugin.split(".")):
            self.error(f"{place}.plugin", f"{plugin!r}: an empty part between dots")
        seen: set[str] = set()
        for name, tname, _ in inputs_of(task):
            if name in seen:
                self.error(f"{place}.inputs", f"input {name!r} is declared twice")
            seen.add(name)
            if tname not in type_names:
                self.error(f"{place}.inputs", f"input {name!r} has unknown type {tname!r}")
        seen.clear()
        for name, tname in outputs_of(task):
            if name in seen:
                self.error(f"{place}.outputs", f"output {name!r} is declared twice")
            seen.add(name)
            if tname not in type_names:
                self.error(f"{place}.outputs", f"output {name!r} has unknown type {tname!r}")

    def steps_name_tasks(self, graph: dict[str, Any]) -> bool:
        tasks = self.data["tasks"]
        ok = True
        for name, step in graph.items():
            task = step_task(step)
            if "task" not in step and "dependencies" in step and len(step) == 1:
                self.error(f"graph.{name}", "the step names no task (only `dependencies:`)")
                ok = False
            elif task not in tasks:
                where = f"graph.{name}.task" if "task" in step else f"graph.{name}"
                declared = ", ".join(sorted(map(str, tasks)))
                self.error(
                    where,
                    f"unknown task {brief(task)}; a Dioptra description declares its tasks "
                    f"under `tasks:` ({declared})",
                )
        return ok

    def invocation(self, name: str, step: dict[str, Any]) -> None:
        place = f"graph.{name}"
        task_name = step_task(step)
        declared = inputs_of(self.data["tasks"][task_name])
        names = [n for n, _, _ in declared]
        args, kwargs = step_arguments(step)
        if len(args) > len(declared):
            self.error(
                place,
                f"{len(args)} positional arguments, but task {task_name!r} declares {len(declared)} inputs",
            )
        for key in kwargs:
            if key not in names:
                shown = str(key)[:40]
                self.error(
                    f"{place}.{shown}",
                    f"task {task_name!r} declares no input {shown}; its inputs: {', '.join(names) or 'none'}",
                )
        for index, input_name in enumerate(names[: len(args)]):
            if input_name in kwargs:
                self.error(
                    f"{place}.{input_name}",
                    f"input {input_name!r} is given both by position (#{index + 1}) and by keyword",
                )
        for index, (input_name, tname, required) in enumerate(declared):
            if required and index >= len(args) and input_name not in kwargs:
                self.error(
                    place,
                    f"required input {input_name!r} ({tname}) of task {task_name!r} is not given a value",
                )

    def reference_problem(self, ref: str) -> str | None:
        data = self.data
        name, _, output = ref.partition(".")
        output_given = "." in ref
        if name in data["graph"]:
            outputs = [n for n, _ in outputs_of(data["tasks"][step_task(data["graph"][name])])]
            if not output_given:
                if not outputs:
                    return f"${ref}: step {name!r} has no output"
                if len(outputs) > 1:
                    listed = ", ".join(outputs)
                    return (
                        f"${ref}: step {name!r} has several outputs ({listed}); "
                        f"name one, e.g. ${name}.{outputs[0]}"
                    )
            elif output not in outputs:
                listed = ", ".join(outputs) or "none"
                return f"${ref}: step {name!r} has no output {output!r}; its outputs: {listed}"
        elif name in data.get("parameters", {}):
            if output_given:
                return f"${ref}: parameters have no outputs; write ${name}"
        elif name in data.get("artifact_inputs", {}):
            outputs = [n for n, _ in outputs_of({"outputs": data["artifact_inputs"][name]})]
            if not output_given and len(outputs) > 1:
                return f"${ref}: artifact input {name!r} has several outputs ({', '.join(outputs)}); name one"
            if output_given and output not in outputs:
                return f"${ref}: artifact input {name!r} has no output {output!r}"
        else:
            return f"unknown reference ${ref}: no parameter, artifact input or step named {name!r}"
        return None

    def references(self) -> set[str]:
        """Check every reference and dependency; the steps with a reference that is wrong."""
        graph = self.data["graph"]
        wrong: set[str] = set()
        for name, step in graph.items():
            args, kwargs = step_arguments(step)
            for ref in references_in([args, kwargs]):
                problem = self.reference_problem(ref)
                if problem:
                    self.error(f"graph.{name}", problem)
                    wrong.add(name)
            deps = step.get("dependencies", [])
            for dep in [deps] if isinstance(deps, str) else deps:
                if dep not in graph:
                    self.error(f"graph.{name}.dependencies", f"unknown step {dep!r}")
        for name, spec in self.data.get("artifact_outputs", {}).items():
            if is_reference(spec["contents"]):
                problem = self.reference_problem(spec["contents"][1:])
                if problem:
                    self.error(f"artifact_outputs.{name}.contents", problem)
        return wrong

    def cycle(self) -> None:
        graph = self.data["graph"]
        deps: dict[str, set[str]] = {}
        for name, step in graph.items():
            args, kwargs = step_arguments(step)
            found = {ref.partition(".")[0] for ref in references_in([args, kwargs])}
            explicit = step.get("dependencies", [])
            found |= {explicit} if isinstance(explicit, str) else set(explicit)
            deps[name] = {d for d in found if d in graph}
        cycle = find_cycle(deps)
        if cycle:
            self.error("graph", "cycle between steps: " + " -> ".join(cycle))

    # -- types ------------------------------------------------------------------------
    def check_types(self, unsound: set[Any]) -> None:
        """Dioptra's type check of parameter defaults and step arguments, except for the steps
        and parameters named in ``unsound`` (their problems are already reported) and the
        steps that use them."""
        data = self.data
        before = len(self.errors)
        registry = TypeRegistry(data.get("types", {}), self.error)
        if len(self.errors) > before:
            return
        param_types: dict[str, DType] = {}
        for name, spec in data.get("parameters", {}).items():
            if name in unsound:
                continue
            if isinstance(spec, dict) and spec.get("type"):
                param_types[name] = registry.named(spec["type"])
            else:
                param_types[name] = infer(spec.get("default") if isinstance(spec, dict) else spec)
            has_default = not isinstance(spec, dict) or "default" in spec
            default = spec.get("default") if isinstance(spec, dict) else spec
            if has_default and not fits(infer(default), param_types[name]):
                self.error(f"parameters.{name}", f"default {brief(default)} is not a {param_types[name]}")

        def ref_type(ref: str) -> DType:
            name, _, output = ref.partition(".")
            if "." not in ref and name in param_types:
                return param_types[name]
            if name in data.get("artifact_inputs", {}):
                outputs = outputs_of({"outputs": data["artifact_inputs"][name]})
            else:
                outputs = outputs_of(data["tasks"][step_task(data["graph"][name])])
            chosen = next((t for n, t in outputs if n == output), outputs[0][1]) if output else outputs[0][1]
            return registry.named(chosen)

        for step_name, step in data["graph"].items():
            task_name = step_task(step)
            args, kwargs = step_arguments(step)
            uses = {ref.partition(".")[0] for ref in references_in([args, kwargs])}
            if step_name in unsound or uses & unsound:
                continue
            declared = {n: t for n, t, _ in inputs_of(data["tasks"][task_name])}
            given = list(zip(declared, args, strict=False)) + list(kwargs.items())
            for input_name, value in given:
                found, wanted = infer(value, ref_type), registry.named(declared[input_name])
                if not fits(found, wanted):
                    self.error(
                        f"graph.{step_name}.{input_name}",
                        f"incompatible types: input {input_name!r} of task {task_name!r} takes "
                        f"{wanted}, given {found}"
                        + (" (`any` flows only into `any`)" if str(found) == "any" else ""),
                    )
        for name, repeated in registry.duplicates.items():
            self.warn(
                f"types.{name}",
                "the union lists the same type more than once: " + ", ".join(map(str, repeated)),
            )


def check_dioptra_description(data: dict[str, Any]) -> tuple[list[Problem], list[Problem]]:
    """Judge a parsed Dioptra description by Dioptra's rules: (errors, warnings)."""
    checker = _Checker(data)
    checker.shape()
    if not checker.errors:
        checker.meaning()
    return checker.errors, checker.warnings
