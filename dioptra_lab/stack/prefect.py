"""Prefect, the flow engine's API: one server per stack, its home under ``<home>/prefect``.

Started for other hosts (``up --host``), the server requires basic auth
(``PREFECT_SERVER_API_AUTH_STRING``: user ``admin``, the password generated once into
``<home>/prefect_password``, owner-only); clients send it as ``PREFECT_API_AUTH_STRING``.
"""

from __future__ import annotations

import os

from dioptra_lab.config import PREFECT_AUTH_ENV as AUTH_ENV
from dioptra_lab.engine.prefect_api import prefect_healthy
from dioptra_lab.stack.base import Announce, Service, ensure_secret, executable, quiet
from dioptra_lab.stack.postgres import database_url

URL_ENV = "PREFECT_API_URL"
PORT_ENV = "DIOPTRA_LAB_PREFECT_PORT"
PASSWORD_FILE = "prefect_password"

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


# Writers the UI needs, made to write in batches. Out of the box the task-run recorder
# writes every task-run event on its own (three per task) and the event persister every
# 20 events: each write is a commit that can land between the read and the insert of a
# flow-run creation (a DEFERRED transaction), which SQLite then refuses ("database is
# locked", a 503). One flush per second at most: task runs and events appear in the UI
# within a second of happening, and the server spends less CPU on them.
PREFECT_BATCHED_WRITERS = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "500",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",  # whole seconds
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "500",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
}


class PrefectService(Service):
    """The stack's Prefect server: the configured one, else ``prefect server start``."""

    name = "prefect"

    def url(self) -> str | None:
        """The Prefect API URL of this stack if it answers."""
        url = self.candidate_url(self.state.settings.prefect_api_url)
        return url if url and prefect_healthy(url) else None

    def ensure(self, announce: Announce = quiet, timeout: float = 90.0) -> str:
        """Return a Prefect API URL that answers, starting the stack's server if needed.

        The URL is also exported as ``PREFECT_API_URL``: without it, Prefect in this process
        would start a temporary server of its own for every flow (13-25 s).

        Args:
            announce: Receives progress lines for people.
            timeout: Seconds to wait for a new server to answer.

        Raises:
            ServiceError: The configured server does not answer, or ours did not start.
        """
        url = self.url()
        if url:
            os.environ[URL_ENV] = url
            return url
        self.state.replace_stale(self.name, URL_ENV)
        port = self.state.port(self.name, PORT_ENV)
        host = self.state.host
        url = f"http://{self.state.advertised}:{port}/api"
        prefect_home = self.state.home / "prefect"
        prefect_home.mkdir(parents=True, exist_ok=True)
        announce(f"Starting a Prefect server on {host}:{port} (home {prefect_home}) ...")
        env = {
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            URL_ENV: url,
            **{f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in PREFECT_UNUSED_SERVICES},
            **PREFECT_BATCHED_WRITERS,
        }
        server = self.state.recorded("postgres").get("url")
        if server:  # `up --postgres`: no SQLite lock between its writers
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url(str(server), "prefect", "asyncpg")
        credentials = None
        if self.state.secured:
            credentials = f"admin:{ensure_secret(self.state.home, PASSWORD_FILE)}"
            env["PREFECT_SERVER_API_AUTH_STRING"] = credentials  # its environment: owner-only
            os.environ[AUTH_ENV] = credentials  # this process's flows (as PREFECT_API_URL below)
        argv = [executable("prefect"), "server", "start", "--host", host, "--port", str(port)]
        self.state.launch(
            self.name,
            "Prefect server",
            argv,
            url,
            lambda: prefect_healthy(url, 1.0),
            timeout,
            env,
            credentials=credentials,
            ui=url.removesuffix("/api"),
        )
        os.environ[URL_ENV] = url
        announce(f"Prefect server ready: UI {url.removesuffix('/api')}  (stop it with `dioptra-lab down`)")
        return url
