"""Scalar parameter types and the base class every parameter type derives from.

:class:`ParamType` is the base; :class:`AnyType`, :class:`StrType`, :class:`IntType`,
:class:`FloatType`, :class:`BoolType` and :class:`NoneType` are the scalars, with one
shared instance of each in ``_SCALARS`` (and :data:`ANY`). A value that does not fit
raises :class:`TypeMismatch`.
"""

from __future__ import annotations

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


ANY = AnyType()
_SCALARS: dict[Any, ParamType] = {
    str: StrType(),
    int: IntType(),
    float: FloatType(),
    bool: BoolType(),
    None: NoneType(),
    type(None): NoneType(),
}
