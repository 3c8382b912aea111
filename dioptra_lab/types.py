"""Parameter types: parse from annotations or Dioptra type names, coerce, check, describe.

A :class:`ParamType` turns values that arrive as text (command line, Papermill,
forms) or as Python objects into checked values, and describes itself for the
forms of the widgets and dashboards. Errors read like
``parameter 'eps': expected a float, got 'abc'``.
"""

from __future__ import annotations

import inspect
import math
import types as pytypes
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml


class TypeMismatch(ValueError):
    """A value does not fit a type; the caller adds the parameter's name."""

    def __init__(self, expected: str, value: Any) -> None:
        self.expected = expected
        self.value = value
        super().__init__(f"expected {expected}, got {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _yaml_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


class ParamType:
    """Base of all parameter types."""

    kind = "any"
    expected = "any value"

    def check(self, value: Any, lenient: bool = False) -> Any:
        """Return ``value`` converted to this type, or raise :class:`TypeMismatch`.

        ``lenient`` also converts text (and numbers for strings), as needed for values
        typed by people or guessed by Papermill.
        """
        return value

    def from_text(self, text: str) -> Any:
        """Parse ``text`` (command line, form field) into a value of this type."""
        return self.check(_yaml_value(text), lenient=True)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for forms: kind, type name and constraints."""
        return {"kind": self.kind, "type": str(self)}

    def __str__(self) -> str:
        return self.kind

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, str(self)))


class AnyType(ParamType):
    """Accepts every value; text is read as YAML (``0.1`` → float, ``abc`` → string)."""


class StrType(ParamType):
    kind, expected = "str", "a string"

    def check(self, value: Any, lenient: bool = False) -> Any:
        if isinstance(value, str):
            return value
        if lenient and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise TypeMismatch(self.expected, value)

    def from_text(self, text: str) -> Any:
        return text


class IntType(ParamType):
    kind, expected = "int", "an integer"

    def check(self, value: Any, lenient: bool = False) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and lenient:
            return int(value)
        if lenient and isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise TypeMismatch(self.expected, value)

    def from_text(self, text: str) -> Any:
        return self.check(text, lenient=True)


class FloatType(ParamType):
    kind, expected = "float", "a float"

    def check(self, value: Any, lenient: bool = False) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if lenient and isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise TypeMismatch(self.expected, value)

    def from_text(self, text: str) -> Any:
        return self.check(text, lenient=True)


_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}
_NONE = {"none", "null", "~", ""}


class BoolType(ParamType):
    kind, expected = "bool", "true or false"

    def check(self, value: Any, lenient: bool = False) -> Any:
        if isinstance(value, bool):
            return value
        if lenient and isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise TypeMismatch(self.expected, value)

    def from_text(self, text: str) -> Any:
        return self.check(text, lenient=True)


class NoneType(ParamType):
    kind, expected = "none", "null"

    def check(self, value: Any, lenient: bool = False) -> Any:
        if value is None or (lenient and isinstance(value, str) and value.lower() in _NONE):
            return None
        raise TypeMismatch(self.expected, value)

    def from_text(self, text: str) -> Any:
        return self.check(text.strip(), lenient=True)


@dataclass(eq=False)
class ListType(ParamType):
    item: ParamType
    kind = "list"

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a list of {self.item}" if not isinstance(self.item, AnyType) else "a list"

    def check(self, value: Any, lenient: bool = False) -> Any:
        if not isinstance(value, list | tuple):
            raise TypeMismatch(self.expected, value)
        try:
            return [self.item.check(v, lenient) for v in value]
        except TypeMismatch:
            raise TypeMismatch(self.expected, value) from None

    def from_text(self, text: str) -> Any:
        stripped = text.strip()
        if stripped.startswith("[") or not stripped:
            return self.check(_yaml_value(stripped) or [], lenient=True)
        return self.check([p.strip() for p in stripped.split(",")], lenient=True)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "items": self.item.describe()}

    def __str__(self) -> str:
        return f"list[{self.item}]"


@dataclass(eq=False)
class TupleType(ParamType):
    items: tuple[ParamType, ...]
    variadic: bool = False
    kind = "tuple"

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a tuple {self}"

    def check(self, value: Any, lenient: bool = False) -> Any:
        if not isinstance(value, list | tuple):
            raise TypeMismatch(self.expected, value)
        if self.variadic:
            kinds = [self.items[0]] * len(value)
        elif len(value) != len(self.items):
            raise TypeMismatch(self.expected, value)
        else:
            kinds = list(self.items)
        try:
            return tuple(t.check(v, lenient) for t, v in zip(kinds, value, strict=True))
        except TypeMismatch:
            raise TypeMismatch(self.expected, value) from None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "items": [t.describe() for t in self.items]}

    def __str__(self) -> str:
        inner = f"{self.items[0]}, ..." if self.variadic else ", ".join(map(str, self.items))
        return f"tuple[{inner}]"


@dataclass(eq=False)
class DictType(ParamType):
    value: ParamType
    key: ParamType = StrType()  # noqa: RUF009 - immutable in practice
    kind = "dict"

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a mapping {self}"

    def check(self, value: Any, lenient: bool = False) -> Any:
        if not isinstance(value, dict):
            raise TypeMismatch(self.expected, value)
        try:
            return {self.key.check(k, lenient): self.value.check(v, lenient) for k, v in value.items()}
        except TypeMismatch:
            raise TypeMismatch(self.expected, value) from None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "values": self.value.describe()}

    def __str__(self) -> str:
        return f"dict[{self.key}, {self.value}]"


@dataclass(eq=False)
class RecordType(ParamType):
    """A mapping with fixed keys (Dioptra's enumerated ``mapping: {a: int, b: str}``)."""

    fields: dict[str, ParamType]
    kind = "record"

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a mapping with keys {', '.join(self.fields)}"

    def check(self, value: Any, lenient: bool = False) -> Any:
        if not isinstance(value, dict) or set(value) - set(self.fields):
            raise TypeMismatch(self.expected, value)
        try:
            return {k: self.fields[k].check(v, lenient) for k, v in value.items()}
        except TypeMismatch:
            raise TypeMismatch(self.expected, value) from None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "fields": {k: t.describe() for k, t in self.fields.items()}}

    def __str__(self) -> str:
        return "{" + ", ".join(f"{k}: {t}" for k, t in self.fields.items()) + "}"


@dataclass(eq=False)
class ChoiceType(ParamType):
    choices: tuple[Any, ...]
    kind = "choice"

    @property
    def expected(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def check(self, value: Any, lenient: bool = False) -> Any:
        for choice in self.choices:
            if value == choice and type(value) is type(choice):
                return choice
        if lenient:
            for choice in self.choices:
                if str(choice) == str(value):
                    return choice
        raise TypeMismatch(self.expected, value)

    def from_text(self, text: str) -> Any:
        return self.check(text, lenient=True)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "choices": list(self.choices)}

    def __str__(self) -> str:
        return "Literal[" + ", ".join(repr(c) for c in self.choices) + "]"


@dataclass(eq=False)
class UnionType(ParamType):
    options: tuple[ParamType, ...]
    kind = "union"

    @property
    def expected(self) -> str:  # type: ignore[override]
        return " or ".join(o.expected for o in self.options)

    @property
    def nullable(self) -> bool:
        return any(isinstance(o, NoneType) for o in self.options)

    def check(self, value: Any, lenient: bool = False) -> Any:
        for strict_pass in (True, False) if lenient else (True,):
            for option in self.options:
                try:
                    return option.check(value, lenient=not strict_pass)
                except TypeMismatch:
                    continue
        raise TypeMismatch(self.expected, value)

    def from_text(self, text: str) -> Any:
        if self.nullable and text.strip().lower() in _NONE:
            return None
        # Strings accept any text, so they are tried last.
        ordered = sorted(self.options, key=lambda o: isinstance(o, StrType | AnyType))
        for option in ordered:
            try:
                return option.from_text(text)
            except TypeMismatch:
                continue
        raise TypeMismatch(self.expected, text)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "options": [o.describe() for o in self.options],
            "nullable": self.nullable,
        }

    def __str__(self) -> str:
        return " | ".join(map(str, self.options))


ARTIFACT_SCHEMES = ("runs:/", "models:/", "mlflow-artifacts:/")


class ArtifactURI(str):
    """A ``runs:/…`` or ``models:/…`` URI given for an object input; the engine loads it."""


@dataclass(eq=False)
class OpaqueType(ParamType):
    """A type whose values are made by steps, not typed by people (a model, an array)."""

    name: str
    cls: type | None = None
    parent: ParamType | None = None
    kind = "object"

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a {self.name}"

    def check(self, value: Any, lenient: bool = False) -> Any:
        if isinstance(value, str) and value.startswith(ARTIFACT_SCHEMES):
            return ArtifactURI(value)
        if self.cls is not None and not isinstance(value, self.cls):
            raise TypeMismatch(self.expected, value)
        return value

    def from_text(self, text: str) -> Any:
        if text.startswith(ARTIFACT_SCHEMES):
            return ArtifactURI(text)
        raise TypeMismatch(
            f"a {self.name} (made by a step, or a runs:/… or models:/… URI of a logged one)", text
        )

    def lineage(self) -> list[str]:
        names = [self.name]
        parent = self.parent
        while isinstance(parent, OpaqueType):
            names.append(parent.name)
            parent = parent.parent
        return names

    def __str__(self) -> str:
        return self.name


@dataclass(eq=False)
class NamedType(ParamType):
    """A Dioptra named type that is another type under a new name (``is_a`` or structure)."""

    name: str
    base: ParamType

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.base.kind

    @property
    def expected(self) -> str:  # type: ignore[override]
        return self.base.expected

    def check(self, value: Any, lenient: bool = False) -> Any:
        return self.base.check(value, lenient)

    def from_text(self, text: str) -> Any:
        return self.base.from_text(text)

    def describe(self) -> dict[str, Any]:
        return {**self.base.describe(), "type": self.name}

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Bounds:
    """Bounds for ``Annotated[float, Bounds(ge=0, le=1)]``; any may be left out."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None


@dataclass(eq=False)
class ConstrainedType(ParamType):
    """A type with numeric bounds and/or a description, from ``typing.Annotated``."""

    base: ParamType
    bounds: Bounds
    description: str = ""

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.base.kind

    @property
    def expected(self) -> str:  # type: ignore[override]
        parts = []
        b = self.bounds
        for op, bound in ((">=", b.ge), (">", b.gt), ("<=", b.le), ("<", b.lt)):
            if bound is not None:
                parts.append(f"{op} {bound}")
        return self.base.expected + (" " + " and ".join(parts) if parts else "")

    def check(self, value: Any, lenient: bool = False) -> Any:
        return self._bound(self.base.check(value, lenient))

    def from_text(self, text: str) -> Any:
        return self._bound(self.base.from_text(text))

    def _bound(self, value: Any) -> Any:
        b = self.bounds
        if isinstance(value, int | float) and not isinstance(value, bool):
            if (
                (b.ge is not None and value < b.ge)
                or (b.gt is not None and value <= b.gt)
                or (b.le is not None and value > b.le)
                or (b.lt is not None and value >= b.lt)
                or (isinstance(value, float) and math.isnan(value))
            ):
                raise TypeMismatch(self.expected, value)
        return value

    def describe(self) -> dict[str, Any]:
        info = self.base.describe()
        b = self.bounds
        info.update({k: v for k, v in vars(b).items() if v is not None})
        if b.ge is not None or b.gt is not None:
            info["minimum"] = b.ge if b.ge is not None else b.gt
        if b.le is not None or b.lt is not None:
            info["maximum"] = b.le if b.le is not None else b.lt
        if self.description:
            info["description"] = self.description
        return info

    def __str__(self) -> str:
        b = self.bounds
        limits = [
            f"{op}{v}" for op, v in ((">=", b.ge), (">", b.gt), ("<=", b.le), ("<", b.lt)) if v is not None
        ]
        return f"{self.base}[{', '.join(limits)}]" if limits else str(self.base)


ANY = AnyType()
_SCALARS: dict[Any, ParamType] = {
    str: StrType(),
    int: IntType(),
    float: FloatType(),
    bool: BoolType(),
    None: NoneType(),
    type(None): NoneType(),
}


def from_annotation(annotation: Any) -> ParamType:
    """Convert a Python annotation (``float``, ``list[int]``, ``Literal``, ``Annotated``…)."""
    if annotation is inspect.Parameter.empty or annotation is Any or annotation is object:
        return ANY
    if isinstance(annotation, str):
        return OpaqueType(annotation)
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _annotated(from_annotation(args[0]), args[1:])
    if origin is typing.Literal:
        return ChoiceType(tuple(args))
    if origin in (typing.Union, pytypes.UnionType):
        return UnionType(tuple(from_annotation(a) for a in args))
    if annotation in (list, tuple, dict) or origin in (list, tuple, dict):
        return _structure(origin or annotation, args)
    if origin is not None:
        return from_annotation(origin)
    if isinstance(annotation, type):
        return OpaqueType(f"{annotation.__module__}.{annotation.__qualname__}", annotation)
    return ANY


def _structure(origin: Any, args: tuple[Any, ...]) -> ParamType:
    if origin is list:
        return ListType(from_annotation(args[0]) if args else ANY)
    if origin is dict:
        if len(args) == 2:
            return DictType(from_annotation(args[1]), from_annotation(args[0]))
        return DictType(ANY)
    if not args:
        return TupleType((ANY,), variadic=True)
    if len(args) == 2 and args[1] is Ellipsis:
        return TupleType((from_annotation(args[0]),), variadic=True)
    return TupleType(tuple(from_annotation(a) for a in args))


def _annotated(base: ParamType, metadata: tuple[Any, ...]) -> ParamType:
    limits: dict[str, Any] = {}
    description = ""
    for item in metadata:
        if isinstance(item, str):
            description = item
            continue
        for attr in ("ge", "gt", "le", "lt"):
            if getattr(item, attr, None) is not None:
                limits[attr] = getattr(item, attr)
    return ConstrainedType(base, Bounds(**limits), description)


def type_of_value(value: Any) -> ParamType:
    """Infer a type from a default value (used for parameters without a declared type)."""
    if isinstance(value, bool):
        return _SCALARS[bool]
    for py in (int, float, str):
        if isinstance(value, py):
            return _SCALARS[py]
    if isinstance(value, list):
        return ListType(ANY)
    if isinstance(value, dict):
        return DictType(ANY)
    return ANY


def _core(t: ParamType) -> ParamType:
    while isinstance(t, ConstrainedType | NamedType):
        t = t.base
    return t


def compatible(source: ParamType, target: ParamType) -> bool:
    """Whether values of ``source`` may flow into ``target``; unsure cases say yes."""
    src, dst = _core(source), _core(target)
    if isinstance(src, AnyType) or isinstance(dst, AnyType):
        return True
    if isinstance(dst, UnionType):
        return any(compatible(src, o) for o in dst.options)
    if isinstance(src, UnionType):
        return any(compatible(o, dst) for o in src.options)
    if isinstance(src, OpaqueType) or isinstance(dst, OpaqueType):
        return _opaque_compatible(src, dst)
    if isinstance(src, ChoiceType):
        return all(accepts(dst, c) for c in src.choices)
    if isinstance(dst, ChoiceType):
        return isinstance(src, StrType | IntType | FloatType | BoolType)
    if type(src) is type(dst):
        return _items_compatible(src, dst)
    if isinstance(src, IntType) and isinstance(dst, FloatType):
        return True
    if isinstance(src, TupleType) and isinstance(dst, ListType):
        return all(compatible(i, dst.item) for i in src.items)
    if isinstance(src, ListType) and isinstance(dst, TupleType):
        return all(compatible(src.item, i) for i in dst.items)
    return isinstance(src, RecordType) and isinstance(dst, DictType)


def accepts(t: ParamType, value: Any) -> bool:
    """Whether ``value`` passes ``t``'s strict check."""
    try:
        t.check(value)
    except TypeMismatch:
        return False
    return True


def _items_compatible(src: ParamType, dst: ParamType) -> bool:
    if isinstance(src, ListType) and isinstance(dst, ListType):
        return compatible(src.item, dst.item)
    if isinstance(src, DictType) and isinstance(dst, DictType):
        return compatible(src.value, dst.value)
    return True


def _opaque_compatible(src: ParamType, dst: ParamType) -> bool:
    if isinstance(src, OpaqueType) and isinstance(dst, OpaqueType):
        if src.cls is not None and dst.cls is not None:
            return issubclass(src.cls, dst.cls)
        if src.cls is None and dst.cls is None:
            return dst.name in src.lineage()
        return True
    opaque = src if isinstance(src, OpaqueType) else dst
    # A Dioptra opaque name (no class) may stand for anything; a Python class may not.
    return isinstance(opaque, OpaqueType) and opaque.cls is None and opaque.parent is None


DIOPTRA_BUILTINS: dict[str, ParamType] = {
    "any": ANY,
    "string": _SCALARS[str],
    "integer": _SCALARS[int],
    "number": _SCALARS[float],
    "boolean": _SCALARS[bool],
    "null": _SCALARS[None],
}
_ALIASES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "none": "null"}


def builtin_type(name: str) -> ParamType | None:
    """Look up a Dioptra built-in type name (or its Python alias)."""
    return DIOPTRA_BUILTINS.get(_ALIASES.get(name, name))


def parse_type_definitions(
    definitions: dict[str, Any], report: Callable[[str, str], None]
) -> dict[str, ParamType]:
    """Build Dioptra's named ``types:`` section; problems go to ``report(place, msg)``."""
    built: dict[str, ParamType] = {}
    resolving: set[str] = set()

    def resolve_name(name: str, place: str) -> ParamType:
        found = builtin_type(name)
        if found is not None:
            return found
        if name in built:
            return built[name]
        if name not in definitions:
            report(place, f"unknown type {name!r}; define it under `types:`")
            return ANY
        if name in resolving:
            report(f"types.{name}", f"type {name!r} is defined in terms of itself")
            return ANY
        resolving.add(name)
        built[name] = define(name, definitions[name], f"types.{name}")
        resolving.discard(name)
        return built[name]

    def structure(spec: Any, place: str) -> ParamType:
        if isinstance(spec, str):
            return resolve_name(spec, place)
        if not isinstance(spec, dict) or len(spec) != 1:
            report(place, "expected a type name or one of list/tuple/mapping/union")
            return ANY
        ((key, value),) = spec.items()
        if key == "list":
            return ListType(structure(value, f"{place}.list"))
        if key == "tuple" and isinstance(value, list):
            return TupleType(tuple(structure(v, f"{place}.tuple") for v in value))
        if key == "union" and isinstance(value, list):
            return UnionType(tuple(structure(v, f"{place}.union") for v in value))
        if key == "mapping" and isinstance(value, list) and len(value) == 2:
            return DictType(structure(value[1], place), structure(value[0], place))
        if key == "mapping" and isinstance(value, dict):
            return RecordType({k: structure(v, f"{place}.{k}") for k, v in value.items()})
        report(place, f"malformed type structure {spec!r}")
        return ANY

    def define(name: str, spec: Any, place: str) -> ParamType:
        if spec is None:
            return OpaqueType(name)
        if isinstance(spec, dict) and set(spec) == {"is_a"}:
            parent = structure(spec["is_a"], f"{place}.is_a")
            if isinstance(_core(parent), OpaqueType):
                return OpaqueType(name, parent=parent)
            return NamedType(name, parent)
        return NamedType(name, structure(spec, place))

    for type_name in definitions:
        if builtin_type(type_name) is not None:
            report(f"types.{type_name}", f"{type_name!r} is a built-in type; choose another name")
            continue
        resolve_name(type_name, f"types.{type_name}")
    return built
