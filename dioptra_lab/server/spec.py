"""What each handler method accepts and answers, declared once: the handlers check requests
against it and :mod:`dioptra_lab.server.openapi` documents it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

PREFIX = "dioptra-lab/api/v1"
OPERATION_ATTRIBUTE = "__dioptra_lab_operation__"
METHODS = ("get", "post")
# every operation may answer these (and 403, jupyter_server's own)
ERROR_CODES = (400, 503)

# The path parameters of the routes: their JSON schema and meaning.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "minLength": 1, "description": "a task's short or qualified name"},
    "path": {
        "type": "string",
        "minLength": 1,
        "description": "an entry point file, relative to the server's root folder",
    },
    "id": {"type": "string", "minLength": 1, "description": "a job's id (its MLflow run id)"},
    "experiment": {"type": "string", "minLength": 1, "description": "an experiment's name"},
}
_PARAMETER = re.compile(r"\{(\w+)\}")


def path_parameters(pattern: str) -> list[str]:
    """The names of a route pattern's path parameters, in order."""
    return _PARAMETER.findall(pattern)


def tornado_pattern(pattern: str) -> str:
    """The tornado regular expression of a route pattern (parameters as positional groups;
    ``{path}`` may span several segments, the others one)."""
    parts = _PARAMETER.split(pattern)
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(re.escape(part))
        else:
            out.append("(.+)" if part == "path" else "([^/]+)")
    return "".join(out)


def ref(name: str) -> dict[str, Any]:
    """A reference to a schema of the document's ``components/schemas``."""
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: dict[str, Any]) -> dict[str, Any]:
    """An array schema."""
    return {"type": "array", "items": items}


def obj(required: list[str] | None = None, **properties: dict[str, Any]) -> dict[str, Any]:
    """An object schema with these properties (all required unless ``required`` says which)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or ``null``."""
    return {"anyOf": [schema, {"type": "null"}]}


@dataclass(frozen=True)
class Param:
    """A query parameter."""

    name: str
    schema: dict[str, Any]
    description: str
    default: Any = None


@dataclass(frozen=True)
class Operation:
    """One HTTP method of one route."""

    summary: str
    response: dict[str, Any]
    status: int = 200
    query: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None
    errors: tuple[int, ...] = (400, 503)
    other_content: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""


def operation(
    summary: str,
    response: dict[str, Any],
    *,
    status: int = 200,
    query: tuple[Param, ...] = (),
    body: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (400, 503),
    other_content: dict[str, dict[str, Any]] | None = None,
    description: str = "",
) -> Callable[[F], F]:
    """Declare what a handler method accepts and answers (read by the handler and the document)."""

    def mark(method: F) -> F:
        spec = Operation(summary, response, status, query, body, errors, other_content or {}, description)
        setattr(method, OPERATION_ATTRIBUTE, spec)
        return method

    return mark


def operations(handler: type) -> dict[str, Operation]:
    """The declared operations of a handler class, by lower-case HTTP method."""
    found = {}
    for method in METHODS:
        spec = getattr(getattr(handler, method, None), OPERATION_ATTRIBUTE, None)
        if spec is not None:
            found[method] = spec
    return found
