"""Run an entry point's graph in this process as a Prefect flow, one Prefect task per step.

Steps start as soon as the steps they need have finished, so independent steps run
concurrently (a thread pool). Each task keeps its retries; tasks declared with
``cache=True`` reuse their result when their inputs and source code are unchanged
(Prefect's ``INPUTS + TASK_SOURCE`` cache policy, results stored under
``<home>/cache``).

Prefect objects that do not depend on a run are built once per process: its settings
and API client (:func:`~dioptra_lab.engine.prefect_api.prefect_session`), each step's
Prefect task and each graph's flow. A run reaches them through context variables.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from dioptra_lab.config import load_settings
from dioptra_lab.engine.artifacts import load_artifact, write_artifact_task_sidecar
from dioptra_lab.engine.prefect_api import prefect_session, require_prefect_api
from dioptra_lab.engine.progress import ProgressEvent, emit
from dioptra_lab.engine.results import RunResult, StepRecord, to_jsonable
from dioptra_lab.entrypoints.graph import topological_order
from dioptra_lab.entrypoints.model import EntryPoint, Step
from dioptra_lab.entrypoints.references import Ref, substitute
from dioptra_lab.entrypoints.validate import step_dependencies
from dioptra_lab.errors import DioptraLabError, StepFailedError
from dioptra_lab.types import ArtifactURI

MAX_THREADS = 8


def run_entrypoint(
    ep: EntryPoint, params: dict[str, Any], *, lenient: bool = False, quiet: bool = False
) -> RunResult:
    """Validate ``ep`` and ``params``, then run the graph here (see :func:`run_graph`)."""
    ep.validate()
    if ep.kind != "yaml":
        raise DioptraLabError(
            f"{ep.source} is a notebook entry point: run it with `dioptra-lab run {ep.source}` "
            "(Papermill), not in this process"
        )
    values = ep.coerce(params, lenient=lenient)
    return run_graph(ep, values, quiet=quiet)


class _Scope:
    """Values visible to references: parameters, artifact inputs, step outputs."""

    def __init__(self, ep: EntryPoint, values: dict[str, Any]) -> None:
        self.ep = ep
        self.values = dict(values)
        self.loaded: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}

    def lookup(self, ref: Ref) -> Any:
        if ref.name in self.outputs:
            outputs = self.outputs[ref.name]
            if ref.output is None:
                return next(iter(outputs.values())) if outputs else None
            if ref.output not in outputs:
                raise DioptraLabError(
                    f"{ref}: step {ref.name!r} returned too few values for output {ref.output!r}"
                )
            return outputs[ref.output]
        if ref.name in self.ep.artifact_inputs:
            return self.artifact_input(ref)
        value = self.values[ref.name]
        if isinstance(value, ArtifactURI):
            # a logged model or artifact given as a URI: fetched once per run
            if ref.name not in self.loaded:
                self.loaded[ref.name] = {ref.name: load_artifact(str(value))}
            return self.loaded[ref.name][ref.name]
        return value

    def artifact_input(self, ref: Ref) -> Any:
        if ref.name not in self.loaded:
            value = load_artifact(self.values[ref.name])
            specs = self.ep.artifact_inputs[ref.name]
            if len(specs) > 1:
                self.loaded[ref.name] = {s.name: v for s, v in zip(specs, value, strict=False)}
            else:
                self.loaded[ref.name] = {specs[0].name if specs else ref.name: value}
        outputs = self.loaded[ref.name]
        return outputs[ref.output] if ref.output else next(iter(outputs.values()))


def plugin_code_digest() -> str:
    """sha256 of every plugin source file on the plugin path.

    Part of the cache key of cached tasks: Prefect's TASK_SOURCE covers only the task's
    own function, and a cached model must be retrained when a helper it calls changes.
    """
    import hashlib

    from dioptra_lab.plugins.registry import get_registry

    digest = hashlib.sha256()
    for name, info in sorted(get_registry().plugins.items()):
        for rel, text in info.sources().items():
            digest.update(f"{name}/{rel}\0{text}\0".encode())
    return digest.hexdigest()


# The run whose flow is executing: the flow and task objects below are shared by every
# run in the process (Prefect copies context variables into its task threads).
_CURRENT_RUN: ContextVar[_GraphRun] = ContextVar("dioptra_lab_graph_run")


def _prefect_task(step: Step, code_digest: str) -> Any:
    spec = step.spec
    assert spec is not None
    return _cached_prefect_task(spec.func, step.name, spec.retries, spec.retry_delay, spec.cache, code_digest)


@functools.lru_cache(maxsize=512)
def _cached_prefect_task(
    func: Callable[..., Any], name: str, retries: int, retry_delay: Any, cache: bool, code_digest: str
) -> Any:
    """The Prefect task of one step: built once per process (~1-3 ms each), not per run."""
    from prefect import task as prefect_task
    from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE, CacheKeyFnPolicy

    # functools.wraps keeps the task's own signature and source for Prefect's cache key.
    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        run = _CURRENT_RUN.get()
        started = time.perf_counter()
        try:
            value = func(*args, **kwargs)
        finally:
            run.timings[name] = time.perf_counter() - started
        run.returned[name] = value
        return value

    options: dict[str, Any] = {
        "name": name,
        "retries": retries,
        "retry_delay_seconds": retry_delay,
        "cache_policy": NO_CACHE,
    }
    if cache:
        options["cache_policy"] = (
            INPUTS + TASK_SOURCE + CacheKeyFnPolicy(cache_key_fn=lambda _ctx, _params: code_digest)
        )
        options["persist_result"] = True
    return prefect_task(call, **options)


def _result_folder(results: Path) -> Any:
    """Prefect's local result storage for ``results``, with that folder resolved once.

    Prefect makes a result record of every task's return value (stored or not) and resolves
    its folder and the record's path twice for it: four ``realpath`` walks per task, ~1 ms
    of a task's overhead on 2 cores. A record's name (a key of Prefect's: no folder in it)
    is joined to the folder resolved once; any other path is resolved as Prefect does.
    """
    return _result_folder_type()(basepath=str(results))


@functools.lru_cache(maxsize=1)
def _result_folder_type() -> Any:
    """The block type of :func:`_result_folder`, defined once (Prefect registers each)."""
    from prefect.filesystems import LocalFileSystem

    class ResultFolder(LocalFileSystem):
        _block_type_slug = "dioptra-lab-result-folder"  # never saved: a name of its own

        def _resolve_path(self, path: str) -> Path:
            if path and "/" not in path and "\\" not in path and path[0] not in ".~" and self.basepath:
                return _resolved(self.basepath) / path
            return super()._resolve_path(path)

    return ResultFolder


@functools.lru_cache(maxsize=16)
def _resolved(folder: str) -> Path:
    return Path(folder).expanduser().resolve()


@functools.lru_cache(maxsize=128)
def _graph_flow(name: str, workers: int, results: Path) -> Any:
    """The Prefect flow that schedules a graph's steps (one Prefect task each), per process.

    Its result storage is given (the folder Prefect's default would be), so that Prefect
    does not ask the server for a default storage on every flow run.
    """
    from prefect import flow
    from prefect.context import get_run_context
    from prefect.task_runners import ThreadPoolTaskRunner

    @flow(
        name=name,
        task_runner=ThreadPoolTaskRunner(max_workers=workers),  # type: ignore[arg-type]
        validate_parameters=False,
        log_prints=False,
        persist_result=False,
        result_storage=results,
    )
    def graph_flow(parameters: dict[str, Any]) -> str:
        _CURRENT_RUN.get().schedule()
        context = get_run_context()
        return str(getattr(getattr(context, "flow_run", None), "id", ""))

    # The same folder, as storage that resolves it once (Prefect refuses a block that was
    # not saved on the server here; in the flow's runs it takes one as it takes a folder).
    graph_flow.result_storage = _result_folder(results)
    return graph_flow


def run_graph(ep: EntryPoint, values: dict[str, Any], *, quiet: bool = False) -> RunResult:
    """Run a validated graph with checked parameter values; return a :class:`RunResult`.

    Raises:
        StepFailedError: a step raised (after its retries); names the step and the error.
        ServiceError: no Prefect server answers.
    """
    url = require_prefect_api()
    return _GraphRun(ep, values, quiet).run(url)


class _GraphRun:
    """One run of a graph: its schedule, the steps' outputs and records, progress events."""

    def __init__(self, ep: EntryPoint, values: dict[str, Any], quiet: bool) -> None:
        self.ep = ep
        self.values = values
        self.quiet = quiet
        self.deps = {name: step_dependencies(step, ep) for name, step in ep.steps.items()}
        self.order = topological_order(self.deps)
        self.index = {name: i + 1 for i, name in enumerate(self.order)}
        self.timings: dict[str, float] = {}
        self.returned: dict[str, Any] = {}  # what each step's function returned, this run
        cached = any(s.spec and s.spec.cache for s in ep.steps.values())
        self.code_digest = plugin_code_digest() if cached else ""
        self.scope = _Scope(ep, values)
        self.records: dict[str, StepRecord] = {}
        self.lock = threading.Lock()

    def run(self, url: str) -> RunResult:
        cache_dir = load_settings().home / "cache"
        cache_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        workers = min(MAX_THREADS, max(len(self.order), 1))
        graph_flow = _graph_flow(f"dioptra-lab-{self.ep.name}", workers, cache_dir)
        token = _CURRENT_RUN.set(self)
        try:
            with prefect_session(url, cache_dir):
                flow_run_id = graph_flow(to_jsonable(self.values))
        finally:
            _CURRENT_RUN.reset(token)
        used = {d for ds in self.deps.values() for d in ds}
        return RunResult(
            entrypoint=self.ep.name,
            parameters=self.values,
            steps={n: self.records[n] for n in self.order},
            leaves=[n for n in self.order if n not in used],
            artifacts=self.artifacts(),
            seconds=time.perf_counter() - started,
            flow_run_id=flow_run_id or None,
        )

    def schedule(self) -> None:
        """Start each step once the steps it needs have finished; collect their outputs."""
        finished: queue.SimpleQueue[str] = queue.SimpleQueue()
        pending = list(self.order)
        running: dict[str, Any] = {}
        while pending or running:
            for name in [n for n in pending if self.deps[n] <= set(self.scope.outputs)]:
                future = self.start(self.ep.steps[name])
                running[name] = future
                pending.remove(name)
                future.add_done_callback(lambda _future, name=name: finished.put(name))
            if not running:
                break
            name = finished.get()
            future = running.pop(name)
            try:
                self.finish(self.ep.steps[name], future)
            except StepFailedError:
                _cancel(running.values())
                raise

    def start(self, step: Step) -> Any:
        args = substitute(step.args, self.scope.lookup)
        kwargs = substitute(step.kwargs, self.scope.lookup)
        self.event(step, "started")
        return _prefect_task(step, self.code_digest).submit(*args, **kwargs)

    def finish(self, step: Step, future: Any) -> None:
        task_name = step.spec.qualname if step.spec else step.task
        try:
            state = future.wrapped_future.result()
            if step.name in self.returned and state.is_completed():
                value = self.returned[step.name]  # as future.result(), without its event-loop hop
            else:
                value = future.result()  # a cached result, or the step's exception
        except Exception as exc:
            self.event(step, "failed", message=f"{type(exc).__name__}: {exc}")
            raise StepFailedError(step.name, task_name, type(exc).__name__, str(exc)) from exc
        cached = step.name not in self.timings
        outputs = step.split_outputs(value)
        with self.lock:
            self.scope.outputs[step.name] = outputs
            self.records[step.name] = StepRecord(
                step.name, task_name, outputs, self.timings.get(step.name), cached
            )
        self.event(step, "cached" if cached else "finished", self.timings.get(step.name))

    def event(self, step: Step, state: str, seconds: float | None = None, message: str = "") -> None:
        task_name = step.spec.qualname if step.spec else step.task
        total = len(self.order)
        emit(
            ProgressEvent(step.name, task_name, self.index[step.name], total, state, seconds, message),
            self.quiet,
        )

    def artifacts(self) -> dict[str, Any]:
        """Run the artifact tasks of ``artifact_outputs`` on the finished steps' outputs."""
        found = {}
        for name, out in self.ep.artifact_outputs.items():
            if out.artifact_task is not None:
                # Dioptra's artifact task: serialized into ./artifacts, its path the result
                folder = Path.cwd() / "artifacts"
                folder.mkdir(exist_ok=True)
                contents = substitute(out.contents, self.scope.lookup)
                path = out.artifact_task.serialize(folder, name, contents, **out.args)
                write_artifact_task_sidecar(path, out.artifact_task.qualname)
                found[name] = str(path)
            elif out.spec is not None:
                found[name] = out.spec.func(
                    substitute(out.contents, self.scope.lookup), **substitute(out.args, self.scope.lookup)
                )
        return found


def _cancel(futures: Any) -> None:
    """Drop steps not started yet; running threads finish on their own."""
    for other in futures:
        wrapped = getattr(other, "wrapped_future", None)
        if wrapped is not None:
            wrapped.cancel()
