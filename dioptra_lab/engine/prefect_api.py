"""Which Prefect server the engine talks to, and the one Prefect client each process keeps.

Prefect with no ``PREFECT_API_URL`` starts a temporary server in every process
(13-25 s on our machines); the engine refuses that and says how to get a server.

Per process and server, :func:`prefect_session` builds Prefect's settings and a
synchronous API client once and binds them around each flow. Prefect otherwise pays,
per flow, a full re-validation of its settings (``temporary_settings``: ~50-300 ms on
2 cores), a new HTTP client (TLS context, connection, API version check) and, when
the stack's SQLite-backed server answers 503 ("database is locked"), a back-off of
2 s before its retry. Our client retries such a 503 after a few milliseconds first, and
answers three of the five requests Prefect's engine makes per flow run itself
(:class:`_Shortcuts`): a flow run costs the server two requests.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dioptra_lab.config import PREFECT_AUTH_ENV, PREFECT_URL_ENV, load_settings
from dioptra_lab.errors import ServiceError
from dioptra_lab.processes import http_ok

if TYPE_CHECKING:
    import httpx

NO_SERVER = (
    "no Prefect server is configured: start the stack with `dioptra-lab up` "
    "(or run through `dioptra-lab run`, which starts it), or set PREFECT_API_URL"
)

# Waits before re-sending a request the server answered 503 (SQLite busy: the lock is
# held for milliseconds) or whose connection it closed; Prefect's own back-off starts
# at 2 s. After these, the answer (or error) goes to Prefect, which backs off as usual.
QUICK_RETRY_DELAYS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
_quick_retries = 0


def quick_retries() -> int:
    """How many times this process re-sent a request quickly (see :data:`QUICK_RETRY_DELAYS`)."""
    return _quick_retries


def prefect_healthy(url: str, timeout: float = 3.0) -> bool:
    """Whether the Prefect API at ``url`` answers its health check."""
    return http_ok(url.rstrip("/") + "/health", timeout)


PREFECT_WAIT_ENV = "DIOPTRA_LAB_PREFECT_WAIT"
"""Seconds a job waits for a Prefect server that does not answer (one restarting) before it
fails; interactive runs do not wait (default 60 in jobs, 0 elsewhere)."""


def _wait_for_prefect(url: str) -> bool:
    """Whether the server answers, within the wait a job allows (back-off 0.5 s to 5 s)."""
    default = "60" if os.environ.get("DIOPTRA_LAB_JOB_ID") else "0"
    deadline = time.monotonic() + float(os.environ.get(PREFECT_WAIT_ENV) or default)
    delay = 0.5
    while not prefect_healthy(url):
        if time.monotonic() + delay > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    return True


def require_prefect_api() -> str:
    """Return the Prefect API URL after checking it answers, and export it for Prefect.

    In a job (``DIOPTRA_LAB_JOB_ID`` set) a server that does not answer is waited for, up to
    ``DIOPTRA_LAB_PREFECT_WAIT`` seconds (60): a job started while Prefect restarts runs.

    Raises:
        ServiceError: no server is configured, or it does not answer.
    """
    url = load_settings().prefect_api_url
    if not url:
        raise ServiceError(NO_SERVER)
    if not _wait_for_prefect(url):
        raise ServiceError(
            f"the Prefect server at {url} does not answer; start it with `dioptra-lab up` "
            "(or check PREFECT_API_URL)"
        )
    _configure(url)
    return url


def _configure(url: str) -> None:
    """Point Prefect at ``url`` (for its own calls) and quiet its logging, as flows need."""
    os.environ[PREFECT_URL_ENV] = url
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not os.environ.get("DIOPTRA_LAB_PREFECT_LOGS"):
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        # prefect.main configures Prefect's logging when it is first imported, from the
        # settings of the process's first `import prefect` (a warm kernel's, before this
        # variable was set): import it first, so that the levels below stay. Else the
        # first flow logs INFO lines to the notebook and ships them to the server.
        import prefect.main  # noqa: F401

        for name in ("prefect", "prefect.flow_runs", "prefect.task_runs"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _quick_retry_transport(tls: Any) -> httpx.BaseTransport:
    """An httpx transport that re-sends a request answered 503 after a few milliseconds, and
    answers three requests of every flow run from what it already has (:class:`_Shortcuts`)."""
    import httpx

    class QuickRetryTransport(httpx.BaseTransport):
        def __init__(self, inner: httpx.BaseTransport) -> None:
            self.inner = inner
            self.shortcuts = _Shortcuts()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            known = self.shortcuts.answer(request)
            if known is not None:
                return known
            request = self.shortcuts.prepare(request)
            return self.shortcuts.learn(request, self.send(request), self.send)

        def send(self, request: httpx.Request) -> httpx.Response:
            global _quick_retries
            for delay in QUICK_RETRY_DELAYS:
                try:
                    response = self.inner.handle_request(request)
                except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
                    # The server closed this connection (uvicorn does after a 503, or its
                    # keep-alive ran out as we sent): Prefect would send again in 2 s.
                    pass
                else:
                    if response.status_code != 503 or "Retry-After" in response.headers:
                        return response
                    response.close()  # unread: this connection is dropped, not reused
                _quick_retries += 1
                time.sleep(delay)
            return self.inner.handle_request(request)

        def __enter__(self) -> QuickRetryTransport:
            self.inner.__enter__()
            return self

        def __exit__(self, *exc_info: Any) -> None:
            self.inner.__exit__(*exc_info)

        def close(self) -> None:
            self.inner.close()

    # Prefect's limits and connect retries for its own transport (SyncPrefectClient), but
    # idle connections are dropped before the server's keep-alive (5 s) closes them.
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=4)
    return QuickRetryTransport(httpx.HTTPTransport(verify=tls, limits=limits, retries=3))


_FLOW_RUN_PATH = re.compile(r"/flow_runs/([0-9a-fA-F-]{36})(/[a-z_]+)?$")
_REMEMBERED_RUNS = 64
_Send = Callable[["httpx.Request"], "httpx.Response"]  # sends a request to the server


class _Shortcuts:
    """Three of the five requests Prefect's engine makes for every flow run, answered here.

    Prefect's flow engine creates a flow run in four steps: ``POST /flows/`` (the flow's id
    for its name), ``POST /flow_runs/`` (the run, Pending), ``POST /flow_runs/{id}/set_state``
    (Running) and ``GET /flow_runs/{id}`` (the run as Running made it). The stack's server
    spends 5-16 ms of CPU on each (on SQLite, under its one write lock). This client:

    - asks for a flow's id once (per client and flow). If the flow was deleted since, the
      server refuses the flow run (409); the flow is asked for again and the creation
      re-sent with its new id;
    - creates a top-level flow run Running at once: the server applies the same rules it
      applies to a Pending -> Running transition (start time, run count; "force", as the
      API allows at creation) but none that only a deployment's run needs (concurrency
      slots, scheduled start times: such runs are not created here);
    - answers the engine's proposal of Running for that run with the state the server
      created (ACCEPT), and its read of the run with the server's answer to the creation.
      Anything else about a run goes to the server, and so does the proposal if anything
      else was sent about the run first.

    A flow run then costs two requests: create it, set it Completed (or Failed).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.flows: dict[bytes, bytes] = {}  # a POST /flows/ body -> the server's answer
        self.flow_bodies: dict[str, bytes] = {}  # a flow id answered from memory -> its body
        self.started: dict[str, bytes] = {}  # a run created Running, not yet proposed so
        self.created: dict[str, bytes] = {}  # a run, its first read not yet answered

    def prepare(self, request: httpx.Request) -> httpx.Request:
        """``request``, or for a top-level flow run's creation the same creation, Running."""
        if request.method != "POST" or not request.url.path.endswith("/flow_runs/"):
            return request
        body = json.loads(request.content)
        state = body.get("state") or {}
        if (
            state.get("type") != "PENDING"
            or state.get("name") != "Pending"
            or any(body.get(key) for key in ("parent_task_run_id", "deployment_id", "work_pool_name"))
            or (state.get("state_details") or {}).get("scheduled_time")
        ):
            return request
        body["state"] = {**state, "type": "RUNNING", "name": "Running"}
        return _with_body(request, body)

    def answer(self, request: httpx.Request) -> httpx.Response | None:
        """The server's answer to ``request`` where it is known here, else None."""
        import httpx

        path = request.url.path
        with self.lock:
            if request.method == "POST" and path.endswith("/flows/"):
                content = self.flows.get(request.content)
                if content is None:
                    return None
                self.flow_bodies[str(json.loads(content).get("id"))] = request.content
                return httpx.Response(200, content=content, headers=_JSON, request=request)
            match = _FLOW_RUN_PATH.search(path)
            if match is None:
                return None
            run_id, action = match.group(1).lower(), match.group(2)
            started = self.started.pop(run_id, None)
            if started is not None and action == "/set_state" and request.method == "POST":
                proposed = json.loads(request.content).get("state") or {}
                if proposed.get("type") == "RUNNING":
                    result = {
                        "state": json.loads(started)["state"],
                        "status": "ACCEPT",
                        "details": {"type": "accept_details"},
                    }
                    return httpx.Response(201, json=result, request=request)
            if started is not None:  # the engine did not propose Running: reads go there too
                self.created.pop(run_id, None)
                return None
            content = self.created.pop(run_id, None)
        if content is not None and request.method == "GET" and not action:
            return httpx.Response(200, content=content, headers=_JSON, request=request)
        return None

    def learn(self, request: httpx.Request, response: httpx.Response, send: _Send) -> httpx.Response:
        """Remember what ``response`` answers; returns the response to give Prefect (for a
        flow run refused because its flow is gone, the answer to its re-sending)."""
        path = request.url.path
        if request.method != "POST":
            return response
        if path.endswith("/flows/") and response.status_code in (200, 201):
            response.read()
            with self.lock:
                self.flows[request.content] = response.content
        elif path.endswith("/flow_runs/") and response.status_code == 409:
            return self.recreate(request, response, send)
        elif path.endswith("/flow_runs/") and response.status_code in (200, 201):
            response.read()
            run = json.loads(response.content)
            run_id = str(run.get("id", "")).lower()
            with self.lock:
                self.created[run_id] = response.content
                if (run.get("state") or {}).get("type") == "RUNNING":
                    self.started[run_id] = response.content
                for memo in (self.created, self.started):
                    while len(memo) > _REMEMBERED_RUNS:
                        del memo[next(iter(memo))]
        return response

    def recreate(self, request: httpx.Request, refused: httpx.Response, send: _Send) -> httpx.Response:
        """Re-send a flow run's creation the server refused, where its flow's id was answered
        from memory: the flow was deleted, so ask for it again (the server creates it)."""
        body = json.loads(request.content)
        with self.lock:
            flow_body = self.flow_bodies.pop(str(body.get("flow_id")), None)
            if flow_body is None:
                return refused
            self.flows.pop(flow_body, None)
        refused.close()
        flows = request.url.copy_with(path=request.url.path[: -len("flow_runs/")] + "flows/")
        flow_request = _with_body(request, json.loads(flow_body), flows)
        flow = self.learn(flow_request, send(flow_request), send)
        if flow.status_code not in (200, 201):
            return flow
        body["flow_id"] = json.loads(flow.content)["id"]
        again = _with_body(request, body)
        return self.learn(again, send(again), send)


def _with_body(request: httpx.Request, body: Any, url: Any = None) -> httpx.Request:
    """A copy of ``request`` (to ``url``) with the JSON ``body``."""
    import httpx

    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return httpx.Request(request.method, url or request.url, headers=headers, json=body)


_JSON = {"content-type": "application/json"}


def _tls_context(url: str) -> Any:
    """The TLS context Prefect would build; none is needed (nor loaded) for plain HTTP."""
    import ssl

    if not url.startswith("https:"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # never used: no TLS on http://
    from prefect.settings import get_current_settings

    api = get_current_settings().api
    if api.tls_insecure_skip_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    import certifi

    return ssl.create_default_context(cafile=api.ssl_cert_file or certifi.where())


def _settings_context(url: str, results: Path) -> Any:
    """Prefect's settings for flows against ``url`` with results under ``results``."""
    from prefect.context import SettingsContext, get_settings_context
    from prefect.settings import (
        PREFECT_API_AUTH_STRING,
        PREFECT_API_URL,
        PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_RESULTS_LOCAL_STORAGE_PATH,
    )

    current = get_settings_context()
    updates: dict[Any, Any] = {
        PREFECT_API_URL: url,
        PREFECT_RESULTS_LOCAL_STORAGE_PATH: results,
        # Prefect's flow heartbeat thread is joined at exit and costs ~1 s per flow;
        # crashed runs are detected by the worker's own heartbeat (RQ job meta).
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
        # Our client checks the server's version once per process (_client_context); the
        # events client would check again, with a client and TLS context of its own.
        PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED: False,
    }
    if os.environ.get(PREFECT_AUTH_ENV):  # a server with a password (set after a warm kernel's
        updates[PREFECT_API_AUTH_STRING] = os.environ[PREFECT_AUTH_ENV]  # `import prefect`)
    return SettingsContext(
        profile=current.profile, settings=current.settings.copy_with_update(updates=updates)
    )


def _client_context(url: str) -> Any:
    """A client context holding an open API client for ``url`` (under its settings)."""
    from prefect.client.orchestration import get_client
    from prefect.context import SyncClientContext

    tls = _tls_context(url)
    client = get_client(
        httpx_settings={"verify": tls, "transport": _quick_retry_transport(tls)}, sync_client=True
    )
    client.__enter__()  # open for the life of the process
    client.raise_for_api_version_mismatch_once()
    # The client's first POST first asks the server for a CSRF token (and learns that the
    # server has CSRF protection off, as ours does): a request of a process's first flow,
    # made here, where a warm kernel pays it ahead. A POST that reads one flow, no more;
    # best effort: a server that refuses it refuses nothing a flow needs.
    with contextlib.suppress(Exception):
        client.read_flows(limit=1)
    # Built without httpx settings of its own, so that Prefect's get_client() inside a
    # flow or task returns this client rather than a new one.
    return SyncClientContext.model_construct(client=client)


# Settings per server and results folder (plain data: a forked process may keep its parent's);
# clients per process (a forked one opens its own connections), per server.
_SETTINGS: dict[tuple[str, str], Any] = {}
_CLIENTS: dict[tuple[int, str], Any] = {}
_LOCK = threading.Lock()


@contextmanager
def prefect_session(url: str, results: Path) -> Iterator[None]:
    """Run Prefect flows in this block against ``url``, with results under ``results``.

    The settings are built on the first call for a server and results folder (or before
    the fork, see :func:`prepare_before_fork`), the client on the first call in a process
    (and again after a fork, or for another server); both are reused after that.
    """
    from prefect.context import SyncClientContext

    settings_key, client_key = (url, str(results)), (os.getpid(), url)
    settings, client = _SETTINGS.get(settings_key), _CLIENTS.get(client_key)
    if settings is None or client is None:
        with _LOCK:
            settings = _SETTINGS.get(settings_key)
            if settings is None:
                settings = _SETTINGS[settings_key] = _settings_context(url, results)
            client = _CLIENTS.get(client_key)
            if client is None:
                with settings.model_copy():
                    client = _CLIENTS[client_key] = _client_context(url)
    with settings.model_copy():  # a context is entered once: enter a (shallow) copy
        token = SyncClientContext.__var__.set(client)
        try:
            yield
        finally:
            SyncClientContext.__var__.reset(token)


def _build_flow_machinery() -> None:
    """Import what a first flow imports on its way and build a flow's parameter schema."""
    import prefect.flow_engine  # noqa: F401
    import prefect.task_engine  # noqa: F401
    import prefect.utilities.visualization  # noqa: F401  (imported by every flow call)
    from prefect import flow

    @flow(name="dioptra-lab-warm-up", validate_parameters=False, persist_result=False)
    def warm(parameters: dict[str, Any]) -> None:
        """Never called: building it imports what flows need (parameter schemas)."""

    warm.serialize_parameters({"parameters": {}})  # FastAPI's encoder, imported lazily
    _complete_models()


SCHEMA_MODULES = (
    "prefect.client.schemas.actions",
    "prefect.client.schemas.objects",
    "prefect.client.schemas.responses",
    "prefect.client.schemas.filters",
    "prefect.client.schemas.sorting",
    "prefect.events.schemas.events",
)
"""Where the API models a flow run sends and reads live (flow and flow-run creation, states,
events)."""


def _complete_models() -> None:
    """Build the API models that pydantic left to build on first use.

    Prefect defines them with forward references, so pydantic builds each model's validator
    the first time it is used: FlowCreate, FlowRunCreate, FlowRun, FlowRunPolicy, Event and
    ConcurrencyLeaseHolder in a process's first flow, ~14 ms. All 177 of these modules'
    models take ~60 ms, once, here.
    """
    import importlib

    from pydantic import BaseModel

    for name in SCHEMA_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # another Prefect version: nothing to build ahead there
            continue
        for value in list(vars(module).values()):
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == name
                and not value.__pydantic_complete__
            ):
                with contextlib.suppress(Exception):  # left to build on first use, as before
                    value.model_rebuild(raise_errors=False)


def prepare_before_fork() -> None:
    """What :func:`warm_up` pays that needs no connection, paid once in a process that forks
    kernels (the zygote): the imports, the parameter schemas and the settings of
    :func:`prefect_session` for the stack's server, which its kernels then find built.
    Does nothing where Prefect was not imported or no server is configured."""
    import sys

    settings = load_settings()
    url = settings.prefect_api_url
    if "prefect" not in sys.modules or not url:
        return
    _configure(url)
    _build_flow_machinery()
    results = settings.home / "cache"
    with _LOCK:
        if (url, str(results)) not in _SETTINGS:
            _SETTINGS[(url, str(results))] = _settings_context(url, results)


def warm_up() -> str:
    """Pay ahead of a job what its first flow would: imports, settings and API client.

    For a process (a kernel warmed before its job arrives) that will run flows soon:
    Prefect's engines and the modules they import on first use, the settings and the
    client of :func:`prefect_session` (with its API version check), and the events
    websocket that task runs are reported through. Creates no flow run; the server
    must answer. Returns its API URL.

    Raises:
        ServiceError: no Prefect server is configured, or it does not answer.
    """
    url = require_prefect_api()
    _build_flow_machinery()
    with prefect_session(url, load_settings().home / "cache"):
        from prefect.events.worker import EventsWorker

        EventsWorker.instance()  # its thread connects the events websocket now, sends nothing
    return url
