"""RQ callbacks. They run wherever RQ calls them: the work horse, or the process that
cleans up a dead worker's jobs; they only touch MLflow, never CUDA."""

from __future__ import annotations

from typing import Any

from dioptra_lab.jobs import lifecycle
from dioptra_lab.models import Failure


def on_job_failure(job: Any, connection: Any, exc_type: type, exc_value: BaseException, tb: Any) -> None:
    """RQ's failure callback: a job raised, timed out or was abandoned by a dead worker."""
    from rq.exceptions import AbandonedJobError

    run_id = job.args[0] if job.args else job.id
    will_retry = bool(job.retries_left and job.retries_left > 0)
    if exc_type is AbandonedJobError or isinstance(exc_value, AbandonedJobError):
        lifecycle.abandon(run_id, will_retry=will_retry)
    else:
        failure = Failure(f"{exc_type.__name__}: {exc_value}", exc_type.__name__, str(exc_value))
        lifecycle.fail(run_id, failure, will_retry=will_retry)
