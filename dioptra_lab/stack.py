"""The embedded stack: services started as child processes under ``<home>``.

Each service records its pid (``<home>/pids``), log (``<home>/logs``) and address
(``<home>/stack.json``, read by every other process through :mod:`dioptra_lab.config`).
Starting a service that already answers does nothing, so ``up`` twice starts once.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dioptra_lab.config import Settings, load_settings, read_stack_file, write_stack_file
from dioptra_lab.engine.prefect_api import prefect_healthy
from dioptra_lab.errors import ServiceError
from dioptra_lab.processes import free_port, port_open, read_pid, start_detached, stop_pid, wait_until


def redis_healthy(url: str) -> bool:
    """Whether the Redis at ``url`` answers a PING."""
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except (RedisError, OSError, ValueError):
        return False


Announce = Callable[[str], None]
URL_KEYS = {"prefect": "prefect_api_url", "redis": "redis_url", "mlflow": "mlflow_tracking_uri"}

# Background services of the Prefect server that poll SQLite for deployments, schedules
# and automations, none of which dioptra_lab uses. Switching them off leaves fewer writers
# to contend for SQLite's lock (Prefect answers 503 and the client backs off ~2 s when it
# loses). The task-run recorder and event persister stay on: the UI needs them.
PREFECT_UNUSED_SERVICES = (
    "CANCELLATION_CLEANUP",
    "DB_VACUUM",
    "FOREMAN",
    "LATE_RUNS",
    "SCHEDULER",
    "PAUSE_EXPIRATIONS",
    "REPOSSESSOR",
    "CLEANUP_RECONCILER",
    "TRIGGERS",
)


def _quiet(message: str) -> None:
    pass


def executable(name: str) -> str:
    """A console script installed next to this Python, else one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ServiceError(f"{name} is not installed; run `make setup` (or pip install dioptra_lab)")
    return found


@dataclass
class ServiceState:
    """What `status` reports for one service."""

    name: str
    running: bool
    pid: int | None = None
    url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Stack:
    """The services of one ``<home>`` folder."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.home = self.settings.home

    # -- recorded state ----------------------------------------------------------------
    def _record(self, service: str, **info: Any) -> None:
        data = read_stack_file(self.home)
        data.setdefault("services", {})[service] = info
        if "url" in info and service in URL_KEYS:
            data[URL_KEYS[service]] = info["url"]
        write_stack_file(self.home, data)

    def _forget(self, service: str) -> None:
        data = read_stack_file(self.home)
        data.get("services", {}).pop(service, None)
        if service in URL_KEYS:
            data.pop(URL_KEYS[service], None)
        write_stack_file(self.home, data)

    def _pidfile(self, name: str) -> Path:
        return self.home / "pids" / f"{name}.pid"

    def _port(self, service: str, env: str) -> int:
        """A configured port, else the one this service had (stable addresses after a
        crash; Redis keeps its queued jobs), else a free one."""
        if os.environ.get(env):
            return int(os.environ[env])
        recorded = urlsplit(str(self._recorded(service).get("url", ""))).port
        if recorded and not port_open(recorded):
            return recorded
        return free_port()

    def _replace_stale(self, service: str, env: str) -> None:
        """Before starting ``service``: refuse a dead configured address, and stop the stack's
        own process if it still runs without answering (else its record would be overwritten
        and the process leaked)."""
        self._refuse_if_configured(service, env)
        pid = read_pid(self._pidfile(service))
        if pid is not None:
            stop_pid(pid)

    def _launch(
        self,
        service: str,
        label: str,
        argv: list[str],
        url: str,
        healthy: Callable[[], bool],
        timeout: float,
        env: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        """Start a service's process, wait until it answers, record its pid and address."""
        proc = start_detached(service, argv, run_dir=self.home, env=env)
        wait_until(healthy, name=label, timeout=timeout, proc=proc, log=self.home / "logs" / f"{service}.log")
        self._record(service, pid=proc.pid, url=url, **details)

    def _refuse_if_configured(self, service: str, env: str) -> None:
        """A dead address the user configured is an error; only the stack's own is restarted."""
        value = os.environ.get(env)
        if value and value != self._recorded(service).get("url"):
            raise ServiceError(
                f"the {service} server at {value} ({env}) does not answer; start it with `dioptra-lab up` "
                f"on its host, or unset {env} so that dioptra-lab starts its own"
            )

    def _recorded(self, name: str) -> dict[str, Any]:
        info = read_stack_file(self.home).get("services", {}).get(name, {})
        return info if isinstance(info, dict) else {}

    # -- Prefect ---------------------------------------------------------------------
    def prefect_url(self) -> str | None:
        """The Prefect API URL of this stack if it answers."""
        url = self.settings.prefect_api_url or self._recorded("prefect").get("url")
        return url if url and prefect_healthy(url) else None

    def ensure_prefect(self, announce: Announce = _quiet, timeout: float = 90.0) -> str:
        """Return a Prefect API URL that answers, starting the stack's server if needed."""
        url = self.prefect_url()
        if url:
            os.environ["PREFECT_API_URL"] = url
            return url
        self._replace_stale("prefect", "PREFECT_API_URL")
        port = self._port("prefect", "DIOPTRA_LAB_PREFECT_PORT")
        url = f"http://127.0.0.1:{port}/api"
        prefect_home = self.home / "prefect"
        prefect_home.mkdir(parents=True, exist_ok=True)
        announce(f"Starting a Prefect server on 127.0.0.1:{port} (home {prefect_home}) ...")
        env = {
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_API_URL": url,
            **{f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in PREFECT_UNUSED_SERVICES},
        }
        argv = [executable("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        self._launch(
            "prefect",
            "Prefect server",
            argv,
            url,
            lambda: prefect_healthy(url, 1.0),
            timeout,
            env,
            ui=url.removesuffix("/api"),
        )
        os.environ["PREFECT_API_URL"] = url
        announce(f"Prefect server ready: UI {url.removesuffix('/api')}  (stop it with `dioptra-lab down`)")
        return url

    # -- Redis -----------------------------------------------------------------------
    def redis_url(self) -> str | None:
        """The stack's Redis URL if it answers."""
        url = self.settings.redis_url or self._recorded("redis").get("url")
        return url if url and redis_healthy(url) else None

    def ensure_redis(self, announce: Announce = _quiet, timeout: float = 30.0) -> str:
        """A Redis that answers: the configured one, or a child ``redis-server`` with AOF on."""
        url = self.redis_url()
        if url:
            return url
        self._replace_stale("redis", "DIOPTRA_LAB_REDIS_URL")
        server = shutil.which("redis-server")
        if server is None:
            raise ServiceError(
                "redis-server is not installed: install it with `sudo apt-get install -y redis-server` "
                "(`make setup` does this), or point DIOPTRA_LAB_REDIS_URL at a running Redis"
            )
        port = self._port("redis", "DIOPTRA_LAB_REDIS_PORT")
        data = self.home / "redis"
        data.mkdir(parents=True, exist_ok=True)
        url = f"redis://127.0.0.1:{port}/0"
        announce(f"Starting Redis on 127.0.0.1:{port} (AOF persistence in {data}) ...")
        argv = [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
        ]
        self._launch("redis", "Redis", argv, url, lambda: redis_healthy(url), timeout, data=str(data))
        return url

    # -- MLflow ----------------------------------------------------------------------
    def mlflow_url(self) -> str | None:
        """The stack's MLflow URL if it answers."""
        from dioptra_lab.tracking.client import mlflow_healthy

        url = self.settings.mlflow_tracking_uri or self._recorded("mlflow").get("url")
        return url if url and url.startswith("http") and mlflow_healthy(url) else None

    def ensure_mlflow(self, announce: Announce = _quiet, timeout: float = 120.0) -> str:
        """An MLflow server that answers: SQLite backend, local artifacts, one web worker."""
        from dioptra_lab.tracking.client import mlflow_healthy

        url = self.mlflow_url()
        if url:
            return url
        self._replace_stale("mlflow", "MLFLOW_TRACKING_URI")
        port = self._port("mlflow", "DIOPTRA_LAB_MLFLOW_PORT")
        data = self.home / "mlflow"
        (data / "artifacts").mkdir(parents=True, exist_ok=True)
        url = f"http://127.0.0.1:{port}"
        announce(f"Starting MLflow on {url} (SQLite + artifacts in {data}) ...")
        argv = [
            executable("mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{data / 'mlflow.db'}",
            "--artifacts-destination",
            str(data / "artifacts"),
        ]
        env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self._launch(
            "mlflow",
            "MLflow server",
            argv,
            url,
            lambda: mlflow_healthy(url, 1.0),
            timeout,
            env,
            data=str(data),
        )
        return url

    # -- workers ---------------------------------------------------------------------
    def ensure_workers(
        self, count: int, queues: list[str], announce: Announce = _quiet, gpus: list[str] | None = None
    ) -> list[int]:
        """Start workers ``worker-1`` … ``worker-N`` that are not already running."""
        pids = []
        for index in range(1, count + 1):
            name = f"worker-{index}"
            running = read_pid(self._pidfile(name))
            if running is not None:
                pids.append(running)
                continue
            argv = [
                executable("dioptra-lab"),
                "worker",
                "--queue",
                ",".join(queues),
                "--name",
                f"{name}-{os.getpid()}",
            ]
            gpu = gpus[(index - 1) % len(gpus)] if gpus else None
            if gpu is not None:
                argv += ["--gpu", gpu]
            proc = start_detached(name, argv, run_dir=self.home, env={"DIOPTRA_LAB_HOME": str(self.home)})
            self._record(name, pid=proc.pid, queues=queues, gpu=gpu)
            announce(
                f"Started {name} (pid {proc.pid}) on queues {', '.join(queues)}"
                + (f", GPU {gpu}" if gpu is not None else "")
            )
            pids.append(proc.pid)
        return pids

    def up(
        self,
        workers: int = 1,
        queues: list[str] | None = None,
        announce: Announce = _quiet,
        gpus: list[str] | None = None,
    ) -> dict[str, str]:
        """Start (or reuse) Redis, MLflow, Prefect and ``workers`` workers; return the URLs."""
        urls = {
            "redis": self.ensure_redis(announce),
            "mlflow": self.ensure_mlflow(announce),
            "prefect": self.ensure_prefect(announce),
        }
        self.settings = load_settings()  # the addresses just recorded
        self.ensure_workers(workers, queues or [self.settings.default_queue], announce, gpus)
        return urls

    # -- whole stack -----------------------------------------------------------------
    def services(self) -> list[str]:
        """Names of the services this stack has recorded."""
        return list(read_stack_file(self.home).get("services", {}))

    def status(self) -> list[ServiceState]:
        """The state of every recorded service."""
        states = []
        for name in self.services():
            info = self._recorded(name)
            pid = read_pid(self._pidfile(name))
            states.append(ServiceState(name, pid is not None, pid, info.get("url"), info))
        return states

    def down(self, announce: Announce = _quiet) -> list[str]:
        """Stop every service this stack started, workers first; return their names."""
        stopped = []
        pids_dir = self.home / "pids"
        names = set(self.services()) | (
            {p.stem for p in pids_dir.glob("*.pid")} if pids_dir.is_dir() else set()
        )
        # workers first (they finish talking to the others), Redis last
        order = {"redis": 3, "mlflow": 2, "prefect": 2}
        for name in sorted(names, key=lambda n: (order.get(n, 0), n)):
            pid = read_pid(self._pidfile(name))
            if pid is not None:
                announce(f"Stopping {name} (pid {pid}) ...")
                stop_pid(pid)
                stopped.append(name)
            self._pidfile(name).unlink(missing_ok=True)
            self._forget(name)
        return stopped
