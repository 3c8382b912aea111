"""Composite parameter types: containers, choices, unions, opaque objects and named types.

Containers (:class:`ListType`, :class:`TupleType`, :class:`DictType`,
:class:`RecordType`) check their items with the types they hold. :class:`OpaqueType`
stands for values made by steps (models, arrays), which may also be given as an
:class:`ArtifactURI`; :class:`NamedType` is a Dioptra type under a new name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dioptra_lab.types.scalar import (
    _NONE,
    AnyType,
    NoneType,
    ParamType,
    StrType,
    TypeMismatch,
    _yaml_value,
)


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
            # the type first: an array's == is elementwise and has no truth value
            if type(value) is type(choice) and value == choice:
                return choice
        if lenient:
            try:
                text = str(value)
            except Exception:  # an int too long to print, a broken __str__
                raise TypeMismatch(self.expected, value) from None
            for choice in self.choices:
                if str(choice) == text:
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
