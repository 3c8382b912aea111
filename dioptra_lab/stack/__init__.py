"""The embedded stack: services started as child processes under ``<home>``.

Each service records its pid (``<home>/pids``), log (``<home>/logs``) and address
(``<home>/stack.json``, read by every other process through :mod:`dioptra_lab.config`).
Starting a service that already answers does nothing, so ``up`` twice starts once.

One module per service (:mod:`.redis`, :mod:`.mlflow`, :mod:`.prefect`, :mod:`.workers`,
:mod:`.kernels` for the warm kernels of local runs,
:mod:`.voila` for the dashboards, :mod:`.lab` for JupyterLab with the extension),
each a small object over the one recorded state of :mod:`.base`; :class:`Stack` composes
them into up / down / status.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dioptra_lab.config import Settings, load_settings, masked_url
from dioptra_lab.errors import ServiceError
from dioptra_lab.processes import stop_pid
from dioptra_lab.stack.base import LOOPBACK, URL_KEYS, Announce, ServiceState, StackState, executable, quiet
from dioptra_lab.stack.kernels import KernelShelf
from dioptra_lab.stack.lab import LabService
from dioptra_lab.stack.mlflow import MlflowService
from dioptra_lab.stack.postgres import PostgresService
from dioptra_lab.stack.prefect import PREFECT_UNUSED_SERVICES, PrefectService
from dioptra_lab.stack.redis import RedisService, redis_healthy
from dioptra_lab.stack.voila import VoilaService, dashboards_folder
from dioptra_lab.stack.workers import Workers

__all__ = [
    "PREFECT_UNUSED_SERVICES",
    "URL_KEYS",
    "Announce",
    "ServiceState",
    "Stack",
    "executable",
    "redis_healthy",
]

# `down` stops workers first (they finish talking to the others) and Redis last.
STOP_ORDER = {"redis": 3, "mlflow": 2, "prefect": 2, "postgres": 4}


class Stack:
    """The services of one ``<home>`` folder.

    Args:
        settings: Where the stack lives and which addresses are configured; by default
            :func:`dioptra_lab.config.load_settings`.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._state = StackState(settings or load_settings())
        self._redis = RedisService(self._state)
        self._mlflow = MlflowService(self._state)
        self._prefect = PrefectService(self._state)
        self._postgres = PostgresService(self._state)
        self._workers = Workers(self._state)
        self._kernels = KernelShelf(self._state)
        self._voila = VoilaService(self._state)
        self._lab = LabService(self._state)

    # `home` and `settings` live in the shared state, so that assigning either here (tests
    # point a Stack at a temporary folder) reaches every service.
    @property
    def home(self) -> Path:
        """The folder holding stack.json, pids/, logs/ and the services' data."""
        return self._state.home

    @home.setter
    def home(self, value: Path) -> None:
        self._state.home = value

    @property
    def settings(self) -> Settings:
        """The settings the services read their configured addresses from."""
        return self._state.settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self._state.settings = value

    # -- one service each ------------------------------------------------------------
    def prefect_url(self) -> str | None:
        """The Prefect API URL of this stack if it answers."""
        return self._prefect.url()

    def ensure_prefect(self, announce: Announce = quiet, timeout: float = 90.0) -> str:
        """Return a Prefect API URL that answers, starting the stack's server if needed."""
        return self._prefect.ensure(announce, timeout)

    def redis_url(self) -> str | None:
        """The stack's Redis URL if it answers."""
        return self._redis.url()

    def ensure_redis(self, announce: Announce = quiet, timeout: float = 30.0) -> str:
        """A Redis that answers: the configured one, or a child ``redis-server`` with AOF on."""
        return self._redis.ensure(announce, timeout)

    def mlflow_url(self) -> str | None:
        """The stack's MLflow URL if it answers."""
        return self._mlflow.url()

    def ensure_mlflow(self, announce: Announce = quiet, timeout: float = 120.0) -> str:
        """An MLflow server that answers: SQLite backend, local artifacts, one web worker."""
        return self._mlflow.ensure(announce, timeout)

    def ensure_workers(
        self, count: int, queues: list[str], announce: Announce = quiet, gpus: list[str] | None = None
    ) -> list[int]:
        """Start workers ``worker-1`` … ``worker-N`` that are not already running."""
        return self._workers.ensure(count, queues, announce, gpus)

    def ensure_kernels(self, announce: Announce = quiet) -> int | None:
        """Start the kernel shelf (warm kernels for local runs) unless it runs; its pid."""
        return self._kernels.ensure(announce)

    def ensure_dashboards(
        self, announce: Announce = quiet, timeout: float = 60.0, root: Path | None = None
    ) -> str:
        """Standalone Voila serving the dashboards, with a token; return its address (no token).

        Args:
            announce: Receives progress lines for people.
            timeout: Seconds to wait for a new server to answer.
            root: The folder of dashboards (default: the project's ``notebooks/dashboards``).
        """
        return self._voila.ensure(announce, timeout, root)

    def dashboard_url(self, name: str = "launcher", **query: str) -> str | None:
        """The address of one dashboard with its token (and presets), if the server answers."""
        return self._voila.page_url(name, **query)

    def dashboard_urls(self, names: list[str]) -> list[str | None]:
        """The address of each dashboard with its token, if the server answers (one check)."""
        return self._voila.page_urls(names)

    def stop_dashboards(self) -> bool:
        """Stop the dashboards' Voila server; return whether one was running."""
        return self._voila.stop()

    def ensure_lab(self, announce: Announce = quiet, timeout: float = 90.0, root: Path | None = None) -> str:
        """JupyterLab with the dioptra_lab extension on the project's root; return its address."""
        return self._lab.ensure(announce, timeout, root)

    def lab_url(self, path: str = "lab") -> str | None:
        """An address in the stack's JupyterLab with its token, if the server answers."""
        return self._lab.page_url(path)

    def stop_lab(self) -> bool:
        """Stop the stack's JupyterLab; return whether one was running."""
        return self._lab.stop()

    # -- whole stack -----------------------------------------------------------------
    def up(
        self,
        workers: int = 1,
        queues: list[str] | None = None,
        announce: Announce = quiet,
        gpus: list[str] | None = None,
        dashboards: bool = True,
        lab: bool = False,
        host: str | None = None,
        postgres: str | None = None,
    ) -> dict[str, str]:
        """Start (or reuse) Redis, MLflow, Prefect, ``workers`` workers, the dashboards and Lab.

        Redis, MLflow and Prefect listen on ``host`` (default: where the running stack
        listens, else loopback); on an address other hosts can reach, MLflow and Prefect
        require passwords too (see :mod:`.mlflow`, :mod:`.prefect`). JupyterLab and the
        dashboards stay on loopback. With ``postgres`` (``""``: a server the stack starts,
        else a ``postgresql://`` URL) MLflow and Prefect keep their data in PostgreSQL (see
        :mod:`.postgres`); a stack that was started so keeps doing so until ``down``.

        The dashboards (standalone Voila) start when ``dashboards`` is true and the project
        has a ``notebooks/dashboards`` folder; JupyterLab with the extension when ``lab`` is
        true (`dioptra-lab up` asks for it unless ``--no-lab``).

        Returns:
            The services' URLs; ``dashboards`` is the launcher's address with its token
            (absent when the project has no ``notebooks/dashboards`` folder), ``lab`` the
            Lab's address with its token.
        """
        self._listen_on(host)
        if postgres is not None or self._state.recorded("postgres"):
            self._on_postgres(postgres, announce)
        # Redis, MLflow and Prefect start side by side: each waits on its own process
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="dioptra-lab-up") as pool:
            started = {
                "redis": pool.submit(self.ensure_redis, announce),
                "mlflow": pool.submit(self.ensure_mlflow, announce),
                "prefect": pool.submit(self.ensure_prefect, announce),
            }
        urls = {name: future.result() for name, future in started.items()}
        if self._state.recorded("postgres"):
            urls["postgres"] = str(self._state.recorded("postgres").get("url") or "")
        self.settings = load_settings()  # the addresses just recorded
        self.ensure_workers(workers, queues or [self.settings.default_queue], announce, gpus)
        self.ensure_kernels(announce)
        if dashboards and dashboards_folder(self.settings.project_root).is_dir():
            self.ensure_dashboards(announce)
            urls["dashboards"] = self.dashboard_url() or ""
        if lab:
            self.ensure_lab(announce)
            urls["lab"] = self.lab_url() or ""
        return urls

    def _listen_on(self, host: str | None) -> None:
        """Record the address the services will listen on; refuse to move running ones.

        Raises:
            ServiceError: services of this stack run on another address.
        """
        running = [name for name in URL_KEYS if self._state.pid(name) is not None]
        current = self._state.host
        if host is None:
            if not running:
                self._state.host = LOOPBACK
            return
        if running and host != current:
            raise ServiceError(
                f"the stack's {', '.join(sorted(running))} listen on {current}, not {host}: "
                f"`dioptra-lab down`, then `dioptra-lab up --host {host}`"
            )
        self._state.host = host

    def _on_postgres(self, given: str | None, announce: Announce) -> None:
        """Make sure the PostgreSQL server runs; refuse to move running servers onto it.

        Raises:
            ServiceError: MLflow or Prefect of this stack run on SQLite.
        """
        if not self._state.recorded("postgres"):
            running = [name for name in ("mlflow", "prefect") if self._state.pid(name) is not None]
            if running:
                raise ServiceError(
                    f"the stack's {', '.join(running)} keep their data in SQLite: `dioptra-lab down`, "
                    "then `dioptra-lab up --postgres`"
                )
        self.ensure_postgres(given or None, announce)

    def ensure_postgres(self, given: str | None = None, announce: Announce = quiet) -> str:
        """A PostgreSQL server for MLflow and Prefect: ``given`` (a URL), else the stack's
        own (started if needed); MLflow and Prefect servers started after this use it."""
        return self._postgres.ensure(given, announce)

    def services(self) -> list[str]:
        """Names of the services this stack has recorded."""
        return self._state.services()

    def status(self) -> list[ServiceState]:
        """The state of every recorded service; addresses with their passwords masked."""
        states = []
        for name in self.services():
            info = self._state.recorded(name)
            pid = self._state.pid(name)
            url = masked_url(str(info["url"])) if info.get("url") else None
            shown = {**info, "url": url} if url else info
            states.append(ServiceState(name, pid is not None, pid, url, shown))
        return states

    def down(self, announce: Announce = quiet) -> list[str]:
        """Stop every service this stack started, workers first; return their names."""
        stopped = []
        pids_dir = self.home / "pids"
        # pid files too: a process whose record was lost (a crash mid-write) is still ours
        names = set(self.services()) | (
            {p.stem for p in pids_dir.glob("*.pid")} if pids_dir.is_dir() else set()
        )
        for name in sorted(names, key=lambda n: (STOP_ORDER.get(n, 0), n)):
            pid = self._state.pid(name)
            if pid is not None:
                announce(f"Stopping {name} (pid {pid}) ...")
                stop_pid(pid)
                stopped.append(name)
            self._state.pidfile(name).unlink(missing_ok=True)
            self._state.forget(name)
        return stopped
