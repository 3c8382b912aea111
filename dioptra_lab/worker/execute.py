"""``execute_job(run_id)``: what a work horse does for one job.

Mark the job running (for the attempt its worker began) → fetch the bundle and verify its
hash → materialize it in the fresh workspace its worker made → Papermill runs the compiled
notebook in a fresh kernel (the warm one the worker handed over, moved into the workspace,
or one started here) whose environment points MLflow at the run and Prefect at the stack →
upload the executed notebook and the kernel's output → finished, or failed with the step,
the exception and the traceback. This runs in RQ's forked work horse, so nothing here
leaks into the worker's own process (and the worker never initializes CUDA).

States go through :mod:`dioptra_lab.jobs.lifecycle` (Redis first, then MLflow); uploads are
best effort: an MLflow that does not answer costs an artifact (the kernel's output stays in
Redis), never the job's state. A horse whose worker died records nothing: the job is
abandoned, and the reaper fails or retries it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from dioptra_lab.config import PLUGIN_PATH_ENV
from dioptra_lab.engine.kernels import handed_kernel, stack_environment
from dioptra_lab.engine.notebook_run import execute_notebook
from dioptra_lab.engine.progress import PROGRESS_FILE_ENV
from dioptra_lab.entrypoints.compile import KERNEL_NAME
from dioptra_lab.errors import DioptraLabError, ExecutionError
from dioptra_lab.jobs import lifecycle
from dioptra_lab.jobs.connection import BUNDLE_CODE_KEY, redis_connection
from dioptra_lab.jobs.job import EXECUTED_NOTEBOOK, KERNEL_LOG, TRACEBACK
from dioptra_lab.models import Failure
from dioptra_lab.tracking import runs
from dioptra_lab.tracking.bundles import Bundle, download_bundle
from dioptra_lab.tracking.client import ARTIFACT_URI_ENV, client, remember_artifact_uri, require_mlflow
from dioptra_lab.worker.live import KernelOutput, LiveFeed


def failure_of(exc: BaseException) -> Failure:
    """What went wrong, as data: a timeout, a failing step or cell, or any other error."""
    from rq.timeouts import JobTimeoutException

    if isinstance(exc, JobTimeoutException):
        return Failure("timeout", type(exc).__name__, str(exc))
    if isinstance(exc, ExecutionError):
        return exc.failure
    return Failure("error", type(exc).__name__, str(exc))


ATTEMPT_ENV = "DIOPTRA_LAB_ATTEMPT"
"""The attempt the worker began for the job it hands its work horse (see lifecycle.begin_attempt)."""
WORKSPACE_ENV = "DIOPTRA_LAB_WORKSPACE"
"""The folder the worker made for the job it hands its work horse (it removes it after)."""
WORKSPACE_PREFIX = "dioptra-lab-job-"

KERNEL_MLFLOW_PATIENCE: dict[str, str] = {}
"""MLflow's retry settings for kernels, where the worker's own are shorter (set by
``dioptra-lab worker``): a task logging during a short MLflow outage waits it out."""


def _kernel_environment(run_id: str, tracking_uri: str, plugins: Path, progress: Path) -> dict[str, str]:
    return {
        **stack_environment(),
        **KERNEL_MLFLOW_PATIENCE,
        "MLFLOW_RUN_ID": run_id,
        "MLFLOW_TRACKING_URI": tracking_uri,
        PLUGIN_PATH_ENV: str(plugins),
        PROGRESS_FILE_ENV: str(progress),
        "DIOPTRA_LAB_JOB_ID": run_id,
    }


def job_workspace(job_id: str, worker_pid: int | None = None) -> Path:
    """A new workspace for a job, named after it and the worker that owns it
    (``dioptra-lab-job-<id>-w<pid>-…`` in the temporary folder)."""
    safe = re.sub(r"[^0-9A-Za-z]", "", job_id)[:8] or "job"
    owner = f"w{worker_pid}-" if worker_pid else ""
    return Path(tempfile.mkdtemp(prefix=f"{WORKSPACE_PREFIX}{safe}-{owner}"))


def queued_bundle(job: Any, expected_sha256: str | None) -> Bundle | None:
    """The job's bundle from the queue's copy of its code (one Redis read), checked against
    the sha256 its run records; ``None`` when there is none (then MLflow's copy is used)."""
    code_sha, parameters = job.meta.get("bundle_code"), job.meta.get("parameters")
    if not (code_sha and expected_sha256 and isinstance(parameters, dict)):
        return None
    try:
        text = job.connection.get(BUNDLE_CODE_KEY.format(code_sha))
        return Bundle.from_code(json.loads(text), parameters, expected_sha256) if text else None
    except (DioptraLabError, ValueError, TypeError, OSError, RedisError):
        return None


def _upload(run_id: str, path: Path, artifact_dir: str, output: KernelOutput | None = None) -> None:
    """Upload one artifact; MLflow not answering loses the artifact, never the job's state."""
    if not path.is_file():
        return
    try:
        client().log_artifact(run_id, str(path), artifact_dir)
    except Exception as exc:
        if output is not None and not output.closed:
            output.write(
                f"[dioptra-lab] {artifact_dir}/{path.name} not uploaded: {type(exc).__name__}: {exc}\n"
            )


def execute_job(run_id: str) -> dict[str, Any]:
    """Run one job (called by RQ in the work horse with the run id as only argument).

    The worker began the attempt and made the workspace (see worker.process); run
    elsewhere, this begins and makes them itself. An attempt that is not the job's latest,
    or a job that has already ended, does not run.
    """
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        raise RuntimeError("execute_job runs inside an RQ worker")
    attempt = int(os.environ.get(ATTEMPT_ENV) or 0) or lifecycle.begin_attempt(run_id)
    given = os.environ.get(WORKSPACE_ENV)
    workspace = Path(given) if given and Path(given).is_dir() else job_workspace(run_id)
    output = KernelOutput(workspace / "kernel.log", redis_connection(check=False), run_id)
    # the heartbeat first: nothing below (MLflow may be slow) may pass for an abandoned job
    feed = LiveFeed(job, workspace, output=output, attempt=attempt).start()
    executed = workspace / "executed.ipynb"
    try:
        tracking_uri = require_mlflow()
        run = client().get_run(run_id)  # status and tags in one round trip
        remember_artifact_uri(run_id, run.info.artifact_uri)  # the uploads: no read of the run
        worker = os.environ.get("RQ_WORKER_ID", "?")
        if not lifecycle.start(run_id, worker, attempt, run=run):
            # a newer attempt began, or the job ended already (cancelled, say): never run twice
            now = lifecycle.status(run_id)
            output.write(f"[dioptra-lab] job {run_id}, attempt {attempt}: not run (it is {now.value})\n")
            feed.stop()
            output.close()
            shutil.rmtree(workspace, ignore_errors=True)
            return {"run_id": run_id, "status": now.mlflow, "ran": False}
        tags = run.data.tags
        expected = tags.get(runs.TAG_BUNDLE_SHA)
        bundle = queued_bundle(job, expected) or download_bundle(client(), run_id, expected)
        notebook, plugins = bundle.materialize(workspace)
        environment = _kernel_environment(run_id, tracking_uri, plugins, feed.progress_file)
        environment[ARTIFACT_URI_ENV] = run.info.artifact_uri or ""  # the kernel's uploads, likewise
        # a kernel started here inherits this process's environment; a warm one is given it
        own = {k: v for k, v in environment.items() if k not in KERNEL_MLFLOW_PATIENCE}
        os.environ.update(own)
        kernel = handed_kernel()
        how = f"warm kernel (pid {kernel.pid})" if kernel else "fresh kernel"
        output.write(f"[dioptra-lab] job {run_id}, attempt {attempt}, bundle {bundle.sha256[:12]}, {how}\n")
        timeout = tags.get(runs.TAG_TIMEOUT)
        with _patience_for_kernel(kernel is None):
            execute_notebook(
                notebook,
                executed,
                parameters=bundle.parameters,
                kernel_name=KERNEL_NAME,
                cwd=workspace,
                timeout=float(timeout) if timeout else None,
                stdout=output,
                stderr=output,
                kernel=kernel,
                environment=environment,
            )
    except BaseException as exc:
        if feed.orphaned:  # the worker died (its kernel with it): abandoned, for the reaper to handle
            feed.abandon("the worker process died")
        trace = workspace / "traceback.txt"
        trace.write_text("".join(traceback.format_exception(exc)))
        _upload(run_id, trace, str(Path(TRACEBACK).parent), output)
        _finish_artifacts(run_id, feed, output, executed)
        will_retry = bool(job.retries_left and job.retries_left > 0)
        lifecycle.fail(run_id, failure_of(exc), will_retry=will_retry, attempt=attempt)
        feed.stop()
        shutil.rmtree(workspace, ignore_errors=True)
        raise
    _finish_artifacts(run_id, feed, output, executed)
    lifecycle.finish(run_id, attempt)
    feed.stop()
    shutil.rmtree(workspace, ignore_errors=True)
    return {"run_id": run_id, "status": "FINISHED"}


@contextmanager
def _patience_for_kernel(starting: bool) -> Iterator[None]:
    """While a kernel is started here, this process's environment carries the kernels'
    MLflow patience (the kernel inherits it); this process keeps its own after."""
    if not starting or not KERNEL_MLFLOW_PATIENCE:
        yield
        return
    saved = {k: os.environ.get(k) for k in KERNEL_MLFLOW_PATIENCE}
    os.environ.update(KERNEL_MLFLOW_PATIENCE)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _finish_artifacts(run_id: str, feed: LiveFeed, output: KernelOutput, executed: Path) -> None:
    """Upload the executed notebook and the kernel's output. The heartbeat goes on until the
    job's end is recorded (an MLflow that is slow to take the uploads must not make the job
    look abandoned); the last progress event is recorded first."""
    feed.beat()
    _upload(run_id, executed, str(Path(EXECUTED_NOTEBOOK).parent), output)
    serialized = executed.parent / "artifacts"  # what Dioptra's artifact tasks wrote
    if serialized.is_dir():
        for path in sorted(p for p in serialized.rglob("*") if p.is_file()):
            folder = Path("artifacts") / path.parent.relative_to(serialized)
            _upload(run_id, path, folder.as_posix(), output)
    output.close()
    _upload(run_id, output.path, str(Path(KERNEL_LOG).parent))
