"""RQ callbacks. They run wherever RQ calls them: the work horse, or the process that
cleans up a dead worker's jobs (a worker, its reconciler, or a reader of the job); they
only record the job's state (MLflow is written by whoever may wait on it), never CUDA."""

from __future__ import annotations

import os
from typing import Any

from dioptra_lab.jobs import lifecycle
from dioptra_lab.models import Failure
from dioptra_lab.worker.execute import ATTEMPT_ENV


def on_job_failure(job: Any, connection: Any, exc_type: type, exc_value: BaseException, tb: Any) -> None:
    """RQ's failure callback: a job raised, timed out or was abandoned by a dead worker.

    In the work horse of the job, the transition carries the horse's attempt (a late
    failure of an older attempt changes nothing); elsewhere it applies to the latest one.
    """
    from rq.exceptions import AbandonedJobError

    run_id = job.args[0] if job.args else job.id
    attempt = int(os.environ.get(ATTEMPT_ENV) or 0) if os.environ.get("RQ_JOB_ID") == job.id else 0
    will_retry = bool(job.retries_left and job.retries_left > 0)
    if exc_type is AbandonedJobError or isinstance(exc_value, AbandonedJobError):
        lifecycle.abandon(run_id, will_retry=will_retry, attempt=attempt)
    else:
        failure = Failure(f"{exc_type.__name__}: {exc_value}", exc_type.__name__, str(exc_value))
        lifecycle.fail(run_id, failure, will_retry=will_retry, attempt=attempt)
