"""Typed, JSON-ready views of what every interface shows: tasks, entry points, jobs, results,
the stack and problems.

One function, many faces: the Python API returns these objects, the command line prints
them, the widgets render them and the REST API serves ``to_json()`` unchanged, described
by ``schema()``. They are frozen dataclasses that depend on nothing but the standard
library (and :class:`~dioptra_lab.errors.Problem`), so every layer may return them.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from dioptra_lab.errors import Problem


class JobStatus(StrEnum):
    """What a job is doing, in the words of the UIs."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        """Whether the job has ended (finished, failed or cancelled)."""
        return self in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED)

    @classmethod
    def from_mlflow(cls, status: str) -> JobStatus:
        """The job status of an MLflow run status (unknown ones read as queued)."""
        return _FROM_MLFLOW.get(status, cls.QUEUED)

    @property
    def mlflow(self) -> str:
        """The MLflow run status that records this job status."""
        return next(name for name, status in _FROM_MLFLOW.items() if status is self)


_FROM_MLFLOW = {
    "SCHEDULED": JobStatus.QUEUED,
    "RUNNING": JobStatus.RUNNING,
    "FINISHED": JobStatus.FINISHED,
    "FAILED": JobStatus.FAILED,
    "KILLED": JobStatus.CANCELLED,
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


_SCALAR_SCHEMAS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
}


def schema_of(annotation: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of a type hint; dataclasses go to ``definitions`` by name."""
    if annotation in _SCALAR_SCHEMAS:
        return dict(_SCALAR_SCHEMAS[annotation])
    if annotation is Any:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"type": "string", "enum": [m.value for m in annotation]}
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        name = annotation.__name__
        if name not in definitions:
            definitions[name] = {}  # placeholder against recursion
            definitions[name] = _object_schema(annotation, definitions)
        return {"$ref": f"#/components/schemas/{name}"}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [schema_of(a, definitions) for a in args]}
    if origin in (list, tuple):
        return {"type": "array", "items": schema_of(args[0], definitions) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": schema_of(args[1], definitions) if args else {}}
    raise TypeError(f"no JSON schema for {annotation!r}")


def _object_schema(cls: type, definitions: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties = {}
    required = []
    for f in dataclasses.fields(cls):
        properties[f.name] = schema_of(hints[f.name], definitions)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if cls.__doc__:
        schema["description"] = cls.__doc__.strip().splitlines()[0]
    return schema


class Model:
    """Base of the views: ``to_json()`` and ``schema()``."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as their values)."""
        return dict(_jsonable(self))

    @classmethod
    def schema(cls, definitions: dict[str, Any] | None = None) -> dict[str, Any]:
        """This view's JSON schema; referenced views are added to ``definitions``."""
        found = definitions if definitions is not None else {}
        return _object_schema(cls, found)


# -- problems ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProblemInfo(Model):
    """One problem of an entry point or of parameter values, with its place."""

    message: str
    place: str = ""

    @classmethod
    def of(cls, problem: Problem | str) -> ProblemInfo:
        """From a :class:`Problem`, or a message without a place."""
        if isinstance(problem, Problem):
            return cls(problem.message, problem.place)
        return cls(str(problem))


# -- tasks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParameterInfo(Model):
    """One input of a task or parameter of an entry point, as a form shows it."""

    name: str
    type: str
    kind: str
    required: bool
    default: Any = None
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: list[Any] | None = None
    nullable: bool = False

    @classmethod
    def from_description(cls, info: dict[str, Any], type_name: str | None = None) -> ParameterInfo:
        """From the ``describe()`` dict of a parameter or task input (``type_name``: the
        type as written, bounds included, when it differs from the description's)."""
        return cls(
            name=str(info["name"]),
            type=type_name or str(info.get("type", "any")),
            kind=str(info.get("kind", "any")),
            required=bool(info.get("required", False)),
            default=info.get("default"),
            description=str(info.get("description", "")),
            minimum=info.get("minimum"),
            maximum=info.get("maximum"),
            exclusive_minimum=info.get("gt") is not None and info.get("ge") is None,
            exclusive_maximum=info.get("lt") is not None and info.get("le") is None,
            choices=list(info["choices"]) if "choices" in info else None,
            nullable=bool(info.get("nullable", False)),
        )


@dataclass(frozen=True)
class OutputInfo(Model):
    """One output of a task."""

    name: str
    type: str


@dataclass(frozen=True)
class TaskInfo(Model):
    """A registered task: what the task browser and `plugins show` display."""

    name: str
    qualname: str
    plugin: str
    description: str
    doc: str
    inputs: list[ParameterInfo]
    outputs: list[OutputInfo]
    retries: int = 0
    cache: bool = False


@dataclass(frozen=True)
class BrokenPluginInfo(Model):
    """A plugin that failed to import, and why."""

    module: str
    location: str
    reason: str


# -- entry points ------------------------------------------------------------------------
@dataclass(frozen=True)
class StepInfo(Model):
    """One step of an entry point's graph."""

    name: str
    task: str
    dependencies: list[str] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EntryPointInfo(Model):
    """An entry point with its parameter schema, its graph and its problems."""

    name: str
    source: str
    kind: str
    description: str
    parameters: list[ParameterInfo]
    steps: list[StepInfo]
    problems: list[ProblemInfo]
    # What does not stop a run: a declaration its plugin's annotation disagrees with, a
    # union that lists a type twice.
    warnings: list[ProblemInfo] = field(default_factory=list)
    # Whether the file is a complete Dioptra description (it has `tasks:`) and so is judged
    # by Dioptra's rules; without `tasks:`, our registry-derived shorthand applies.
    dioptra: bool = False

    @property
    def valid(self) -> bool:
        """Whether the entry point has no problem."""
        return not self.problems


# -- jobs --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Progress(Model):
    """Where a running job is: step ``index`` of ``total``."""

    step: str
    task: str
    index: int
    total: int
    state: str
    seconds: float | None = None

    @property
    def done(self) -> int:
        """Steps ended so far: this one counts once it finished or came from the cache."""
        return self.index if self.state in ("finished", "cached") else self.index - 1

    @classmethod
    def from_meta(cls, data: dict[str, Any] | None) -> Progress | None:
        """From the progress recorded in an RQ job's meta (``None`` when there is none)."""
        if not data:
            return None
        return cls(
            str(data.get("step", "")),
            str(data.get("task", "")),
            int(data.get("index", 0)),
            int(data.get("total", 0)),
            str(data.get("state", "")),
            data.get("seconds"),
        )


@dataclass(frozen=True)
class Failure(Model):
    """Why a job or run failed: the failing step (or cell), the exception and its message."""

    reason: str
    exception: str = ""
    message: str = ""
    step: str | None = None
    task: str | None = None
    cell: int | None = None

    def __str__(self) -> str:
        error = f"{self.exception}: {self.message}" if self.message else self.exception
        if self.step or self.cell is not None:
            where = f"step {self.step!r}" if self.step else f"cell {self.cell}"
            where += f" (task {self.task})" if self.step and self.task else ""
            return f"{where} failed: {error}"
        return f"{self.reason} ({error})" if error and error not in self.reason else self.reason


@dataclass(frozen=True)
class JobInfo(Model):
    """One job: its state from RQ and MLflow, its progress, timings and failure."""

    id: str
    status: JobStatus
    experiment: str
    entrypoint: str
    queue: str
    run_name: str = ""
    sweep: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    submitted: float | None = None
    ended: float | None = None
    attempt: int = 0
    worker: str | None = None
    progress: Progress | None = None
    failure: Failure | None = None
    rerun_of: str | None = None
    started: float | None = None

    @property
    def seconds(self) -> float | None:
        """Seconds from submission to the end (``None`` while the job has not ended)."""
        if self.submitted is None or self.ended is None:
            return None
        return self.ended - self.submitted

    def expected_end(self, now: float) -> float | None:
        """When a running job should end: ``started`` + elapsed ÷ steps done × steps in all.

        ``None`` unless the job runs, has a start time and has finished its first step.
        """
        progress = self.progress
        if self.status != JobStatus.RUNNING or self.started is None or progress is None:
            return None
        done = progress.done
        if done <= 0 or progress.total <= 0:
            return None
        elapsed = max(now - self.started, 0.0)
        return self.started + elapsed / done * progress.total


@dataclass(frozen=True)
class JobResults(Model):
    """A job's durable record: its info plus metrics, tags and artifacts."""

    job: JobInfo
    metrics: dict[str, float]
    tags: dict[str, str]
    artifacts: list[str]


@dataclass(frozen=True)
class StepTiming(Model):
    """How long one step of a run took."""

    name: str
    task: str
    seconds: float | None
    cached: bool = False


@dataclass(frozen=True)
class RunSummary(Model):
    """What a run of an entry point recorded: step timings, final results, or its failure."""

    entrypoint: str
    parameters: dict[str, Any]
    steps: list[StepTiming]
    results: dict[str, Any]
    seconds: float
    failure: Failure | None = None


@dataclass(frozen=True)
class RunRow(Model):
    """One run of an experiment with its parameters and metrics."""

    run_id: str
    status: JobStatus
    entrypoint: str
    sweep: str
    params: dict[str, str]
    metrics: dict[str, float]


@dataclass(frozen=True)
class ExperimentResults(Model):
    """The runs of an experiment as a table of parameters and metrics."""

    experiment: str
    params: list[str]
    metrics: list[str]
    runs: list[RunRow]

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """Headers and rows: run id, status, entry point, every parameter, every metric."""
        headers = ["run_id", "status", "entrypoint", *self.params, *self.metrics]
        rows = [
            [
                r.run_id,
                r.status.value,
                r.entrypoint,
                *(r.params.get(p, "") for p in self.params),
                *(r.metrics.get(m) for m in self.metrics),
            ]
            for r in self.runs
        ]
        return headers, rows

    def csv(self) -> str:
        """The table of :meth:`table` as CSV text (headers first)."""
        import csv
        import io

        headers, rows = self.table()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(headers)
        writer.writerows(rows)
        return out.getvalue()


@dataclass(frozen=True)
class LogChunk(Model):
    """A job's output from a character offset on, with the next offset and whether it ended.

    ``done`` is true once the job has ended: nothing more will come.
    """

    text: str
    offset: int
    done: bool


# -- files under a folder ----------------------------------------------------------------
@dataclass(frozen=True)
class EntryPointFile(Model):
    """An entry point file found under a folder (``path`` relative to it)."""

    path: str
    name: str
    kind: str


@dataclass(frozen=True)
class DashboardInfo(Model):
    """A Voila dashboard notebook of the project (``path`` relative to the project's root).

    ``standalone`` is its page on the stack's standalone Voila, token included (the link for
    people who do not program), when that server runs.
    """

    name: str
    path: str
    standalone: str | None = None


# -- the stack ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceInfo(Model):
    """One service of the stack."""

    name: str
    running: bool
    pid: int | None = None
    url: str | None = None
    ui: str | None = None


@dataclass(frozen=True)
class QueueInfo(Model):
    """One queue with its job counts."""

    name: str
    queued: int
    running: int
    failed: int
    finished: int


@dataclass(frozen=True)
class WorkerInfo(Model):
    """One registered worker; ``state`` is ``dead`` when its last heartbeat (epoch seconds)
    is older than the heartbeat timeout."""

    name: str
    state: str
    queues: list[str]
    current_job: str | None = None
    gpu: str | None = None
    last_heartbeat: float | None = None


@dataclass(frozen=True)
class StackStatus(Model):
    """Services, queues and workers; ``problem`` says why queues and workers are unknown."""

    home: str
    services: list[ServiceInfo]
    queues: list[QueueInfo] = field(default_factory=list)
    workers: list[WorkerInfo] = field(default_factory=list)
    problem: str | None = None


ALL_MODELS: tuple[type[Model], ...] = (
    ProblemInfo,
    ParameterInfo,
    OutputInfo,
    TaskInfo,
    BrokenPluginInfo,
    StepInfo,
    EntryPointInfo,
    Progress,
    Failure,
    JobInfo,
    JobResults,
    StepTiming,
    RunSummary,
    RunRow,
    ExperimentResults,
    LogChunk,
    EntryPointFile,
    DashboardInfo,
    ServiceInfo,
    QueueInfo,
    WorkerInfo,
    StackStatus,
)
