"""The REST API's handlers: each parses its request, calls :mod:`dioptra_lab.api` in a thread
and answers with the views' ``to_json()``. Errors are mapped to HTTP answers in one place
(:func:`http_error`)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from dioptra_lab import api
from dioptra_lab.config import masked_url
from dioptra_lab.errors import DioptraLabError, NotFoundError, NotReadyError, ServiceError
from dioptra_lab.models import JobInfo, JobStatus, ProblemInfo
from dioptra_lab.server.paths import clean_relative, resolve_in_root
from dioptra_lab.server.spec import (
    ERROR_CODES,
    OPERATION_ATTRIBUTE,
    Operation,
    Param,
    array,
    nullable,
    obj,
    operation,
    ref,
)

T = TypeVar("T")

AUTH_RESOURCE = "dioptra-lab"
SAVED_NOTEBOOKS = "dioptra-lab-jobs"
START_THE_STACK = "start the stack with `dioptra-lab up`"


# -- errors ------------------------------------------------------------------------------------
class ApiError(web.HTTPError):
    """An error answer: ``{"message": …, "problems": [ProblemInfo]?}`` with its status."""

    def __init__(self, status: int, message: str, problems: list[ProblemInfo] | None = None) -> None:
        super().__init__(status, reason=None)
        self.message = message
        self.problems = problems

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        """The JSON answer."""
        reply: dict[str, Any] = {"message": self.message}
        if self.problems:
            reply["problems"] = [p.to_json() for p in self.problems]
        return reply


def _problems(exc: BaseException) -> list[ProblemInfo] | None:
    found = getattr(exc, "problems", None)
    return [ProblemInfo.of(p) for p in found] if found else None


def _service_down(exc: BaseException) -> str | None:
    """A message when ``exc`` says MLflow or Redis could not be reached (not one of ours)."""
    from dioptra_lab.tracking.client import service_error

    failure = service_error(exc)
    return None if failure is None else str(failure)


def http_error(exc: BaseException) -> ApiError | None:
    """The HTTP answer for an exception of the API, or ``None`` for a bug (a 500).

    DioptraLabError: 400 with ``str(exc)`` and its problems (the message the command line
    prints); NotFoundError (unknown task, job, experiment, path): 404; NotReadyError: 409;
    ServiceError or an unreachable MLflow or Redis: 503, saying how to start the stack.
    """
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, NotFoundError):
        return ApiError(404, str(exc))
    if isinstance(exc, NotReadyError):
        return ApiError(409, str(exc))
    if isinstance(exc, ServiceError):
        message = masked_url(str(exc))
        return ApiError(503, message if "dioptra-lab up" in message else f"{message}; {START_THE_STACK}")
    if isinstance(exc, DioptraLabError):
        return ApiError(400, str(exc), _problems(exc))
    down = _service_down(exc)
    return ApiError(503, down) if down else None


# -- requests ----------------------------------------------------------------------------------
def _where(path: Any) -> str:
    return ".".join(str(p) for p in path)


def check_body(data: Any, schema: dict[str, Any]) -> None:
    """Raise a 400 naming each field of ``data`` that ``schema`` refuses (all at once)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    found = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: [str(p) for p in e.path])
    if not found:
        return
    problems = []
    for top in found:
        error = best_match([top])  # the deepest reason inside an anyOf ("1 is not an array")
        where = _where(error.absolute_path)
        if error.validator == "required" or not where:
            problems.append(ProblemInfo(f"request body: {error.message}", where))
        else:
            problems.append(ProblemInfo(f"field {where!r}: {error.message}", where))
    message = problems[0].message if len(problems) == 1 else f"{len(problems)} problems in the request body"
    raise ApiError(400, message, problems)


def parse_query(param: Param, text: str | None) -> Any:
    """A query parameter's value (its default when absent), checked against its schema."""
    from jsonschema import Draft202012Validator

    if text is None:
        return param.default
    value: Any = text
    if param.schema.get("type") == "integer":
        try:
            value = int(text)
        except ValueError:
            raise ApiError(
                400, f"query parameter {param.name!r}: expected an integer, got {text!r}"
            ) from None
    for error in Draft202012Validator(param.schema).iter_errors(value):
        raise ApiError(400, f"query parameter {param.name!r}: {error.message}")
    return value


def finite(data: Any) -> Any:
    """``data`` with NaN and infinities as ``null``: JSON has no such numbers, and a browser's
    ``JSON.parse`` refuses Python's ``NaN`` (a diverging loss is a metric like any other)."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [finite(v) for v in data]
    return data


# -- the base handler --------------------------------------------------------------------------
class BaseHandler(APIHandler):
    """Authenticated (jupyter_server's token or cookie + XSRF), authorized on ``dioptra-lab``."""

    auth_resource = AUTH_RESOURCE
    # Whether the handler reads or writes jobs and runs: then the stack's MLflow server must
    # answer first (a 503 at once, instead of MLflow's client retrying for minutes, or of a
    # Lab started before the stack falling back to a local store nobody else reads).
    tracked = False

    @property
    def root(self) -> Path:
        """The server's root folder (entry point paths are relative to it)."""
        root = self.settings.get("server_root_dir")
        if not root:
            root = getattr(self.settings.get("contents_manager"), "root_dir", None) or "."
        return Path(str(root)).expanduser()

    def _operation(self) -> Operation:
        method = getattr(type(self), self.request.method.lower())
        spec: Operation = getattr(method, OPERATION_ATTRIBUTE)
        return spec

    def query(self, name: str) -> Any:
        """A declared query parameter, parsed and checked."""
        param = next(p for p in self._operation().query if p.name == name)
        return parse_query(param, self.get_query_argument(name, None))

    def body(self) -> dict[str, Any]:
        """The JSON body, checked against the operation's schema (400 naming each bad field)."""
        try:
            data = json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"the request body is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        schema = self._operation().body
        if schema is not None:
            check_body(data, schema)
        return data

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking function of the API in a thread; its errors become HTTP answers."""

        def checked() -> T:
            if self.tracked:
                api.require_tracking()
            return function(*args, **kwargs)

        try:
            return await asyncio.to_thread(checked)
        except Exception as exc:
            mapped = http_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def answer(self, data: Any, status: int | None = None) -> None:
        """Finish with JSON (the operation's success status unless ``status``)."""
        self.set_status(status or self._operation().status)
        self.finish(json.dumps(finite(data), allow_nan=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors are ``{"message": …, "problems"?: […]}`` (jupyter_server's own for the rest)."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            self.set_header("Content-Type", "application/json")
            self.log.warning("dioptra_lab API %s: %s", exc.status_code, exc.message)
            self.finish(json.dumps(exc.body()))
            return
        super().write_error(status_code, **kwargs)


def job_views(infos: list[JobInfo]) -> list[dict[str, Any]]:
    """``JobInfo.to_json()`` plus ``expected_end`` and ``links`` (the MLflow run page)."""
    links = api.job_links(infos)
    now = time.time()
    return [
        {**info.to_json(), "expected_end": info.expected_end(now), "links": {"mlflow": links.get(info.id)}}
        for info in infos
    ]


def job_view(info: JobInfo) -> dict[str, Any]:
    """The view of one job."""
    return job_views([info])[0]


# -- request and answer schemas ----------------------------------------------------------------
WITH_PATHS = (*ERROR_CODES, 404)
ENTRYPOINT = {"type": "string", "minLength": 1, "description": "a path relative to the server's root folder"}
VALUES = {"type": "object", "description": "parameter values by name (JSON values, never code)"}
GRID = {
    "type": "object",
    "additionalProperties": {"type": "array", "minItems": 1},
    "description": "a sweep: a list of values per parameter; one job per combination",
}
VALIDATE_BODY = {
    **obj(["entrypoint"], entrypoint=ENTRYPOINT, parameters=nullable(VALUES), grid=nullable(GRID)),
    "additionalProperties": False,
}
SUBMIT_BODY = {
    **obj(
        ["entrypoint"],
        entrypoint=ENTRYPOINT,
        parameters=nullable(VALUES),
        grid=nullable(GRID),
        experiment=nullable({"type": "string", "description": "the MLflow experiment (default: Default)"}),
        queue=nullable({"type": "string", "description": "the queue (default: cpu)"}),
        timeout=nullable({"type": "number", "exclusiveMinimum": 0, "description": "seconds"}),
        retries=nullable({"type": "integer", "minimum": 0}),
    ),
    "additionalProperties": False,
}
STATUSES = ", ".join(s.value for s in JobStatus)


# -- the handlers ------------------------------------------------------------------------------
class TasksHandler(BaseHandler):
    @operation(
        "Every registered task, and the plugins that failed to import",
        obj(tasks=array(ref("TaskInfo")), broken=array(ref("BrokenPluginInfo"))),
    )
    @web.authenticated
    @authorized
    async def get(self) -> None:
        tasks, broken = await self.call(lambda: (api.list_tasks(), api.broken_plugins()))
        self.answer({"tasks": [t.to_json() for t in tasks], "broken": [b.to_json() for b in broken]})


class TaskHandler(BaseHandler):
    @operation(
        "One task by short or qualified name (404 suggests close names)", ref("TaskInfo"), errors=WITH_PATHS
    )
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.answer((await self.call(api.task_info, name)).to_json())


class EntryPointsHandler(BaseHandler):
    @operation(
        "Entry point files under the server's root folder",
        obj(entrypoints=array(ref("EntryPointFile"))),
        description="YAML task graphs and notebooks with a cell tagged `parameters`; hidden "
        "folders, node_modules and checkpoints are skipped.",
    )
    @web.authenticated
    @authorized
    async def get(self) -> None:
        found = await self.call(api.find_entrypoints, self.root)
        self.answer({"entrypoints": [f.to_json() for f in found]})


class EntryPointHandler(BaseHandler):
    @operation(
        "An entry point's parameters, graph and problems",
        ref("EntryPointView"),
        errors=WITH_PATHS,
        description="404: no such file; 400: outside the root folder, or not an entry point.",
    )
    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        def describe() -> dict[str, Any]:
            return {**api.describe(resolve_in_root(self.root, path)).to_json(), "path": clean_relative(path)}

        self.answer(await self.call(describe))


class ValidateHandler(BaseHandler):
    @operation(
        "Every problem of an entry point and of parameter values, at once",
        obj(valid={"type": "boolean"}, problems=array(ref("ProblemInfo"))),
        body=VALIDATE_BODY,
        errors=WITH_PATHS,
    )
    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()

        def check() -> list[ProblemInfo]:
            target = resolve_in_root(self.root, body["entrypoint"])
            return api.check(target, body.get("parameters"), body.get("grid"))

        problems = await self.call(check)
        self.answer({"valid": not problems, "problems": [p.to_json() for p in problems]})


class JobsHandler(BaseHandler):
    tracked = True

    @operation(
        "Recent jobs, newest first",
        obj(jobs=array(ref("JobView")), offset={"type": "integer"}, limit={"type": "integer"}),
        query=(
            Param("experiment", {"type": "string"}, "only this experiment's jobs"),
            Param("status", {"type": "string"}, f"comma-separated statuses to keep: {STATUSES}"),
            Param("sweep", {"type": "string"}, "only the jobs of this sweep"),
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "at most this many", 50),
            Param("offset", {"type": "integer", "minimum": 0}, "skip this many of the newest", 0),
        ),
    )
    @web.authenticated
    @authorized
    async def get(self) -> None:
        statuses = _statuses(self.query("status"))
        experiment, sweep = self.query("experiment") or None, self.query("sweep") or None
        limit, offset = self.query("limit"), self.query("offset")

        def jobs() -> list[dict[str, Any]]:
            infos = api.list_jobs(
                experiment, limit, statuses=statuses, sweep=sweep, offset=offset, with_progress=True
            )
            return job_views(infos)

        self.answer({"jobs": await self.call(jobs), "offset": offset, "limit": limit})

    @operation(
        "Submit an entry point: one job, or a sweep over `grid`",
        obj(jobs=array(ref("JobView")), sweep=nullable({"type": "string"})),
        status=201,
        body=SUBMIT_BODY,
        errors=WITH_PATHS,
    )
    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        options = {
            k: body[k] for k in ("experiment", "queue", "timeout", "retries") if body.get(k) is not None
        }

        def submit() -> dict[str, Any]:
            target = resolve_in_root(self.root, body["entrypoint"])
            infos, sweep = api.submit_jobs(target, body.get("parameters"), body.get("grid"), **options)
            return {"jobs": job_views(infos), "sweep": sweep}

        self.answer(await self.call(submit))


def _statuses(text: str | None) -> list[JobStatus] | None:
    if not text:
        return None
    found = []
    for name in (n.strip() for n in text.split(",")):
        try:
            found.append(JobStatus(name.lower()))
        except ValueError:
            raise ApiError(
                400, f"query parameter 'status': unknown status {name!r}; use {STATUSES}"
            ) from None
    return found


class JobHandler(BaseHandler):
    tracked = True

    @operation("One job", ref("JobView"), errors=WITH_PATHS)
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.answer(await self.call(lambda: job_view(api.job_info(job_id))))


class CancelHandler(BaseHandler):
    tracked = True

    @operation("Cancel a queued or running job", ref("JobView"), errors=WITH_PATHS)
    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        self.answer(await self.call(lambda: job_view(api.cancel(job_id))))


class RerunHandler(BaseHandler):
    tracked = True

    @operation("Run a job's bundle again as a new job", ref("JobView"), status=201, errors=WITH_PATHS)
    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        self.answer(await self.call(lambda: job_view(api.rerun(job_id))))


class LogsHandler(BaseHandler):
    tracked = True

    @operation(
        "A job's output from a character offset on",
        ref("LogChunk"),
        query=(Param("offset", {"type": "integer", "minimum": 0}, "characters already seen", 0),),
        errors=WITH_PATHS,
    )
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        offset = self.query("offset")
        self.answer((await self.call(api.job_log_chunk, job_id, offset)).to_json())


NOTEBOOK = {
    "type": "object",
    "description": "a notebook in nbformat 4 JSON",
    "properties": {
        "nbformat": {"type": "integer"},
        "cells": {"type": "array"},
        "metadata": {"type": "object"},
    },
    "required": ["nbformat", "cells"],
}


class NotebookHandler(BaseHandler):
    tracked = True

    @operation("A job's executed notebook (409 while it has none yet)", NOTEBOOK, errors=(*WITH_PATHS, 409))
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        import nbformat

        notebook = await self.call(api.job_notebook, job_id)
        self.set_status(200)
        self.finish(nbformat.writes(notebook))

    @operation(
        "Save a job's executed notebook under the root folder, for the Lab to open",
        obj(path={"type": "string", "description": "relative to the root folder"}),
        errors=(*WITH_PATHS, 409),
        description=f"Written to `{SAVED_NOTEBOOKS}/<experiment>/<run name>-<id8>.ipynb`.",
    )
    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        def save() -> str:
            folder = resolve_in_root(self.root, SAVED_NOTEBOOKS, must_exist=False)
            written = api.save_job_notebook(job_id, folder)
            return written.relative_to(self.root.resolve()).as_posix()

        self.answer({"path": await self.call(save)})


class ExperimentsHandler(BaseHandler):
    tracked = True

    @operation("The names of every experiment, oldest first", obj(experiments=array({"type": "string"})))
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.answer({"experiments": await self.call(api.experiments)})


class ResultsHandler(BaseHandler):
    tracked = True

    @operation(
        "An experiment's runs with their parameters and metrics",
        ref("ExperimentResults"),
        query=(Param("format", {"type": "string", "enum": ["json", "csv"]}, "json or csv", "json"),),
        errors=WITH_PATHS,
        other_content={"text/csv": {"schema": {"type": "string"}}},
    )
    @web.authenticated
    @authorized
    async def get(self, experiment: str) -> None:
        form = self.query("format")
        results = await self.call(api.results, experiment)
        if form == "csv":
            self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(experiment)}.csv")
            self.finish(results.csv(), set_content_type="text/csv; charset=utf-8")
            return
        self.answer(results.to_json())


class StackHandler(BaseHandler):
    @operation("The stack's services, queues and workers", ref("StackStatus"))
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.answer((await self.call(api.stack_status)).to_json())


class DashboardsHandler(BaseHandler):
    @operation("The Voila dashboards of the root folder", obj(dashboards=array(ref("Dashboard"))))
    @web.authenticated
    @authorized
    async def get(self) -> None:
        found = await self.call(api.dashboards, self.root)
        base = self.base_url
        self.answer(
            {
                # the stack's standalone Voila when it runs (the link to share); else Voila on
                # this server, for this server's own user, who has those rights here anyway
                "dashboards": [
                    {
                        "name": d.name,
                        "path": d.path,
                        "url": d.standalone or url_path_join(base, "voila/render", quote(d.path)),
                    }
                    for d in found
                ]
            }
        )
