"""MLflow, the tracking server: SQLite backend, local artifacts, one web worker."""

from __future__ import annotations

from dioptra_lab.stack.base import Announce, Service, executable, quiet

URL_ENV = "MLFLOW_TRACKING_URI"
PORT_ENV = "DIOPTRA_LAB_MLFLOW_PORT"


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
        url = f"http://127.0.0.1:{port}"
        announce(f"Starting MLflow on {url} (SQLite + artifacts in {data}) ...")
        # One web worker (the default is 15 processes, 3.2 GiB) and no job execution:
        # it starts in ~7 s with ~490 MiB (DESIGN.md, measured facts).
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
        self.state.launch(
            self.name,
            "MLflow server",
            argv,
            url,
            lambda: mlflow_healthy(url, 1.0),
            timeout,
            env,
            data=str(data),
        )
        return url
