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

from dioptra_lab.config import Settings, load_settings, read_stack_file, write_stack_file
from dioptra_lab.engine.prefect_api import prefect_healthy
from dioptra_lab.errors import ServiceError
from dioptra_lab.processes import free_port, read_pid, start_detached, stop_pid, wait_until

Announce = Callable[[str], None]

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
        if "url" in info and service == "prefect":
            data["prefect_api_url"] = info["url"]
        write_stack_file(self.home, data)

    def _forget(self, service: str) -> None:
        data = read_stack_file(self.home)
        data.get("services", {}).pop(service, None)
        if service == "prefect":
            data.pop("prefect_api_url", None)
        write_stack_file(self.home, data)

    def _pidfile(self, name: str) -> Path:
        return self.home / "pids" / f"{name}.pid"

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
        port = int(os.environ.get("DIOPTRA_LAB_PREFECT_PORT") or free_port())
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
        proc = start_detached(
            "prefect",
            [executable("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            run_dir=self.home,
            env=env,
        )
        wait_until(
            lambda: prefect_healthy(url, 1.0),
            name="Prefect server",
            timeout=timeout,
            proc=proc,
            log=self.home / "logs" / "prefect.log",
        )
        self._record("prefect", pid=proc.pid, url=url, ui=url.removesuffix("/api"))
        os.environ["PREFECT_API_URL"] = url
        announce(f"Prefect server ready: UI {url.removesuffix('/api')}  (stop it with `dioptra-lab down`)")
        return url

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
        """Stop every service this stack started; return their names."""
        stopped = []
        pids_dir = self.home / "pids"
        names = set(self.services()) | (
            {p.stem for p in pids_dir.glob("*.pid")} if pids_dir.is_dir() else set()
        )
        for name in sorted(names):
            pid = read_pid(self._pidfile(name))
            if pid is not None:
                announce(f"Stopping {name} (pid {pid}) ...")
                stop_pid(pid)
                stopped.append(name)
            self._pidfile(name).unlink(missing_ok=True)
            self._forget(name)
        return stopped
