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
import warnings
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
        tags = (cell.get("metadata") or {}).get("tags") or []
        if isinstance(tags, list) and PARAMETERS_TAG in tags:
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


# What an annotation may be made of to be evaluated: names, subscripts, literals, ``X | Y``.
# Anything else (a call, ``9**9**9``, a lambda) is left unevaluated: reading a notebook's
# parameters must never run its code.
_ANNOTATION_NODES = (
    ast.Expression,
    ast.Name,
    ast.Load,
    ast.Subscript,
    ast.Tuple,
    ast.List,
    ast.Constant,
    ast.BitOr,
    ast.USub,
)


def _safe_annotation(node: ast.expr) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.BitOr):
            continue
        if isinstance(sub, ast.UnaryOp) and isinstance(sub.op, ast.USub):
            continue
        if not isinstance(sub, _ANNOTATION_NODES):
            return False
    return True


def _annotation(node: ast.expr | None) -> Any:
    if node is None or not _safe_annotation(node):
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
        with warnings.catch_warnings():  # "invalid decimal literal" & co.: not ours to print
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source)
    except SyntaxError as exc:
        return {}, [Problem(f"parameters cell, line {exc.lineno}", f"syntax error: {exc.msg}")]
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL characters, deep nesting
        return {}, [Problem("parameters cell", f"cannot be read as Python ({type(exc).__name__})")]
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
            except Exception:  # ValueError, or TypeError for {[1]: 2}, RecursionError…
                problems.append(
                    Problem(
                        f"parameters cell, line {node.lineno}",
                        f"default of {target!r} is not a literal; "
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


def _notebook_problem(text: str) -> tuple[nbformat.NotebookNode | None, str | None]:
    """Read a notebook's text; a problem names the place (line, column, cell), never the text."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not a valid notebook: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    except RecursionError:
        return None, "not a valid notebook: its JSON is nested too deeply"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None, "not a valid notebook: expected a JSON object with a list of `cells`"
    for index, cell in enumerate(data["cells"]):
        source = cell.get("source", "") if isinstance(cell, dict) else None
        lines = source if isinstance(source, list) else [source]
        if (
            not isinstance(cell, dict)
            or not isinstance(cell.get("metadata", {}), dict)
            or not all(isinstance(line, str) for line in lines)
        ):
            return None, f"not a valid notebook: cell {index} is malformed (needs a text source and metadata)"
    captured: dict[str, Any] = {}
    try:
        nb = nbformat.reads(text, as_version=4, capture_validation_error=captured)
    except Exception as exc:  # nbformat raises several kinds for damaged notebooks
        return None, f"not a valid notebook ({type(exc).__name__}); open it in Jupyter and save it again"
    return nb, None


def load_notebook(path: Path, text: str | None = None, *, source: str | None = None) -> EntryPoint:
    """Load a notebook entry point; a notebook without a ``parameters`` cell is a problem.

    ``text`` is the notebook's text when already read (see
    :func:`dioptra_lab.entrypoints.read_entrypoint_text`); ``source`` names it in messages.
    """
    text = path.read_text() if text is None else text
    ep = EntryPoint(name=path.stem, source=source or str(path), kind="notebook", text=text, path=path)
    nb, problem = _notebook_problem(text)
    if nb is None:
        ep.problems.append(Problem("", problem or "not a valid notebook"))
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
