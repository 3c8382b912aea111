"""Scalar parameter types and the base class every parameter type derives from.

:class:`ParamType` is the base; :class:`AnyType`, :class:`StrType`, :class:`IntType`,
:class:`FloatType`, :class:`BoolType` and :class:`NoneType` are the scalars, with one
shared instance of each in ``_SCALARS`` (and :data:`ANY`). A value that does not fit
raises :class:`TypeMismatch`.
"""

from __future__ import annotations

from typing import Any

from dioptra_lab.errors import brief
from dioptra_lab.types.safe_yaml import load_yaml, structure_problem


class TypeMismatch(ValueError):
    """A value does not fit a type; the caller adds the parameter's name."""

    def __init__(self, expected: str, value: Any) -> None:
        self.expected = expected
        self.value = value
        super().__init__(f"expected {expected}, got {_show(value)}")


def _show(value: Any) -> str:
    return brief(value, 60)


def _yaml_value(text: str) -> Any:
    """``text`` read as a YAML value (``0.1`` → float), or ``text`` itself when it is not one.

    Any failure of the reader gives the text back (PyYAML raises ValueError for ``2001-13-45``
    or a 5,000-digit integer); nesting is limited while reading (:mod:`.safe_yaml`).

    Raises:
        TypeMismatch: the YAML expands (through aliases) to too many values, or holds itself.
    """
    try:
        value = load_yaml(text)
    except Exception:
        return text
    problem = structure_problem(value)
    if problem:
        raise TypeMismatch(f"a value whose YAML is readable ({problem})", text)
    return value


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
            try:
                return str(value)
            except ValueError:  # an int past Python's 4,300-digit limit
                pass
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
            try:
                return float(value)
            except OverflowError:  # an int too large for a float
                raise TypeMismatch(self.expected, value) from None
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
