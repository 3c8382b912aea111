"""Dioptra's type system, as its task-engine reference describes it, for files in Dioptra's format.

A file with a ``tasks:`` section is judged by these rules, not by Python annotations
(:mod:`dioptra_lab.entrypoints.dioptra_rules`):

- simple types form a tree by ``is_a`` (``integer`` is a ``number``); ``any`` accepts
  everything and flows into nothing narrower;
- structured types (``list``, ``tuple``, ``mapping``) and unions are **nominal** when
  named: two named types are the same only if they have the same name, whatever their
  structure; an anonymous one is compared by structure;
- literal values get a type of their own: a YAML list is a tuple of its items' types
  (it fits a ``list`` whose item type each fits), a mapping with string keys is an
  enumerated mapping (which must have exactly the keys of an enumerated target), one with
  integer keys a key/value mapping, anything else ``any``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Report = Callable[[str, str], None]


@dataclass(frozen=True, eq=False)
class DType:
    """One Dioptra type: ``kind`` is simple, list, tuple, mapping (key/value), record or union."""

    kind: str
    name: str | None = None
    parent: DType | None = None  # simple types only
    items: tuple[Any, ...] = field(default=())  # list: (item,); tuple; mapping: (key, value); union
    fields: tuple[tuple[str, DType], ...] = field(default=())  # record (enumerated mapping)

    def same(self, other: DType) -> bool:
        """Dioptra's equality: by name when named, by structure when anonymous."""
        if self is other:
            return True
        if self.kind == "simple" or other.kind == "simple":
            return self.kind == other.kind and self.name == other.name
        if self.is_union != other.is_union or self.name != other.name:
            return False
        if self.name is not None:
            return True
        if self.kind != other.kind:
            return False
        if self.kind == "union":
            return _same_set(self.items, other.items)
        if self.kind == "record":
            mine, theirs = dict(self.fields), dict(other.fields)
            return mine.keys() == theirs.keys() and all(mine[k].same(theirs[k]) for k in mine)
        return len(self.items) == len(other.items) and all(
            a.same(b) for a, b in zip(self.items, other.items, strict=True)
        )

    @property
    def is_union(self) -> bool:
        return self.kind == "union"

    @property
    def structure(self) -> str:
        """list, tuple or mapping (both mapping forms), for structured types."""
        return "mapping" if self.kind in ("mapping", "record") else self.kind

    def subtype_of(self, other: DType) -> bool:
        parent = self.parent
        while parent is not None:
            if parent.same(other):
                return True
            parent = parent.parent
        return False

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        if self.kind == "list":
            return f"list[{self.items[0]}]"
        if self.kind == "tuple":
            return "tuple[" + ", ".join(str(t) for t in self.items) + "]"
        if self.kind == "mapping":
            return f"mapping[{self.items[0]}: {self.items[1]}]"
        if self.kind == "record":
            return "{" + ", ".join(f"{k}: {t}" for k, t in self.fields) + "}"
        return "union[" + " | ".join(sorted(str(t) for t in self.items)) + "]"


def _same_set(a: Iterable[DType], b: Iterable[DType]) -> bool:
    left, right = list(a), list(b)
    return all(any(x.same(y) for y in right) for x in left) and all(
        any(y.same(x) for x in left) for y in right
    )


def _dedupe(members: Iterable[DType]) -> tuple[DType, ...]:
    kept: list[DType] = []
    for member in members:
        if not any(member.same(k) for k in kept):
            kept.append(member)
    return tuple(kept)


ANY = DType("simple", "any")
NUMBER = DType("simple", "number")
INTEGER = DType("simple", "integer", NUMBER)
STRING = DType("simple", "string")
BOOLEAN = DType("simple", "boolean")
NULL = DType("simple", "null")
BUILTINS: dict[str, DType] = {t.name: t for t in (ANY, NUMBER, INTEGER, STRING, BOOLEAN, NULL)}  # type: ignore[misc]


# -- the `types:` section -----------------------------------------------------------------
STRUCTURE_KEYS = ("list", "tuple", "mapping", "union")


def references_of(definition: Any) -> list[str]:
    """Type names a definition (or a nested structure) refers to."""
    if isinstance(definition, str):
        return [definition]
    if not isinstance(definition, dict):
        return []
    found: list[str] = []
    for key, value in definition.items():
        if key == "is_a":
            found += references_of(value)
        elif key == "mapping" and isinstance(value, dict):
            for item in value.values():
                found += references_of(item)
        elif key in STRUCTURE_KEYS:
            for item in value if isinstance(value, list) else [value]:
                found += references_of(item)
    return found


def type_cycle(definitions: dict[str, Any]) -> list[str] | None:
    """A cycle of type definitions referring to one another, or ``None``."""
    from dioptra_lab.entrypoints.graph import find_cycle

    deps = {
        name: {ref for ref in references_of(spec) if ref in definitions and ref not in BUILTINS}
        for name, spec in definitions.items()
    }
    return find_cycle(deps)


class TypeRegistry:
    """The built-in types and a file's ``types:``; problems of definitions go to ``report``.

    Call only on a ``types:`` section whose references resolve and has no cycle.
    """

    def __init__(self, definitions: dict[str, Any], report: Report) -> None:
        self.definitions = definitions
        self.report = report
        self.types: dict[str, DType] = dict(BUILTINS)
        self.duplicates: dict[str, list[DType]] = {}
        for name in definitions:
            self.named(name)

    def named(self, name: str) -> DType:
        if name in self.types:
            return self.types[name]
        spec = self.definitions.get(name)
        place = f"types.{name}"
        built: DType
        if spec is None:
            built = DType("simple", name)
        elif isinstance(spec, dict) and "is_a" in spec:
            parent = self.build(spec["is_a"], f"{place}.is_a")
            if parent.kind != "simple":
                self.report(
                    f"{place}.is_a",
                    f"a simple type's `is_a` must name a simple type; {parent} is a "
                    f"{parent.kind} type (give the structure itself instead of is_a)",
                )
                parent = ANY
            built = DType("simple", name, parent)
        else:
            built = self.build(spec, place, name)
        self.types[name] = built
        return built

    def build(self, spec: Any, place: str, name: str | None = None) -> DType:
        if isinstance(spec, str):
            return self.named(spec)
        ((key, value),) = spec.items()
        if key == "list":
            return DType("list", name, items=(self.build(value, f"{place}.list"),))
        if key == "tuple":
            return DType("tuple", name, items=tuple(self.build(v, f"{place}.tuple") for v in value))
        if key == "union":
            members = [self.build(v, f"{place}.union") for v in value]
            unique = _dedupe(members)
            if len(unique) < len(members) and name is not None:
                repeated = [m for i, m in enumerate(members) if any(m.same(o) for o in members[:i])]
                self.duplicates[name] = repeated
            return DType("union", name, items=unique)
        if isinstance(value, dict):
            fields = tuple((str(k), self.build(v, f"{place}.mapping.{k}")) for k, v in value.items())
            return DType("record", name, fields=fields)
        key_type, value_type = (self.build(v, f"{place}.mapping") for v in value)
        if not (key_type.same(STRING) or key_type.same(INTEGER)):
            self.report(f"{place}.mapping", f"mapping keys must be string or integer, not {key_type}")
        return DType("mapping", name, items=(key_type, value_type))


# -- literal values and compatibility -----------------------------------------------------
def common_base(found: list[DType]) -> DType:
    """The nearest type every one of ``found`` is (itself or by ``is_a``), else ``any``."""
    base = found[0]
    for other in found[1:]:
        if other.same(base) or other.subtype_of(base):
            continue
        if base.subtype_of(other):
            base = other
            continue
        ancestor = base.parent
        while ancestor is not None and not (other.same(ancestor) or other.subtype_of(ancestor)):
            ancestor = ancestor.parent
        if ancestor is None:
            return ANY
        base = ancestor
    return base


def infer(value: Any, ref_type: Callable[[str], DType] | None = None) -> DType:
    """The type Dioptra infers for a literal; ``ref_type`` resolves references (``$x``)."""
    if isinstance(value, str):
        if ref_type is not None and is_reference(value):
            return ref_type(value[1:])
        return STRING
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if value is None:
        return NULL
    if isinstance(value, dict):
        if not value:
            return DType("record")
        key_base = common_base([infer(k) for k in value])
        if key_base.same(STRING):
            return DType("record", fields=tuple((k, infer(v, ref_type)) for k, v in value.items()))
        if key_base.same(INTEGER):
            values = _dedupe(infer(v, ref_type) for v in value.values())
            item = values[0] if len(values) == 1 else DType("union", items=values)
            return DType("mapping", items=(INTEGER, item))
        return ANY
    if isinstance(value, list | tuple):
        return DType("tuple", items=tuple(infer(v, ref_type) for v in value))
    return ANY


def is_reference(value: Any) -> bool:
    """``$x`` is a reference; ``$`` alone and ``$$…`` (an escaped ``$``) are literal strings."""
    return isinstance(value, str) and value != "$" and value.startswith("$") and not value.startswith("$$")


def fits(source: DType, target: DType) -> bool:
    """Whether a value of ``source`` may be given where ``target`` is declared."""
    if target.same(ANY) or source.same(target):
        return True
    if source.is_union:
        return all(fits(member, target) for member in source.items)
    if target.is_union:
        return any(fits(source, member) for member in target.items)
    if source.kind == "simple" or target.kind == "simple":
        return source.kind == target.kind == "simple" and source.subtype_of(target)
    if source.name is not None and target.name is not None:
        return False  # nominal: differently named structures never mix
    if source.kind == "tuple" and target.kind == "list":
        return all(fits(item, target.items[0]) for item in source.items)
    if source.structure != target.structure:
        return False
    if source.kind == "list":
        return fits(source.items[0], target.items[0])
    if source.kind == "tuple":
        return len(source.items) == len(target.items) and all(
            fits(a, b) for a, b in zip(source.items, target.items, strict=True)
        )
    return _mapping_fits(source, target)


def _mapping_fits(source: DType, target: DType) -> bool:
    if source.kind == "record" and target.kind == "record":
        wanted = dict(target.fields)
        return len(source.fields) == len(wanted) and all(
            key in wanted and fits(t, wanted[key]) for key, t in source.fields
        )
    if source.kind == "record":
        key_type, value_type = target.items
        return key_type.same(STRING) and all(fits(t, value_type) for _, t in source.fields)
    if target.kind == "record":
        return False
    return fits(source.items[0], target.items[0]) and fits(source.items[1], target.items[1])
