"""Dioptra's type names: the built-ins and the named ``types:`` section of a task graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dioptra_lab.types.compatibility import _core
from dioptra_lab.types.scalar import _SCALARS, ANY, ParamType
from dioptra_lab.types.structured import (
    DictType,
    ListType,
    NamedType,
    OpaqueType,
    RecordType,
    TupleType,
    UnionType,
)

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
