"""The :class:`Job` handle: live state from RQ, durable history from MLflow.

A job's id is its MLflow run id (the RQ job has the same id), so a job can be found
again long after RQ's result TTL or a Redis restart.
"""

from __future__ import annotations

import tempfile
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

import nbformat

from dioptra_lab.errors import DioptraLabError
from dioptra_lab.jobs.connection import LOG_KEY, redis_connection, serializer
from dioptra_lab.jobs.reaper import reap_stale_jobs
from dioptra_lab.tracking import runs
from dioptra_lab.tracking.client import client

EXECUTED_NOTEBOOK = "notebook/executed.ipynb"
KERNEL_LOG = "logs/kernel.log"
TRACEBACK = "logs/traceback.txt"


class JobStatus(StrEnum):
    """What a job is doing, in the words of the UIs."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        return self in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED)


_FROM_MLFLOW = {
    "SCHEDULED": JobStatus.QUEUED,
    "RUNNING": JobStatus.RUNNING,
    "FINISHED": JobStatus.FINISHED,
    "FAILED": JobStatus.FAILED,
    "KILLED": JobStatus.CANCELLED,
}


class JobWaitTimeout(DioptraLabError):
    """``Job.wait`` ran out of time; the job goes on."""


class Job:
    """One execution of an entry point on the queue (= one RQ job + one MLflow run)."""

    def __init__(self, job_id: str) -> None:
        self.id = job_id

    def __repr__(self) -> str:
        return f"Job({self.id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # -- state -------------------------------------------------------------------------
    def _rq_job(self) -> Any | None:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job as RQJob

        try:
            return RQJob.fetch(self.id, connection=redis_connection(), serializer=serializer())
        except NoSuchJobError:
            return None

    @property
    def status(self) -> JobStatus:
        """queued, running, finished, failed or cancelled (a dead worker's job turns failed)."""
        state = runs.run_status(self.id)
        if state == "RUNNING":
            queue = client().get_run(self.id).data.tags.get(runs.TAG_QUEUE)
            if reap_stale_jobs(redis_connection(), [queue] if queue else None):
                state = runs.run_status(self.id)
        return _FROM_MLFLOW.get(state, JobStatus.QUEUED)

    @property
    def progress(self) -> dict[str, Any] | None:
        """Step i of n and the step's name while running (from the RQ job's meta)."""
        job = self._rq_job()
        if job is None:
            return None
        job.refresh()
        found = job.meta.get("progress")
        return dict(found) if found else None

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> JobStatus:
        """Block until the job is done; return its final status.

        Raises:
            JobWaitTimeout: still not done after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status
            if status.done:
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise JobWaitTimeout(
                    f"job {self.id} is still {status.value} after {timeout:.0f}s; "
                    f"`dioptra-lab jobs wait {self.id}` waits again"
                )
            time.sleep(poll)

    def cancel(self, timeout: float = 30.0) -> JobStatus:
        """Stop the job: dequeue it, or stop its kernel if it runs; the run ends KILLED."""
        from rq.command import send_stop_job_command
        from rq.job import JobStatus as RQStatus

        if self.status.done:
            return self.status
        job = self._rq_job()
        conn = redis_connection()
        if job is not None and job.get_status() == RQStatus.STARTED:
            send_stop_job_command(conn, self.id, serializer=serializer())
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not self.status.done:
                time.sleep(0.3)
        elif job is not None:
            job.cancel()
        if not self.status.done:
            runs.finish(self.id, "KILLED", reason="cancelled")
        return self.status

    # -- outputs -----------------------------------------------------------------------
    def logs(self) -> str:
        """The kernel's output so far (live from Redis, then from the run's artifact)."""
        lines = redis_connection().lrange(LOG_KEY.format(self.id), 0, -1)
        if lines:
            return "".join(x.decode(errors="replace") if isinstance(x, bytes) else str(x) for x in lines)
        return self._artifact_text(KERNEL_LOG) or ""

    def _artifact_text(self, path: str) -> str | None:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                return Path(client().download_artifacts(self.id, path, tmp)).read_text()
            except Exception:
                return None

    def results(self) -> dict[str, Any]:
        """Status, params, metrics, tags and the list of artifacts of the job's run."""
        mlflow = client()
        run = mlflow.get_run(self.id)
        return {
            "job_id": self.id,
            "status": _FROM_MLFLOW.get(run.info.status, JobStatus.QUEUED).value,
            "experiment_id": run.info.experiment_id,
            "params": dict(run.data.params),
            "metrics": dict(run.data.metrics),
            "tags": {k: v for k, v in run.data.tags.items() if k.startswith(runs.TAG)},
            "artifacts": self._artifacts(mlflow, None),
        }

    def _artifacts(self, mlflow: Any, path: str | None) -> list[str]:
        found: list[str] = []
        for item in mlflow.list_artifacts(self.id, path):
            found.extend(self._artifacts(mlflow, item.path) if item.is_dir else [item.path])
        return found

    def notebook(self) -> nbformat.NotebookNode:
        """The executed notebook (available once the job ended)."""
        text = self._artifact_text(EXECUTED_NOTEBOOK)
        if text is None:
            raise DioptraLabError(f"job {self.id} has no executed notebook yet (status {self.status.value})")
        return nbformat.reads(text, as_version=4)

    def rerun(self) -> Job:
        """Run the same bundle (same code, same parameters) again as a new job."""
        from dioptra_lab.jobs.submit import JobOptions, enqueue_bundle
        from dioptra_lab.tracking.bundles import download_bundle

        run = client().get_run(self.id)
        tags = run.data.tags
        bundle = download_bundle(client(), self.id, tags.get(runs.TAG_BUNDLE_SHA))
        experiment = client().get_experiment(run.info.experiment_id).name
        timeout = tags.get(runs.TAG_TIMEOUT)
        options = JobOptions(
            experiment,
            tags.get(runs.TAG_QUEUE),
            float(timeout) if timeout else None,
            int(tags.get(runs.TAG_RETRIES, "0")),
            {runs.TAG_RERUN_OF: self.id},
        )
        return enqueue_bundle(bundle, options.resolved(), f"{run.info.run_name} (rerun)")


def list_jobs(experiment: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Recent jobs (runs tagged by dioptra_lab), newest first."""
    mlflow = client()
    experiments = [mlflow.get_experiment_by_name(experiment)] if experiment else mlflow.search_experiments()
    ids = [e.experiment_id for e in experiments if e is not None]
    if not ids:
        return []
    found = mlflow.search_runs(
        ids, filter_string=f"tags.`{runs.TAG_JOB}` != ''", max_results=limit, order_by=["start_time DESC"]
    )
    return [
        {
            "job_id": r.info.run_id,
            "status": _FROM_MLFLOW.get(r.info.status, JobStatus.QUEUED).value,
            "entrypoint": r.data.tags.get(runs.TAG_ENTRYPOINT, ""),
            "queue": r.data.tags.get(runs.TAG_QUEUE, ""),
            "start_time": r.info.start_time,
        }
        for r in found
    ]
