"""The MLflow server the stack uses: its URI, a client, a health check, and how long an
interactive process waits for it (:func:`fail_fast`, :func:`service_error`)."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from dioptra_lab.config import (
    MLFLOW_PASSWORD_ENV,
    MLFLOW_URI_ENV,
    MLFLOW_USER_ENV,
    REDIS_URL_ENV,
    load_settings,
    masked_url,
)
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
            f"the MLflow server at {masked_url(uri)} does not answer; start it with `dioptra-lab up` "
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


ARTIFACT_URI_ENV = "DIOPTRA_LAB_ARTIFACT_URI"
"""Where the artifacts of the job's run (``MLFLOW_RUN_ID``) go: set for its kernel by the worker."""


def remember_artifact_uri(run_id: str, artifact_uri: str | None) -> None:
    """Tell MLflow's client where the artifacts of a run go (this process just created or read
    the run, or was told by its worker).

    Before its first upload to a run, MLflow's client reads the run again only to learn
    this: one request per run and process, so a job paid three (the submit's bundle, the
    kernel's results, the work horse's notebook and log). The client keeps what it learnt
    in a cache of its own (private to MLflow), filled here instead; where that cache is not
    found, as with another MLflow version, the client reads the run as before.
    """
    if not artifact_uri:
        return
    with _lock:  # MLflow's first import in a process, if it is this one, under the client lock
        try:
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
            from mlflow.tracking._tracking_service import utils
        except ImportError:
            return
        cache = getattr(utils, "_artifact_repos_cache", None)
        if cache is None or run_id in cache:
            return
        cache[run_id] = get_artifact_repository(artifact_uri, tracking_uri=tracking_uri())
        while len(cache) > 1024:  # MLflow's own bound on it
            cache.popitem(last=False)


# -- interactive processes: fail fast ---------------------------------------------------------
FAIL_FAST = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}
"""MLflow's HTTP settings in an interactive process: one retry (a kept-alive connection the
server closed is retried at once), 5 s per attempt, so a call to a dead server fails at once
and one to a hung server within about 10 s (MLflow's defaults: 7 retries with back-off and
120 s per attempt, about 4 minutes)."""
MLFLOW_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "1.0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "120",
}
"""MLflow's own defaults, which the processes an interactive one starts get back."""
_before_fail_fast: dict[str, str | None] | None = None


def fail_fast() -> Callable[[], None]:
    """Make this process's MLflow calls give up within seconds (:data:`FAIL_FAST`).

    For interactive processes (the command line, the Jupyter server extension), which must
    answer "MLflow does not answer" rather than wait minutes; workers keep their patience
    (:mod:`dioptra_lab.worker.process`). A setting configured in the environment wins. The
    processes this one starts get the previous settings back (:func:`patient_environment`).
    urllib3's "Retrying ..." warnings are silenced meanwhile: the failure is reported once.

    Returns:
        A function that restores the previous settings (the command line calls it when a
        command ends); calling this again before then changes nothing.
    """
    global _before_fail_fast
    if _before_fail_fast is not None:
        return lambda: None
    saved = {name: os.environ.get(name) for name in FAIL_FAST}
    for name, value in FAIL_FAST.items():
        if not (saved[name] or "").strip():
            os.environ[name] = value
    pool_log = logging.getLogger("urllib3.connectionpool")
    level = pool_log.level
    pool_log.setLevel(logging.ERROR)
    _before_fail_fast = saved

    def restore() -> None:
        global _before_fail_fast
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        pool_log.setLevel(level)
        _before_fail_fast = None

    return restore


def interactive() -> bool:
    """Whether :func:`fail_fast` is on in this process: a person waits for the answer, so
    other services' clients (Redis's) should give up within seconds too."""
    return _before_fail_fast is not None


def patient_environment() -> dict[str, str]:
    """MLflow's settings for a process started from here (a worker, a server, a kernel):
    while :func:`fail_fast` is on, those this process had before it (else MLflow's
    defaults); otherwise nothing, as the child inherits this process's own."""
    saved = _before_fail_fast
    if saved is None:
        return {}
    return {name: (old or "").strip() or MLFLOW_DEFAULTS[name] for name, old in saved.items()}


_MAX_CAUSES = 10


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during (a short chain)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < _MAX_CAUSES and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _reason(chain: list[BaseException]) -> str:
    """What went wrong, in a few words, from an exception chain's messages."""
    text = " ".join(f"{type(e).__name__} {e}" for e in chain).lower()
    if "timeout" in text or "timed out" in text:
        return "no answer in time"
    if "refused" in text:
        return "connection refused"
    if "reset" in text or "aborted" in text or "remotedisconnected" in text or "broken pipe" in text:
        return "connection lost"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return type(chain[-1]).__name__


_UNREACHABLE = {
    "ConnectionError",
    "Timeout",
    "ConnectTimeout",
    "ReadTimeout",
    "MaxRetryError",
    "NewConnectionError",
    "ProtocolError",
    "TimeoutError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
}
"""requests' and urllib3's exceptions (and their bases) for a server that cannot be reached."""


def _is_redis_error(exc: BaseException) -> bool:
    exceptions = sys.modules.get("redis.exceptions")  # never imported just to look
    return exceptions is not None and isinstance(exc, exceptions.RedisError)


def _is_unreachable(exc: BaseException) -> bool:
    """A failure to reach an HTTP server, as requests or urllib3 (MLflow's client) report it."""
    return any(
        k.__module__.startswith(("requests", "urllib3")) and k.__name__ in _UNREACHABLE
        for k in type(exc).__mro__
    )


def redis_error(url: str, exc: BaseException) -> ServiceError:
    """The one-line :class:`ServiceError` for a Redis client error ``exc`` at ``url``."""
    chain = _causes(exc)
    refused = next((e for e in chain if type(e).__name__ == "AuthenticationError"), None)
    if refused is not None:
        return ServiceError(
            f"Redis at {masked_url(url)} refuses the password ({str(refused)[:200]}); use the address "
            f"`dioptra-lab up` printed (in {REDIS_URL_ENV}), or restart the stack with "
            "`dioptra-lab down` then `dioptra-lab up`"
        )
    return ServiceError(
        f"Redis at {masked_url(url)} does not answer ({_reason(chain)}); start it with `dioptra-lab up` "
        f"(or fix {REDIS_URL_ENV})"
    )


def service_error(exc: BaseException) -> ServiceError | None:
    """The one-line :class:`ServiceError` for a failure to reach MLflow or Redis, else ``None``.

    MLflow's client reports a dead or hung server as an ``MlflowException`` ("API request to …
    failed with exception …", raised while handling requests' or urllib3's errors); Redis's
    as a ``RedisError``. The message names the service, its address (password masked) and
    what to do. Other errors (an answer MLflow gave, a bug) are not a service failure.
    """
    if isinstance(exc, ServiceError):
        return exc
    chain = _causes(exc)
    if any(_is_redis_error(e) for e in chain):
        return redis_error(load_settings().redis_url or "(none configured)", exc)
    text = str(exc)
    from_mlflow = type(exc).__module__.startswith("mlflow")
    uri = masked_url(load_settings().mlflow_tracking_uri or "(none configured)")
    if from_mlflow and text.startswith("API request to ") and "failed with error code 401" in text:
        return ServiceError(
            f"the MLflow server at {uri} refuses the credentials (401): set {MLFLOW_USER_ENV} and "
            f"{MLFLOW_PASSWORD_ENV} (the export line of `dioptra-lab up --host` on its host has them)"
        )
    if from_mlflow and text.startswith("API request to ") and "failed with error code" in text:
        first = masked_url(text.splitlines()[0] if text else "")[:300]
        return ServiceError(
            f"the MLflow server at {uri} answers with an error ({first}); see its log "
            "(<home>/logs/mlflow.log for the stack's own) or restart it with `dioptra-lab up`"
        )
    if from_mlflow and text.startswith("API request to ") and "was successful but" in text:
        return ServiceError(
            f"the server at {uri} answers, but not as MLflow does; point {MLFLOW_URI_ENV} at the "
            "MLflow server (`dioptra-lab up` records the stack's own)"
        )
    if (from_mlflow and text.startswith("API request to ")) or any(_is_unreachable(e) for e in chain):
        if "too many" in text and "error responses" in text:
            return ServiceError(
                f"the MLflow server at {uri} answers only with errors; see its log "
                "(<home>/logs/mlflow.log for the stack's own) or restart it with `dioptra-lab up`"
            )
        return ServiceError(
            f"the MLflow server at {uri} does not answer ({_reason(chain)}); start it with "
            f"`dioptra-lab up` (or fix {MLFLOW_URI_ENV})"
        )
    return None
