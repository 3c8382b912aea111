"""``execute_job(run_id)``: what a work horse does for one job.

Mark the run RUNNING → fetch the bundle and verify its hash → materialize it in a
fresh temporary workspace → Papermill runs the compiled notebook in a fresh kernel
(the warm one the worker handed over, moved into the workspace, or one started here)
whose environment points MLflow at the run and Prefect at the stack → upload the
executed notebook and the kernel's output → FINISHED, or FAILED with the step, the
exception and the traceback. This runs in RQ's forked work horse, so nothing here
leaks into the worker's own process (and the worker never initializes CUDA).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import traceback
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
from dioptra_lab.models import Failure, JobStatus
from dioptra_lab.tracking import runs
from dioptra_lab.tracking.bundles import Bundle, download_bundle
from dioptra_lab.tracking.client import client, require_mlflow
from dioptra_lab.worker.live import KernelOutput, LiveFeed


def failure_of(exc: BaseException) -> Failure:
    """What went wrong, as data: a timeout, a failing step or cell, or any other error."""
    from rq.timeouts import JobTimeoutException

    if isinstance(exc, JobTimeoutException):
        return Failure("timeout", type(exc).__name__, str(exc))
    if isinstance(exc, ExecutionError):
        return exc.failure
    return Failure("error", type(exc).__name__, str(exc))


def _kernel_environment(run_id: str, tracking_uri: str, plugins: Path, progress: Path) -> dict[str, str]:
    return {
        **stack_environment(),
        "MLFLOW_RUN_ID": run_id,
        "MLFLOW_TRACKING_URI": tracking_uri,
        PLUGIN_PATH_ENV: str(plugins),
        PROGRESS_FILE_ENV: str(progress),
        "DIOPTRA_LAB_JOB_ID": run_id,
    }


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


def _upload(run_id: str, path: Path, artifact_dir: str) -> None:
    if path.is_file():
        client().log_artifact(run_id, str(path), artifact_dir)


def execute_job(run_id: str) -> dict[str, Any]:
    """Run one job (called by RQ in the work horse with the run id as only argument)."""
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        raise RuntimeError("execute_job runs inside an RQ worker")
    tracking_uri = require_mlflow()
    attempt = int(job.meta.get("attempt", 0)) + 1
    job.meta["attempt"] = attempt
    job.save_meta()
    run = client().get_run(run_id)  # status and tags in one round trip
    worker = os.environ.get("RQ_WORKER_ID", "?")
    lifecycle.start(run_id, worker, attempt, JobStatus.from_mlflow(run.info.status))
    workspace = Path(tempfile.mkdtemp(prefix=f"dioptra-lab-job-{run_id[:8]}-"))
    output = KernelOutput(workspace / "kernel.log", redis_connection(check=False), run_id)
    feed = LiveFeed(job, workspace, output=output).start()
    executed = workspace / "executed.ipynb"
    try:
        tags = run.data.tags
        expected = tags.get(runs.TAG_BUNDLE_SHA)
        bundle = queued_bundle(job, expected) or download_bundle(client(), run_id, expected)
        notebook, plugins = bundle.materialize(workspace)
        environment = _kernel_environment(run_id, tracking_uri, plugins, feed.progress_file)
        os.environ.update(environment)  # a kernel started here inherits it; a warm one is given it
        kernel = handed_kernel()
        how = f"warm kernel (pid {kernel.pid})" if kernel else "fresh kernel"
        output.write(f"[dioptra-lab] job {run_id}, attempt {attempt}, bundle {bundle.sha256[:12]}, {how}\n")
        timeout = tags.get(runs.TAG_TIMEOUT)
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
        trace = workspace / "traceback.txt"
        trace.write_text("".join(traceback.format_exception(exc)))
        _upload(run_id, trace, str(Path(TRACEBACK).parent))
        _finish_artifacts(run_id, feed, output, executed)
        will_retry = bool(job.retries_left and job.retries_left > 0)
        lifecycle.fail(run_id, failure_of(exc), will_retry=will_retry)
        shutil.rmtree(workspace, ignore_errors=True)
        raise
    _finish_artifacts(run_id, feed, output, executed)
    lifecycle.finish(run_id)
    shutil.rmtree(workspace, ignore_errors=True)
    return {"run_id": run_id, "status": "FINISHED"}


def _finish_artifacts(run_id: str, feed: LiveFeed, output: KernelOutput, executed: Path) -> None:
    feed.stop()
    output.close()
    _upload(run_id, executed, str(Path(EXECUTED_NOTEBOOK).parent))
    _upload(run_id, output.path, str(Path(KERNEL_LOG).parent))
