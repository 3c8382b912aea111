"""Notebook widgets (ipywidgets 8) over the one Python API of :mod:`dioptra_lab.api`.

Each widget is a plain ipywidgets container that works in JupyterLab, in Voila and headless
in tests (set ``.value``s, call ``.click()``): :class:`TaskBrowser`, :class:`GraphBuilder`,
:class:`ParameterForm`, :class:`JobMonitor`, :class:`ResultsView`, and :func:`lab`, which
shows them as tabs. ipywidgets is imported only when a widget is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TaskBrowser": "dioptra_lab.widgets.tasks",
    "GraphBuilder": "dioptra_lab.widgets.builder",
    "ParameterForm": "dioptra_lab.widgets.form",
    "JobMonitor": "dioptra_lab.widgets.monitor",
    "ResultsView": "dioptra_lab.widgets.results",
    "lab": "dioptra_lab.widgets.lab",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dioptra_lab.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
