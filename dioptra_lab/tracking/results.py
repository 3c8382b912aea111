"""Query an experiment's runs with their params and metrics (durable history)."""

from __future__ import annotations

from typing import Any

from dioptra_lab.errors import DioptraLabError
from dioptra_lab.tracking.client import client
from dioptra_lab.tracking.runs import TAG_ENTRYPOINT, TAG_SWEEP


def experiment_runs(experiment: str, max_results: int = 1000) -> list[dict[str, Any]]:
    """Every run of ``experiment``, newest first: id, status, entry point, params, metrics.

    Raises:
        DioptraLabError: no such experiment.
    """
    mlflow = client()
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        names = ", ".join(e.name for e in mlflow.search_experiments()) or "none yet"
        raise DioptraLabError(f"no experiment named {experiment!r}; experiments: {names}")
    rows = []
    for run in mlflow.search_runs(
        [found.experiment_id], max_results=max_results, order_by=["start_time DESC"]
    ):
        rows.append(
            {
                "run_id": run.info.run_id,
                "status": run.info.status,
                "entrypoint": run.data.tags.get(TAG_ENTRYPOINT, ""),
                "sweep": run.data.tags.get(TAG_SWEEP, ""),
                "params": dict(run.data.params),
                "metrics": {k: v for k, v in run.data.metrics.items() if not k.startswith("step_seconds.")},
            }
        )
    return rows
