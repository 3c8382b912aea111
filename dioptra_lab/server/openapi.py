"""The OpenAPI 3.1 document of the REST API, generated from the route table and the views'
JSON schemas (``Model.schema()``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dioptra_lab
from dioptra_lab.models import ALL_MODELS, DashboardInfo, EntryPointInfo, JobInfo
from dioptra_lab.server.spec import (
    ERROR_CODES,
    PATH_PARAMETERS,
    PREFIX,
    Operation,
    array,
    nullable,
    obj,
    operations,
    path_parameters,
    ref,
)

ERROR_MEANINGS = {
    400: "the request is wrong (the message says what to change; `problems` lists every problem)",
    403: "not authenticated or not authorized (jupyter_server's token, or cookie with XSRF)",
    404: "no such task, job, experiment or file",
    409: "not ready yet",
    503: "a service of the stack does not answer; start it with `dioptra-lab up`",
}


def component_schemas() -> dict[str, Any]:
    """The schemas of every view, plus the error and the composed answers."""
    schemas: dict[str, Any] = {}
    for model in ALL_MODELS:
        schemas[model.__name__] = model.schema(schemas)
    schemas["Error"] = {
        **obj(
            ["message"],
            message={"type": "string"},
            problems=array(ref("ProblemInfo")),
        ),
        "description": "An error: what was wrong and what to do; `problems` lists every problem.",
    }
    schemas["JobView"] = {
        "description": f"{JobInfo.__doc__.strip().splitlines()[0] if JobInfo.__doc__ else 'A job'} "
        "With when it should end and the MLflow run's page.",
        "allOf": [
            ref("JobInfo"),
            obj(
                expected_end={
                    **nullable({"type": "number"}),
                    "description": "epoch seconds; while running, after the first step",
                },
                links=obj(mlflow=nullable({"type": "string"})),
            ),
        ],
    }
    schemas["EntryPointView"] = {
        "description": EntryPointInfo.__doc__.strip().splitlines()[0] if EntryPointInfo.__doc__ else "",
        "allOf": [ref("EntryPointInfo"), obj(path={"type": "string"})],
    }
    schemas["Dashboard"] = {
        "description": DashboardInfo.__doc__.strip().splitlines()[0] if DashboardInfo.__doc__ else "",
        "allOf": [ref("DashboardInfo"), obj(url={"type": "string"})],
    }
    return schemas


def _operation_id(method: str, pattern: str) -> str:
    words = [w.strip("{}") for w in pattern.replace(".", "_").split("/")]
    return "_".join([method, *words])


def _operation(method: str, pattern: str, spec: Operation) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]}
        for name in path_parameters(pattern)
    ]
    for param in spec.query:
        schema = dict(param.schema)
        if param.default is not None:
            schema["default"] = param.default
        parameters.append(
            {
                "name": param.name,
                "in": "query",
                "required": False,
                "schema": schema,
                "description": param.description,
            }
        )
    content = {"application/json": {"schema": spec.response}, **spec.other_content}
    responses: dict[str, Any] = {str(spec.status): {"description": spec.summary, "content": content}}
    for code in sorted({*ERROR_CODES, *spec.errors, 403}):
        responses[str(code)] = {
            "description": ERROR_MEANINGS[code],
            "content": {"application/json": {"schema": ref("Error")}},
        }
    found: dict[str, Any] = {
        "operationId": _operation_id(method, pattern),
        "summary": spec.summary,
        "parameters": parameters,
        "responses": responses,
    }
    if spec.description:
        found["description"] = spec.description
    if spec.body is not None:
        found["requestBody"] = {"required": True, "content": {"application/json": {"schema": spec.body}}}
    return found


def openapi_document(routes: Sequence[tuple[str, type]], base_url: str = "/") -> dict[str, Any]:
    """The document of ``routes`` (the route table) for a server at ``base_url``."""
    paths: dict[str, Any] = {}
    for pattern, handler in routes:
        paths["/" + pattern] = {m: _operation(m, pattern, spec) for m, spec in operations(handler).items()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dioptra_lab REST API",
            "version": dioptra_lab.__version__,
            "description": "The Jupyter server extension of dioptra_lab: tasks, entry points, jobs, "
            "results and the stack, over the same functions as the command line and the widgets.",
        },
        "servers": [{"url": base_url.rstrip("/") + "/" + PREFIX}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`token <the Jupyter server's token>`",
                }
            },
        },
    }
