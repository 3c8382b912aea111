"""``dioptra-lab worker``: an RQ worker that closes the runs of jobs whose work horse died
and reaps jobs abandoned by dead workers."""

from __future__ import annotations

import os
import socket
from typing import Any

from rq import Worker

from dioptra_lab.jobs import lifecycle
from dioptra_lab.jobs.connection import redis_connection, serializer
from dioptra_lab.jobs.reaper import reap_stale_jobs
from dioptra_lab.models import Failure


class DioptraWorker(Worker):
    """RQ's forking worker plus the bookkeeping of MLflow runs."""

    def monitor_work_horse(self, job: Any, queue: Any) -> None:
        super().monitor_work_horse(job, queue)
        try:
            close_run_after_horse(job)
        except Exception as exc:  # MLflow down: the reaper or a later status call retries
            self.log.warning("could not close run %s: %s", job.id, exc)

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        try:
            reap_stale_jobs(self.connection, self.queue_names())
        except Exception as exc:
            self.log.warning("reaping stale jobs failed: %s", exc)


def close_run_after_horse(job: Any) -> None:
    """The horse is gone; if it left its run open (killed, stopped), close it here."""
    from rq.job import JobStatus as RQStatus

    job.refresh()
    run_id = job.id
    if lifecycle.status(run_id).done:
        return
    status = job.get_status()
    if status == RQStatus.STOPPED:
        lifecycle.cancel(run_id)
    elif status in (RQStatus.QUEUED, RQStatus.SCHEDULED, RQStatus.DEFERRED):
        lifecycle.fail(run_id, Failure("work horse terminated; retrying", "WorkHorseKilled"), will_retry=True)
    elif status != RQStatus.FINISHED:
        lifecycle.fail(run_id, Failure("work horse terminated unexpectedly", "WorkHorseKilled"))


def run_worker(
    queues: list[str], *, gpu: str | None = None, name: str | None = None, burst: bool = False
) -> bool:
    """Serve ``queues`` until stopped (or until empty with ``burst``).

    ``gpu`` sets ``CUDA_VISIBLE_DEVICES`` for the kernels this worker starts; the worker's
    own process never touches CUDA.
    """
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    conn = redis_connection()
    worker_name = name or f"dioptra-{socket.gethostname()}-{os.getpid()}" + (f"-gpu{gpu}" if gpu else "")
    worker = DioptraWorker(
        queues,
        connection=conn,
        serializer=serializer(),
        name=worker_name,
        job_monitoring_interval=5,
        maintenance_interval=30,
    )
    return bool(worker.work(burst=burst, logging_level="INFO", with_scheduler=False))
