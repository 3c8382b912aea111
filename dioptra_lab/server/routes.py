"""The route table: every route of the REST API once, as ``(pattern, handler)``.

The tornado handlers (:func:`install`), the OpenAPI document and the tests are generated
from :data:`ROUTES`, so a route cannot be served without being documented and tested.
Patterns are relative to ``<base_url>dioptra-lab/api/v1/``; ``{name}`` is a path parameter
(one segment; ``{path}`` may span several).
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from dioptra_lab.server import handlers as h
from dioptra_lab.server.openapi import openapi_document
from dioptra_lab.server.spec import PREFIX, operation, tornado_pattern


class OpenApiHandler(h.BaseHandler):
    @operation("This document: the OpenAPI 3.1 description of the API", {"type": "object"})
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.answer(document(self.base_url))


ROUTES: list[tuple[str, type[h.BaseHandler]]] = [
    ("tasks", h.TasksHandler),
    ("tasks/{name}", h.TaskHandler),
    ("entrypoints", h.EntryPointsHandler),
    ("entrypoints/{path}", h.EntryPointHandler),
    ("validate", h.ValidateHandler),
    ("jobs", h.JobsHandler),
    ("jobs/{id}", h.JobHandler),
    ("jobs/{id}/cancel", h.CancelHandler),
    ("jobs/{id}/rerun", h.RerunHandler),
    ("jobs/{id}/logs", h.LogsHandler),
    ("jobs/{id}/notebook", h.NotebookHandler),
    ("experiments", h.ExperimentsHandler),
    ("experiments/{experiment}/results", h.ResultsHandler),
    ("stack", h.StackHandler),
    ("dashboards", h.DashboardsHandler),
    ("openapi.json", OpenApiHandler),
]


def document(base_url: str = "/") -> dict[str, Any]:
    """The OpenAPI document of :data:`ROUTES` for a server at ``base_url``."""
    return openapi_document(ROUTES, base_url)


def handlers(base_url: str) -> list[tuple[str, type[h.BaseHandler]]]:
    """The ``(regex, handler)`` list for tornado, under ``base_url``."""
    from jupyter_server.utils import url_path_join

    return [(url_path_join(base_url, PREFIX, tornado_pattern(p)), handler) for p, handler in ROUTES]


def install(web_app: Any) -> None:
    """Add the API's handlers to a Jupyter server's tornado application."""
    web_app.add_handlers(".*$", handlers(web_app.settings.get("base_url", "/")))
