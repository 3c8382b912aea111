"""Query an experiment's runs with their params and metrics (durable history)."""

from __future__ import annotations

from dioptra_lab.errors import UnknownExperimentError
from dioptra_lab.models import ExperimentResults, JobStatus, RunRow
from dioptra_lab.tracking.client import client
from dioptra_lab.tracking.runs import TAG_ENTRYPOINT, TAG_SWEEP


def experiment_names() -> list[str]:
    """The names of every experiment, oldest first."""
    return [e.name for e in client().search_experiments(order_by=["creation_time ASC"])]


def experiment_results(experiment: str, max_results: int = 1000) -> ExperimentResults:
    """Every run of ``experiment``, newest first, with its params and metrics.

    Raises:
        UnknownExperimentError: no such experiment (the message lists the experiments there are).
    """
    mlflow = client()
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        names = ", ".join(experiment_names()) or "none yet"
        raise UnknownExperimentError(f"no experiment named {experiment!r}; experiments: {names}")
    rows = [
        RunRow(
            run_id=run.info.run_id,
            status=JobStatus.from_mlflow(run.info.status),
            entrypoint=run.data.tags.get(TAG_ENTRYPOINT, ""),
            sweep=run.data.tags.get(TAG_SWEEP, ""),
            params=dict(run.data.params),
            metrics={k: v for k, v in run.data.metrics.items() if not k.startswith("step_seconds.")},
        )
        for run in mlflow.search_runs(
            [found.experiment_id], max_results=max_results, order_by=["start_time DESC"]
        )
    ]
    return ExperimentResults(
        experiment=experiment,
        params=sorted({k for r in rows for k in r.params}),
        metrics=sorted({k for r in rows for k in r.metrics}),
        runs=rows,
    )
