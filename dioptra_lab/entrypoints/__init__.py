"""Entry points: Dioptra-format task graphs (YAML) and parameterized notebooks."""

from __future__ import annotations

from pathlib import Path

from dioptra_lab.entrypoints.dioptra_format import load_dioptra_text
from dioptra_lab.entrypoints.model import ArtifactOutput, EntryPoint, Parameter, Step
from dioptra_lab.entrypoints.notebook import load_notebook
from dioptra_lab.errors import EntryPointError, Problem
from dioptra_lab.plugins.registry import Registry, get_registry

YAML_SUFFIXES = {".yaml", ".yml"}


def load_entrypoint(path: str | Path, registry: Registry | None = None) -> EntryPoint:
    """Load an entry point file (``.yaml``/``.yml`` task graph or ``.ipynb`` notebook).

    Problems are collected in ``.problems`` rather than raised, so that every one can be
    shown at once; call ``.validate()`` to raise them.

    Raises:
        EntryPointError: the file does not exist or has an unknown suffix.
    """
    path = Path(path)
    if not path.is_file():
        raise EntryPointError(str(path), [Problem("", "no such file; check the path")])
    if path.suffix == ".ipynb":
        return load_notebook(path.resolve())
    if path.suffix in YAML_SUFFIXES:
        return load_dioptra_text(
            path.read_text(), registry or get_registry(), source=str(path), path=path.resolve()
        )
    raise EntryPointError(
        str(path), [Problem("", f"unknown kind of file {path.suffix!r}; use .yaml, .yml or .ipynb")]
    )


def load_entrypoint_text(
    text: str, registry: Registry | None = None, *, name: str = "entrypoint", source: str = "<string>"
) -> EntryPoint:
    """Load a Dioptra-format entry point from YAML text."""
    ep = load_dioptra_text(text, registry or get_registry(), source=source)
    if ep.name == "entrypoint":
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
