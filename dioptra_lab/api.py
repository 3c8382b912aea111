"""The one Python API under every interface.

Each action is one function here returning a view from :mod:`dioptra_lab.models` (or a
handle such as :class:`~dioptra_lab.jobs.Job`): the command line prints it, the notebook
widgets render it, the REST API serves its ``to_json()``. Nothing is implemented twice.
This module sits on top of the layers (it may import all of them); nothing but the user
interfaces imports it. The most used functions are re-exported as ``dioptra_lab.run``,
``dioptra_lab.compile``, ``dioptra_lab.submit`` and so on.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.models import (
    BrokenPluginInfo,
    EntryPointInfo,
    ExperimentResults,
    JobInfo,
    ServiceInfo,
    StackStatus,
    TaskInfo,
)

if TYPE_CHECKING:
    import nbformat

    from dioptra_lab.engine.results import RunResult

EntryPointLike = str | Path | EntryPoint


def _load(entrypoint: EntryPointLike) -> EntryPoint:
    return entrypoint if isinstance(entrypoint, EntryPoint) else load_entrypoint(entrypoint)


# -- tasks -----------------------------------------------------------------------------------
def list_tasks() -> list[TaskInfo]:
    """Every registered task, sorted by plugin and name."""
    from dioptra_lab.plugins.registry import get_registry

    return [spec.info() for spec in get_registry().list_tasks()]


def broken_plugins() -> list[BrokenPluginInfo]:
    """The plugins that failed to import, with their reasons."""
    from dioptra_lab.plugins.registry import get_registry

    registry = get_registry()
    registry.discover()
    return [BrokenPluginInfo(b.module, b.location, b.reason) for b in registry.broken]


def task_info(name: str) -> TaskInfo:
    """One task by short or qualified name.

    Raises:
        UnknownTaskError: no such task (the message suggests close names).
    """
    from dioptra_lab.plugins.registry import get_registry

    return get_registry().get(name).info()


# -- entry points --------------------------------------------------------------------------
def describe(entrypoint: EntryPointLike) -> EntryPointInfo:
    """An entry point's parameters, graph and problems (problems are listed, not raised)."""
    from dioptra_lab.entrypoints.info import entrypoint_info

    return entrypoint_info(_load(entrypoint))


def validate(entrypoint: EntryPointLike) -> EntryPointInfo:
    """Check an entry point; return its view when valid.

    Raises:
        EntryPointError: every problem at once, each with its place.
    """
    from dioptra_lab.entrypoints.info import entrypoint_info

    return entrypoint_info(_load(entrypoint).validate())


def compile(entrypoint: EntryPointLike, output: str | Path | None = None) -> nbformat.NotebookNode:  # noqa: A001
    """A Papermill-ready notebook that runs the entry point (written to ``output`` if given)."""
    from dioptra_lab.entrypoints.compile import compile_entrypoint, write_notebook

    nb = compile_entrypoint(_load(entrypoint))
    if output is not None:
        write_notebook(nb, output)
    return nb


def run(entrypoint: EntryPointLike, /, verbose: bool = False, **params: Any) -> RunResult:
    """Run an entry point's graph in this process (for debugging in a notebook).

    Starts the stack's Prefect server first when none answers, as `dioptra-lab run` does.
    In a notebook the run shows one progress line that updates in place, and the INFO lines
    of MLflow and Prefect stay out of the cell unless ``verbose``; elsewhere each step's
    line is printed.

    Raises:
        EntryPointError, ParameterError: the entry point or the values are invalid.
        StepFailedError: a step raised; names the step, the exception and its message.
    """
    from dioptra_lab.display import ProgressLine, in_kernel, quiet_logs
    from dioptra_lab.engine import progress, run_entrypoint
    from dioptra_lab.stack import Stack

    ep = _load(entrypoint).validate()
    Stack().ensure_prefect(announce=lambda message: print(message, file=sys.stderr))  # noqa: T201
    line = ProgressLine(ep.name) if in_kernel() and not verbose else None
    if line is not None:
        progress.add_listener(line)
    try:
        with quiet_logs(verbose or not in_kernel()):
            result = run_entrypoint(ep, params, quiet=line is not None)
    except Exception:
        if line is not None:
            line.done("failed (see the error below)")
        raise
    finally:
        if line is not None:
            progress.remove_listener(line)
    if line is not None:
        line.done(f"{len(result.steps)} steps in {result.seconds:.2f}s")
    return result


# -- jobs ------------------------------------------------------------------------------------
def job_info(job_id: str) -> JobInfo:
    """A job's status, progress, timings and failure."""
    from dioptra_lab.jobs import Job

    return Job(job_id).info()


def list_jobs(experiment: str | None = None, limit: int = 50) -> list[JobInfo]:
    """Recent jobs, newest first (of one experiment, or of all)."""
    from dioptra_lab.jobs import list_jobs as jobs

    return jobs(experiment, limit)


def cancel(job_id: str) -> JobInfo:
    """Cancel a queued or running job; return its info afterwards."""
    from dioptra_lab.jobs import Job

    job = Job(job_id)
    job.cancel()
    return job.info()


def results(experiment: str) -> ExperimentResults:
    """The runs of an experiment with their parameters and metrics.

    Raises:
        DioptraLabError: no such experiment (the message lists those there are).
    """
    from dioptra_lab.tracking.results import experiment_results

    return experiment_results(experiment)


# -- the stack -------------------------------------------------------------------------------
def stack_status() -> StackStatus:
    """Services of the embedded stack, and the queues and workers Redis knows.

    A Redis that does not answer is not an error here: ``problem`` says why the queues and
    workers are missing, so a status page can still show the services.
    """
    from dioptra_lab.errors import DioptraLabError
    from dioptra_lab.jobs.queues import queue_report
    from dioptra_lab.stack import Stack

    stack = Stack()
    services = [ServiceInfo(s.name, s.running, s.pid, s.url, s.details.get("ui")) for s in stack.status()]
    try:
        queues, workers = queue_report()
    except DioptraLabError as exc:
        return StackStatus(str(stack.home), services, problem=str(exc))
    return StackStatus(str(stack.home), services, queues, workers)


def job_logs(job_id: str) -> str:
    """The kernel output of a job so far (live while it runs, then from its run)."""
    from dioptra_lab.jobs import Job

    return Job(job_id).logs()


def experiments() -> list[str]:
    """The names of every MLflow experiment, oldest first."""
    from dioptra_lab.tracking.results import experiment_names

    return experiment_names()


def queue_names() -> list[str]:
    """The queues Redis knows plus the default one, sorted (for pickers)."""
    from dioptra_lab.config import load_settings
    from dioptra_lab.jobs.queues import queue_report

    queues, workers = queue_report()
    names = {q.name for q in queues} | {n for w in workers for n in w.queues}
    return sorted(names | {load_settings().default_queue})


def registered_models() -> list[str]:
    """``models:/NAME/VERSION`` URIs of every registered model version, newest first."""
    from dioptra_lab.tracking.client import client

    versions = client().search_model_versions()
    ordered = sorted(versions, key=lambda v: (v.name, -int(v.version)))
    return [f"models:/{v.name}/{v.version}" for v in ordered]


def run_artifact(run_id: str, path: str) -> bytes:
    """The bytes of one artifact of a run (a figure under ``figures/``, a notebook, a log)."""
    import tempfile

    from dioptra_lab.errors import DioptraLabError
    from dioptra_lab.tracking.client import client

    with tempfile.TemporaryDirectory() as tmp:
        try:
            return Path(client().download_artifacts(run_id, path, tmp)).read_bytes()
        except Exception as exc:
            raise DioptraLabError(f"run {run_id} has no artifact {path!r} ({exc})") from exc


def run_figures(run_id: str) -> list[str]:
    """The paths of the figures a run logged (``figures/*.png``)."""
    from dioptra_lab.tracking.client import client

    return sorted(f.path for f in client().list_artifacts(run_id, "figures") if f.path.endswith(".png"))


def mlflow_links(experiment: str, run_id: str) -> dict[str, str]:
    """Addresses of a job's run in the MLflow UI: ``run`` (its page) and ``notebook`` (the
    executed notebook, once the job ended); empty when no MLflow server is configured."""
    from dioptra_lab.config import load_settings
    from dioptra_lab.jobs.job import EXECUTED_NOTEBOOK
    from dioptra_lab.tracking.client import client

    uri = (load_settings().mlflow_tracking_uri or "").rstrip("/")
    if not uri.startswith(("http://", "https://")):
        return {}
    found = client().get_experiment_by_name(experiment) if experiment else None
    run = f"{uri}/#/experiments/{found.experiment_id}/runs/{run_id}" if found else f"{uri}/#/"
    return {"run": run, "notebook": f"{uri}/get-artifact?path={EXECUTED_NOTEBOOK}&run_uuid={run_id}"}


def reload_plugins() -> list[TaskInfo]:
    """Import every plugin again (picks up edited plugin files); return the tasks now registered."""
    from dioptra_lab.plugins.registry import get_registry

    return [spec.info() for spec in get_registry().reload().list_tasks()]
