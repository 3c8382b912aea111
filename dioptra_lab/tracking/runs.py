"""The lifecycle of a job's MLflow run: SCHEDULED → RUNNING → FINISHED | FAILED | KILLED.

Every tag dioptra_lab writes starts with ``dioptra_lab.`` so that MLflow's own UI and
client can filter on them.
"""

from __future__ import annotations

import getpass
import os
import time
from typing import Any

from dioptra_lab.tracking.client import client, remember_artifact_uri

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


# Experiment ids this process has looked up, by (process, tracking URI, name): a sweep or a
# notebook submitting many jobs asks MLflow once. A stale id (the experiment was deleted
# since) is dropped when MLflow refuses a run in it, and looked up again.
_experiment_ids: dict[tuple[int, str, str], str] = {}


def _experiment_key(name: str) -> tuple[int, str, str]:
    """Where this process remembers the id of experiment ``name`` (see _experiment_ids)."""
    return (os.getpid(), str(client().tracking_uri), name)


def experiment_id(name: str) -> str:
    """The id of the MLflow experiment ``name``, created when missing (or restored)."""
    mlflow = client()
    key = _experiment_key(name)
    cached = _experiment_ids.get(key)
    if cached is not None:
        return cached
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            mlflow.restore_experiment(found.experiment_id)
        found_id = str(found.experiment_id)
    else:
        try:
            found_id = str(mlflow.create_experiment(name))
        except Exception:  # created concurrently by another submitter
            again = mlflow.get_experiment_by_name(name)
            if again is None:
                raise
            found_id = str(again.experiment_id)
    _experiment_ids[key] = found_id
    return found_id


def create_run(
    experiment: str,
    run_name: str,
    params: dict[str, Any],
    tags: dict[str, str],
    id_tag: str | None = None,
) -> str:
    """Create a run in status SCHEDULED with its params and tags; return its id.

    ``id_tag``: a tag whose value is the new run's id, written with the params. Four
    requests to MLflow (three with no params and no ``id_tag``), and one more the first time
    this process names the experiment.

    Only :mod:`dioptra_lab.jobs.lifecycle` writes run statuses; everything else asks it.
    """
    from mlflow.entities import Param, RunTag
    from mlflow.exceptions import MlflowException

    mlflow = client()
    all_tags = {TAG_USER: getpass.getuser(), **tags}
    key = _experiment_key(experiment)
    remembered = key in _experiment_ids
    try:
        run = mlflow.create_run(experiment_id(experiment), run_name=run_name, tags=all_tags)
    except MlflowException:
        if not remembered:
            raise
        # the remembered experiment may have been deleted since: look it up again, once
        _experiment_ids.pop(key, None)
        run = mlflow.create_run(experiment_id(experiment), run_name=run_name, tags=all_tags)
    run_id = str(run.info.run_id)
    remember_artifact_uri(run_id, run.info.artifact_uri)  # the bundle's upload: no read of the run
    _update_status(run_id, "SCHEDULED")
    batch_params = [Param(k, _param_text(v)) for k, v in params.items()]
    batch_tags = [RunTag(id_tag, run_id)] if id_tag else []
    if batch_params or batch_tags:
        mlflow.log_batch(run_id, params=batch_params, tags=batch_tags)
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
        _update_status(run_id, status, end_time or int(time.time() * 1000))
    else:
        _update_status(run_id, status)


def _update_status(run_id: str, status: str, end_time: int | None = None) -> None:
    """A status (with its end time where terminal) in one request: the store's update, not
    the client's ``update_run`` nor ``set_terminated``, which read the run first (the one to
    keep its end time, the other only to print the run's address)."""
    from mlflow.entities import RunStatus

    client()._tracking_client.store.update_run_info(
        run_id, RunStatus.from_string(status), end_time=end_time, run_name=None
    )
