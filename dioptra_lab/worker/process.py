"""``dioptra-lab worker``: an RQ worker that closes the runs of jobs whose work horse died
and reaps jobs abandoned by dead workers."""

from __future__ import annotations

import os
import socket
from typing import Any

from rq import Worker

from dioptra_lab.config import load_settings
from dioptra_lab.engine.kernels import KernelPool, WarmKernel, hand_over, stack_environment, warm_kernel_count
from dioptra_lab.jobs import lifecycle
from dioptra_lab.jobs.connection import redis_connection, serializer
from dioptra_lab.jobs.reaper import reap_stale_jobs
from dioptra_lab.models import Failure

KERNEL_WAIT = 30.0
"""Seconds a job waits for the kernel that is warming before it starts one of its own: well
within the heartbeat RQ gave the job when it registered it as started (60 s and more), as
nothing renews it during the wait."""


class DioptraWorker(Worker):
    """RQ's forking worker plus the bookkeeping of MLflow runs and warm kernels.

    Each job's work horse gets the next warm kernel of :attr:`kernels` (see
    :mod:`dioptra_lab.engine.kernels`); the worker shuts that kernel down as soon as the
    horse is gone, whatever became of the job, and the pool warms the next one.
    """

    kernels: KernelPool | None = None
    _kernel: WarmKernel | None = None

    def fork_work_horse(self, job: Any, queue: Any) -> None:
        # after prepare_execution: the job is registered as started while we wait for a kernel
        try:
            self._kernel = self.kernels.take(KERNEL_WAIT) if self.kernels else None
        except Exception as exc:  # never lose the job over a warm kernel: it starts its own
            self.log.warning("no warm kernel for job %s: %s", job.id, exc)
            self._kernel = None
        hand_over(self._kernel.handle if self._kernel else None)
        try:
            super().fork_work_horse(job, queue)
        except BaseException:
            self._release_kernel()
            raise
        finally:
            hand_over(None)

    def _release_kernel(self) -> None:
        kernel, self._kernel = self._kernel, None
        if kernel is not None and self.kernels is not None:
            self.kernels.release(kernel)  # a kernel never outlives its job

    def monitor_work_horse(self, job: Any, queue: Any) -> None:
        try:
            super().monitor_work_horse(job, queue)
        finally:
            self._release_kernel()
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


def preload_for_horses() -> None:
    """Import, once in the worker, what every work horse needs (it is forked from here):
    MLflow's client, Papermill, nbclient and nbformat's schema. Never torch or a plugin."""
    import mlflow.tracking  # noqa: F401
    import nbformat
    import papermill  # noqa: F401
    from nbclient import NotebookClient  # noqa: F401

    nbformat.validate(nbformat.v4.new_notebook())


def run_worker(
    queues: list[str], *, gpu: str | None = None, name: str | None = None, burst: bool = False
) -> bool:
    """Serve ``queues`` until stopped (or until empty with ``burst``).

    ``gpu`` sets ``CUDA_VISIBLE_DEVICES`` for the kernels this worker starts; the worker's
    own process never touches CUDA. The worker keeps ``DIOPTRA_LAB_WARM_KERNELS`` (default
    1) warm kernels ready, and shuts them down when it stops.
    """
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # the worker's kernels inherit it
    conn = redis_connection()
    preload_for_horses()
    worker_name = name or f"dioptra-{socket.gethostname()}-{os.getpid()}" + (f"-gpu{gpu}" if gpu else "")
    worker = DioptraWorker(
        queues,
        connection=conn,
        serializer=serializer(),
        name=worker_name,
        job_monitoring_interval=5,
        maintenance_interval=30,
    )
    count = warm_kernel_count()
    if count:
        logs = load_settings().home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        pool = KernelPool(count, environment=stack_environment, log_path=logs / "kernels.log")
        worker.kernels = pool.start()
    try:
        return bool(worker.work(burst=burst, logging_level="INFO", with_scheduler=False))
    finally:
        if worker.kernels is not None:
            worker.kernels.close()
