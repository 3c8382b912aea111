"""Whether values of one parameter type may flow into another (step outputs to inputs)."""

from __future__ import annotations

from typing import Any

from dioptra_lab.types.annotations import ConstrainedType
from dioptra_lab.types.scalar import (
    AnyType,
    BoolType,
    FloatType,
    IntType,
    ParamType,
    StrType,
    TypeMismatch,
)
from dioptra_lab.types.structured import (
    ChoiceType,
    DictType,
    ListType,
    NamedType,
    OpaqueType,
    RecordType,
    TupleType,
    UnionType,
)


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
