"""RQ callbacks. They run wherever RQ calls them: the work horse, or the process that
cleans up a dead worker's jobs; they only touch MLflow, never CUDA."""

from __future__ import annotations

from typing import Any

from dioptra_lab.tracking import runs


def close_failed_run(run_id: str, will_retry: bool, reason: str, **details: str) -> None:
    """End a failed job's run, or send it back to SCHEDULED when RQ will retry it."""
    if runs.run_status(run_id) in runs.TERMINAL:
        return
    if will_retry:
        runs.mark_scheduled(run_id, reason)
    else:
        runs.finish(run_id, "FAILED", reason=reason, **details)


def on_job_failure(job: Any, connection: Any, exc_type: type, exc_value: BaseException, tb: Any) -> None:
    """RQ's failure callback: a job raised, timed out or was abandoned by a dead worker."""
    from rq.exceptions import AbandonedJobError

    run_id = job.args[0] if job.args else job.id
    abandoned = exc_type is AbandonedJobError or isinstance(exc_value, AbandonedJobError)
    reason = "abandoned (its worker died)" if abandoned else f"{exc_type.__name__}: {exc_value}"
    will_retry = bool(job.retries_left and job.retries_left > 0)
    close_failed_run(run_id, will_retry, reason, ename=exc_type.__name__, evalue=str(exc_value))
