"""Entry points: Dioptra-format task graphs (YAML) and parameterized notebooks."""

from __future__ import annotations

import os
from pathlib import Path

from dioptra_lab.entrypoints.dioptra_format import load_dioptra_text
from dioptra_lab.entrypoints.model import ArtifactOutput, EntryPoint, Parameter, Step
from dioptra_lab.entrypoints.notebook import load_notebook
from dioptra_lab.errors import EntryPointError, Problem
from dioptra_lab.plugins.registry import Registry, get_registry

YAML_SUFFIXES = {".yaml", ".yml"}
MAX_BYTES_ENV = "DIOPTRA_LAB_MAX_ENTRYPOINT_BYTES"
DEFAULT_MAX_BYTES = 10 << 20


def max_entrypoint_bytes() -> int:
    """The largest entry point file read (``DIOPTRA_LAB_MAX_ENTRYPOINT_BYTES``, default 10 MiB)."""
    try:
        return max(int(os.environ.get(MAX_BYTES_ENV, DEFAULT_MAX_BYTES)), 1)
    except ValueError:
        return DEFAULT_MAX_BYTES


def read_entrypoint_text(path: Path) -> str:
    """The text of an entry point file: UTF-8, not binary, not too large.

    Raises:
        EntryPointError: the file cannot be read, is too large, binary or not UTF-8. The
            message names the place (a byte offset), never the file's contents.
    """

    def refuse(message: str) -> EntryPointError:
        return EntryPointError(str(path), [Problem("", message)])

    limit = max_entrypoint_bytes()
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise refuse(f"cannot read the file: {exc.strerror or type(exc).__name__}") from None
    if len(data) > limit:
        raise refuse(f"the file is larger than {limit} bytes ({MAX_BYTES_ENV}); is it an entry point?")
    nul = data.find(b"\0")
    if nul >= 0:
        raise refuse(f"a binary file (a NUL byte at offset {nul}); an entry point is YAML text or a notebook")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        ) from None


def load_entrypoint(path: str | Path, registry: Registry | None = None) -> EntryPoint:
    """Load an entry point file (``.yaml``/``.yml`` task graph or ``.ipynb`` notebook).

    Problems are collected in ``.problems`` rather than raised, so that every one can be
    shown at once; call ``.validate()`` to raise them.

    Raises:
        EntryPointError: the file does not exist, has an unknown suffix, cannot be read, is
            binary, not UTF-8 or larger than :func:`max_entrypoint_bytes`.
    """
    path = Path(path)
    if not path.is_file():
        what = "not a regular file" if path.exists() else "no such file; check the path"
        raise EntryPointError(str(path), [Problem("", what)])
    if path.suffix not in YAML_SUFFIXES and path.suffix != ".ipynb":
        raise EntryPointError(
            str(path), [Problem("", f"unknown kind of file {path.suffix!r}; use .yaml, .yml or .ipynb")]
        )
    text = read_entrypoint_text(path)
    if path.suffix == ".ipynb":
        return load_notebook(path.resolve(), text, source=str(path))
    return load_dioptra_text(text, registry or get_registry(), source=str(path), path=path.resolve())


def load_entrypoint_text(
    text: str, registry: Registry | None = None, *, name: str = "entrypoint", source: str = "<string>"
) -> EntryPoint:
    """Load a Dioptra-format entry point from YAML text (``name`` when the text gives none)."""
    from dioptra_lab.entrypoints.names import entrypoint_name_problem

    ep = load_dioptra_text(text, registry or get_registry(), source=source)
    if ep.name == "entrypoint" and name != ep.name:
        problem = entrypoint_name_problem(name)
        if problem:
            ep.problems.append(Problem("name", problem))
        else:
            ep.name = name
    return ep


__all__ = [
    "ArtifactOutput",
    "EntryPoint",
    "Parameter",
    "Step",
    "load_entrypoint",
    "load_entrypoint_text",
]
