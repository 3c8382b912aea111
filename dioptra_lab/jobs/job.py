"""The :class:`Job` handle: live state from RQ, durable history from MLflow.

A job's id is its MLflow run id (the RQ job has the same id), so a job can be found
again long after RQ's result TTL or a Redis restart. A job's status is its record's in
Redis (RQ's side, see :mod:`dioptra_lab.jobs.lifecycle`), else its run's. Reading a job
changes no state of its own accord, but reconciles it (:mod:`dioptra_lab.jobs.reconcile`):
what MLflow missed of it is written when MLflow answers, a job RQ ended takes RQ's state,
and a running job whose heartbeat is older than ``DIOPTRA_LAB_HEARTBEAT_TIMEOUT`` is
handed to RQ's abandoned-job handling; so ``jobs show``, ``jobs list`` and ``wait`` notice
a dead worker within that timeout even when no other worker serves the queue.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat

from dioptra_lab.errors import DioptraLabError, NotReadyError
from dioptra_lab.jobs import lifecycle, reconcile
from dioptra_lab.jobs.connection import LOG_KEY, redis_connection, serializer
from dioptra_lab.jobs.enqueue import enqueue_bundle, options_from_tags
from dioptra_lab.jobs.reaper import reap_stale_jobs
from dioptra_lab.models import JobInfo, JobResults, JobStatus, Progress
from dioptra_lab.tracking import runs
from dioptra_lab.tracking.bundles import download_bundle
from dioptra_lab.tracking.client import client

EXECUTED_NOTEBOOK = "notebook/executed.ipynb"
KERNEL_LOG = "logs/kernel.log"
TRACEBACK = "logs/traceback.txt"
REAP_INTERVAL = 2.0


def status_bundle(infos: list[JobInfo]) -> dict[str, Any]:
    """Text and HTML of job status lines: id, status, progress (step i of n), failure."""
    import html

    lines, rows = [], []
    for info in infos:
        progress = info.progress
        step = f"step {progress.index}/{progress.total} {progress.step}" if progress else ""
        failure = str(info.failure) if info.failure else ""
        lines.append("  ".join(x for x in (info.id, info.status.value, step, failure) if x))
        bar = f"<progress value='{progress.index}' max='{progress.total}'></progress>" if progress else ""
        rows.append(
            f"<div><code>{info.id[:12]}</code> <b>{info.status.value}</b> {bar} {html.escape(step)}"
            f" <span style='color:#b00020'>{html.escape(failure)}</span></div>"
        )
    return {"text/plain": "\n".join(lines), "text/html": "".join(rows)}


class JobWaitTimeout(DioptraLabError):
    """``Job.wait`` ran out of time; the job goes on."""


def job_info(
    run: Any,
    experiment: str = "",
    progress: Progress | None = None,
    status: JobStatus | None = None,
    tags: dict[str, str] | None = None,
    ended: float | None = None,
) -> JobInfo:
    """The :class:`JobInfo` of an MLflow run of a job; ``status``, ``tags`` and ``ended``,
    when given, are the job's own (its record's changes on top of the run's, see
    ``lifecycle.view``)."""
    tags = run.data.tags if tags is None else tags
    attempt = tags.get(runs.TAG_ATTEMPT, "0")
    return JobInfo(
        id=run.info.run_id,
        status=status or JobStatus.from_mlflow(run.info.status),
        experiment=experiment,
        entrypoint=tags.get(runs.TAG_ENTRYPOINT, ""),
        queue=tags.get(runs.TAG_QUEUE, ""),
        run_name=run.info.run_name or "",
        sweep=tags.get(runs.TAG_SWEEP) or None,
        parameters=dict(run.data.params),
        submitted=run.info.start_time / 1000 if run.info.start_time else None,
        ended=ended or (run.info.end_time / 1000 if run.info.end_time else None),
        attempt=int(attempt) if attempt.isdigit() else 0,
        worker=tags.get(runs.TAG_WORKER) or None,
        progress=progress,
        failure=lifecycle.failure_from_tags(tags),
        rerun_of=tags.get(runs.TAG_RERUN_OF) or None,
        started=_seconds(tags.get(runs.TAG_STARTED)),
    )


def _seconds(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


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

    # -- display -----------------------------------------------------------------------
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """A status line with a progress bar (a snapshot; in a kernel the live monitor shows)."""
        return status_bundle([self.info()])

    def _ipython_display_(self) -> None:
        from dioptra_lab.display import show

        show(self, self._repr_mimebundle_)

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
        """queued, running, finished, failed or cancelled (its record's, else its run's)."""
        return lifecycle.status(self.id)

    @property
    def progress(self) -> dict[str, Any] | None:
        """Step i of n and the step's name while running (from the RQ job's meta)."""
        job = self._rq_job()
        if job is None:
            return None
        job.refresh()
        found = job.meta.get("progress")
        return dict(found) if found else None

    def info(self) -> JobInfo:
        """Status, progress, timings and failure, as the UIs show them.

        Raises:
            UnknownJobError: no job has this id.
        """
        reconcile.check(self.id)
        run = runs.get_run(self.id)
        status, tags, ended = lifecycle.view(self.id, run)
        progress = Progress.from_meta(self.progress) if status == JobStatus.RUNNING else None
        experiment = client().get_experiment(run.info.experiment_id).name
        return job_info(run, experiment, progress, status, tags, ended)

    def reap(self) -> list[str]:
        """Hand this job to RQ's abandoned-job handling if its worker stopped heartbeating.

        Workers' reconcilers do this every few seconds; reads of the job (:meth:`info`,
        :meth:`wait`) do it too, so a job whose worker died is noticed even when no other
        worker serves its queue.
        """
        queue = runs.get_run(self.id).data.tags.get(runs.TAG_QUEUE)
        return reap_stale_jobs(redis_connection(), [queue] if queue else None)

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> JobStatus:
        """Block until the job is done; return its final status.

        While it waits it reconciles the job every :data:`REAP_INTERVAL` seconds (a job
        whose worker died is reaped, one RQ ended takes RQ's state); once it is done, its
        MLflow run says so too, when MLflow answers.

        Raises:
            JobWaitTimeout: still not done after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        checked_at = time.monotonic()
        while True:
            status = self.status
            if status.done:
                lifecycle.sync(self.id, wait=5.0, probe=True)
                return status
            if time.monotonic() - checked_at >= REAP_INTERVAL:
                checked_at = time.monotonic()
                if reconcile.check(self.id) not in (None, status):
                    continue
            if deadline is not None and time.monotonic() > deadline:
                raise JobWaitTimeout(
                    f"job {self.id} is still {status.value} after {timeout:.0f}s; "
                    f"`dioptra-lab jobs wait {self.id}` waits again"
                )
            time.sleep(poll)

    def cancel(self, timeout: float = 30.0) -> JobStatus:
        """Stop the job: dequeue it, or stop its kernel if it runs; the run ends cancelled."""
        from rq.command import send_stop_job_command
        from rq.job import JobStatus as RQStatus

        if self.status.done:
            return self.status
        job = self._rq_job()
        if job is not None and job.get_status() == RQStatus.STARTED:
            send_stop_job_command(redis_connection(), self.id, serializer=serializer())
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not self.status.done:
                time.sleep(0.3)
        elif job is not None:
            job.cancel()
        lifecycle.cancel(self.id)  # a no-op when the worker already closed the run
        lifecycle.sync(self.id, wait=5.0, probe=True)  # MLflow says so too, when it answers
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

    def results(self) -> JobResults:
        """The job's info plus the metrics, ``dioptra_lab.*`` tags and artifacts of its run."""
        mlflow = client()
        reconcile.check(self.id)
        run = runs.get_run(self.id)
        status, tags, ended = lifecycle.view(self.id, run)
        experiment = mlflow.get_experiment(run.info.experiment_id).name
        return JobResults(
            job=job_info(run, experiment, status=status, tags=tags, ended=ended),
            metrics=dict(run.data.metrics),
            tags={k: v for k, v in tags.items() if k.startswith(runs.TAG)},
            artifacts=self._artifacts(mlflow, None),
        )

    def _artifacts(self, mlflow: Any, path: str | None) -> list[str]:
        found: list[str] = []
        for item in mlflow.list_artifacts(self.id, path):
            found.extend(self._artifacts(mlflow, item.path) if item.is_dir else [item.path])
        return found

    def notebook(self) -> nbformat.NotebookNode:
        """The executed notebook (available once the job ended).

        Raises:
            UnknownJobError: no job has this id.
            NotReadyError: the job has no executed notebook (yet).
        """
        text = self._artifact_text(EXECUTED_NOTEBOOK)
        if text is None:
            raise NotReadyError(f"job {self.id} has no executed notebook yet (status {self.status.value})")
        return nbformat.reads(text, as_version=4)

    def rerun(self) -> Job:
        """Run the same bundle (same code, same parameters) again as a new job."""
        mlflow = client()
        run = runs.get_run(self.id)
        tags = run.data.tags
        bundle = download_bundle(mlflow, self.id, tags.get(runs.TAG_BUNDLE_SHA))
        experiment = mlflow.get_experiment(run.info.experiment_id).name
        options = options_from_tags(tags, experiment, **{runs.TAG_RERUN_OF: self.id})
        return Job(enqueue_bundle(bundle, options, f"{run.info.run_name} (rerun)"))


# MLflow answers at most this many runs to one search (its SEARCH_MAX_RESULTS_THRESHOLD)
SEARCH_LIMIT = 50_000
SWEEP_ID = re.compile(r"[0-9a-f]{1,64}")


def list_jobs(
    experiment: str | None = None,
    limit: int = 50,
    *,
    statuses: Iterable[JobStatus] | None = None,
    sweep: str | None = None,
    offset: int = 0,
    with_progress: bool = False,
) -> list[JobInfo]:
    """Recent jobs (runs tagged by dioptra_lab), newest first.

    Args:
        experiment: only this experiment's (none when it does not exist).
        limit: at most this many.
        statuses: only jobs in one of these states.
        sweep: only the jobs of this sweep.
        offset: skip this many of the newest first (paging).
        with_progress: add the progress of running jobs (from Redis; left out if it is down).
    """
    if offset + limit > SEARCH_LIMIT:
        raise DioptraLabError(
            f"jobs are listed at most {SEARCH_LIMIT:,} back (offset {offset:,} + limit {limit:,}); "
            "narrow the list by experiment, status or sweep"
        )
    if sweep is not None and not SWEEP_ID.fullmatch(sweep):
        return []  # sweep ids are short hex strings: no sweep has this one
    mlflow = client()
    experiments = [mlflow.get_experiment_by_name(experiment)] if experiment else mlflow.search_experiments()
    names = {e.experiment_id: e.name for e in experiments if e is not None}
    if not names or limit <= 0:
        return []
    base = f"tags.`{runs.TAG_JOB}` != ''"
    if sweep:
        base += f" and tags.`{runs.TAG_SWEEP}` = '{_quoted(sweep)}'"
    # MLflow's filter has no OR and no IN for statuses: one search per status, merged.
    wanted_statuses = set(statuses) if statuses is not None else None
    wanted = sorted({s.mlflow for s in wanted_statuses}) if wanted_statuses is not None else [None]
    found: list[Any] = []
    for status in wanted:
        where = base if status is None else f"{base} and attributes.status = '{status}'"
        found.extend(
            mlflow.search_runs(
                list(names), filter_string=where, max_results=offset + limit, order_by=["start_time DESC"]
            )
        )
    found.sort(key=lambda r: r.info.start_time or 0, reverse=True)
    page = found[offset : offset + limit]
    infos = _as_recorded([job_info(r, names.get(r.info.experiment_id, "")) for r in page])
    if wanted_statuses is not None:  # a job may have moved on since MLflow heard of it
        infos = [i for i in infos if i.status in wanted_statuses]
    return [_with_progress(i) for i in infos] if with_progress else infos


def _as_recorded(infos: list[JobInfo]) -> list[JobInfo]:
    """The listed jobs with their records' statuses, reconciled (running ones whose worker
    died are reaped: one pass per queue)."""
    import dataclasses

    from redis.exceptions import RedisError

    found = lifecycle.records([i.id for i in infos])
    suspects = [i for i in infos if (found[i.id].status if i.id in found else i.status) == JobStatus.RUNNING]
    try:
        queues = sorted({i.queue for i in suspects if i.queue})
        if queues:
            reap_stale_jobs(redis_connection(), queues)
    except (DioptraLabError, RedisError):  # Redis is down: the history still shows
        return infos
    changed = {i.id for i in infos if i.id in found and (found[i.id].pending or found[i.id].live)}
    for job_id in changed:
        reconcile.check(job_id, reap=False)
    if changed or suspects:
        found = lifecycle.records([i.id for i in infos])
    shown = []
    for info in infos:
        rec = found.get(info.id)
        if rec is None or rec.status is None:
            shown.append(info)
            continue
        started = _seconds(rec.tags.get(runs.TAG_STARTED)) or info.started
        ended = rec.ended or info.ended
        shown.append(dataclasses.replace(info, status=rec.status, ended=ended, started=started))
    return shown


def _quoted(value: str) -> str:
    return value.replace("'", "''")


def _with_progress(info: JobInfo) -> JobInfo:
    import dataclasses

    if info.status != JobStatus.RUNNING:
        return info
    try:
        progress = Progress.from_meta(Job(info.id).progress)
    except DioptraLabError:  # Redis is down: the history still shows
        return info
    return dataclasses.replace(info, progress=progress)
