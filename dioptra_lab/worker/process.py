"""``dioptra-lab worker``: RQ's forking worker, made to keep jobs' states right under faults.

- **Only our job runs** (:class:`~dioptra_lab.jobs.guard.GuardedJob` is the job class): any
  other RQ job on our queues fails at once in RQ with the reason, and nothing it names runs.
- **Attempts and workspaces**: before it forks the work horse, the worker begins the job's
  attempt (:func:`~dioptra_lab.jobs.lifecycle.begin_attempt`) and makes its workspace
  (``dioptra-lab-job-<id>-w<worker pid>-…`` in the temporary folder), and hands both to the
  horse in its environment. Whatever becomes of the horse, the worker then shuts its kernel
  down and removes the workspace; a starting worker removes the workspaces of dead workers.
- **A horse that died** (killed, stopped by a cancel, past its timeout) has its job's state
  recorded by the worker, for its attempt, before RQ retries or fails the job, so a retry
  never races the failure of the attempt before it.
- **MLflow never holds up the main loop**: job states go to Redis only here; the worker's
  reconciler process (:mod:`dioptra_lab.worker.reconciler`) writes them to MLflow, reaps
  jobs whose heartbeat is stale and settles jobs RQ has ended. MLflow calls of the worker
  and its horses give up after a few seconds (:data:`WORKER_MLFLOW_PATIENCE`; what they
  could not write stays pending in Redis); kernels keep the configured patience (MLflow's
  own by default: minutes), so a task logging during a short outage waits it out.
- **Redis may restart**: every Redis command is retried for about a minute on the same URL
  (a patient connection), and RQ's calls in the main loop that still fail are logged and
  tried again instead of ending the worker; a worker whose registration expired meanwhile
  registers again.
- **Heartbeats follow** ``DIOPTRA_LAB_HEARTBEAT_TIMEOUT``: an idle worker wakes (and beats)
  every half of it, a busy one every third of it (5 s at most), also while its job waits
  for a warm kernel.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from rq import Worker
from rq.utils import now

from dioptra_lab.config import load_settings
from dioptra_lab.engine.kernels import KernelPool, WarmKernel, hand_over, stack_environment, warm_kernel_count
from dioptra_lab.jobs import lifecycle
from dioptra_lab.jobs.connection import be_patient, redis_connection, serializer
from dioptra_lab.jobs.guard import GuardedJob
from dioptra_lab.jobs.reaper import heartbeat_timeout, reaping, redis_uptime, renew_beating_jobs
from dioptra_lab.jobs.reconcile import settle
from dioptra_lab.models import Failure
from dioptra_lab.processes import pid_alive
from dioptra_lab.worker import execute, reconciler
from dioptra_lab.worker.execute import ATTEMPT_ENV, WORKSPACE_ENV, WORKSPACE_PREFIX, job_workspace

KERNEL_WAIT = 30.0
"""Seconds a job waits for the kernel that is warming before it starts one of its own (the
worker keeps the job's heartbeats meanwhile)."""

WORKER_MLFLOW_PATIENCE = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": 3,
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": 1,
    "MLFLOW_HTTP_REQUEST_TIMEOUT": 30,
}
"""The most patience MLflow's client gets in a worker and its work horses: 3 retries 1, 2
and 4 s apart, 30 s per request (a lower configured value is kept)."""
MLFLOW_DEFAULT_PATIENCE = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "120",
}
"""MLflow's own defaults, which kernels keep unless configured otherwise."""

RQ_HEARTBEAT_GRACE = 75.0
"""Seconds after a Redis restart before RQ's own registry cleaning runs: RQ's job heartbeats
last 60 s past the monitoring interval, and could not be renewed while Redis was down."""


class DioptraWorker(Worker):
    """RQ's forking worker plus the bookkeeping of job states, attempts, workspaces and warm
    kernels (see the module's documentation).

    Each job's work horse gets the next warm kernel of :attr:`kernels` (see
    :mod:`dioptra_lab.engine.kernels`); the worker shuts that kernel down as soon as the
    horse is gone, whatever became of the job, and the pool warms the next one.
    """

    job_class = GuardedJob
    kernels: KernelPool | None = None
    reconciler_pid: int = 0
    _kernel: WarmKernel | None = None
    _attempt: int = 0
    _horse_job: str | None = None
    _workspace: Path | None = None

    # -- heartbeats ----------------------------------------------------------------------
    @property
    def dequeue_timeout(self) -> int:
        # wake up (and beat) within half the heartbeat timeout, even when no job comes
        return max(1, int(min(self.worker_ttl - 15, heartbeat_timeout() / 2)))

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            return
        try:
            with self.connection.pipeline() as pipe:
                super().heartbeat(timeout, pipe)
                created = pipe.execute()[0]
            if created:  # the registration expired (Redis was away): register again
                self._register_again()
        except RedisError as exc:
            self.log.warning("Worker %s: heartbeat not recorded: %s", self.name, exc)

    def maintain_heartbeats(self, job: Any) -> None:
        from rq import worker_registration

        try:
            with self.connection.pipeline() as pipe:
                super().heartbeat(self.job_monitoring_interval + 60, pipeline=pipe)
                ttl = int(self.get_heartbeat_ttl(job))
                if self.execution is not None:
                    self.execution.heartbeat(job.started_job_registry, ttl, pipeline=pipe)
                index = len(pipe)
                job.heartbeat(now(), ttl, pipeline=pipe, xx=True)
                worker_registration.register(self, pipe)
                results = pipe.execute()
                if results[index] == 1:  # the job was deleted meanwhile (see RQ's own version)
                    pipe.delete(job.key)
                if results[0] == 1:
                    pipe.hset(
                        self.key, mapping={**self.serialize(), "state": self._state, "current_job": job.id}
                    )
                pipe.execute()
        except RedisError as exc:
            self.log.warning("Worker %s: heartbeats not recorded: %s", self.name, exc)

    def _register_again(self) -> None:
        from rq import worker_registration

        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, mapping={**self.serialize(), "state": self._state})
            worker_registration.register(self, pipe)
            pipe.expire(self.key, self.worker_ttl + 60)
            pipe.execute()
        self.log.info("Worker %s: registered again", self.name)

    # -- RQ's calls that may meet a Redis restart ------------------------------------------
    def set_state(self, state: str, pipeline: Any = None) -> None:
        try:
            super().set_state(state, pipeline)
        except RedisError as exc:
            self.log.warning("Worker %s: state %s not recorded: %s", self.name, state, exc)

    def set_current_job_working_time(self, current_job_working_time: float, pipeline: Any = None) -> None:
        try:
            super().set_current_job_working_time(current_job_working_time, pipeline)
        except RedisError as exc:
            self.log.warning("Worker %s: working time not recorded: %s", self.name, exc)

    def check_for_suspension(self, burst: bool) -> None:
        try:
            super().check_for_suspension(burst)
        except RedisError as exc:
            self.log.warning("Worker %s: Redis does not answer: %s", self.name, exc)
            time.sleep(1.0)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        wait = 1.0
        while True:
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except RedisError as exc:
                self.log.error("Worker %s: Redis does not answer (%s); again in %.0f s", self.name, exc, wait)
                time.sleep(wait)
                wait = min(wait * 2, 30.0)

    def execute_job(self, job: Any, queue: Any) -> None:
        try:
            super().execute_job(job, queue)
        except RedisError as exc:  # the horse is gone; the reconcilers settle its job
            self.log.error("Worker %s: job %s: Redis failed around it: %s", self.name, job.id, exc)

    # -- stopping --------------------------------------------------------------------
    def subscribe(self) -> None:
        """RQ's command channel, listened to by a thread that checks for its stop every
        second: RQ's own waits up to 60 s per read, and redis-py's ``stop()`` joins the thread
        after unsubscribing, so a SIGTERM'd worker could take a minute to exit (found in CI:
        a stopped worker still running 30 s later, its kernels with it)."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=1.0, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def request_stop(self, signum: Any, frame: Any) -> None:
        """Warm shutdown (RQ's), and no kernel is warmed from now on: a zygote still
        importing is stopped at once rather than at the end of the main loop."""
        if self.kernels is not None:
            self.kernels.stop_warming()
        super().request_stop(signum, frame)

    def register_death(self) -> None:
        try:
            super().register_death()
        except RedisError as exc:
            self.log.warning("Worker %s: death not recorded: %s", self.name, exc)

    # -- maintenance -------------------------------------------------------------------
    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()
        except RedisError as exc:
            self.log.warning("Worker %s: maintenance skipped: %s", self.name, exc)
        self.ensure_reconciler()

    def clean_registries(self) -> None:
        """RQ's registry cleaning, one process per queue at a time (with the reapers), and
        not right after a Redis restart (its job heartbeats could not be renewed). A job
        whose horse still beats is not taken for abandoned, even if its worker is stopped."""
        from rq import worker_registration
        from rq.registry import clean_registries

        if redis_uptime(self.connection) >= RQ_HEARTBEAT_GRACE:
            for queue in self.queues:
                with reaping(self.connection, queue.name) as taken:
                    if not (taken and queue.acquire_maintenance_lock()):
                        continue
                    try:
                        self.log.info("Worker %s: cleaning registries for queue: %s", self.name, queue.name)
                        renew_beating_jobs(self.connection, queue.name)  # the horse's beat decides
                        clean_registries(queue, self._exc_handlers)
                        worker_registration.clean_worker_registry(queue)
                        queue.intermediate_queue.cleanup(self, queue)
                    finally:
                        queue.release_maintenance_lock()
        self.last_cleaned_at = now()  # type: ignore[assignment]

    def ensure_reconciler(self) -> None:
        """(Re)start this worker's reconciler process if it is not running."""
        if self.reconciler_pid:
            try:
                ended, _ = os.waitpid(self.reconciler_pid, os.WNOHANG)
            except ChildProcessError:
                ended = self.reconciler_pid
            if not ended:
                return
            self.log.warning("Worker %s: its reconciler ended; starting another", self.name)
        self.reconciler_pid = reconciler.start(self.name, self.queue_names())

    def stop_reconciler(self) -> None:
        if self.reconciler_pid and pid_alive(self.reconciler_pid):
            os.kill(self.reconciler_pid, signal.SIGTERM)
            try:
                os.waitpid(self.reconciler_pid, 0)
            except ChildProcessError:
                pass
        self.reconciler_pid = 0

    # -- one job -----------------------------------------------------------------------
    def fork_work_horse(self, job: Any, queue: Any) -> None:
        # after prepare_execution: the job is registered as started
        self._kernel, self._workspace, self._attempt, self._horse_job = None, None, 0, None
        for name in (ATTEMPT_ENV, WORKSPACE_ENV):
            os.environ.pop(name, None)
        if not job.allowed:  # its horse refuses it at once: no attempt, workspace or kernel
            super().fork_work_horse(job, queue)
            return
        self._horse_job = job.id
        self._attempt = lifecycle.begin_attempt(job.id)
        self._workspace = job_workspace(job.id, os.getpid())
        os.environ[ATTEMPT_ENV] = str(self._attempt)
        os.environ[WORKSPACE_ENV] = str(self._workspace)
        self._kernel = self._take_kernel(job)
        hand_over(self._kernel.handle if self._kernel else None)
        try:
            super().fork_work_horse(job, queue)
        except BaseException:
            self._after_horse()
            raise
        finally:
            hand_over(None)

    def _take_kernel(self, job: Any) -> WarmKernel | None:
        """The warm kernel for the job, waiting up to :data:`KERNEL_WAIT` seconds for the
        one warming, and beating for the job meanwhile; never loses the job over a kernel."""
        if self.kernels is None:
            return None
        deadline = time.monotonic() + KERNEL_WAIT
        while True:
            asked = time.monotonic()
            try:
                kernel = self.kernels.take(max(0.0, min(1.0, deadline - asked)))
            except Exception as exc:  # the job starts its own
                self.log.warning("no warm kernel for job %s: %s", job.id, exc)
                return None
            done = time.monotonic()
            if kernel is not None or done >= deadline or done - asked < 0.5:  # got one, or none coming
                return kernel
            self.maintain_heartbeats(job)
            try:
                job.meta["heartbeat"] = time.time()
                job.save_meta()
            except RedisError:
                pass

    def monitor_work_horse(self, job: Any, queue: Any) -> None:
        try:
            super().monitor_work_horse(job, queue)
        finally:
            self._after_horse()
        if self._horse_job == job.id:
            self._settle_after_horse(job)

    def _after_horse(self) -> None:
        """The horse is gone: its kernel and workspace go too."""
        kernel, self._kernel = self._kernel, None
        if kernel is not None and self.kernels is not None:
            self.kernels.release(kernel)  # a kernel never outlives its job
        workspace, self._workspace = self._workspace, None
        if workspace is not None:
            shutil.rmtree(workspace, ignore_errors=True)
        for name in (ATTEMPT_ENV, WORKSPACE_ENV):  # no later child inherits them
            os.environ.pop(name, None)

    def _settle_after_horse(self, job: Any) -> None:
        """The horse ended and RQ has its word: a job the horse left live takes RQ's state."""
        try:
            found = lifecycle.record(job.id)
            if found is not None and found.live and found.attempt == self._attempt:
                settle(self.connection, job.id, found, job.get_status(refresh=True))
        except Exception as exc:  # the reconciler settles it
            self.log.warning("Worker %s: job %s not settled: %s", self.name, job.id, exc)

    def superseded(self, job: Any) -> bool:
        """Whether a newer attempt at this process's job began elsewhere (its attempt was
        taken for abandoned, say while this worker was stopped, and retried): RQ's job then
        belongs to that attempt, and this one must neither retry, fail nor finish it."""
        if self._horse_job != job.id:
            return False
        try:
            return lifecycle.superseded(job.id, self._attempt, self.connection)
        except Exception:  # a record that does not read: RQ's own handling goes on
            return False

    def _leave_to_newer_attempt(self, job: Any, what: str) -> None:
        """RQ's bookkeeping of this execution only: it leaves the started registry and the
        worker is free; the job's status, retries and result are the newer attempt's."""
        self.log.warning(
            "Worker %s: job %s, attempt %s: a newer attempt runs it; this one's %s changes nothing",
            self.name,
            job.id,
            self._attempt,
            what,
        )
        try:
            with self.connection.pipeline() as pipe:
                self.cleanup_execution(job, pipeline=pipe)
                pipe.execute()
        except RedisError as exc:
            self.log.warning("Worker %s: execution of job %s not cleaned up: %s", self.name, job.id, exc)

    def handle_job_success(self, job: Any, queue: Any, started_job_registry: Any) -> None:
        # in the horse: an attempt that was superseded (and so did not run) finishes nothing
        if self.superseded(job):
            self._leave_to_newer_attempt(job, "end")
            return
        super().handle_job_success(job, queue, started_job_registry)

    def handle_job_failure(
        self, job: Any, queue: Any, started_job_registry: Any = None, exc_string: str = ""
    ) -> None:
        if self.superseded(job):  # its horse gave up for the newer attempt: RQ's job is that one's
            self._stopped_job_id = None
            self._leave_to_newer_attempt(job, "failure")
            return
        # in the worker, for its own horse's job: record its fate before RQ retries or fails it
        if not self.is_horse and self._horse_job == job.id and self._attempt:
            stopped = self._stopped_job_id == job.id
            try:
                close_run_after_horse(
                    job, self._attempt, stopped, job.should_retry and not stopped, exc_string
                )
            except Exception as exc:  # the reconcilers settle it from RQ's state
                self.log.warning("Worker %s: could not record job %s: %s", self.name, job.id, exc)
        super().handle_job_failure(job, queue, started_job_registry, exc_string)


def close_run_after_horse(job: Any, attempt: int, stopped: bool, will_retry: bool, why: str = "") -> None:
    """The horse of ``attempt`` died without ending its job (killed, or stopped by a cancel):
    record it, before RQ retries or fails the job. A job the horse ended stays as it is."""
    if stopped:
        lifecycle.cancel(job.id, attempt)
        return
    detail = why.strip().splitlines()[-1][:500] if why.strip() else ""
    reason = "work horse terminated; retrying" if will_retry else "work horse terminated unexpectedly"
    lifecycle.fail(job.id, Failure(reason, "WorkHorseKilled", detail), will_retry=will_retry, attempt=attempt)


def remove_dead_workspaces(folder: Path | None = None) -> list[Path]:
    """Remove the job workspaces whose worker is dead (``…-w<pid>-…`` names); return them."""
    removed = []
    owner = re.compile(rf"^{re.escape(WORKSPACE_PREFIX)}[0-9A-Za-z]+-w(\d+)-")
    for path in Path(folder or tempfile.gettempdir()).glob(f"{WORKSPACE_PREFIX}*"):
        found = owner.match(path.name)
        if found and path.is_dir() and not pid_alive(int(found.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def bound_mlflow_patience() -> dict[str, str]:
    """Cap MLflow's retries in this process (:data:`WORKER_MLFLOW_PATIENCE`); return the
    settings kernels keep: the configured ones, else MLflow's defaults."""
    kernels = {}
    for name, most in WORKER_MLFLOW_PATIENCE.items():
        configured = os.environ.get(name, "").strip()
        kernels[name] = configured or MLFLOW_DEFAULT_PATIENCE[name]
        try:
            value = min(int(configured), most) if configured else most
        except ValueError:
            value = most
        os.environ[name] = str(value)
    return kernels


def preload_for_horses() -> None:
    """Import, once in the worker, what every work horse needs (it is forked from here):
    MLflow's client, Papermill, nbclient and nbformat's schema. Never torch or a plugin.

    MLflow's first request in a process resolves its request headers: it reads its plugins'
    entry points and, to ask whether it runs in a Databricks notebook, imports IPython —
    about 100 ms of a work horse's start when left to it (measured with cProfile in the
    horse: 85 modules, IPython 54-95 ms, the header registry 28 ms).
    """
    import mlflow.tracking  # noqa: F401
    import nbformat
    import papermill  # noqa: F401
    from mlflow.tracking.request_header.registry import resolve_request_headers
    from nbclient import NotebookClient  # noqa: F401

    nbformat.validate(nbformat.v4.new_notebook())
    resolve_request_headers()


def run_worker(
    queues: list[str], *, gpu: str | None = None, name: str | None = None, burst: bool = False
) -> bool:
    """Serve ``queues`` until stopped (or until empty with ``burst``).

    ``gpu`` sets ``CUDA_VISIBLE_DEVICES`` for the kernels this worker starts; the worker's
    own process never touches CUDA. The worker keeps ``DIOPTRA_LAB_WARM_KERNELS`` (default
    1) warm kernels ready, and shuts them down when it stops; its reconciler process runs
    beside it (see the module's documentation).
    """
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # the worker's kernels inherit it
    execute.KERNEL_MLFLOW_PATIENCE.update(bound_mlflow_patience())
    be_patient()
    conn = redis_connection(patient=True)
    remove_dead_workspaces()
    preload_for_horses()
    worker_name = name or f"dioptra-{socket.gethostname()}-{os.getpid()}" + (f"-gpu{gpu}" if gpu else "")
    beat = heartbeat_timeout()
    worker = DioptraWorker(
        queues,
        connection=conn,
        serializer=serializer(),
        name=worker_name,
        job_monitoring_interval=max(1, int(min(5.0, beat / 3))),
        maintenance_interval=30,
    )
    # forked before any thread starts; from here on, this process writes job states to Redis
    # only and its reconciler writes them to MLflow
    worker.ensure_reconciler()
    lifecycle.defer_sync(lambda job_id: reconciler.request_sync(worker_name, job_id))
    count = warm_kernel_count()
    if count:
        logs = load_settings().home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        pool = KernelPool(count, environment=stack_environment, log_path=logs / "kernels.log")
        worker.kernels = pool.start()
    try:
        return bool(worker.work(burst=burst, logging_level="INFO", with_scheduler=False))
    finally:
        worker.stop_reconciler()
        if worker.kernels is not None:
            worker.kernels.close()
