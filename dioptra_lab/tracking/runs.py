"""The lifecycle of a job's MLflow run: SCHEDULED → RUNNING → FINISHED | FAILED | KILLED.

Every tag dioptra_lab writes starts with ``dioptra_lab.`` so that MLflow's own UI and
client can filter on them.
"""

from __future__ import annotations

import getpass
import time
from typing import Any

from dioptra_lab.tracking.client import client

TAG = "dioptra_lab."
TAG_JOB = TAG + "job_id"
TAG_ENTRYPOINT = TAG + "entrypoint"
TAG_ENTRYPOINT_SHA = TAG + "entrypoint_sha256"
TAG_BUNDLE_SHA = TAG + "bundle_sha256"
TAG_QUEUE = TAG + "queue"
TAG_USER = TAG + "user"
TAG_SWEEP = TAG + "sweep_id"
TAG_RERUN_OF = TAG + "rerun_of"
TAG_TIMEOUT = TAG + "timeout"
TAG_RETRIES = TAG + "retries"
TAG_ATTEMPT = TAG + "attempt"
TAG_REASON = TAG + "failure_reason"
TAG_STEP = TAG + "failed_step"
TAG_ENAME = TAG + "exception"
TAG_EVALUE = TAG + "exception_message"
TAG_WORKER = TAG + "worker"
TAG_PLUGIN_SHA = TAG + "plugin_sha256."

TERMINAL = {"FINISHED", "FAILED", "KILLED"}


def experiment_id(name: str) -> str:
    """The id of the MLflow experiment ``name``, created when missing."""
    mlflow = client()
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            mlflow.restore_experiment(found.experiment_id)
        return str(found.experiment_id)
    try:
        return str(mlflow.create_experiment(name))
    except Exception:  # created concurrently by another submitter
        again = mlflow.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


def create_scheduled_run(experiment: str, run_name: str, params: dict[str, Any], tags: dict[str, str]) -> str:
    """Create a run in status SCHEDULED with its params and tags; return its id."""
    from mlflow.entities import Param

    mlflow = client()
    run = mlflow.create_run(
        experiment_id(experiment),
        run_name=run_name,
        tags={TAG_USER: getpass.getuser(), **tags},
    )
    run_id = str(run.info.run_id)
    mlflow.update_run(run_id, status="SCHEDULED")
    if params:
        mlflow.log_batch(run_id, params=[Param(k, _param_text(v)) for k, v in params.items()])
    return run_id


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:6000]


def set_tags(run_id: str, tags: dict[str, Any]) -> None:
    """Set several tags at once (values as text)."""
    from mlflow.entities import RunTag

    client().log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])


def run_status(run_id: str) -> str:
    """The run's MLflow status (SCHEDULED, RUNNING, FINISHED, FAILED, KILLED)."""
    return str(client().get_run(run_id).info.status)


def mark_running(run_id: str, worker: str, attempt: int) -> None:
    """The worker has started the job."""
    mlflow = client()
    mlflow.update_run(run_id, status="RUNNING")
    set_tags(run_id, {TAG_WORKER: worker, TAG_ATTEMPT: attempt})


def mark_scheduled(run_id: str, reason: str) -> None:
    """Back to SCHEDULED: the job failed but RQ will retry it."""
    client().update_run(run_id, status="SCHEDULED")
    set_tags(run_id, {TAG + "last_failure": reason})


def finish(run_id: str, status: str, **failure: str) -> None:
    """End the run (FINISHED, FAILED or KILLED) and record the failure's details as tags."""
    tags = {
        key: value
        for key, value in (
            (TAG_REASON, failure.get("reason")),
            (TAG_STEP, failure.get("step")),
            (TAG_ENAME, failure.get("ename")),
            (TAG_EVALUE, failure.get("evalue")),
        )
        if value
    }
    if tags:
        set_tags(run_id, tags)
    client().set_terminated(run_id, status=status, end_time=int(time.time() * 1000))
