"""MLflow, the tracking server: SQLite backend (PostgreSQL after ``up --postgres``), local
artifacts, one web worker.

On loopback it has no password (as before). Started for other hosts (``up --host``), it runs
MLflow's basic-auth app (``mlflow[auth]``): user ``admin``, whose password is generated once
into ``<home>/mlflow_password`` (owner-only) and handed to the server in an owner-only config
file; users are kept in ``<home>/mlflow/auth.db``. Artifacts are always served through the
server (``--artifacts-destination``), so workers elsewhere need no storage of their own.
"""

from __future__ import annotations

from dioptra_lab.config import write_private
from dioptra_lab.stack.base import Announce, Service, ensure_secret, executable, quiet
from dioptra_lab.stack.postgres import database_url

URL_ENV = "MLFLOW_TRACKING_URI"
PORT_ENV = "DIOPTRA_LAB_MLFLOW_PORT"
USER = "admin"
PASSWORD_FILE = "mlflow_password"
SECRET_KEY_FILE = "mlflow_secret_key"
"""Signs the basic-auth app's sessions (``MLFLOW_FLASK_SERVER_SECRET_KEY``)."""


class MlflowService(Service):
    """The stack's MLflow server: the configured one, else the stack's own ``mlflow server``."""

    name = "mlflow"

    def url(self) -> str | None:
        """The stack's MLflow URL if it answers (a ``file:`` or SQLite URI is no server)."""
        from dioptra_lab.tracking.client import mlflow_healthy

        url = self.candidate_url(self.state.settings.mlflow_tracking_uri)
        return url if url and url.startswith("http") and mlflow_healthy(url) else None

    def ensure(self, announce: Announce = quiet, timeout: float = 120.0) -> str:
        """An MLflow server that answers: SQLite backend, local artifacts, one web worker.

        Args:
            announce: Receives progress lines for people.
            timeout: Seconds to wait for a new server to answer.

        Returns:
            Its URL.

        Raises:
            ServiceError: The configured server does not answer, or ours did not start.
        """
        from dioptra_lab.tracking.client import mlflow_healthy

        url = self.url()
        if url:
            return url
        self.state.replace_stale(self.name, URL_ENV)
        port = self.state.port(self.name, PORT_ENV)
        data = self.state.home / "mlflow"
        (data / "artifacts").mkdir(parents=True, exist_ok=True)
        host, address = self.state.host, self.state.advertised
        url = f"http://{address}:{port}"
        server = self.state.recorded("postgres").get("url")  # `up --postgres`
        backend = (
            database_url(str(server), "mlflow", "psycopg2") if server else f"sqlite:///{data / 'mlflow.db'}"
        )
        store = "PostgreSQL" if server else "SQLite"
        announce(f"Starting MLflow on {host}:{port} ({store} + artifacts in {data}) ...")
        # One web worker (the default is 15 processes, 3.2 GiB) and no job execution:
        # it starts in ~7 s with ~490 MiB (DESIGN.md, measured facts).
        argv = [
            executable("mlflow"),
            "server",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            "1",
            "--artifacts-destination",
            str(data / "artifacts"),
        ]
        # the backend store (`--backend-store-uri`) from the environment: a PostgreSQL URL
        # carries its password, which stays off the command line every user can read
        env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_BACKEND_STORE_URI": backend}
        credentials = None
        if self.state.secured:
            password = ensure_secret(self.state.home, PASSWORD_FILE)
            config = data / "basic_auth.ini"
            write_private(
                config,
                "[mlflow]\n"
                "default_permission = READ\n"
                f"database_uri = sqlite:///{data / 'auth.db'}\n"
                f"admin_username = {USER}\n"
                f"admin_password = {password}\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
            )
            argv += ["--app-name", "basic-auth"]
            # MLflow answers only the Host names it knows (its default: loopback and private
            # addresses, any port): add the one other hosts use, e.g. a name for 0.0.0.0
            names = dict.fromkeys((address, "localhost", "127.0.0.1"))
            ports = (f"{name.replace('[', '[[]', 1)}:*" for name in names)  # fnmatch: escape IPv6's [
            argv += ["--allowed-hosts", ",".join([*names, *ports])]
            env["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
            env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = ensure_secret(self.state.home, SECRET_KEY_FILE)
            credentials = f"{USER}:{password}"
            announce(f"MLflow requires a password (user {USER}; {self.state.home / PASSWORD_FILE})")
        self.state.launch(
            self.name,
            "MLflow server",
            argv,
            url,
            lambda: mlflow_healthy(url, 1.0),
            timeout,
            env,
            credentials=credentials,
            data=str(data),
        )
        return url
