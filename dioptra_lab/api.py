"""The one Python API under every interface.

Each action is one function here returning a view from :mod:`dioptra_lab.models` (or a
handle such as :class:`~dioptra_lab.jobs.Job`): the command line prints it, the notebook
widgets render it, the REST API serves its ``to_json()``. Nothing is implemented twice.
This module sits on top of the layers (it may import all of them); nothing but the user
interfaces imports it. The most used functions are re-exported as ``dioptra_lab.run``,
``dioptra_lab.compile``, ``dioptra_lab.submit`` and so on.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.models import (
    BrokenPluginInfo,
    DashboardInfo,
    EntryPointFile,
    EntryPointInfo,
    ExperimentResults,
    JobInfo,
    JobStatus,
    LogChunk,
    ProblemInfo,
    ServiceInfo,
    StackStatus,
    TaskInfo,
)

if TYPE_CHECKING:
    import nbformat

    from dioptra_lab.engine.results import RunResult
    from dioptra_lab.entrypoints.dioptra_import import ImportReport
    from dioptra_lab.jobs.enqueue import SubmitOptions

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


def import_dioptra(
    source: str | Path, output: str | Path, *, config: str = "dioptra.toml", force: bool = False
) -> ImportReport:
    """Import a NIST Dioptra resource repository (a folder or a git URL with a ``dioptra.toml``):
    its plugins into ``output/plugins/``, each entry point as a complete Dioptra-format YAML in
    ``output/entrypoints/``; the report lists what could not be carried over.

    Raises:
        DioptraLabError: no such source, no or a malformed ``dioptra.toml``, ``output`` not empty.
    """
    from dioptra_lab.entrypoints.dioptra_import import import_dioptra as run_import

    return run_import(source, output, config=config, force=force)


def check(
    entrypoint: EntryPointLike,
    parameters: Mapping[str, Any] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
) -> list[ProblemInfo]:
    """Every problem at once: the entry point's, and those of the values (every combination
    of ``grid`` over ``parameters``) as a submission would check them. Empty when all is well.

    Raises:
        EntryPointError: the file does not exist or is not an entry point at all.
    """
    from dioptra_lab.errors import DioptraLabError, ParameterError
    from dioptra_lab.jobs.submit import check_sweep, sweep_grid

    ep = _load(entrypoint)
    problems = [ProblemInfo.of(p) for p in ep.problems]
    try:
        check_sweep(ep, sweep_grid(grid) if grid else [{}], parameters)
    except ParameterError as exc:
        problems.extend(ProblemInfo.of(p) for p in exc.problems)
    except DioptraLabError as exc:  # a malformed grid
        problems.append(ProblemInfo(str(exc), "grid"))
    return problems


def find_entrypoints(root: str | Path, limit: int = 1000) -> list[EntryPointFile]:
    """The entry point files under ``root``: YAML task graphs and notebooks with a cell tagged
    ``parameters`` (hidden folders, ``node_modules`` and checkpoints skipped)."""
    from dioptra_lab.entrypoints.files import find_entrypoint_files

    return find_entrypoint_files(Path(root), limit)


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


def list_jobs(
    experiment: str | None = None,
    limit: int = 50,
    *,
    statuses: Iterable[JobStatus] | None = None,
    sweep: str | None = None,
    offset: int = 0,
    with_progress: bool = False,
) -> list[JobInfo]:
    """Recent jobs, newest first (of one experiment, or of all).

    ``statuses`` and ``sweep`` filter, ``offset`` skips the newest (paging), and
    ``with_progress`` adds the progress of running jobs.
    """
    from dioptra_lab.jobs import list_jobs as jobs

    return jobs(experiment, limit, statuses=statuses, sweep=sweep, offset=offset, with_progress=with_progress)


def submit_jobs(
    entrypoint: EntryPointLike,
    parameters: Mapping[str, Any] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    **options: Unpack[SubmitOptions],
) -> tuple[list[JobInfo], str | None]:
    """Submit one job, or one per combination of ``grid`` (a sweep); return the jobs' infos
    and the sweep's id (``None`` for a single job). ``options`` as for
    :func:`dioptra_lab.submit`: ``experiment``, ``queue``, ``timeout``, ``retries``.

    Raises:
        EntryPointError, ParameterError: invalid entry point or values (nothing queued).
        ServiceError: Redis or MLflow is unreachable (nothing queued).
    """
    from dioptra_lab.jobs import submit, submit_sweep

    ep = _load(entrypoint)
    if grid:
        sweep = submit_sweep(ep, grid, parameters, **options)
        return [job.info() for job in sweep.jobs], sweep.id
    return [submit(ep, parameters, **options).info()], None


def rerun(job_id: str) -> JobInfo:
    """Run a job's bundle (same code, same parameters) again as a new job; return its info."""
    from dioptra_lab.jobs import Job

    return Job(job_id).rerun().info()


def job_notebook(job_id: str) -> nbformat.NotebookNode:
    """A job's executed notebook.

    Raises:
        UnknownJobError: no such job.
        NotReadyError: the job has not ended, so it has no executed notebook yet.
    """
    from dioptra_lab.jobs import Job

    return Job(job_id).notebook()


def _file_name(text: str) -> str:
    return re.sub(r"[^\w .,=+()\[\]-]", "_", text).strip(" .")[:100] or "_"


def save_job_notebook(job_id: str, folder: str | Path) -> Path:
    """Write a job's executed notebook to ``folder/<experiment>/<run name>-<id8>.ipynb``; return
    that path. Names are made safe for files; nothing is written outside ``folder``.

    Raises:
        UnknownJobError, NotReadyError: as :func:`job_notebook`.
    """
    import nbformat

    from dioptra_lab.errors import DioptraLabError

    info = job_info(job_id)
    notebook = job_notebook(job_id)
    base = Path(folder)
    name = f"{_file_name(info.run_name or info.entrypoint)}-{job_id[:8]}.ipynb"
    target = base / _file_name(info.experiment) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.parent.resolve().is_relative_to(base.resolve()):
        raise DioptraLabError(f"{target.parent} leads out of {base} (a symbolic link?); remove it")
    nbformat.write(notebook, str(target))
    return target


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
def _ui(service: str, url: str | None, details: dict[str, Any]) -> str | None:
    """The web page of a service for people: MLflow's and Prefect's UIs, the Lab."""
    if details.get("ui"):
        return str(details["ui"])
    if url and service == "mlflow":
        return url
    if url and service == "prefect":
        return url.removesuffix("/api")
    return None


def require_tracking() -> str:
    """The stack's MLflow address after checking that it answers.

    Raises:
        ServiceError: none is configured, or it does not answer (the message says to run
            `dioptra-lab up`).
    """
    from dioptra_lab.tracking.client import require_mlflow

    return require_mlflow()


def stack_status() -> StackStatus:
    """Services of the embedded stack, and the queues and workers Redis knows.

    A Redis that does not answer is not an error here: ``problem`` says why the queues and
    workers are missing, so a status page can still show the services.
    """
    from dioptra_lab.errors import DioptraLabError
    from dioptra_lab.jobs.queues import queue_report
    from dioptra_lab.stack import Stack

    stack = Stack()
    services = [
        ServiceInfo(s.name, s.running, s.pid, s.url, _ui(s.name, s.url, s.details)) for s in stack.status()
    ]
    try:
        queues, workers = queue_report()
    except DioptraLabError as exc:
        return StackStatus(str(stack.home), services, problem=str(exc))
    return StackStatus(str(stack.home), services, queues, workers)


def job_logs(job_id: str) -> str:
    """The kernel output of a job so far (live while it runs, then from its run)."""
    from dioptra_lab.jobs import Job

    return Job(job_id).logs()


def job_log_chunk(job_id: str, offset: int = 0) -> LogChunk:
    """A job's output from character ``offset`` on (what a viewer has not shown yet), the
    offset to ask for next, and whether the job has ended (then the text is complete).

    Raises:
        UnknownJobError: no such job.
    """
    from dioptra_lab.errors import DioptraLabError
    from dioptra_lab.jobs import Job

    if offset < 0:
        raise DioptraLabError(f"offset must be >= 0, got {offset}")
    job = Job(job_id)
    done = job.status.done  # read first: once done, the output read next is complete
    text = job.logs()
    return LogChunk(text[offset:], max(offset, len(text)), done)


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


def _mlflow_ui() -> str | None:
    from dioptra_lab.config import load_settings

    uri = (load_settings().mlflow_tracking_uri or "").rstrip("/")
    return uri if uri.startswith(("http://", "https://")) else None


def _run_pages(uri: str, runs: list[tuple[str, str]]) -> dict[str, str]:
    """The MLflow UI page of each ``(experiment, run id)``, by run id (one look-up per experiment)."""
    from dioptra_lab.tracking.client import client

    ids = {}
    for name in {experiment for experiment, _ in runs if experiment}:
        found = client().get_experiment_by_name(name)
        if found is not None:
            ids[name] = found.experiment_id
    return {
        run_id: f"{uri}/#/experiments/{ids[experiment]}/runs/{run_id}" if experiment in ids else f"{uri}/#/"
        for experiment, run_id in runs
    }


def job_links(infos: Iterable[JobInfo]) -> dict[str, str | None]:
    """The address of each job's run in the MLflow UI, by job id (``None`` without an MLflow
    server)."""
    infos = list(infos)
    uri = _mlflow_ui()
    if uri is None:
        return {info.id: None for info in infos}
    return dict(_run_pages(uri, [(info.experiment, info.id) for info in infos]))


def dashboards(root: str | Path | None = None) -> list[DashboardInfo]:
    """The Voila dashboards of the project at ``root`` (default: this project's root), with
    paths relative to ``root`` and, when the stack's standalone Voila runs, their pages there."""
    from dioptra_lab.config import load_settings
    from dioptra_lab.stack import Stack
    from dioptra_lab.stack.voila import dashboards_folder

    base = Path(root) if root is not None else load_settings().project_root or Path.cwd()
    folder = dashboards_folder(base)
    if not folder.is_dir():
        return []
    pages = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    served = Stack().dashboard_urls([p.stem for p in pages])
    return [
        DashboardInfo(page.stem, page.relative_to(base).as_posix(), url)
        for page, url in zip(pages, served, strict=True)
    ]


def mlflow_links(experiment: str, run_id: str) -> dict[str, str]:
    """Addresses of a job's run in the MLflow UI: ``run`` (its page) and ``notebook`` (the
    executed notebook, once the job ended); empty when no MLflow server is configured."""
    from dioptra_lab.jobs.job import EXECUTED_NOTEBOOK

    uri = _mlflow_ui()
    if uri is None:
        return {}
    run = _run_pages(uri, [(experiment, run_id)])[run_id]
    return {"run": run, "notebook": f"{uri}/get-artifact?path={EXECUTED_NOTEBOOK}&run_uuid={run_id}"}


def reload_plugins() -> list[TaskInfo]:
    """Import every plugin again (picks up edited plugin files); return the tasks now registered."""
    from dioptra_lab.plugins.registry import get_registry

    return [spec.info() for spec in get_registry().reload().list_tasks()]
