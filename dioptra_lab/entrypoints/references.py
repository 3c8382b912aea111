"""References inside argument values: ``$param``, ``$step``, ``$step.output``, ``$$`` escape.

A lone ``$`` is a literal string.

References may appear anywhere inside nested argument structures; they are found
and replaced by walking the whole structure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ref:
    """A reference to a parameter, an artifact input, or a step (and one of its outputs)."""

    name: str
    output: str | None = None

    def __str__(self) -> str:
        return f"${self.name}" + (f".{self.output}" if self.output else "")


def parse_ref(value: Any) -> Ref | None:
    """Return the :class:`Ref` a string stands for, or ``None`` for a plain value.

    ``$`` alone is a literal string, as in Dioptra (there is no name to refer to).
    """
    if not isinstance(value, str) or not value.startswith("$") or value.startswith("$$") or value == "$":
        return None
    name, _, output = value[1:].partition(".")
    return Ref(name, output or None)


def unescape(value: Any) -> Any:
    """``$$x`` is the literal string ``$x``."""
    if isinstance(value, str) and value.startswith("$$"):
        return value[1:]
    return value


def iter_refs(value: Any, place: str = "") -> Iterator[tuple[Ref, str]]:
    """Yield every reference in a nested structure with its place (``a.b[2]``)."""
    ref = parse_ref(value)
    if ref is not None:
        yield ref, place
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_refs(item, f"{place}.{key}" if place else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from iter_refs(item, f"{place}[{index}]")


def contains_refs(value: Any) -> bool:
    """Whether a structure holds at least one reference (or an escape to undo)."""
    return any(True for _ in iter_refs(value)) or _has_escape(value)


def _has_escape(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith("$$")
    if isinstance(value, dict):
        return any(_has_escape(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_escape(v) for v in value)
    return False


def substitute(value: Any, lookup: Callable[[Ref], Any]) -> Any:
    """Replace every reference with ``lookup(ref)`` and undo ``$$`` escapes."""
    ref = parse_ref(value)
    if ref is not None:
        return lookup(ref)
    if isinstance(value, dict):
        return {key: substitute(item, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, lookup) for item in value]
    if isinstance(value, tuple):
        return tuple(substitute(item, lookup) for item in value)
    return unescape(value)
