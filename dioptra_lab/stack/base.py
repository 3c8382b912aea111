"""The stack's recorded state, shared by every service module.

A service is recorded three ways under ``<home>``: its pid in ``pids/<name>.pid``, its
output in ``logs/<name>.log`` and its address in ``stack.json`` (which every other process
reads through :mod:`dioptra_lab.config`). :class:`StackState` is the one owner of those
files; the service modules only decide what to start and how to tell that it answers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dioptra_lab.config import (
    MLFLOW_CREDENTIALS_KEY,
    PREFECT_CREDENTIALS_KEY,
    Settings,
    masked_url,
    read_stack_file,
    write_stack_file,
)
from dioptra_lab.errors import ServiceError
from dioptra_lab.processes import free_port, port_open, read_pid, start_detached, stop_pid, wait_until
from dioptra_lab.tracking.client import patient_environment

Announce = Callable[[str], None]
"""Receives one line of progress for people (the CLI prints it on stderr)."""

# The settings key each service's address is also written under in stack.json, so that
# load_settings() in any process finds it without knowing about services.
URL_KEYS = {"prefect": "prefect_api_url", "redis": "redis_url", "mlflow": "mlflow_tracking_uri"}
# ... and the credentials (``user:password``) of the servers that have them (``up --host``)
CREDENTIAL_KEYS = {"mlflow": MLFLOW_CREDENTIALS_KEY, "prefect": PREFECT_CREDENTIALS_KEY}

LOOPBACK = "127.0.0.1"
HOST_KEY = "host"
"""stack.json's record of the address the services listen on (``up --host``)."""
ANY_ADDRESS = ("0.0.0.0", "::")


_RECORDING = threading.RLock()


def read_secret(home: Path, name: str) -> str | None:
    """A token recorded in the owner-only file ``home/name``, if any."""
    try:
        token = (home / name).read_text().strip()
    except OSError:
        return None
    return token or None


def ensure_secret(home: Path, name: str) -> str:
    """The token in ``home/name``: the recorded one, else a new one in an owner-only file.

    Servers read it from a file (Jupyter's through ``JUPYTER_TOKEN_FILE``, Redis's from its
    config file), so it never appears on a command line other users can read. A token is
    URL-safe (letters, digits, ``-`` and ``_``).
    """
    token = read_secret(home, name)
    path = home / name
    if token is not None:
        path.chmod(0o600)
        return token
    home.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    # O_EXCL + 0o600: the file is never readable by others, not even for a moment.
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)  # no newline: Jupyter reads JUPYTER_TOKEN_FILE verbatim
    return token


def quiet(message: str) -> None:
    """The default :data:`Announce`: say nothing."""


def executable(name: str) -> str:
    """A console script installed next to this Python, else one on PATH.

    Args:
        name: The script's name, e.g. ``"mlflow"``.

    Raises:
        ServiceError: It is installed nowhere.
    """
    # Beside sys.executable first: the venv's own script even when the venv is not activated.
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


class StackState:
    """The recorded state of one ``<home>`` folder: stack.json records and pid files.

    The services hold this one object, so a ``Stack`` whose ``home`` or ``settings`` is
    replaced after construction (tests point one at a temporary folder) moves them all.

    Attributes:
        settings: The settings the services read their configured addresses from.
        home: The folder holding stack.json, pids/, logs/ and the services' data.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.home

    def record(self, service: str, credentials: str | None = None, **info: Any) -> None:
        """Write ``service``'s entry in stack.json, its address under its settings key, and
        its ``credentials`` (``user:password``, kept out of the entry `status` shows)."""
        with _RECORDING:  # `up` starts services from parallel threads: one writer at a time
            data = read_stack_file(self.home)
            data.setdefault("services", {})[service] = info
            if "url" in info and service in URL_KEYS:
                data[URL_KEYS[service]] = info["url"]
            if service in CREDENTIAL_KEYS:
                if credentials:
                    data[CREDENTIAL_KEYS[service]] = credentials
                else:
                    data.pop(CREDENTIAL_KEYS[service], None)
            write_stack_file(self.home, data)

    def forget(self, service: str) -> None:
        """Remove ``service``'s entry, address and credentials from stack.json."""
        with _RECORDING:
            data = read_stack_file(self.home)
            data.get("services", {}).pop(service, None)
            for keys in (URL_KEYS, CREDENTIAL_KEYS):
                if service in keys:
                    data.pop(keys[service], None)
            if not data.get("services"):
                data.pop(HOST_KEY, None)  # the next `up` listens on loopback unless told
            write_stack_file(self.home, data)

    # -- the address the services listen on ----------------------------------------------
    @property
    def host(self) -> str:
        """The address the services listen on: ``up --host``'s, else loopback."""
        return str(read_stack_file(self.home).get(HOST_KEY) or LOOPBACK)

    @host.setter
    def host(self, value: str) -> None:
        with _RECORDING:
            data = read_stack_file(self.home)
            if value == LOOPBACK:
                data.pop(HOST_KEY, None)
            else:
                data[HOST_KEY] = value
            write_stack_file(self.home, data)

    @property
    def secured(self) -> bool:
        """Whether other hosts can reach the services: then MLflow and Prefect require
        passwords too (Redis always does)."""
        return not self.host.startswith("127.") and self.host not in ("localhost", "::1")

    @property
    def advertised(self) -> str:
        """The address clients use: the one listened on, or this host's name for any address."""
        host = self.host
        if host in ANY_ADDRESS:
            return socket.getfqdn()
        return f"[{host}]" if ":" in host else host

    def recorded(self, service: str) -> dict[str, Any]:
        """``service``'s entry in stack.json (empty if none, or if it is not a table)."""
        info = read_stack_file(self.home).get("services", {}).get(service, {})
        return info if isinstance(info, dict) else {}

    def services(self) -> list[str]:
        """Names of the services recorded in stack.json."""
        return list(read_stack_file(self.home).get("services", {}))

    def pidfile(self, service: str) -> Path:
        """Where ``service``'s pid is written."""
        return self.home / "pids" / f"{service}.pid"

    def pid(self, service: str) -> int | None:
        """``service``'s recorded pid if that process still runs."""
        return read_pid(self.pidfile(service))

    def port(self, service: str, env: str) -> int:
        """A configured port, else the one this service had, else a free one.

        Reusing the recorded port keeps addresses stable after a crash, so other processes'
        settings stay right and Redis keeps its queued jobs.

        Args:
            service: The service's name in stack.json.
            env: The environment variable that configures its port.
        """
        if os.environ.get(env):
            return int(os.environ[env])
        recorded = urlsplit(str(self.recorded(service).get("url", ""))).port
        if recorded and not port_open(recorded):
            return recorded
        return free_port()

    def replace_stale(self, service: str, env: str) -> None:
        """Prepare to start ``service``: refuse a dead configured address, stop a hung own one.

        The stack's own process may still run without answering; it is stopped first, else
        its record would be overwritten and the process leaked.
        """
        self.refuse_if_configured(service, env)
        pid = self.pid(service)
        if pid is not None:
            stop_pid(pid)

    def refuse_if_configured(self, service: str, env: str) -> None:
        """Raise if the user configured ``service``'s address in ``env``: only our own restarts.

        Raises:
            ServiceError: ``env`` names an address this stack did not record.
        """
        value = os.environ.get(env)
        if value and value != self.recorded(service).get("url"):
            raise ServiceError(
                f"the {service} server at {masked_url(value)} ({env}) does not answer (or refuses its "
                f"credentials); start it with `dioptra-lab up` on its host, or unset {env} so that "
                "dioptra-lab starts its own"
            )

    def launch(
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
        """Start a service's process, wait until it answers, record its pid and address.

        Args:
            service: Its name in stack.json, pids/ and logs/.
            label: Its name for people, in errors.
            argv: The command line.
            url: The address it will answer on.
            healthy: Whether it answers yet.
            timeout: Seconds to wait for it.
            env: Variables added to this process's environment.
            **details: Recorded with it in stack.json.

        Raises:
            ServiceError: It exited, or did not answer within ``timeout`` (with its log's tail).
        """
        proc = start_detached(service, argv, run_dir=self.home, env={**patient_environment(), **(env or {})})
        wait_until(healthy, name=label, timeout=timeout, proc=proc, log=self.home / "logs" / f"{service}.log")
        self.record(service, pid=proc.pid, url=url, **details)

    def start(self, service: str, argv: list[str], env: dict[str, str] | None = None, **details: Any) -> int:
        """Start a process nobody waits on (a worker), record it, and return its pid."""
        proc = start_detached(service, argv, run_dir=self.home, env={**patient_environment(), **(env or {})})
        self.record(service, pid=proc.pid, **details)
        return proc.pid


class Service:
    """One service of the stack over the shared recorded state.

    Args:
        state: The stack's recorded state, shared with the other services.
    """

    name = ""

    def __init__(self, state: StackState) -> None:
        self.state = state

    def candidate_url(self, configured: str | None) -> str | None:
        """The configured address, else the one this stack recorded (not yet checked)."""
        return configured or self.state.recorded(self.name).get("url")

    def stop(self) -> bool:
        """Stop this service's process (and its children); return whether one was running."""
        pid = self.state.pid(self.name)
        if pid is not None:
            stop_pid(pid)
        self.state.pidfile(self.name).unlink(missing_ok=True)
        self.state.forget(self.name)
        return pid is not None


class JupyterService(Service):
    """A Jupyter server of the stack (Voila, JupyterLab) guarded by a token in ``<home>/token_file``.

    The token reaches the server through ``JUPYTER_TOKEN_FILE`` (:meth:`server_env`), so it
    never shows on a command line; the address in stack.json carries no token.
    """

    token_file = ""

    def healthy(self, url: str, token: str) -> bool:
        """Whether the server at ``url`` answers a request authenticated with ``token``."""
        raise NotImplementedError

    def token(self) -> str | None:
        """The recorded token, if any."""
        return read_secret(self.state.home, self.token_file)

    def url(self) -> str | None:
        """The server's address (no token) if our process runs and answers with our token."""
        url = self.state.recorded(self.name).get("url")
        token = self.token()
        if not url or token is None or self.state.pid(self.name) is None:
            return None
        return str(url) if self.healthy(str(url), token) else None

    def server_env(self) -> dict[str, str]:
        """The variables the server needs: its kernels find the stack and the plugins as this
        process does (whatever their working folder), and the token comes from its file."""
        return {
            "DIOPTRA_LAB_HOME": str(self.state.home),
            "DIOPTRA_LAB_PLUGIN_PATH": os.pathsep.join(str(p) for p in self.state.settings.plugin_path),
            "JUPYTER_TOKEN": "",  # an inherited token would win over the file
            "JUPYTER_TOKEN_FILE": str(self.state.home / self.token_file),
        }
