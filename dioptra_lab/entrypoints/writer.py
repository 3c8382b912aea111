"""Write entry points as Dioptra-format YAML that :func:`load_entrypoint_text` reads back.

The writer takes the plain data of a task graph (what ``yaml.safe_load`` gives for a
Dioptra file) and prints it in a fixed section order, with short lists of scalars in flow
style (``evaluate: [$model, $test]``) and everything else in block style. It writes no
comments: a file edited by a tool has none it could keep honest.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import yaml

from dioptra_lab.entrypoints.dioptra_format import SECTIONS

STYLES = ("keyword", "positional", "mixed")


class _Dumper(yaml.SafeDumper):
    """Block mappings, flow lists of scalars, no anchors or aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # block lists indented under their key, as Dioptra's own examples write them
        super().increase_indent(flow, False)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flat = all(not isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_Dumper.add_representer(list, _represent_list)


def plain(value: Any) -> Any:
    """``value`` as YAML-safe data: tuples become lists, ``str``/number subclasses their base.

    Raises:
        ValueError: something YAML cannot hold (an object); say what it was.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    raise ValueError(f"{type(value).__name__} value {value!r} cannot be written to YAML")


def step_body(
    task: str,
    style: str = "keyword",
    args: list[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    dependencies: list[str] | None = None,
) -> dict[str, Any]:
    """One step of ``graph:`` in its invocation style.

    A keyword step that gained positional arguments, or a positional one that gained
    keywords, is written in the mixed ``task``/``args``/``kwargs`` style, the only one
    that can hold both.
    """
    args, kwargs = list(args or []), dict(kwargs or {})
    if style not in STYLES or (style == "keyword" and args) or (style == "positional" and kwargs):
        style = "mixed"
    body: dict[str, Any]
    if style == "keyword":
        body = {task: kwargs}
    elif style == "positional":
        body = {task: args}  # always a list, so one list argument stays one argument
    else:
        body = {"task": task}
        if args:
            body["args"] = args
        if kwargs:
            body["kwargs"] = kwargs
    if dependencies:
        body["dependencies"] = list(dependencies)
    return body


def dump_entrypoint_yaml(data: Mapping[str, Any]) -> str:
    """Dioptra-format YAML text for the data of an entry point, sections in Dioptra's order.

    Unknown top-level keys are kept, after the known ones, so that the validator can name
    them rather than the writer dropping them silently.

    Raises:
        ValueError: a value YAML cannot hold.
    """
    ordered = {key: data[key] for key in SECTIONS if key in data}
    ordered.update({key: value for key, value in data.items() if key not in ordered})
    return yaml.dump(
        plain(ordered),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=10_000,  # never fold a long string over lines
    )
