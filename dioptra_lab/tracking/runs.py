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
TAG_CELL = TAG + "failed_cell"
TAG_LAST_FAILURE = TAG + "last_failure"
TAG_WORKER = TAG + "worker"
TAG_STARTED = TAG + "started"
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


def create_run(experiment: str, run_name: str, params: dict[str, Any], tags: dict[str, str]) -> str:
    """Create a run in status SCHEDULED with its params and tags; return its id.

    Only :mod:`dioptra_lab.jobs.lifecycle` writes run statuses; everything else asks it.
    """
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


MAX_PARAM_TEXT = 6000  # MLflow's limit on a param's value (MAX_PARAM_VAL_LENGTH)


def _param_text(value: Any) -> str:
    """A parameter value as an MLflow param: cut to MLflow's 6,000 characters with a marker.

    Never cut silently (issue 13, bug 7): a longer value ends with a marker that says how long
    it was and that the full value is in the run's bundle artifact.
    """
    try:
        text = value if isinstance(value, str) else repr(value)
    except ValueError:  # an int past Python's digit limit
        text = f"<{type(value).__name__} too long to print>"
    if len(text) <= MAX_PARAM_TEXT:
        return text
    marker = f" …[cut: {len(text)} characters in all; the full value is in the artifact bundle/bundle.json]"
    return text[: MAX_PARAM_TEXT - len(marker)] + marker


def set_tags(run_id: str, tags: dict[str, Any]) -> None:
    """Set several tags at once (values as text)."""
    from mlflow.entities import RunTag

    client().log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])


# MLflow's answers for a run id it does not know (RestException from a server, MlflowException
# from its own check of the id's characters).
_NO_SUCH_RUN = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


def get_run(run_id: str) -> Any:
    """The MLflow run ``run_id`` (= a job's id).

    Raises:
        UnknownJobError: MLflow knows no run with that id (or the id is malformed).
        ServiceError: the MLflow server does not answer.
    """
    from mlflow.exceptions import MlflowException

    from dioptra_lab.errors import UnknownJobError
    from dioptra_lab.tracking.client import service_error

    try:
        return client().get_run(run_id)
    except MlflowException as exc:
        if exc.error_code in _NO_SUCH_RUN:
            raise UnknownJobError(run_id) from exc
        failure = service_error(exc)
        if failure is not None:
            raise failure from exc
        raise


def run_status(run_id: str) -> str:
    """The run's MLflow status (SCHEDULED, RUNNING, FINISHED, FAILED, KILLED).

    Raises:
        UnknownJobError: no such run.
    """
    return str(get_run(run_id).info.status)


def delete_tags(run_id: str, keys: list[str]) -> None:
    """Delete these tags of the run (each must exist)."""
    mlflow = client()
    for key in keys:
        mlflow.delete_tag(run_id, key)


def write_status(run_id: str, status: str, end_time: int | None = None) -> None:
    """Write the run's MLflow status; terminal statuses also record the end time
    (``end_time``, epoch milliseconds, when the job ended; now by default).

    Called only by :mod:`dioptra_lab.jobs.lifecycle`, which checks the transition first.
    """
    if status in TERMINAL:
        client().set_terminated(run_id, status=status, end_time=end_time or int(time.time() * 1000))
    else:
        client().update_run(run_id, status=status)
