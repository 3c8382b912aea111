"""Logging helpers for task authors: metrics, figures, models and files.

Inside a job the worker sets ``MLFLOW_RUN_ID`` in the kernel, so everything lands in
the job's run. Used interactively, the helpers write to the active MLflow run, or start
a local run in the experiment ``interactive`` (on the stack's MLflow server when one is
configured, else in ``<home>/mlflow-local.db``).
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Any

from dioptra_lab.errors import DioptraLabError
from dioptra_lab.tracking.client import ARTIFACT_URI_ENV, client, remember_artifact_uri, tracking_uri

LOCAL_EXPERIMENT = "interactive"
_lock = threading.Lock()
_local_run: str | None = None


def current_run_id() -> str:
    """The run helpers write to (see the module docstring)."""
    global _local_run
    env_run = os.environ.get("MLFLOW_RUN_ID")
    if env_run:
        remember_artifact_uri(env_run, os.environ.get(ARTIFACT_URI_ENV))
        return env_run
    client()  # imports MLflow under the client lock
    import mlflow

    active = mlflow.active_run()
    if active is not None:
        return str(active.info.run_id)
    with _lock:
        if _local_run is None:
            mlflow.set_tracking_uri(tracking_uri())
            mlflow.set_experiment(LOCAL_EXPERIMENT)
            name = os.environ.get("DIOPTRA_LAB_ENTRYPOINT")
            tags = {"dioptra_lab.entrypoint": name, "dioptra_lab.local": "true"} if name else None
            _local_run = str(mlflow.start_run(run_name=name, tags=tags).info.run_id)
        return _local_run


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Log one metric to the current run (NaN and infinities are skipped with no error)."""
    number = float(value)
    if math.isfinite(number):
        client().log_metric(current_run_id(), name, number, step=step or 0)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Log several metrics at once."""
    import time

    mlflow = client()  # first: imports MLflow under the client lock
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    batch = [Metric(k, float(v), stamp, step or 0) for k, v in metrics.items() if math.isfinite(float(v))]
    if batch:
        mlflow.log_batch(current_run_id(), metrics=batch)


def log_tags(tags: dict[str, Any]) -> None:
    """Set tags on the current run (values as text; a later value replaces an earlier one)."""
    from dioptra_lab.tracking.runs import set_tags

    client()  # imports MLflow under the client lock
    set_tags(current_run_id(), tags)


def log_figure(figure: Any, name: str) -> str:
    """Log a matplotlib figure as ``figures/<name>.png``; returns the artifact path."""
    path = f"figures/{name}.png"
    client().log_figure(current_run_id(), figure, path)
    return path


def log_artifact(path: str | Path, artifact_path: str | None = None) -> None:
    """Log a local file (or folder) as an artifact of the current run."""
    local = Path(path)
    if not local.exists():
        raise DioptraLabError(f"log_artifact: {local} does not exist")
    if local.is_dir():
        client().log_artifacts(current_run_id(), str(local), artifact_path)
    else:
        client().log_artifact(current_run_id(), str(local), artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    """Log a text as a file artifact (``artifact_file`` like ``reports/summary.txt``)."""
    client().log_text(current_run_id(), text, artifact_file)


def log_model(model: Any, name: str = "model", registered_name: str | None = None) -> str:
    """Log a PyTorch or scikit-learn model with explicit requirements (no slow inference).

    Args:
        model: a ``torch.nn.Module`` or a scikit-learn estimator.
        name: the model's name within the run.
        registered_name: also register it in the model registry under this name.

    Returns:
        The model's URI (``runs:/<run>/<name>`` style, loadable by tasks).
    """
    import contextlib
    import copy

    import mlflow

    run_id = current_run_id()
    mlflow.set_tracking_uri(tracking_uri())
    extra: dict[str, Any] = {}
    if _is_torch(model):
        import mlflow.pytorch
        import torch

        requirements = [f"torch=={torch.__version__.split('+')[0]}"]
        flavor: Any = mlflow.pytorch
        target = copy.deepcopy(model).cpu()  # .cpu() is in place: leave the caller's model where it is
        extra["serialization_format"] = "pickle"  # pt2 would need an input example to trace
    else:
        import mlflow.sklearn
        import sklearn

        requirements = [f"scikit-learn=={sklearn.__version__}"]
        flavor, target = mlflow.sklearn, model
    active = mlflow.active_run()
    resumed = (
        contextlib.nullcontext()
        if active is not None and active.info.run_id == run_id
        else mlflow.start_run(run_id=run_id, nested=active is not None)
    )
    with resumed:
        info = flavor.log_model(
            target, name=name, pip_requirements=requirements, registered_model_name=registered_name, **extra
        )
    return str(info.model_uri)


def _is_torch(model: Any) -> bool:
    return any(cls.__module__.startswith("torch.nn") for cls in type(model).__mro__)


def log_results(run: Any) -> None:
    """Log a graph run's numeric results and step times (the compiled notebook calls this).

    Does nothing outside a job (no ``MLFLOW_RUN_ID``): local runs stay local.
    """
    if not os.environ.get("MLFLOW_RUN_ID"):
        return
    metrics: dict[str, float] = {}
    for step, record in run.steps.items():
        if record.seconds is not None:
            metrics[f"step_seconds.{step}"] = record.seconds
        for output, value in record.outputs.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                key = step if len(record.outputs) == 1 else f"{step}.{output}"
                metrics[key] = float(value)
    log_metrics(metrics)
    import json

    from dioptra_lab.engine.results import to_jsonable

    log_text(json.dumps(to_jsonable(run.to_json()), indent=2, default=str), "results/results.json")
