"""One step of a task graph as written, and the argument values the builder reads and writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from dioptra_lab.entrypoints.references import contains_refs, parse_ref
from dioptra_lab.entrypoints.writer import plain, step_body
from dioptra_lab.errors import DioptraLabError
from dioptra_lab.types import ParamType, TypeMismatch
from dioptra_lab.types.safe_yaml import load_yaml

_STEP_KEYS = {"task", "args", "kwargs", "dependencies"}


@dataclass
class StepDoc:
    """One step as written: task, invocation style, arguments and dependencies.

    ``raw`` holds a body the builder could not read (written back unchanged; the
    validator names what is wrong with it).
    """

    name: str
    task: str
    style: str = "keyword"
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    raw: Any = None

    @classmethod
    def read(cls, name: str, body: Any) -> StepDoc:
        """A step from its YAML body: keyword, positional or mixed ``task``/``args``/``kwargs``."""
        if not isinstance(body, dict) or not body:
            return cls(name, "", raw=body)
        deps = body.get("dependencies", [])
        deps = [deps] if isinstance(deps, str) else deps
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            return cls(name, "", raw=body)
        if "task" in body:
            args = body.get("args", [])
            kwargs = body.get("kwargs") or {}
            if set(body) - _STEP_KEYS or not isinstance(kwargs, dict):
                return cls(name, str(body["task"]), raw=body)
            args = args if isinstance(args, list) else [args]
            return cls(name, str(body["task"]), "mixed", list(args), dict(kwargs), list(deps))
        invocations = [key for key in body if key != "dependencies"]
        if len(invocations) != 1:
            return cls(name, "", raw=body)
        task = invocations[0]
        value = body[task]
        if isinstance(value, dict):
            return cls(name, str(task), "keyword", [], dict(value), list(deps))
        args = value if isinstance(value, list) else [value]
        return cls(name, str(task), "positional", list(args), {}, list(deps))

    # -- bindings: ``positional`` names the task's positional inputs, in order ----------------
    def _position(self, input_name: str, positional: list[str]) -> int | None:
        if input_name in positional and positional.index(input_name) < len(self.args):
            return positional.index(input_name)
        return None

    def binding(self, input_name: str, positional: list[str]) -> tuple[bool, Any]:
        """``(bound, value)`` of one input, given by position or by keyword."""
        index = self._position(input_name, positional)
        if index is not None:
            return True, self.args[index]
        if input_name in self.kwargs:
            return True, self.kwargs[input_name]
        return False, None

    def bind(self, input_name: str, value: Any, positional: list[str]) -> None:
        """Bind one input to ``value`` (a literal, ``$param`` or ``$step.output``).

        An input already given keeps its place; a new one goes by position when it is the
        next positional input of a positional step, and by keyword otherwise.
        """
        if self.raw is not None:
            raise DioptraLabError(f"step {self.name!r} is malformed; fix it in a text editor first")
        value = plain(value)
        index = self._position(input_name, positional)
        if index is not None:
            self.args[index] = value
        elif input_name in self.kwargs or self.style != "positional":
            self.kwargs[input_name] = value
        elif input_name in positional and positional.index(input_name) == len(self.args):
            self.args.append(value)
        else:
            self.style = "mixed"  # keeps the positional arguments as they are
            self.kwargs[input_name] = value

    def unbind(self, input_name: str, positional: list[str]) -> None:
        """Unbind one input; later positional arguments move to keywords to keep their inputs."""
        index = self._position(input_name, positional)
        if index is None:
            self.kwargs.pop(input_name, None)
            return
        later = self.args[index + 1 :]
        self.args = self.args[:index]
        if later:
            self.kwargs = {**dict(zip(positional[index + 1 :], later, strict=False)), **self.kwargs}
            if self.style == "positional":
                self.style = "mixed" if self.args else "keyword"

    def body(self) -> Any:
        """The YAML body of this step."""
        if self.raw is not None:
            return self.raw
        return step_body(self.task, self.style, self.args, self.kwargs, self.dependencies)


def literal_text(value: Any) -> str:
    """How a literal argument reads in a text field: strings as they are (``$$x`` as ``$x``),
    everything else as one line of YAML."""
    if isinstance(value, str):
        return value[1:] if value.startswith("$$") else value
    text = yaml.safe_dump(plain(value), default_flow_style=True, width=10_000)
    return text.replace("\n...\n", "").strip()


def parse_literal(text: str, ptype: ParamType) -> Any:
    """Typed text as an argument value, read with the input's type.

    A list or mapping that holds references (``[$left, $right]``) keeps them; text the
    type refuses is kept as text, so the validator names the mismatch next to the step;
    a string starting with ``$`` is escaped (``$$``) to stay a literal.
    """
    try:
        loaded = load_yaml(text)  # limits nesting while it reads (a step's text is the user's)
    except Exception:  # PyYAML raises ValueError & co. for some values: keep the text
        loaded = text
    if isinstance(loaded, dict | list) and contains_refs(loaded):
        return loaded
    try:
        value = ptype.from_text(text)
    except TypeMismatch:
        value = text
    return "$" + value if isinstance(value, str) and value.startswith("$") else value


def rename_refs(value: Any, old: str, new: str) -> Any:
    """``value`` with every reference to ``old`` (``$old``, ``$old.out``) pointing at ``new``."""
    ref = parse_ref(value)
    if ref is not None:
        return f"${new}" + (f".{ref.output}" if ref.output else "") if ref.name == old else value
    if isinstance(value, dict):
        return {key: rename_refs(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [rename_refs(item, old, new) for item in value]
    return value
