"""The job lifecycle: the one owner of job states and their transitions.

A job's durable state is its MLflow run's status; this module is the only place that
writes it, and it refuses moves the lifecycle does not allow::

    queued ──► running ──► finished
      │          ├──────► failed
      │          ├──────► cancelled
      │          └──────► queued      (failed or abandoned, and RQ retries it)
      ├──────► cancelled
      └──────► failed                 (the submission itself failed)

A move out of a final state is ignored (and reported as ``False``): the first writer to
end a run wins, so a late failure callback cannot overwrite a finished run. Submission,
the worker, RQ's callbacks, the reaper and cancel all go through these functions; reading
a status (:func:`status`) never changes one.
"""

from __future__ import annotations

import time
from typing import Any

from dioptra_lab.models import Failure, JobStatus
from dioptra_lab.tracking import runs

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.QUEUED}
    ),
    JobStatus.FINISHED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}

ABANDONED = "abandoned (its worker died)"


def status(run_id: str) -> JobStatus:
    """The job's current status (a read: nothing changes)."""
    return JobStatus.from_mlflow(runs.run_status(run_id))


def allowed(current: JobStatus, target: JobStatus) -> bool:
    """Whether the lifecycle allows moving from ``current`` to ``target``."""
    return target in TRANSITIONS[current]


def _move(
    run_id: str, target: JobStatus, tags: dict[str, Any] | None = None, current: JobStatus | None = None
) -> bool:
    current = status(run_id) if current is None else current
    if not allowed(current, target):
        return False
    if tags:
        runs.set_tags(run_id, {k: v for k, v in tags.items() if v not in (None, "")})
    runs.write_status(run_id, target.mlflow)
    return True


def failure_tags(failure: Failure) -> dict[str, Any]:
    """The run tags that record a failure."""
    return {
        runs.TAG_REASON: failure.reason,
        runs.TAG_STEP: failure.step,
        runs.TAG_ENAME: failure.exception,
        runs.TAG_EVALUE: failure.message[:2000],
        runs.TAG_CELL: failure.cell,
    }


def failure_from_tags(tags: dict[str, str]) -> Failure | None:
    """The failure recorded in a run's tags, or ``None``."""
    reason = tags.get(runs.TAG_REASON)
    if not reason:
        return None
    cell = tags.get(runs.TAG_CELL)
    return Failure(
        reason=reason,
        exception=tags.get(runs.TAG_ENAME, ""),
        message=tags.get(runs.TAG_EVALUE, ""),
        step=tags.get(runs.TAG_STEP) or None,
        cell=int(cell) if cell and cell.isdigit() else None,
    )


# -- the transitions -----------------------------------------------------------------------
def create(experiment: str, run_name: str, params: dict[str, Any], tags: dict[str, str]) -> str:
    """A new job: its run is created queued (MLflow ``SCHEDULED``); return the run id."""
    run_id = runs.create_run(experiment, run_name, params, tags)
    runs.set_tags(run_id, {runs.TAG_JOB: run_id})
    return run_id


def start(run_id: str, worker: str, attempt: int, current: JobStatus | None = None) -> bool:
    """queued → running: a worker took the job (attempt 1, 2, … with retries).

    Records when (``dioptra_lab.started``, epoch seconds; a retry records its own start).
    ``current``: the status the caller has just read with the run (saves a round trip).
    """
    tags = {runs.TAG_WORKER: worker, runs.TAG_ATTEMPT: attempt, runs.TAG_STARTED: f"{time.time():.3f}"}
    return _move(run_id, JobStatus.RUNNING, tags, current)


def finish(run_id: str) -> bool:
    """running → finished."""
    return _move(run_id, JobStatus.FINISHED)


def fail(run_id: str, failure: Failure, *, will_retry: bool = False) -> bool:
    """running → failed, or back to queued when RQ will retry the job.

    A failure that will be retried is recorded as ``last_failure`` only, so the run that
    finally finishes carries no failure of an earlier attempt.
    """
    if will_retry:
        return _move(run_id, JobStatus.QUEUED, {runs.TAG_LAST_FAILURE: str(failure)[:2000]})
    return _move(run_id, JobStatus.FAILED, failure_tags(failure))


def abandon(run_id: str, *, will_retry: bool = False) -> bool:
    """The job's worker died: failed (reason ``abandoned``), or queued again for a retry."""
    return fail(run_id, Failure(ABANDONED, "AbandonedJobError"), will_retry=will_retry)


def submission_failed(run_id: str, exc: BaseException) -> bool:
    """queued → failed: the job could not be enqueued after its run was created."""
    reason = f"submission failed: {type(exc).__name__}: {exc}"
    return _move(run_id, JobStatus.FAILED, failure_tags(Failure(reason, type(exc).__name__, str(exc))))


def cancel(run_id: str) -> bool:
    """queued or running → cancelled (MLflow ``KILLED``)."""
    return _move(run_id, JobStatus.CANCELLED, {runs.TAG_REASON: "cancelled"})
