"""Plugins written for NIST Dioptra load without edits: ``dioptra.pyplugs.register`` and
Dioptra's artifact-task interface.

A Dioptra plugin module does ``from dioptra import pyplugs`` and decorates its tasks with
``@pyplugs.register`` (bare or ``register(sort_value=…)``); its artifact tasks are classes
with Dioptra's shape (``serialize``, ``deserialize``, ``validation``), usually subclassing
``dioptra.sdk.api.artifact.ArtifactTaskInterface``.

When the real ``dioptra`` package is installed, it is used as it is: its ``register``
returns the function unchanged, and ``Registry.find_callable`` reads any plain function.
When it is not (the usual case: ``dioptra-platform`` is ~800 MB and pins torch 2.10.0),
:func:`install` puts this small stand-in under the names ``dioptra``, ``dioptra.pyplugs``,
``dioptra.sdk``, ``dioptra.sdk.api`` and ``dioptra.sdk.api.artifact`` in ``sys.modules``,
so the imports succeed and ``register`` marks the function as a dioptra_lab task (it is
then listed and found by short name like any other). Nothing else of Dioptra's SDK is
provided; a plugin importing more of it names the missing module in its import error.
"""

from __future__ import annotations

import abc
import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

_NAMES = ("dioptra", "dioptra.pyplugs", "dioptra.sdk", "dioptra.sdk.api", "dioptra.sdk.api.artifact")
STANDIN_MARK = "__dioptra_lab_standin__"


def register(_func: Callable[..., Any] | None = None, *, sort_value: float = 0) -> Any:
    """Dioptra's ``pyplugs.register``: the function becomes a task; ``sort_value`` is ignored."""
    from dioptra_lab.plugins.task import task

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return task(func)
        except Exception:  # noqa: BLE001 - an annotation we cannot read: still a plain callable
            return func

    return decorate if _func is None else decorate(_func)


class ArtifactTaskInterface(abc.ABCMeta):
    """Dioptra's artifact-task interface (a metaclass there too): override all three."""

    @staticmethod
    @abc.abstractmethod
    def serialize(working_dir: Path, name: str, contents: Any, **kwargs: Any) -> Path:
        """Write ``contents`` under ``working_dir`` (``name`` as the file's stem); return the path."""

    @staticmethod
    @abc.abstractmethod
    def deserialize(working_dir: Path, path: str, **kwargs: Any) -> Any:
        """Read the artifact at ``working_dir / path``."""

    @staticmethod
    @abc.abstractmethod
    def validation() -> dict[str, Any] | None:
        """JSON-schema ``properties`` of ``serialize``'s extra keyword arguments, or ``None``."""


def install() -> bool:
    """Provide the stand-in modules when the real ``dioptra`` is not importable.

    Returns whether the stand-in is (now) in place; the real package always wins.
    """
    present = sys.modules.get("dioptra")
    if present is not None:
        return bool(getattr(present, STANDIN_MARK, False))
    try:
        real = importlib.util.find_spec("dioptra") is not None
    except (ImportError, ValueError):
        real = False
    if real:
        return False
    modules = {
        name: types.ModuleType(name, "dioptra_lab's stand-in for NIST Dioptra's plugin API")
        for name in _NAMES
    }
    for name, module in modules.items():
        setattr(module, STANDIN_MARK, True)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    modules["dioptra.pyplugs"].register = register  # type: ignore[attr-defined]
    modules["dioptra.sdk.api.artifact"].ArtifactTaskInterface = ArtifactTaskInterface  # type: ignore[attr-defined]
    modules["dioptra"].__path__ = []  # a package: `import dioptra.x` of a missing x fails clearly
    for name, module in modules.items():
        sys.modules.setdefault(name, module)
    return True
