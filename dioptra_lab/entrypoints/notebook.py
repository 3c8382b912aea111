"""Notebook entry points: any notebook with a cell tagged ``parameters``.

The parameters, their defaults and types are read from that cell without running
it: ``eps: float = 0.1  # step size`` gives a float parameter with a description.
"""

from __future__ import annotations

import ast
import io
import json
import tokenize
import typing
from pathlib import Path
from typing import Any

import nbformat

from dioptra_lab.entrypoints.model import EntryPoint, Parameter
from dioptra_lab.errors import Problem
from dioptra_lab.plugins.task import MISSING
from dioptra_lab.types import ANY, from_annotation, type_of_value

PARAMETERS_TAG = "parameters"
_ANNOTATION_NAMES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
    "tuple": tuple,
    "None": None,
    "Any": typing.Any,
    "Literal": typing.Literal,
    "Optional": typing.Optional,
    "Union": typing.Union,
    "Annotated": typing.Annotated,
}


def parameters_cell(nb: nbformat.NotebookNode) -> tuple[int, Any] | None:
    """The index and cell tagged ``parameters``, or ``None``."""
    for index, cell in enumerate(nb.cells):
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            return index, cell
    return None


def _comments(source: str) -> dict[int, str]:
    found: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                found[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        pass
    return found


def _annotation(node: ast.expr | None) -> Any:
    if node is None:
        return None
    try:
        return eval(
            compile(ast.Expression(node), "<annotation>", "eval"), {"__builtins__": {}}, _ANNOTATION_NAMES
        )  # noqa: S307
    except Exception:
        return None


def read_parameters(source: str) -> tuple[dict[str, Parameter], list[Problem]]:
    """Read parameter names, defaults, types and descriptions from a parameters cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return {}, [Problem(f"parameters cell, line {exc.lineno}", f"syntax error: {exc.msg}")]
    comments = _comments(source)
    params: dict[str, Parameter] = {}
    problems: list[Problem] = []
    for node in tree.body:
        value: ast.expr | None
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value, ann = node.targets[0].id, node.value, None
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target, value, ann = node.target.id, node.value, _annotation(node.annotation)
        else:
            continue
        default: Any = MISSING
        if value is not None:
            try:
                default = ast.literal_eval(value)
            except ValueError:
                problems.append(
                    Problem(
                        f"parameters cell, line {node.lineno}",
                        f"default of {target!r} is not a literal ({ast.unparse(value)}); "
                        "forms and the command line cannot show or check it",
                    )
                )
                default = None
        ptype = (
            from_annotation(ann)
            if ann is not None
            else (type_of_value(default) if default is not MISSING else ANY)
        )
        params[target] = Parameter(target, ptype, default, comments.get(node.lineno, ""), ann is not None)
    return params, problems


def load_notebook(path: Path) -> EntryPoint:
    """Load a notebook entry point; a notebook without a ``parameters`` cell is a problem."""
    text = path.read_text()
    ep = EntryPoint(name=path.stem, source=str(path), kind="notebook", text=text, path=path)
    try:
        nb = nbformat.reads(text, as_version=4)
    except (json.JSONDecodeError, nbformat.reader.NotJSONError) as exc:
        ep.problems.append(Problem("", f"not a valid notebook: {exc}"))
        return ep
    found = parameters_cell(nb)
    if found is None:
        ep.problems.append(
            Problem(
                "",
                "no cell tagged 'parameters'; tag the cell that sets the parameters "
                "(in JupyterLab: the property inspector, Cell tags)",
            )
        )
        return ep
    ep.parameters, problems = read_parameters(found[1].source)
    ep.problems.extend(problems)
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first is not None:
        ep.description = first.source.strip().splitlines()[0].lstrip("# ") if first.source.strip() else ""
    return ep
