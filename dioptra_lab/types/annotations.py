"""Parameter types from Python annotations and default values.

:func:`from_annotation` converts ``float``, ``list[int]``, ``Literal[...]``,
``Optional[...]``, ``Annotated[float, Bounds(ge=0, le=1)]`` and classes;
:func:`type_of_value` guesses a type from a default value.
"""

from __future__ import annotations

import inspect
import math
import types as pytypes
import typing
from dataclasses import dataclass
from typing import Any

from dioptra_lab.types.scalar import _SCALARS, ANY, ParamType, TypeMismatch
from dioptra_lab.types.structured import (
    ChoiceType,
    DictType,
    ListType,
    OpaqueType,
    TupleType,
    UnionType,
)


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
                parts.append(f"{op} {self._show_bound(bound)}")
        return self.base.expected + (" " + " and ".join(parts) if parts else "")

    def check(self, value: Any, lenient: bool = False) -> Any:
        return self._bound(self.base.check(value, lenient))

    def from_text(self, text: str) -> Any:
        return self._bound(self.base.from_text(text))

    @staticmethod
    def _show_bound(bound: float) -> str:
        # typing caches Annotated[float, Bounds(ge=0)] and Bounds(ge=0.0) as one (they are
        # equal), so whole bounds are shown without ".0", whichever was written first
        return str(int(bound)) if float(bound).is_integer() else str(bound)

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
            f"{op}{self._show_bound(v)}"
            for op, v in ((">=", b.ge), (">", b.gt), ("<=", b.le), ("<", b.lt))
            if v is not None
        ]
        return f"{self.base}[{', '.join(limits)}]" if limits else str(self.base)


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
