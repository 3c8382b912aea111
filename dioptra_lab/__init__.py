"""dioptra_lab: a Jupyter-centric test platform for machine-learning security experiments.

The public API is imported lazily so that ``import dioptra_lab`` stays cheap inside
kernels and workers.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

__version__ = "0.1.0"

# MLflow 3 sends usage telemetry to config.mlflow-telemetry.io from every process that uses
# its client (each work horse and kernel of every job). Experiments stay on the lab's own
# servers: off unless a user sets MLFLOW_DISABLE_TELEMETRY=false themselves.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

_EXPORTS = {
    "task": "dioptra_lab.plugins.task",
    "Bounds": "dioptra_lab.types",
    "DioptraLabError": "dioptra_lab.errors",
    "EntryPoint": "dioptra_lab.entrypoints.model",
    "load_entrypoint": "dioptra_lab.entrypoints",
    "load_entrypoint_text": "dioptra_lab.entrypoints",
    "get_registry": "dioptra_lab.plugins.registry",
    "RunResult": "dioptra_lab.engine.results",
    # the one API under every interface (dioptra_lab/api.py)
    "compile": "dioptra_lab.api",
    "run": "dioptra_lab.api",
    "describe": "dioptra_lab.api",
    "validate": "dioptra_lab.api",
    "import_dioptra": "dioptra_lab.api",
    "list_tasks": "dioptra_lab.api",
    "task_info": "dioptra_lab.api",
    "job_info": "dioptra_lab.api",
    "list_jobs": "dioptra_lab.api",
    "cancel": "dioptra_lab.api",
    "results": "dioptra_lab.api",
    "stack_status": "dioptra_lab.api",
    # the notebook: every widget as tabs in one (dioptra_lab.widgets has each on its own)
    "lab": "dioptra_lab.widgets.lab",
    "submit": "dioptra_lab.jobs.submit",
    "submit_sweep": "dioptra_lab.jobs.submit",
    "Job": "dioptra_lab.jobs.job",
    "JobStatus": "dioptra_lab.models",
    "log_metric": "dioptra_lab.tracking.logging",
    "log_metrics": "dioptra_lab.tracking.logging",
    "log_figure": "dioptra_lab.tracking.logging",
    "log_model": "dioptra_lab.tracking.logging",
    "log_artifact": "dioptra_lab.tracking.logging",
    "log_text": "dioptra_lab.tracking.logging",
    "log_tags": "dioptra_lab.tracking.logging",
}

__all__ = sorted(_EXPORTS)


def _setup_kernel_display() -> None:
    # In a Jupyter kernel: figures render as images whether or not pyplot was imported, and
    # jobs and sweeps show as live monitors (registered by name: nothing heavy is imported).
    from dioptra_lab import display

    if display.enable_inline_figures():
        display.register_view("dioptra_lab.jobs.job.Job", "dioptra_lab.widgets.lab:monitor_of")
        display.register_view("dioptra_lab.jobs.submit.Sweep", "dioptra_lab.widgets.lab:monitor_of")


_setup_kernel_display()


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The Jupyter server extension (the REST API), loaded from :mod:`dioptra_lab.server`."""
    return [{"module": "dioptra_lab.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension (built from ``labextension/`` into ``labextension``),
    for ``jupyter labextension develop``; wheels install it under share/jupyter/labextensions."""
    return [{"src": "labextension", "dest": "dioptra-lab"}]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dioptra_lab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
