"""Out-of-range values are refused at submit, before anything exists in MLflow or Redis."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

import dioptra_lab
from dioptra_lab.config import load_settings
from dioptra_lab.errors import ParameterError
from dioptra_lab.jobs import submit
from dioptra_lab.jobs.connection import get_queue
from dioptra_lab.models import ParameterInfo
from dioptra_lab.plugins.registry import set_registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = pytest.mark.integration


def out_of_range(p: ParameterInfo) -> list[Any]:
    """Values just outside a parameter's range, or not among its choices."""
    step = 1 if p.kind == "int" else 1e-3
    bad: list[Any] = []
    if p.minimum is not None:
        bad.append(p.minimum if p.exclusive_minimum else p.minimum - step)
    if p.maximum is not None:
        bad.append(p.maximum if p.exclusive_maximum else p.maximum + step)
    if p.choices:
        bad.append("not-one-of-the-choices")
    return bad


def totals(queue: str) -> tuple[int, int]:
    """Runs in every MLflow experiment, and jobs on the queue."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = len(client.search_runs(ids, max_results=50000)) if ids else 0
    return runs, get_queue(queue).count


def test_out_of_range_values_are_refused_at_submit_and_create_nothing(
    worker: str, builtin_registry: Any
) -> None:
    set_registry(builtin_registry)
    try:
        before = totals(worker)
        experiment = f"bounds-{uuid.uuid4().hex[:6]}"
        with pytest.raises(ParameterError, match=r"parameter 'eps': .*<= 1"):
            submit(EXAMPLES / "fgsm.yaml", {"eps": "5"}, experiment=experiment, queue=worker, from_text=True)
        tried = 0
        for path in sorted(EXAMPLES.glob("*.yaml")):
            for p in dioptra_lab.describe(path).parameters:
                for value in out_of_range(p):
                    with pytest.raises(ParameterError, match=f"parameter '{p.name}'"):
                        submit(path, {p.name: value}, experiment=experiment, queue=worker)
                    tried += 1
        assert tried >= 20, f"only {tried} bounded parameters in the examples"
        assert totals(worker) == before  # no run, no queued job
    finally:
        set_registry(None)
