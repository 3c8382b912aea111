"""Which Prefect server the engine talks to, checked before the first flow.

Prefect with no ``PREFECT_API_URL`` starts a temporary server in every process
(13-25 s on our machines); the engine refuses that and says how to get a server.
"""

from __future__ import annotations

import logging
import os

from dioptra_lab.config import PREFECT_URL_ENV, load_settings
from dioptra_lab.errors import ServiceError
from dioptra_lab.processes import http_ok

NO_SERVER = (
    "no Prefect server is configured: start the stack with `dioptra-lab up` "
    "(or run through `dioptra-lab run`, which starts it), or set PREFECT_API_URL"
)


def prefect_healthy(url: str, timeout: float = 3.0) -> bool:
    """Whether the Prefect API at ``url`` answers its health check."""
    return http_ok(url.rstrip("/") + "/health", timeout)


def require_prefect_api() -> str:
    """Return the Prefect API URL after checking it answers, and export it for Prefect.

    Raises:
        ServiceError: no server is configured, or it does not answer.
    """
    url = load_settings().prefect_api_url
    if not url:
        raise ServiceError(NO_SERVER)
    if not prefect_healthy(url):
        raise ServiceError(
            f"the Prefect server at {url} does not answer; start it with `dioptra-lab up` "
            "(or check PREFECT_API_URL)"
        )
    os.environ[PREFECT_URL_ENV] = url
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not os.environ.get("DIOPTRA_LAB_PREFECT_LOGS"):
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        for name in ("prefect", "prefect.flow_runs", "prefect.task_runs"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return url
