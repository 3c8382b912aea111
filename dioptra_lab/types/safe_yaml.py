"""YAML read with limits: entry point files and parameter values typed as text.

PyYAML's safe loader runs no code, but some documents still hurt: nesting ``[[[[…`` makes its
scanner quadratic (a 1 MiB value would take hours) and its parser recursive (RecursionError),
aliases can expand to billions of values (``&a [*a, *a, …]``) or to a list that holds itself,
and a key given twice silently drops a step. :class:`LimitedLoader` refuses nesting deeper
than ``MAX_DEPTH`` while it scans, and keys given twice; :func:`structure_problem` refuses
cycles and documents over ``MAX_VALUES`` values once aliases are expanded.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_DEPTH = 64
MAX_VALUES = 100_000


class LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than ``MAX_DEPTH`` and keys given twice."""

    def _too_deep(self) -> yaml.scanner.ScannerError:
        return yaml.scanner.ScannerError(
            None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark()
        )

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 - PyYAML's name
        if self.flow_level >= MAX_DEPTH:
            raise self._too_deep()
        super().fetch_flow_collection_start(TokenClass)  # type: ignore[misc]

    def add_indent(self, column: int) -> bool:
        if len(self.indents) >= MAX_DEPTH:
            raise self._too_deep()
        return super().add_indent(column)  # type: ignore[misc,no-any-return]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, "found a key given twice in one mapping", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with :class:`LimitedLoader`; raises what PyYAML raises (and ValueError)."""
    return yaml.load(text, Loader=LimitedLoader)  # noqa: S506 - a SafeLoader


def structure_problem(data: Any, max_values: int = MAX_VALUES) -> str | None:
    """Why loaded data is refused before anything walks it (depth, cycles, size), or ``None``."""
    count = 0
    path: set[int] = set()

    def walk(value: Any, depth: int) -> str | None:
        nonlocal count
        count += 1
        if count > max_values:
            return f"the document holds over {max_values} values once its aliases are expanded"
        if not isinstance(value, dict | list):
            return None
        if depth >= MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if id(value) in path:
            return "an alias refers to a value that contains it (a recursive structure)"
        path.add(id(value))
        for item in value.values() if isinstance(value, dict) else value:
            found = walk(item, depth + 1)
            if found:
                return found
        path.discard(id(value))
        return None

    return walk(data, 0)
