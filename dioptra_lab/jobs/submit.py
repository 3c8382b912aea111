"""Submit entry points (and sweeps of them) to the queue.

The order is the one of DESIGN.md: validate every parameter → check Redis and MLflow
→ build the bundle → create the run (SCHEDULED) → upload the bundle → enqueue
``execute_job(run_id)`` with RQ's JSON serializer. A failure after the run exists
marks the run FAILED, so nothing is left half done.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dioptra_lab.config import load_settings
from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.errors import DioptraLabError, ParameterError, ServiceError
from dioptra_lab.jobs.connection import FAILURE_CALLBACK, JOB_FUNCTION, get_queue, redis_connection
from dioptra_lab.jobs.job import Job
from dioptra_lab.plugins.registry import get_registry
from dioptra_lab.tracking import runs
from dioptra_lab.tracking.bundles import Bundle, build_bundle, upload_bundle
from dioptra_lab.tracking.client import client, require_mlflow

if TYPE_CHECKING:
    from redis import Redis

DEFAULT_RESULT_TTL = 7 * 24 * 3600


@dataclass
class JobOptions:
    """Where and how a job runs."""

    experiment: str | None = None
    queue: str | None = None
    timeout: float | None = None
    retries: int = 0
    extra_tags: dict[str, str] = field(default_factory=dict)

    def resolved(self) -> JobOptions:
        settings = load_settings()
        if self.retries < 0:
            raise DioptraLabError(f"retries must be >= 0, got {self.retries}")
        if self.timeout is not None and self.timeout <= 0:
            raise DioptraLabError(f"timeout must be a positive number of seconds, got {self.timeout}")
        return JobOptions(
            self.experiment or settings.default_experiment,
            self.queue or settings.default_queue,
            self.timeout,
            self.retries,
            dict(self.extra_tags),
        )


def _as_entrypoint(entrypoint: str | Path | EntryPoint) -> EntryPoint:
    ep = entrypoint if isinstance(entrypoint, EntryPoint) else load_entrypoint(entrypoint)
    return ep.validate()


def check_services() -> Redis:
    """Check Redis and MLflow answer (before anything is created); return the Redis connection."""
    conn = redis_connection()
    require_mlflow()
    return conn


def enqueue_bundle(
    bundle: Bundle, options: JobOptions, run_name: str | None = None, connection: Redis | None = None
) -> Job:
    """Create the run for ``bundle``, upload it and enqueue the job; roll back on failure.

    ``connection`` comes from :func:`check_services`; without it the services are checked here.
    """
    from rq import Callback, Retry

    conn = connection or check_services()
    tags = {
        runs.TAG_ENTRYPOINT: bundle.entrypoint_name,
        runs.TAG_ENTRYPOINT_SHA: bundle.content["entrypoint"]["sha256"],
        runs.TAG_BUNDLE_SHA: bundle.sha256,
        runs.TAG_QUEUE: str(options.queue),
        runs.TAG_TIMEOUT: str(options.timeout or ""),
        runs.TAG_RETRIES: str(options.retries),
        **{runs.TAG_PLUGIN_SHA + name: sha for name, sha in bundle.plugin_hashes().items()},
        **options.extra_tags,
    }
    run_id = runs.create_scheduled_run(
        str(options.experiment), run_name or bundle.entrypoint_name, bundle.parameters, tags
    )
    try:
        runs.set_tags(run_id, {runs.TAG_JOB: run_id})
        upload_bundle(client(), run_id, bundle)
        get_queue(str(options.queue), conn).enqueue(
            JOB_FUNCTION,
            run_id,
            job_id=run_id,
            job_timeout=int(options.timeout) if options.timeout else -1,
            retry=Retry(max=options.retries) if options.retries else None,
            on_failure=Callback(FAILURE_CALLBACK),
            result_ttl=DEFAULT_RESULT_TTL,
            failure_ttl=DEFAULT_RESULT_TTL,
            description=f"{bundle.entrypoint_name} ({run_id})",
            meta={"entrypoint": bundle.entrypoint_name, "experiment": options.experiment},
        )
    except Exception as exc:
        runs.finish(run_id, "FAILED", reason=f"submission failed: {type(exc).__name__}: {exc}")
        raise ServiceError(
            f"submission failed ({type(exc).__name__}: {exc}); run {run_id} was marked FAILED "
            "and nothing was queued"
        ) from exc
    return Job(run_id)


def submit(
    entrypoint: str | Path | EntryPoint,
    params: Mapping[str, Any] | None = None,
    *,
    experiment: str | None = None,
    queue: str | None = None,
    timeout: float | None = None,
    retries: int = 0,
    from_text: bool = False,
) -> Job:
    """Submit one job: an entry point with parameter values, to a queue.

    Args:
        entrypoint: a path (YAML or notebook) or a loaded :class:`EntryPoint`.
        params: parameter values (text when ``from_text``, as from a command line).
        experiment: MLflow experiment (default from settings: ``Default``).
        queue: RQ queue name (default ``cpu``).
        timeout: seconds before the job is stopped and its run marked FAILED (reason timeout).
        retries: how many times RQ retries a failed or abandoned job.
        from_text: parse values from text.

    Raises:
        EntryPointError, ParameterError: the entry point or values are invalid (nothing queued).
        ServiceError: Redis or MLflow is unreachable (nothing queued).
    """
    ep = _as_entrypoint(entrypoint)
    values = ep.coerce(params or {}, from_text=from_text)
    options = JobOptions(experiment, queue, timeout, retries).resolved()
    conn = check_services()
    bundle = build_bundle(ep, values, get_registry())
    return enqueue_bundle(bundle, options, connection=conn)


@dataclass
class Sweep:
    """Jobs submitted together over a grid of parameter values."""

    id: str
    jobs: list[Job]

    def wait(self, timeout: float | None = None) -> list[str]:
        """Wait for every job; return their final statuses."""
        return [job.wait(timeout).value for job in self.jobs]


def sweep_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of a grid, in order (the last name varies fastest)."""
    if not grid:
        raise DioptraLabError("a sweep needs at least one parameter with values")
    for name, values in grid.items():
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise DioptraLabError(f"sweep {name!r}: give a non-empty list of values")
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(grid[n] for n in names))]


def submit_sweep(
    entrypoint: str | Path | EntryPoint,
    grid: Mapping[str, Sequence[Any]],
    params: Mapping[str, Any] | None = None,
    *,
    experiment: str | None = None,
    queue: str | None = None,
    timeout: float | None = None,
    retries: int = 0,
    from_text: bool = False,
) -> Sweep:
    """Submit one job per combination of ``grid``, all sharing one bundle of code.

    Every combination is checked before anything is queued. The jobs carry the tag
    ``dioptra_lab.sweep_id`` so they can be compared later.
    """
    ep = _as_entrypoint(entrypoint)
    combos = sweep_grid(grid)
    problems: list[str] = []
    checked = []
    for combo in combos:
        try:
            checked.append(ep.coerce({**(params or {}), **combo}, from_text=from_text))
        except ParameterError as exc:
            problems.extend(p for p in exc.problems if p not in problems)
    if problems:
        raise ParameterError(problems)
    sweep_id = uuid.uuid4().hex[:12]
    options = JobOptions(experiment, queue, timeout, retries, {runs.TAG_SWEEP: sweep_id}).resolved()
    conn = check_services()
    bundle = build_bundle(ep, checked[0], get_registry())
    jobs = []
    for combo, values in zip(combos, checked, strict=True):
        label = ", ".join(f"{k}={v}" for k, v in combo.items())
        jobs.append(enqueue_bundle(bundle.with_parameters(values), options, f"{ep.name} [{label}]", conn))
    return Sweep(sweep_id, jobs)
