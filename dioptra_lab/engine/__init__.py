"""The engine: runs a graph in-process as a Prefect flow, and notebooks through Papermill."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dioptra_lab.engine.results import (
    FAILURE_MIME,
    RESULTS_MIME,
    FailureReport,
    RunResult,
    StepRecord,
    read_failure,
    read_results,
)
from dioptra_lab.errors import StepFailedError
from dioptra_lab.models import Failure

ENTRYPOINT_ENV = "DIOPTRA_LAB_ENTRYPOINT"

if TYPE_CHECKING:
    from dioptra_lab.entrypoints.model import EntryPoint


def run_entrypoint(ep: EntryPoint, params: dict[str, Any], **options: Any) -> RunResult:
    """Validate and run an entry point's graph in this process (imports Prefect lazily)."""
    from dioptra_lab.engine.runner import run_entrypoint as run

    return run(ep, params, **options)


def run_compiled(
    spec: str, parameters: dict[str, Any], *, name: str = "entrypoint", plugin_path: list[str] | None = None
) -> RunResult:
    """What a compiled notebook calls: load the embedded entry point and run it.

    Values arrive from Papermill, so they are checked leniently (``-p name 123`` is
    accepted for a string parameter). ``DIOPTRA_LAB_PLUGIN_PATH`` wins over the
    plugin path recorded at compile time.
    """
    import os
    from pathlib import Path

    from dioptra_lab.config import PLUGIN_PATH_ENV
    from dioptra_lab.entrypoints import load_entrypoint_text
    from dioptra_lab.plugins.registry import Registry, get_registry, set_registry

    os.environ.setdefault(ENTRYPOINT_ENV, name)  # names the local MLflow run of logging helpers
    if plugin_path and not os.environ.get(PLUGIN_PATH_ENV):
        set_registry(Registry([Path(p) for p in plugin_path]))
    ep = load_entrypoint_text(spec, get_registry(), name=name, source=name)
    try:
        return run_entrypoint(ep, parameters, lenient=True)
    except StepFailedError as exc:
        failure = Failure(f"step {exc.step} failed", exc.ename, exc.evalue, step=exc.step, task=exc.task)
        _display(FailureReport(failure))
        raise


def _display(obj: Any) -> None:
    """Show ``obj`` as a cell output when running in a kernel (the runner reads it back)."""
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is not None:
        display(obj)


__all__ = [
    "FAILURE_MIME",
    "RESULTS_MIME",
    "RunResult",
    "StepRecord",
    "read_failure",
    "read_results",
    "run_compiled",
    "run_entrypoint",
]
