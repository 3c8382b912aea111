"""The ``@task`` decorator and :class:`TaskSpec`, what the registry knows of a task."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from dioptra_lab.errors import PluginError
from dioptra_lab.models import OutputInfo, ParameterInfo, TaskInfo
from dioptra_lab.types import ANY, ParamType, TypeMismatch, from_annotation

SPEC_ATTRIBUTE = "__dioptra_task__"
DEFAULT_OUTPUT = "output"
F = TypeVar("F", bound=Callable[..., Any])


class _Missing:
    def __repr__(self) -> str:
        return "<required>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class InputSpec:
    """One input of a task, from the function's signature."""

    name: str
    type: ParamType
    default: Any = MISSING
    kind: inspect._ParameterKind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is MISSING and self.kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        )

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.name, "required": self.required, **self.type.describe()}
        if self.default is not MISSING:
            info["default"] = self.default
        if self.description:
            info["description"] = self.description
        return info


@dataclass(frozen=True)
class OutputSpec:
    """One output of a task: a name and a type."""

    name: str
    type: ParamType = ANY


@dataclass
class TaskSpec:
    """Everything the registry, the validator and the UIs know about one task."""

    func: Callable[..., Any]
    qualname: str
    name: str
    description: str
    doc: str
    inputs: list[InputSpec]
    outputs: list[OutputSpec]
    unpack: bool = False
    retries: int = 0
    retry_delay: float = 0.0
    cache: bool = False
    plugin: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def module(self) -> str:
        return self.qualname.rsplit(".", 1)[0]

    def input(self, name: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.name == name), None)

    @property
    def accepts_var_keywords(self) -> bool:
        return any(i.kind == inspect.Parameter.VAR_KEYWORD for i in self.inputs)

    @property
    def accepts_var_positional(self) -> bool:
        return any(i.kind == inspect.Parameter.VAR_POSITIONAL for i in self.inputs)

    def split_outputs(self, value: Any) -> dict[str, Any]:
        """Name a return value: unpack it for several outputs (Dioptra's rule: the shorter wins)."""
        if not self.outputs:
            return {}
        if not self.unpack:
            return {self.outputs[0].name: value}
        try:
            items = list(value)
        except TypeError:
            raise PluginError(
                f"task {self.qualname} declares outputs {[o.name for o in self.outputs]} "
                f"but returned a non-iterable {type(value).__name__}"
            ) from None
        return {o.name: v for o, v in zip(self.outputs, items, strict=False)}

    def info(self) -> TaskInfo:
        """The typed view the task browser, `plugins show` and the REST API display."""
        return TaskInfo(
            name=self.name,
            qualname=self.qualname,
            plugin=self.plugin,
            description=self.description,
            doc=self.doc,
            inputs=[ParameterInfo.from_description(i.describe(), str(i.type)) for i in self.inputs],
            outputs=[OutputInfo(o.name, str(o.type)) for o in self.outputs],
            retries=self.retries,
            cache=self.cache,
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Rich display in a notebook: signature, inputs with types and bounds, outputs."""
        import html

        from dioptra_lab.display import html_table, text_table

        headers = ["input", "type", "default", "description"]
        rows = [
            [i.name, str(i.type), "required" if i.required else repr(i.default), i.description]
            for i in self.inputs
        ]
        outputs = ", ".join(f"{o.name}: {o.type}" for o in self.outputs) or "none"
        signature = f"{self.name}({', '.join(i.name for i in self.inputs)}) -> {outputs}"
        text = f"{signature}\n{self.description}\n\n{text_table(headers, rows)}\n\noutputs: {outputs}"
        markup = (
            f"<p><b>{html.escape(self.name)}</b> <code>{html.escape(self.qualname)}</code></p>"
            f"<pre>{html.escape(self.doc or self.description)}</pre>"
            f"{html_table(headers, rows)}<p>outputs: <code>{html.escape(outputs)}</code></p>"
        )
        return {"text/plain": text, "text/html": markup}

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for `plugins show`, widgets and dashboards."""
        return {
            "name": self.name,
            "qualname": self.qualname,
            "plugin": self.plugin,
            "description": self.description,
            "doc": self.doc,
            "inputs": [i.describe() for i in self.inputs],
            "outputs": [{"name": o.name, "type": str(o.type)} for o in self.outputs],
            "retries": self.retries,
            "cache": self.cache,
        }


def _arg_descriptions(doc: str) -> dict[str, str]:
    """Read the ``Args:`` section of a Google-style docstring."""
    found: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args:
            if stripped.endswith(":") and " " not in stripped:
                break
            if ":" in stripped and not line.startswith(" " * 8):
                name, _, text = stripped.partition(":")
                found[name.split(" ")[0].strip("*")] = text.strip()
    return found


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    # Names a nested function closes over (a local NamedTuple, say) count too.
    code = getattr(func, "__code__", None)
    cells = getattr(func, "__closure__", None) or ()
    local = {}
    for name, cell in zip(code.co_freevars if code else (), cells, strict=False):
        try:
            local[name] = cell.cell_contents
        except ValueError:
            continue
    try:
        return typing.get_type_hints(func, localns=local, include_extras=True)
    except Exception:  # names only imported under TYPE_CHECKING, for instance
        return dict(getattr(func, "__annotations__", {}))


def _outputs(
    func: Callable[..., Any], hints: dict[str, Any], names: Sequence[str] | str | None
) -> tuple[list[OutputSpec], bool]:
    ret = hints.get("return", inspect.Parameter.empty)
    if ret is None or ret is type(None):
        if names:
            raise PluginError(f"task {func.__qualname__} returns None but names outputs {names!r}")
        return [], False
    fields = getattr(ret, "_fields", None)
    if isinstance(names, str):
        return [OutputSpec(names, from_annotation(ret))], False
    if names:
        args = typing.get_args(ret) if typing.get_origin(ret) is tuple else ()
        types = [from_annotation(a) for a in args] if len(args) == len(names) else []
        return [OutputSpec(n, types[i] if types else ANY) for i, n in enumerate(names)], True
    if fields:
        field_hints = _hints(ret)
        return [OutputSpec(f, from_annotation(field_hints.get(f, Any))) for f in fields], True
    return [OutputSpec(DEFAULT_OUTPUT, from_annotation(ret))], False


def build_spec(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    outputs: Sequence[str] | str | None = None,
    retries: int = 0,
    retry_delay: float = 0.0,
    cache: bool = False,
    tags: Sequence[str] = (),
) -> TaskSpec:
    """Derive a :class:`TaskSpec` from a plain typed function."""
    if not callable(func):
        raise PluginError(f"@task needs a function, got {type(func).__name__}")
    if retries < 0:
        raise PluginError(f"task {func.__qualname__}: retries must be >= 0, got {retries}")
    doc = inspect.getdoc(func) or ""
    hints = _hints(func)
    described = _arg_descriptions(doc)
    inputs = []
    for param in inspect.signature(func).parameters.values():
        ptype = from_annotation(hints.get(param.name, inspect.Parameter.empty))
        default = MISSING if param.default is inspect.Parameter.empty else param.default
        if default is not MISSING and default is not None:
            try:
                ptype.check(default)
            except TypeMismatch as exc:
                raise PluginError(
                    f"task {func.__qualname__}: default of input {param.name!r}: {exc}"
                ) from None
        text = described.get(param.name) or str(getattr(ptype, "description", "") or "")
        inputs.append(InputSpec(param.name, ptype, default, param.kind, text))
    output_specs, unpack = _outputs(func, hints, outputs)
    module = getattr(func, "__module__", "") or ""
    return TaskSpec(
        func=func,
        qualname=f"{module}.{func.__name__}",
        name=name or func.__name__,
        description=doc.splitlines()[0] if doc else "",
        doc=doc,
        inputs=inputs,
        outputs=output_specs,
        unpack=unpack,
        retries=retries,
        retry_delay=retry_delay,
        cache=cache,
        plugin=module.split(".")[0],
        tags=tuple(tags),
    )


@overload
def task(func: F, /) -> F: ...
@overload
def task(
    *,
    name: str | None = None,
    outputs: Sequence[str] | str | None = None,
    retries: int = 0,
    retry_delay: float = 0.0,
    cache: bool = False,
    tags: Sequence[str] = (),
) -> Callable[[F], F]: ...


def task(
    func: Any = None,
    /,
    *,
    name: str | None = None,
    outputs: Sequence[str] | str | None = None,
    retries: int = 0,
    retry_delay: float = 0.0,
    cache: bool = False,
    tags: Sequence[str] = (),
) -> Any:
    """Register a typed function as a dioptra_lab task; usable bare or with options.

    The function is returned unchanged (still a plain callable); the registry reads
    the :class:`TaskSpec` attached to it.

    Args:
        func: the function, when the decorator is used bare (``@task``).
        name: short name used in entry points (default: the function's name).
        outputs: one output name, or several names to unpack a returned tuple into.
        retries: how many times the engine retries the step when it raises.
        retry_delay: seconds between retries.
        cache: reuse the result when the inputs and the function's code are unchanged.
        tags: free-form labels shown in listings.
    """

    def decorate(f: F) -> F:
        spec = build_spec(
            f,
            name=name,
            outputs=outputs,
            retries=retries,
            retry_delay=retry_delay,
            cache=cache,
            tags=tags,
        )
        setattr(f, SPEC_ATTRIBUTE, spec)
        return f

    if func is not None:
        return decorate(func)
    return decorate
