"""Which names an entry point may give its parts, so that none can leave a folder.

An entry point's ``name:`` becomes a file name in a job's workspace and a run name; step
and artifact names become metric keys, file names of plugins' artifacts and parts of
references (``$step.output``). A name with ``/``, ``\\``, ``..`` or a control character
is refused when the entry point is loaded, with its place (issue 13, bug 5).
"""

from __future__ import annotations

import keyword
import re

from dioptra_lab.errors import brief

MAX_NAME = 100
# letters (any script), digits, underscore; then also dots, dashes and spaces
_ENTRYPOINT_NAME = re.compile(rf"\w[\w.\- ]{{0,{MAX_NAME - 1}}}")
# no dot: `$step.output` splits at the first dot
_PART_NAME = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_-]{{0,{MAX_NAME - 1}}}")


def entrypoint_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name an entry point, or ``None`` when it can."""
    if isinstance(name, str) and _ENTRYPOINT_NAME.fullmatch(name) and not name.endswith(" "):
        return None
    return (
        f"entry point name {brief(name)} is not allowed: use 1 to {MAX_NAME} letters, digits, "
        "'_', '-', '.' or spaces, starting with a letter, digit or '_' (no '/', '\\' or '..')"
    )


def part_name_problem(kind: str, name: object) -> str | None:
    """Why ``name`` cannot name a step or an artifact (``kind``), or ``None`` when it can."""
    if isinstance(name, str) and _PART_NAME.fullmatch(name):
        return None
    return (
        f"{kind} name {brief(name)} is not allowed: use 1 to {MAX_NAME} letters, digits, '_' "
        "or '-' (no '/', '.', spaces or other characters)"
    )


def variable_name_problem(kind: str, name: object) -> str | None:
    """Why ``name`` cannot name a parameter or artifact input (a notebook variable), or ``None``."""
    if isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name):
        return None
    return f"{kind} name {brief(name)} must be a Python identifier (Papermill sets it as a variable)"


def file_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a file name inside a folder (one safe component), or ``None``."""
    if (
        not name
        or name in (".", "..")
        or any(c in name for c in "/\\\0")
        or any(ord(c) < 32 for c in name)
        or len(name.encode("utf-8", "surrogatepass")) > 255
    ):
        return f"{brief(name)} is not a safe file name (one path component, no '/', '\\' or '..')"
    return None
