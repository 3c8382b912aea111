"""Load Dioptra's declarative experiment description (YAML) into an :class:`EntryPoint`.

Every problem found while loading is collected with its place; nothing stops at the
first one. Cross-step checks (references, cycles, binding, types) live in
:mod:`dioptra_lab.entrypoints.validate`.
"""

from __future__ import annotations

import difflib
import inspect
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from dioptra_lab.entrypoints.dioptra_rules import check_dioptra_description, is_dioptra_description
from dioptra_lab.entrypoints.model import ArtifactOutput, EntryPoint, Parameter, Step
from dioptra_lab.entrypoints.names import (
    entrypoint_name_problem,
    part_name_problem,
    variable_name_problem,
)
from dioptra_lab.errors import PluginError, Problem, brief, first_line
from dioptra_lab.plugins.artifact_tasks import BUILTIN_ARTIFACT_TASKS
from dioptra_lab.plugins.registry import Registry
from dioptra_lab.plugins.task import MISSING, InputSpec, OutputSpec, TaskSpec
from dioptra_lab.types import ANY, ParamType, builtin_type, compatible, parse_type_definitions
from dioptra_lab.types.safe_yaml import MAX_DEPTH, load_yaml, structure_problem

# The top-level sections of Dioptra's format, in the order a written file has them.
SECTIONS = (
    "name",
    "description",
    "types",
    "parameters",
    "artifact_inputs",
    "tasks",
    "graph",
    "artifact_outputs",
    "artifacts",
)
TOP_LEVEL = set(SECTIONS)
STEP_KEYS = {"task", "args", "kwargs", "dependencies"}
_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,40}")


class _Loader:
    """Builds the entry point; ``dioptra`` (a file with ``tasks:``) follows Dioptra's semantics.

    In Dioptra mode the file has been judged by :mod:`dioptra_rules` already, so the
    loader's own findings about the file are not reported twice (``report`` keeps them
    aside); what only we know (a plugin that cannot be found or imported, a declared input
    the function does not take, an artifact task's arguments, names our rules refuse) is
    reported with ``report_ours``, and disagreements between declarations and annotations
    become warnings.
    """

    def __init__(self, ep: EntryPoint, registry: Registry, dioptra: bool = False) -> None:
        self.ep = ep
        self.registry = registry
        self.dioptra = dioptra
        self.declared_tasks: dict[str, Step] = {}
        self.failed_declarations: set[str] = set()
        self.set_aside: list[Problem] = []
        self.own_problems: list[Problem] = []

    def report(self, place: str, message: str) -> None:
        (self.set_aside if self.dioptra else self.ep.problems).append(Problem(place, message))

    def report_ours(self, place: str, message: str) -> None:
        (self.own_problems if self.dioptra else self.ep.problems).append(Problem(place, message))

    def report_name(self, place: str, message: str, name: Any) -> None:
        """A name our rules refuse (it becomes a file, a metric key or a notebook variable).

        Reported in both modes: Dioptra accepts names we must not (``a/b``, ``x y``), and a
        refused name's part is left out of the entry point. In Dioptra mode a name Dioptra
        refuses too (not text, blank, with a dot) is reported once, in Dioptra's words.
        """
        dioptra_refuses = not isinstance(name, str) or not name.strip() or "." in name
        if self.dioptra and dioptra_refuses:
            self.report(place, message)
        else:
            self.report_ours(place, message)

    def warn(self, place: str, message: str) -> None:
        self.ep.warnings.append(Problem(place, message))

    def type_named(self, name: Any, place: str) -> ParamType:
        if not isinstance(name, str):
            self.report(place, f"expected a type name, got {name!r}")
            return ANY
        found = builtin_type(name) or self.ep.types.get(name)
        if found is None:
            self.report(place, f"unknown type {name!r}; define it under `types:`")
            return ANY
        return found

    # -- sections --------------------------------------------------------------------
    def load(self, data: Any) -> None:
        if not isinstance(data, dict):
            self.report("", "an entry point must be a YAML mapping with at least `graph:`")
            return
        unknown = [key for key in data if key not in TOP_LEVEL]
        if data and len(unknown) == len(data):
            # Nothing of Dioptra's format: the file is something else (a symbolic link to a
            # secret, say). Its keys are its contents, so none is quoted (issue 13, bug 10).
            close = sorted(
                {
                    found[0]
                    for key in unknown
                    if isinstance(key, str) and _KEY_NAME.fullmatch(key)
                    for found in [difflib.get_close_matches(key, SECTIONS, n=1, cutoff=0.75)]
                    if found
                }
            )
            hint = f" (a key looks like a misspelt {', '.join(close)})" if close else ""
            self.report(
                "",
                f"not an entry point: none of its {len(data)} top-level keys is a section of "
                f"Dioptra's format ({', '.join(SECTIONS)}){hint}; is this the right file?",
            )
            return
        odd = 0
        for key in unknown:
            if isinstance(key, str) and _KEY_NAME.fullmatch(key):
                self.report(key, f"unknown top-level key; expected one of {', '.join(sorted(TOP_LEVEL))}")
            else:
                odd += 1
        if odd:
            self.report(
                "", f"{odd} unknown top-level key(s) that are not names; expected {', '.join(SECTIONS)}"
            )
        name = data.get("name")
        if isinstance(name, int) and not isinstance(name, bool):
            name = str(name)
        if name is not None:
            problem = entrypoint_name_problem(name)
            if problem or not isinstance(name, str):
                self.report_ours("name", problem or "expected a name")
            else:
                self.ep.name = name
        description = data.get("description")
        self.ep.description = description if isinstance(description, str) else ""
        self.ep.types = parse_type_definitions(self._mapping(data, "types"), self.report)
        self.load_parameters(data.get("parameters"))
        self.load_artifact_inputs(self._mapping(data, "artifact_inputs"))
        for short, decl in self._mapping(data, "tasks").items():
            self.load_task_declaration(str(short), decl)
        graph = data.get("graph")
        if not isinstance(graph, dict) or not graph:
            self.report("graph", "missing or empty `graph:`; add at least one step")
        else:
            for step_name, body in graph.items():
                problem = part_name_problem("step", step_name)
                if problem:
                    self.report_name("graph", problem, step_name)
                    continue
                self.load_step(step_name, body)
        if "artifacts" in data and "artifact_outputs" in data:
            self.report("artifacts", "give `artifact_outputs` or its alias `artifacts`, not both")
        section = "artifact_outputs" if "artifact_outputs" in data or "artifacts" not in data else "artifacts"
        for name, body in self._mapping(data, section).items():
            problem = part_name_problem("artifact", name)
            if problem:
                self.report_name(section, problem, name)
                continue
            self.load_artifact_output(name, body)

    def _mapping(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.report(key, f"expected a mapping, got {type(value).__name__}")
            return {}
        return value

    def load_parameters(self, section: Any) -> None:
        if section is None:
            return
        if isinstance(section, list):
            for name in section:
                problem = variable_name_problem("parameter", name)
                if problem:
                    self.report("parameters", problem)
                else:
                    self.ep.parameters[name] = Parameter(name)
            return
        if not isinstance(section, dict):
            self.report("parameters", "expected a list of names or a mapping of name: default")
            return
        for name, spec in section.items():
            problem = variable_name_problem("parameter", name)
            if problem:
                # never compiled into a notebook: the name could be code
                self.report_name(f"parameters.{brief(name, 40)}", problem, name)
                continue
            place = f"parameters.{name}"
            if isinstance(spec, dict) and spec and set(spec) <= {"type", "default", "description"}:
                ptype = self.type_named(spec["type"], f"{place}.type") if "type" in spec else None
                default = spec.get("default", MISSING) if "default" in spec else MISSING
                self.ep.parameters[name] = Parameter(
                    name, ptype or ANY, default, str(spec.get("description", "")), ptype is not None
                )
            elif isinstance(spec, dict) and spec:
                keys = set(spec) - {"type", "default", "description"}
                extra = ", ".join(sorted(brief(k, 40) for k in keys))
                self.report(place, f"unknown keys {extra}; the long form takes type, default, description")
            else:
                # A null short form: our shorthand reads "no default" (required); Dioptra's
                # format reads a null default (its type is null).
                missing = spec is None and not self.dioptra
                self.ep.parameters[name] = Parameter(name, ANY, MISSING if missing else spec)

    def outputs_from(self, decl: Any, place: str) -> tuple[list[OutputSpec], bool] | None:
        """Dioptra output declarations: ``name``, ``[a, b]``, ``{a: type}``, ``[{a: t}, {b: t}]``."""
        if isinstance(decl, str):
            return [OutputSpec(decl)], False
        if isinstance(decl, dict) and len(decl) == 1:
            ((name, tname),) = decl.items()
            return [OutputSpec(str(name), self.type_named(tname, place))], False
        if isinstance(decl, list) and decl:
            outs = []
            for item in decl:
                if isinstance(item, str):
                    outs.append(OutputSpec(item))
                elif isinstance(item, dict) and len(item) == 1:
                    ((name, tname),) = item.items()
                    outs.append(OutputSpec(str(name), self.type_named(tname, place)))
                else:
                    self.report(place, f"malformed output {brief(item)}; write `- name: type`")
            return outs, True
        self.report(place, f"malformed outputs {brief(decl)}")
        return None

    def load_artifact_inputs(self, section: dict[str, Any]) -> None:
        for name, decl in section.items():
            problem = variable_name_problem("artifact input", name)
            if problem:
                self.report_name("artifact_inputs", problem, name)
                continue
            found = self.outputs_from(decl, f"artifact_inputs.{name}")
            self.ep.artifact_inputs[name] = found[0] if found else [OutputSpec(name)]

    def load_task_declaration(self, short: str, decl: Any) -> None:
        place = f"tasks.{short}"
        if not isinstance(decl, dict) or not isinstance(decl.get("plugin"), str):
            self.report(place, "expected `plugin: package.module.function`")
            return
        extra = set(decl) - {"plugin", "inputs", "outputs"}
        if extra:
            shown = ", ".join(sorted(brief(k, 40) for k in extra))
            self.report(place, f"unknown keys {shown}; expected plugin, inputs, outputs")
        try:
            spec = self.registry.find_callable(decl["plugin"])
        except PluginError as exc:
            self.report_ours(f"{place}.plugin", str(exc))
            self.failed_declarations.add(short)
            return
        if self.dioptra:
            spec = self.declared_spec(spec, decl.get("inputs"), place)
        else:
            spec = self.apply_declared_inputs(spec, decl.get("inputs"), f"{place}.inputs")
        step = Step(name=short, task=short, spec=spec, outputs=list(spec.outputs), unpack=spec.unpack)
        if "outputs" in decl:
            found = self.outputs_from(decl["outputs"], f"{place}.outputs")
            if found:
                step.outputs, step.unpack = found
                if self.dioptra:
                    self.compare_outputs(spec, step.outputs, f"{place}.outputs")
        elif self.dioptra:
            step.outputs, step.unpack = [], False  # Dioptra: no `outputs:`, no output
        self.declared_tasks[short] = step

    def declared_spec(self, spec: TaskSpec, inputs: Any, place: str) -> TaskSpec:
        """Dioptra mode: the task's inputs are its declared ones, in declared order, with the
        declared types and ``required:``; the function's annotations only raise warnings."""
        if not isinstance(inputs, list):
            inputs = []
        declared: list[InputSpec] = []
        for item in inputs:
            if not isinstance(item, dict) or not item:
                continue
            if "name" in item and "type" in item:
                name, tname, required = item["name"], item["type"], item.get("required", True) is not False
            elif len(item) == 1 and "name" not in item:
                ((name, tname),) = item.items()
                required = True
            else:
                continue  # malformed: dioptra_rules names it
            name = str(name)
            dtype = self.type_named(tname, f"{place}.inputs")
            python = spec.input(name)
            if python is None or python.kind in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                if not spec.accepts_var_keywords:
                    self.report_ours(
                        f"{place}.inputs", f"input {name!r} is not a parameter of {spec.qualname}"
                    )
                python = InputSpec(name, dtype)
            elif python.type is not ANY and dtype is not ANY and not compatible(dtype, python.type):
                self.warn(
                    f"{place}.inputs",
                    f"input {name!r} is declared {tname} but {spec.qualname} annotates it "
                    f"{python.type}; the declaration is the contract",
                )
            default = MISSING if required else (python.default if python.default is not MISSING else None)
            declared.append(replace(python, type=dtype, default=default))
        names = {i.name for i in declared}
        for python in spec.inputs:
            if python.required and python.name not in names:
                self.warn(
                    f"{place}.inputs",
                    f"{spec.qualname} requires {python.name!r}, which the task does not declare; "
                    "a run that does not pass it fails",
                )
        return replace(spec, inputs=declared)

    def compare_outputs(self, spec: TaskSpec, outputs: list[OutputSpec], place: str) -> None:
        python = {o.name: o.type for o in spec.outputs}
        if len(outputs) == 1 and len(spec.outputs) == 1:
            python = {outputs[0].name: spec.outputs[0].type}
        for out in outputs:
            annotated = python.get(out.name)
            if (
                annotated is not None
                and annotated is not ANY
                and out.type is not ANY
                and not compatible(out.type, annotated)
            ):
                self.warn(
                    place,
                    f"output {out.name!r} is declared {out.type} but {spec.qualname} annotates "
                    f"{annotated}; the declaration is the contract",
                )

    def apply_declared_inputs(self, spec: TaskSpec, inputs: Any, place: str) -> TaskSpec:
        if inputs is None:
            return spec
        if not isinstance(inputs, list):
            self.report(place, "expected a list of inputs")
            return spec
        declared: dict[str, ParamType] = {}
        for item in inputs:
            # Dioptra's long form has both name and type; `- name: string` is the short form.
            if isinstance(item, dict) and "name" in item and "type" in item:
                declared[str(item["name"])] = self.type_named(item.get("type", "any"), place)
            elif isinstance(item, dict) and len(item) == 1:
                ((name, tname),) = item.items()
                declared[str(name)] = self.type_named(tname, place)
            else:
                self.report(place, f"malformed input {brief(item)}; write `- name: type`")
        new_inputs = []
        for inp in spec.inputs:
            if inp.name in declared and inp.type is ANY:
                inp = replace(inp, type=declared[inp.name])
            new_inputs.append(inp)
        for name in declared:
            if spec.input(name) is None and not spec.accepts_var_keywords:
                self.report(place, f"input {name!r} is not a parameter of {spec.qualname}")
        return replace(spec, inputs=new_inputs)

    def resolve_task(self, name: str, place: str) -> Step | None:
        if len(name) > 200:
            self.report(place, f"task name {brief(name)} is too long (over 200 characters)")
            return None
        if name in self.declared_tasks:
            return self.declared_tasks[name]
        if name in self.failed_declarations:
            return None  # already reported under tasks:
        if self.dioptra:
            self.report(place, f"unknown task {name!r}")  # Dioptra: only declared tasks
            return None
        try:
            spec = self.registry.get(name)
        except PluginError as exc:
            message = str(exc)
            close = [n for n in self.declared_tasks if n.startswith(name[:3])]
            if close:
                message += f" (tasks declared in this file: {', '.join(close)})"
            self.report(place, message)
            return None
        return Step(name=name, task=name, spec=spec, outputs=list(spec.outputs), unpack=spec.unpack)

    def load_step(self, name: str, body: Any) -> None:
        place = f"graph.{name}"
        if not isinstance(body, dict) or not body:
            self.report(place, "a step is a mapping `task_name: arguments` (or task/args/kwargs)")
            return
        deps = body.get("dependencies", [])
        deps = [deps] if isinstance(deps, str) else deps
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            self.report(f"{place}.dependencies", "expected a step name or a list of step names")
            deps = []
        if "task" in body:
            extra = set(body) - STEP_KEYS
            if extra:
                shown = ", ".join(sorted(brief(k, 40) for k in extra))
                self.report(place, f"unknown keys {shown} in a task/args/kwargs step")
            args = body.get("args", [])
            args = args if isinstance(args, list) else [args]
            kwargs = body.get("kwargs") or {}
            if not isinstance(kwargs, dict):
                self.report(f"{place}.kwargs", "expected a mapping of argument names to values")
                kwargs = {}
            if not isinstance(body["task"], str):
                self.report(f"{place}.task", f"expected a task name, got {brief(body['task'])}")
                return
            task_name, style = body["task"], "mixed"
        else:
            invocations = [k for k in body if k != "dependencies"]
            if len(invocations) != 1:
                shown = ", ".join(brief(k, 40) for k in invocations[:5])
                self.report(place, f"expected exactly one task invocation, found {len(invocations)}: {shown}")
                return
            value = body[invocations[0]]
            task_name = str(invocations[0])
            if isinstance(value, dict):
                args, kwargs, style = [], value, "keyword"
            else:
                args, kwargs, style = (value if isinstance(value, list) else [value]), {}, "positional"
        template = self.resolve_task(
            task_name, f"{place}.{task_name}" if style != "mixed" else f"{place}.task"
        )
        step = Step(
            name=name,
            task=task_name,
            args=list(args),
            kwargs={str(k): v for k, v in kwargs.items()},
            dependencies=list(deps),
            style=style,
        )
        if template is not None:
            step.spec, step.outputs, step.unpack = template.spec, template.outputs, template.unpack
        self.ep.steps[name] = step

    def load_artifact_output(self, name: str, body: Any) -> None:
        place = f"artifact_outputs.{name}"
        task = body.get("task") if isinstance(body, dict) else None
        if (
            not isinstance(body, dict)
            or "contents" not in body
            or not isinstance(task, dict)
            or "name" not in task
        ):
            self.report(place, "expected `contents: $step.output` and `task: {name: TASK, args: {...}}`")
            return
        if not isinstance(task["name"], str):
            self.report(f"{place}.task.name", f"expected a task name, got {brief(task['name'])}")
            return
        args = task.get("args") or {}
        if not isinstance(args, dict):
            self.report(f"{place}.task.args", "expected a mapping")
            args = {}
        try:
            artifact_task = self.registry.find_artifact_task(task["name"])
        except PluginError as exc:
            self.report_ours(f"{place}.task.name", str(exc))
            return
        if artifact_task is not None:
            # Dioptra's artifact task: its arguments are checked against its schema now
            for problem in artifact_task.argument_problems(dict(args)):
                self.report_ours(f"{place}.task.args", problem)
            self.ep.artifact_outputs[name] = ArtifactOutput(
                name, body["contents"], task["name"], dict(args), None, artifact_task
            )
            return
        if self.dioptra:
            self.report_ours(
                f"{place}.task.name",
                f"unknown artifact task {brief(task['name'])}: no plugin class of that name "
                f"(built-in: {', '.join(BUILTIN_ARTIFACT_TASKS)})",
            )
            return
        template = self.resolve_task(task["name"], f"{place}.task.name")
        self.ep.artifact_outputs[name] = ArtifactOutput(
            name, body["contents"], task["name"], dict(args), template.spec if template else None
        )


# PyYAML quotes bits of the text in its messages ('found undefined alias 'x''): keep the short
# ones (a character, a token) and hide the rest, so an error never shows a file's contents.
_QUOTED = re.compile(r"(?<!\w)'[^'\s]{4,}'")


def _yaml_problem(text: str) -> str:
    return first_line(_QUOTED.sub("'…'", text), 160)


def parse_yaml(text: str, source: str) -> tuple[Any, list[Problem]]:
    """Parse YAML text; every error becomes one problem with the line and column, never the text.

    Besides syntax errors: a key given twice, values the reader cannot build (``2001-13-45``,
    a 5,000-digit integer), nesting deeper than 64 levels, aliases that refer to themselves
    or expand to more than 100,000 values (:mod:`dioptra_lab.types.safe_yaml`).
    """
    try:
        data = load_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        what = " ".join(_yaml_problem(str(p)) for p in (exc.context, exc.problem) if p)
        return None, [Problem(where, f"YAML syntax error: {what}")]
    except yaml.reader.ReaderError as exc:
        kind = "a NUL character" if exc.character in (0, "\0") else "a special character"
        return None, [Problem(f"position {exc.position}", f"YAML cannot hold {kind}; is this a text file?")]
    except yaml.YAMLError as exc:
        return None, [Problem("YAML", f"syntax error: {_yaml_problem(str(exc))}")]
    except RecursionError:  # not expected: LimitedLoader stops at MAX_DEPTH
        return None, [Problem("YAML", f"nested deeper than {MAX_DEPTH} levels")]
    except Exception as exc:  # PyYAML's constructors raise ValueError & co. for some values
        return None, [Problem("YAML", f"a value cannot be read: {_yaml_problem(str(exc))}")]
    problem = structure_problem(data)
    return (None, [Problem("YAML", problem)]) if problem else (data, [])


def load_dioptra_text(
    text: str, registry: Registry, *, source: str = "<string>", path: Path | None = None
) -> EntryPoint:
    """Load (and validate) an entry point from Dioptra-format YAML text.

    The returned entry point lists its problems in ``.problems``; call
    ``.validate()`` to raise them.
    """
    from dioptra_lab.entrypoints.validate import validate_graph

    name = path.stem if path else "entrypoint"
    ep = EntryPoint(name=name, source=source, kind="yaml", text=text, path=path)
    data, problems = parse_yaml(text, source)
    ep.problems.extend(problems)
    if problems:
        return ep
    ep.dioptra = is_dioptra_description(data)
    loader = _Loader(ep, registry, dioptra=ep.dioptra)
    loader.load(data)
    validate_graph(ep)
    if ep.dioptra:
        # Judged by Dioptra's rules; the loader's and the graph checks' own findings (kept
        # aside above, or added by validate_graph) would name the same problems twice.
        errors, warnings = check_dioptra_description(data)
        # a `plugin:` Dioptra's rules refuse (no dot, an empty part) cannot be imported
        # either: our import error would be its echo
        refused = {e.place for e in errors if e.place.endswith(".plugin")}
        ep.problems = errors + [p for p in loader.own_problems if p.place not in refused]
        ep.warnings = warnings + ep.warnings
    return ep
