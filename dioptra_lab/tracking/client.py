"""The MLflow server the stack uses: its URI, a client, and a health check."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from dioptra_lab.config import MLFLOW_URI_ENV, load_settings
from dioptra_lab.errors import ServiceError
from dioptra_lab.processes import http_ok

if TYPE_CHECKING:
    from mlflow import MlflowClient


def tracking_uri() -> str:
    """The tracking URI: the stack's server, or a local SQLite file under ``<home>``."""
    settings = load_settings()
    if settings.mlflow_tracking_uri:
        return settings.mlflow_tracking_uri
    settings.home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{settings.home / 'mlflow-local.db'}"


def mlflow_healthy(uri: str, timeout: float = 3.0) -> bool:
    """Whether an ``http(s)://`` MLflow server answers its health check (files always do)."""
    if not uri.startswith(("http://", "https://")):
        return True
    return http_ok(uri.rstrip("/") + "/health", timeout)


def require_mlflow() -> str:
    """The stack's MLflow URI after checking it answers; exported for MLflow's own calls.

    Raises:
        ServiceError: no server configured, or it does not answer.
    """
    uri = load_settings().mlflow_tracking_uri
    if not uri:
        raise ServiceError(
            "no MLflow server is configured: start the stack with `dioptra-lab up`, "
            "or set MLFLOW_TRACKING_URI"
        )
    if not mlflow_healthy(uri):
        raise ServiceError(
            f"the MLflow server at {uri} does not answer; start it with `dioptra-lab up` "
            "(or fix MLFLOW_TRACKING_URI); nothing was submitted"
        )
    os.environ[MLFLOW_URI_ENV] = uri
    return uri


_lock = threading.Lock()
_clients: dict[tuple[int, str], MlflowClient] = {}


def client(uri: str | None = None) -> MlflowClient:
    """An MLflow client for ``uri`` (default: :func:`tracking_uri`), one per process.

    The first import of MLflow happens under a lock: tasks running in parallel threads
    that log at the same moment would otherwise race in protobuf's descriptor pool. The
    cache is keyed by process id so that a forked work horse never shares sockets.
    """
    key = (os.getpid(), uri or tracking_uri())
    with _lock:
        if key not in _clients:
            import mlflow
            from mlflow import MlflowClient

            # MLflow draws a tqdm bar per download: widgets in a notebook, noise in a log
            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            if not _clients:
                # MLflow's fluent calls (log_model, autologging) default to ./mlruns in the
                # working folder; point them at the same place as this client instead.
                mlflow.set_tracking_uri(key[1])
            _clients[key] = MlflowClient(tracking_uri=key[1])
        return _clients[key]
