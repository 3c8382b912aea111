"""Warm kernels: Jupyter kernels started, and their heavy imports done, before a job needs one.

Every job runs in a fresh kernel: no module, global or GPU memory survives a job, and a
plugin edited between two jobs runs its new code without a restart. The price of a fresh
kernel (start it, import numpy, torch, MLflow, Prefect and the engine: 3-8 s on 2 cores)
is paid here *before* the job arrives. A warm kernel imports third-party libraries and the
dioptra_lab engine and entry-point loader only, never a plugin module, and serves exactly
one job: whoever started it shuts it down after that job, and a new one warms in the
background.

Who does what:

- :class:`Zygote` (:mod:`dioptra_lab.engine.zygote`) is one process per pool that does the
  heavy imports once, with the stack's environment, and forks a new kernel on request,
  ready (connected) in about 0.2 s. It exits when its owner lets go of it or dies; its
  kernels exit within a second of it (ipykernel's parent poller), so a killed worker leaves
  no kernel behind.
- :class:`WarmKernel` is one forked kernel; before it is handed out it connects to Prefect
  and MLflow (in its own process: no connection is shared across a fork). The process
  that owns the pool is the only one that kills it, after its one job.
- :class:`KernelPool` keeps ``size`` warm kernels ready from a background thread, drops a
  kernel that died while waiting (it is never handed out) and replaces it, and restarts the
  zygote when the stack's environment changed (a service moved) or the zygote died.
- A job's process connects with a :class:`KernelHandle` (connection info and pid, plain
  data that crosses a fork): :func:`prepare_kernel` moves the kernel into the job's folder
  and environment, and :class:`ConnectedKernelManager` lets Papermill/nbclient run the
  notebook in it without starting or owning a kernel.
- :func:`serve_shelf` and :func:`claim_kernel`: the stack's warm kernel for local runs
  (``dioptra-lab run``), published as a file that one run claims by renaming it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any, cast

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from dioptra_lab.engine.zygote import OWNER_ENV
from dioptra_lab.processes import pid_alive

log = logging.getLogger(__name__)

WARM_KERNELS_ENV = "DIOPTRA_LAB_WARM_KERNELS"
"""How many warm kernels a worker keeps (default 2 with 8 GiB available, else 1; 0: off)."""

WARM_IMPORTS = (
    "numpy",
    "torch",
    "sklearn",
    "matplotlib",
    "matplotlib.figure",
    "mlflow",
    "prefect",
    "prefect.flow_engine",
    "prefect.task_engine",
    # what MLflow's first client in a process imports (its tracing's span processors)
    "mlflow.tracing.processor.base_mlflow",
    "mlflow.tracing.processor.otel",
    "mlflow.tracing.export.utils",
    # what a flow's task runs and plugin discovery import on first use
    "anyio._backends._asyncio",
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    "email.policy",
    "dioptra_lab.engine",
    "dioptra_lab.engine.runner",
    "dioptra_lab.entrypoints",  # and nbformat, the types, the plugin registry: 100 modules
    "dioptra_lab.tracking",
)
"""Modules a warm kernel imports ahead of its job: third-party libraries and the engine.
Never a plugin: each job imports its own bundle's plugins fresh."""

_CONNECT = """\
def _dioptra_lab_connect():
    # What a job's first flow and first MLflow call would pay, paid now, in this kernel
    # (after the fork: connections are never shared with the zygote or another kernel):
    # Prefect's settings, API client and events connection; MLflow's client. Best effort:
    # a service that does not answer now is the job's to report.
    try:
        from dioptra_lab.engine.prefect_api import warm_up
        warm_up()
    except Exception:
        pass
    try:
        from dioptra_lab.tracking.client import client
        client()
    except Exception:
        pass
_dioptra_lab_connect()
del _dioptra_lab_connect
"""

_PREPARE = """\
def _dioptra_lab_prepare(folder, environment):
    import os
    os.chdir(folder)
    os.environ.update(environment)
_dioptra_lab_prepare({folder!r}, {environment!r})
del _dioptra_lab_prepare
"""


WARM_IMPORTS_ENV = "DIOPTRA_LAB_WARM_IMPORTS"
"""Comma-separated modules warm kernels import ahead of a job (default :data:`WARM_IMPORTS`)."""


def warm_imports() -> tuple[str, ...]:
    """The modules warm kernels import: ``DIOPTRA_LAB_WARM_IMPORTS`` or :data:`WARM_IMPORTS`."""
    raw = os.environ.get(WARM_IMPORTS_ENV)
    if raw is None:
        return WARM_IMPORTS
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def stack_environment() -> dict[str, str]:
    """What every kernel needs from the stack, known before a job arrives: its home, the
    MLflow and Prefect addresses (Prefect reads its URL when it is imported, in the zygote)
    and their credentials where they have some. A warm kernel whose stack environment no
    longer matches is discarded, never used."""
    from dioptra_lab.config import CREDENTIAL_ENVS, MLFLOW_URI_ENV, PREFECT_URL_ENV, load_settings

    settings = load_settings()
    env = {"DIOPTRA_LAB_HOME": str(settings.home)}
    env.update({name: os.environ[name] for name in CREDENTIAL_ENVS if os.environ.get(name)})
    if settings.mlflow_tracking_uri:
        env[MLFLOW_URI_ENV] = settings.mlflow_tracking_uri
    if settings.prefect_api_url:
        env[PREFECT_URL_ENV] = settings.prefect_api_url
    return env


ROOMY_MEMORY_GIB = 8.0
"""Available memory above which a worker keeps two warm kernels instead of one."""


def warm_kernel_count(default: int | None = None) -> int:
    """How many warm kernels a worker keeps: ``DIOPTRA_LAB_WARM_KERNELS``, else two where
    memory allows (a second kernel forked from the same zygote shares most of its pages,
    and lets a job that follows another at once find one ready), else one."""
    raw = os.environ.get(WARM_KERNELS_ENV, "").strip()
    fallback = default if default is not None else (2 if _available_gib() >= ROOMY_MEMORY_GIB else 1)
    if not raw:
        return fallback
    try:
        return max(0, int(raw))
    except ValueError:
        log.warning("%s=%r is not a whole number; using %d", WARM_KERNELS_ENV, raw, fallback)
        return fallback


def _available_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


@dataclass(frozen=True)
class KernelHandle:
    """What a job's process needs to use a kernel another process started."""

    connection: dict[str, Any]
    pid: int

    def alive(self) -> bool:
        """Whether the kernel's process still runs (a zombie counts as dead)."""
        return pid_alive(self.pid)


def _run_code(
    handle: KernelHandle,
    code: str,
    timeout: float,
    expressions: dict[str, str] | None = None,
    *,
    starting: bool = False,
) -> dict[str, Any]:
    """Run ``code`` silently in the kernel and return the reply's content.

    ``starting``: the kernel was just launched; wait until it answers first. Otherwise the
    request is queued by ZeroMQ until the connection is up: one round trip, no waiting.
    """
    import zmq
    from jupyter_client import BlockingKernelClient

    # A new kernel binds its ports a moment after it is forked; ZeroMQ then connects again
    # after RECONNECT_IVL, 100 ms by default, most of a warm start: every 5 ms instead.
    context = zmq.Context() if starting else None
    if context is not None:
        context.setsockopt(zmq.RECONNECT_IVL, 5)
    client = BlockingKernelClient(**({"context": context} if context is not None else {}))
    try:
        client.load_connection_info(cast(Any, handle.connection))
        client.start_channels()
        if starting:
            _first_reply(client, handle, timeout)
        msg_id = client.execute(
            code, silent=True, store_history=False, allow_stdin=False, user_expressions=expressions or {}
        )
        deadline = time.monotonic() + timeout
        while True:
            if not handle.alive():
                raise RuntimeError(f"the kernel (pid {handle.pid}) died")
            try:
                reply = client.get_shell_msg(timeout=min(1.0, max(0.05, deadline - time.monotonic())))
            except Empty:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the kernel did not answer within {timeout:.0f}s") from None
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                return dict(reply["content"])
    finally:
        client.stop_channels()
        if context is not None:
            context.destroy(linger=0)


def _first_reply(client: Any, handle: KernelHandle, timeout: float) -> None:
    """Wait until a just-started kernel answers kernel_info (ZeroMQ queues the request
    until the kernel has bound its ports; no heartbeat or IOPub waits)."""
    deadline = time.monotonic() + timeout
    while True:
        msg_id = client.kernel_info()
        try:
            while True:
                reply = client.get_shell_msg(timeout=0.5)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return
        except Empty:
            pass
        if not handle.alive():
            raise RuntimeError(f"the kernel (pid {handle.pid}) exited while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the kernel did not answer within {timeout:.0f}s")


def prepare_kernel(
    handle: KernelHandle,
    folder: Path,
    environment: dict[str, str],
    timeout: float = 30,
    expressions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Move a warm kernel into a job's working folder and environment.

    ``expressions``: evaluated in the kernel after that, in the same round trip; returns
    their results as the kernel answered them (Jupyter's ``user_expressions``).

    Raises:
        RuntimeError: the kernel refused the code (it is not usable for the job).
    """
    code = _PREPARE.format(folder=str(folder), environment=environment)
    content = _run_code(handle, code, timeout, expressions)
    if content.get("status") != "ok":
        raise RuntimeError(
            f"the warm kernel could not be prepared: {content.get('ename')}: {content.get('evalue')}"
        )
    return dict(content.get("user_expressions") or {})


class ReadyKernelClient(AsyncKernelClient):
    """A client of a kernel known to be running: ready after one kernel_info round trip.

    jupyter_client's own check then waits for 0.2 s of silence on IOPub (twice per job
    with a warm kernel: most of a trivial job's time); here IOPub counts as connected as
    soon as the kernel's status for our request reaches it.
    """

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or 60.0)
        while True:
            msg_id = self.kernel_info()
            while True:
                try:
                    reply = await self.shell_channel.get_msg(timeout=1.0)
                except Empty:
                    break
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            try:
                await self.iopub_channel.get_msg(timeout=0.05)
                return
            except Empty:  # IOPub not subscribed yet (ZeroMQ's slow joiner): ask again
                if not await self._async_is_alive():
                    raise RuntimeError("the kernel died before answering") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the kernel did not answer within {timeout}s") from None

    wait_for_ready = _async_wait_for_ready  # type: ignore[assignment]


class ConnectedKernelManager(AsyncKernelManager):
    """A kernel manager for a kernel this process did not start: nbclient connects to it.

    It never starts a kernel; asked to shut the kernel down (nbclient does on a signal),
    it kills it, which is what the kernel's owner does after the job anyway.
    """

    def __init__(self, handle: KernelHandle, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handle = handle
        self.load_connection_info(cast(Any, handle.connection))

    @property
    def has_kernel(self) -> bool:
        return True

    def client(self, **kwargs: Any) -> AsyncKernelClient:  # type: ignore[override]
        """A :class:`ReadyKernelClient` of the kernel."""
        options: dict[str, Any] = {**self.get_connection_info(session=True), "parent": self, **kwargs}
        return ReadyKernelClient(**options)

    async def _async_is_alive(self) -> bool:
        return self.handle.alive()

    is_alive = _async_is_alive  # type: ignore[assignment]

    async def _async_start_kernel(self, **kwargs: Any) -> None:
        raise RuntimeError("a connected kernel is started by its owner, not by the job")

    start_kernel = _async_start_kernel  # type: ignore[assignment]

    async def _async_shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        _kill_group(self.handle.pid)

    shutdown_kernel = _async_shutdown_kernel  # type: ignore[assignment]

    async def _async_interrupt_kernel(self) -> None:
        try:
            os.kill(self.handle.pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    interrupt_kernel = _async_interrupt_kernel  # type: ignore[assignment]

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        """The owner removes the connection file; nothing to clean here."""

    cleanup_resources = _async_cleanup_resources  # type: ignore[assignment]


def _kill_group(pid: int) -> None:
    """SIGKILL the kernel and what it started (kernels run in their own session)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
            return
        except ProcessLookupError:
            return
        except PermissionError:
            continue


_ZYGOTE_PIPES: set[int] = set()


def _close_zygote_pipes() -> None:
    """In a forked child (a work horse): drop the write ends of the zygotes' stdin, so a
    zygote still sees its owner's death when the owner dies before the child."""
    for fd in list(_ZYGOTE_PIPES):
        with contextlib.suppress(OSError):
            os.close(fd)
    _ZYGOTE_PIPES.clear()


os.register_at_fork(after_in_child=_close_zygote_pipes)


class Zygote:
    """The owner's side of a kernel zygote (:mod:`dioptra_lab.engine.zygote`).

    One process per pool that has done the heavy imports with the pool's environment and
    forks a kernel on request. Used from the pool's thread only.
    """

    def __init__(self, environment: dict[str, str], imports: tuple[str, ...], log_path: Path | None) -> None:
        self.environment = environment
        self.imports = imports
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.failed: dict[str, str] = {}
        self.seconds = 0.0

    def start(self, timeout: float = 300) -> Zygote:
        """Start the zygote and wait until its imports are done.

        Raises:
            RuntimeError: it exited or did not get ready in time (it is stopped).
        """
        started = time.perf_counter()
        argv = [sys.executable, "-m", "dioptra_lab.engine.zygote", json.dumps(list(self.imports))]
        if self.log_path is not None:
            argv.append(str(self.log_path))
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **self.environment, OWNER_ENV: str(os.getpid())},
            start_new_session=True,
        )
        if self.proc.stdin is not None:
            _ZYGOTE_PIPES.add(self.proc.stdin.fileno())
        try:
            ready = self._read(timeout)
        except BaseException:
            self.close()
            raise
        self.failed = dict(ready.get("failed") or {})
        self.seconds = time.perf_counter() - started
        return self

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if readable else b""
        if not line:
            code = self.proc.poll()
            why = f"exited with code {code}" if code is not None else f"did not answer within {timeout:.0f}s"
            raise RuntimeError(f"the kernel zygote {why}")
        message = json.loads(line)
        if "error" in message:
            raise RuntimeError(f"the kernel zygote refused a request: {message['error']}")
        return dict(message)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def fork(self, connection_file: Path, cwd: Path, timeout: float = 30) -> int:
        """A new kernel process on ``connection_file``; return its pid."""
        if self.proc is None or self.proc.stdin is None or not self.alive():
            raise RuntimeError("the kernel zygote is not running")
        request = {"connection_file": str(connection_file), "cwd": str(cwd)}
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        return int(self._read(timeout)["pid"])

    def kill(self) -> None:
        """Kill a zygote at once (e.g. one still importing when its owner stops)."""
        if self.proc is not None and self.proc.poll() is None:
            _kill_group(self.proc.pid)

    def close(self) -> None:
        """Stop the zygote (its kernels follow it within a second)."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                _ZYGOTE_PIPES.discard(self.proc.stdin.fileno())
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            _kill_group(self.proc.pid)
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@dataclass
class WarmKernel:
    """One kernel forked from a :class:`Zygote`, ready for one job."""

    zygote: Zygote
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dioptra-lab-kernel-")))
    handle: KernelHandle | None = None
    warm_seconds: float = 0.0

    @property
    def environment(self) -> dict[str, str]:
        return self.zygote.environment

    def start(self, timeout: float = 60) -> WarmKernel:
        """Fork the kernel and wait until it answers (blocking).

        Raises:
            RuntimeError: the kernel did not start or answer (it is shut down).
        """
        from jupyter_client.connect import write_connection_file

        started = time.perf_counter()
        path = self.folder / "kernel.json"
        try:
            _, info = write_connection_file(str(path), ip="127.0.0.1", key=uuid.uuid4().hex.encode())
            connection = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in info.items()}
            self.handle = KernelHandle(connection, self.zygote.fork(path, self.folder))
            content = _run_code(self.handle, _CONNECT, timeout, starting=True)
            if content.get("status") != "ok":
                raise RuntimeError(f"the new kernel failed: {content.get('ename')}: {content.get('evalue')}")
        except BaseException:
            self.shutdown()
            raise
        self.warm_seconds = time.perf_counter() - started
        return self

    def alive(self) -> bool:
        """Whether the kernel process runs."""
        return self.handle is not None and self.handle.alive()

    def shutdown(self) -> None:
        """Kill the kernel now (it served its job, or it is not wanted) and remove its files."""
        if self.handle is not None:
            _kill_group(self.handle.pid)
            deadline = time.monotonic() + 5
            while self.handle.alive() and time.monotonic() < deadline:
                time.sleep(0.005)  # gone for good (the zygote reaps it) before we go on
        shutil.rmtree(self.folder, ignore_errors=True)


class KernelPool:
    """Keeps ``size`` warm kernels ready; each one serves one job, then is shut down.

    A background thread starts the zygote (the heavy imports, once), forks kernels from it
    until ``size`` are ready, checks every second that they still run and replaces the
    dead, and restarts the zygote when the stack's environment changed (a service moved)
    or the zygote died. When a kernel cannot be made, it waits ``backoff`` seconds before
    trying again and :meth:`take` answers ``None`` at once meanwhile: the job then starts a
    kernel of its own, whose error, if there is one, the job reports.
    """

    def __init__(
        self,
        size: int = 1,
        *,
        environment: Callable[[], dict[str, str]] | None = None,
        imports: tuple[str, ...] | None = None,
        backoff: float = 30.0,
        log_path: Path | None = None,
    ) -> None:
        self.size = size
        self.environment: Callable[[], dict[str, str]] = environment or dict
        self.imports = warm_imports() if imports is None else imports
        self.backoff = backoff
        self.log_path = log_path
        self.zygote: Zygote | None = None
        self._starting: Zygote | None = None  # the zygote importing, before it is ready
        self.retired: list[Zygote] = []
        self.out: dict[int, int] = {}  # handed-out kernels per zygote (by id)
        self.ready: list[WarmKernel] = []
        self.error: str | None = None
        self.failed_until = 0.0
        self.served = 0
        self.replaced = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dioptra-lab-warm-kernels", daemon=True)

    def start(self) -> KernelPool:
        if self.size > 0:
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:  # nothing may end this thread: take() would then wait in vain
                self._drop_dead()
                self._close_retired()
                with self._cond:
                    wanted = len(self.ready) < self.size and time.monotonic() >= self.failed_until
                    if not wanted:  # a take() wakes it: the replacement starts at once
                        if not self._stop.is_set():
                            self._cond.wait(1.0)
                        continue
                kernel = WarmKernel(self._current_zygote()).start()
            except Exception as exc:
                self._failed(exc)
                continue
            with self._cond:
                if self._stop.is_set():
                    kernel.shutdown()
                    return
                self.error = None
                self.ready.append(kernel)
                self._cond.notify_all()
            log.info("warm kernel ready (pid %s) in %.2fs", _pid(kernel), kernel.warm_seconds)

    def _current_zygote(self) -> Zygote:
        environment = dict(self.environment())
        zygote = self.zygote
        if zygote is not None and zygote.alive() and zygote.environment == environment:
            return zygote
        if zygote is not None:
            why = "environment changed" if zygote.alive() else "it died"
            log.info("restarting the kernel zygote (%s)", why)
            # its kernels exit with it: it stays until the ones handed out are released
            with self._cond:
                self.retired.append(zygote)
        self.zygote = None
        zygote = self._starting = Zygote(environment, self.imports, self.log_path)
        try:
            zygote.start()
        finally:
            self._starting = None
        if self._stop.is_set():
            zygote.close()
            raise RuntimeError("the pool is closing")
        self.zygote = zygote
        log.info(
            "kernel zygote ready (pid %s) in %.1fs", zygote.proc.pid if zygote.proc else "?", zygote.seconds
        )
        if zygote.failed:
            log.info("warm kernels could not import: %s", ", ".join(sorted(zygote.failed)))
        return zygote

    def _close_retired(self) -> None:
        with self._cond:
            done = [z for z in self.retired if not self.out.get(id(z))]
            self.retired = [z for z in self.retired if z not in done]
        for zygote in done:
            zygote.close()

    def _failed(self, exc: Exception) -> None:
        with self._cond:
            self.error = f"{type(exc).__name__}: {exc}"
            self.failed_until = time.monotonic() + self.backoff
            self._cond.notify_all()
        if not self._stop.is_set():
            log.warning(
                "could not warm a kernel (%s); jobs start their own for %.0fs", self.error, self.backoff
            )

    def _drop_dead(self) -> None:
        environment = dict(self.environment())
        with self._cond:
            stale = [k for k in self.ready if not k.alive() or k.environment != environment]
            self.ready = [k for k in self.ready if k not in stale]
        for kernel in stale:
            log.warning("dropping warm kernel (pid %s): it died or the stack moved", _pid(kernel))
            self.replaced += 1
            kernel.shutdown()

    def take(self, timeout: float = 120) -> WarmKernel | None:
        """A ready, running kernel with the stack's current environment, or ``None``.

        Waits for the kernel being warmed (it started before this job arrived, so it is
        ready sooner than a new one would be), unless warming is failing.
        """
        if self.size <= 0:
            return None
        deadline = time.monotonic() + timeout
        try:
            environment = dict(self.environment())
        except Exception as exc:  # the stack's settings cannot be read: the job starts a kernel
            log.warning("no warm kernel: %s", exc)
            return None
        unwanted: list[WarmKernel] = []
        try:
            with self._cond:
                while True:
                    while self.ready:
                        kernel = self.ready.pop(0)
                        if kernel.alive() and kernel.environment == environment:
                            self.served += 1
                            self.out[id(kernel.zygote)] = self.out.get(id(kernel.zygote), 0) + 1
                            self._cond.notify_all()
                            return kernel
                        self.replaced += 1
                        unwanted.append(kernel)
                    failing = time.monotonic() < self.failed_until
                    if failing or self._stop.is_set() or time.monotonic() >= deadline:
                        return None
                    self._cond.wait(min(1.0, max(0.0, deadline - time.monotonic())))
        finally:
            for kernel in unwanted:
                kernel.shutdown()

    def release(self, kernel: WarmKernel) -> None:
        """The job is over: shut its kernel down (a kernel never outlives its job)."""
        kernel.shutdown()
        with self._cond:
            key = id(kernel.zygote)
            self.out[key] = max(0, self.out.get(key, 0) - 1)

    def stop_warming(self) -> None:
        """Warm nothing more (the owner is stopping): a zygote still importing is killed now,
        not seconds later when its imports are done. Kernels ready or handed out are left to
        :meth:`close` and :meth:`release`."""
        self._stop.set()
        starting = self._starting
        if starting is not None:
            starting.kill()
        with self._cond:
            self._cond.notify_all()

    def close(self, timeout: float = 10.0) -> None:
        """Stop warming, shut every kernel of the pool and the zygote down."""
        self.stop_warming()
        with self._cond:
            kernels = list(self.ready)
            self.ready.clear()
            self._cond.notify_all()
        for kernel in kernels:
            kernel.shutdown()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for zygote in [self.zygote, *self.retired]:
            if zygote is not None:
                zygote.close()


def _pid(kernel: WarmKernel) -> int | None:
    return kernel.handle.pid if kernel.handle else None


_handed: KernelHandle | None = None


def hand_over(handle: KernelHandle | None) -> None:
    """Set the kernel the next forked job process uses (``None``: it starts its own)."""
    global _handed
    _handed = handle


def handed_kernel() -> KernelHandle | None:
    """The kernel handed to this (forked) job process, if it still runs."""
    return _handed if _handed is not None and _handed.alive() else None


# -- the shelf: warm kernels for local runs, kept by the stack -----------------------------
SHELF = "kernels"
"""The shelf's folder under the stack's home: ``ready/`` and ``claimed/`` kernel files."""

CLAIM_GRACE = 10.0
"""Seconds a claimed kernel lives without a recorded claimer before the shelf kills it."""


def serve_shelf(pool: KernelPool, folder: Path, stop: threading.Event, interval: float = 0.1) -> None:
    """Publish one of ``pool``'s kernels at a time as ``<folder>/ready/<pid>.json``.

    A local run (``dioptra-lab run``) claims it by renaming the file into ``claimed/``
    (atomic: one claimer wins), records its own pid beside it, runs, and kills the kernel.
    The shelf forgets a kernel once it is dead and kills one whose claimer died.
    """
    ready, claimed = folder / "ready", folder / "claimed"
    # a kernel's connection file holds the key that lets anyone run code in it: owner only
    for sub in (folder, ready, claimed):
        sub.mkdir(parents=True, exist_ok=True)
        sub.chmod(0o700)
    for sub in (ready, claimed):
        for stale in sub.iterdir():  # left by a shelf that was killed
            stale.unlink(missing_ok=True)
    shelved: dict[int, WarmKernel] = {}
    taken: dict[int, tuple[WarmKernel, float]] = {}
    try:
        while not stop.is_set():
            for pid, kernel in list(shelved.items()):
                if not (ready / f"{pid}.json").exists():
                    taken[pid] = (kernel, time.monotonic())
                    del shelved[pid]
            for pid, (kernel, since) in list(taken.items()):
                owner = _read_pid(claimed / f"{pid}.owner")
                orphaned = (owner is None and time.monotonic() - since > CLAIM_GRACE) or (
                    owner is not None and not pid_alive(owner)
                )
                if orphaned or not kernel.alive():
                    pool.release(kernel)
                    for name in (f"{pid}.json", f"{pid}.owner"):
                        (claimed / name).unlink(missing_ok=True)
                    del taken[pid]
            if not shelved:
                fresh = pool.take(timeout=interval)
                if fresh is not None and fresh.handle is not None:
                    pid = fresh.handle.pid
                    record = {
                        "pid": pid,
                        "connection": fresh.handle.connection,
                        "python": sys.executable,
                        "environment": fresh.environment,
                    }
                    partial = ready / f".{pid}.tmp"
                    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                    with os.fdopen(os.open(partial, flags, 0o600), "w") as fh:
                        fh.write(json.dumps(record))
                    partial.rename(ready / f"{pid}.json")
                    shelved[pid] = fresh
                    continue
            stop.wait(interval)
    finally:
        for kernel in [*shelved.values(), *(k for k, _ in taken.values())]:
            pool.release(kernel)
        for sub in (ready, claimed):
            for leftover in sub.glob("*"):
                leftover.unlink(missing_ok=True)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def claim_kernel(folder: Path) -> KernelHandle | None:
    """A warm kernel from the stack's shelf for a local run, or ``None`` (start one).

    Only a kernel of this same Python is taken. The caller kills it after the run
    (:func:`release_kernel`); if the caller dies first, the shelf does.
    """
    ready, claimed = folder / "ready", folder / "claimed"
    for path in sorted(ready.glob("*.json")) if ready.is_dir() else []:
        mine = claimed / path.name
        try:
            path.rename(mine)
        except OSError:  # another run took it first
            continue
        (claimed / f"{path.stem}.owner").write_text(str(os.getpid()))
        try:
            record = json.loads(mine.read_text())
            handle = KernelHandle(dict(record["connection"]), int(record["pid"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        same = record.get("python") == sys.executable and record.get("environment") == stack_environment()
        if not same or not handle.alive():  # another Python or another stack: not for this run
            release_kernel(handle)
            continue
        return handle
    return None


def release_kernel(handle: KernelHandle) -> None:
    """A local run is over: kill its kernel (the shelf notices and forgets it)."""
    _kill_group(handle.pid)


kill_kernel = release_kernel  # a job that cannot use the kernel it was handed
