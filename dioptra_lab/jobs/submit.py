"""Submit entry points (and sweeps of them) to the queue.

The order is the one of DESIGN.md: validate every parameter → check Redis and MLflow
→ build the bundle → create the run (queued) → upload the bundle → enqueue
``execute_job(run_id)`` with RQ's JSON serializer (:mod:`dioptra_lab.jobs.enqueue`).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.errors import ParameterError, brief
from dioptra_lab.jobs.enqueue import JobOptions, SubmitOptions, check_services, enqueue_bundle
from dioptra_lab.jobs.job import Job, status_bundle
from dioptra_lab.plugins.registry import get_registry
from dioptra_lab.tracking import runs
from dioptra_lab.tracking.bundles import build_bundle


def _as_entrypoint(entrypoint: str | Path | EntryPoint) -> EntryPoint:
    ep = entrypoint if isinstance(entrypoint, EntryPoint) else load_entrypoint(entrypoint)
    return ep.validate()


def submit(
    entrypoint: str | Path | EntryPoint,
    params: Mapping[str, Any] | None = None,
    *,
    from_text: bool = False,
    **options: Unpack[SubmitOptions],
) -> Job:
    """Submit one job: an entry point with parameter values, to a queue.

    Args:
        entrypoint: a path (YAML or notebook) or a loaded :class:`EntryPoint`.
        params: parameter values (text when ``from_text``, as from a command line).
        from_text: parse values from text.
        **options: ``experiment``, ``queue``, ``timeout``, ``retries``
            (see :class:`~dioptra_lab.jobs.enqueue.SubmitOptions`).

    Raises:
        EntryPointError, ParameterError: the entry point or values are invalid (nothing queued).
        OptionError: an option is invalid: a queue or experiment name, timeout, retries.
        ServiceError: Redis or MLflow is unreachable (nothing queued).

    Warns:
        DioptraLabWarning: no worker serves the queue (the job is queued all the same).
    """
    ep = _as_entrypoint(entrypoint)
    values = ep.coerce(params or {}, from_text=from_text)
    job_options = JobOptions.of(options)
    conn = check_services(job_options.queue)
    bundle = build_bundle(ep, values, get_registry())
    return Job(enqueue_bundle(bundle, job_options, connection=conn))


@dataclass
class Sweep:
    """Jobs submitted together over a grid of parameter values."""

    id: str
    jobs: list[Job]

    def wait(self, timeout: float | None = None) -> list[str]:
        """Wait for every job; return their final statuses."""
        return [job.wait(timeout).value for job in self.jobs]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """One line per job (a snapshot; in a kernel the live monitor shows)."""
        bundle = status_bundle([job.info() for job in self.jobs])
        head = f"sweep {self.id}: {len(self.jobs)} jobs"
        return {
            "text/plain": f"{head}\n{bundle['text/plain']}",
            "text/html": f"<p>{head}</p>{bundle['text/html']}",
        }

    def _ipython_display_(self) -> None:
        from dioptra_lab.display import show

        show(self, self._repr_mimebundle_)


MAX_SWEEP_JOBS = 10_000


def sweep_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of a grid, in order (the last name varies fastest).

    Raises:
        ParameterError: an empty grid, a name without a list of values, or more than
            ``MAX_SWEEP_JOBS`` combinations (counted before any is made).
    """
    if not grid:
        raise ParameterError(["a sweep needs at least one parameter with values"])
    count = 1
    for name, values in grid.items():
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise ParameterError([f"sweep {brief(name)}: give a non-empty list of values"])
        count *= len(values)
    if count > MAX_SWEEP_JOBS:
        too_many = f"the sweep makes {count} jobs, over the limit of {MAX_SWEEP_JOBS}"
        raise ParameterError([f"{too_many}; split it into smaller sweeps"])
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(grid[n] for n in names))]


def check_sweep(
    ep: EntryPoint,
    combos: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any] | None = None,
    *,
    from_text: bool = False,
) -> list[dict[str, Any]]:
    """The checked values of every combination (``params`` under each); nothing is queued.

    Raises:
        ParameterError: every problem of every combination at once (each problem once).
    """
    problems: list[str] = []
    checked = []
    for combo in combos:
        try:
            checked.append(ep.coerce({**(params or {}), **combo}, from_text=from_text))
        except ParameterError as exc:
            problems.extend(p for p in exc.problems if p not in problems)
    if problems:
        raise ParameterError(problems)
    return checked


def submit_sweep(
    entrypoint: str | Path | EntryPoint,
    grid: Mapping[str, Sequence[Any]],
    params: Mapping[str, Any] | None = None,
    *,
    from_text: bool = False,
    **options: Unpack[SubmitOptions],
) -> Sweep:
    """Submit one job per combination of ``grid``, all sharing one bundle of code.

    Every combination is checked before anything is queued. The jobs carry the tag
    ``dioptra_lab.sweep_id`` so they can be compared later. ``options`` as for :func:`submit`.
    """
    ep = _as_entrypoint(entrypoint)
    combos = sweep_grid(grid)
    checked = check_sweep(ep, combos, params, from_text=from_text)
    sweep_id = uuid.uuid4().hex[:12]
    job_options = JobOptions.of(options, **{runs.TAG_SWEEP: sweep_id})
    conn = check_services(job_options.queue)
    bundle = build_bundle(ep, checked[0], get_registry())
    jobs = []
    for combo, values in zip(combos, checked, strict=True):
        label = ", ".join(f"{k}={v[:40] if isinstance(v, str) else brief(v, 40)}" for k, v in combo.items())
        run_id = enqueue_bundle(bundle.with_parameters(values), job_options, f"{ep.name} [{label}]", conn)
        jobs.append(Job(run_id))
    return Sweep(sweep_id, jobs)
