"""The worker: ``execute_job`` (run in RQ's work horse) and the ``dioptra-lab worker`` process.

Importing this package stays light: the worker's own process must not import ML libraries.
"""

from __future__ import annotations

from typing import Any


def execute_job(run_id: str) -> dict[str, Any]:
    """Run one job; RQ calls this by name (``dioptra_lab.worker.execute_job``)."""
    from dioptra_lab.worker.execute import execute_job as run

    return run(run_id)


__all__ = ["execute_job"]
