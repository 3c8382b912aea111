"""The compose file's services without Docker: its own scripts, run for real.

No Docker daemon runs on these machines, so this test runs what the containers of
docker-compose.yml run, as they run it: a PostgreSQL server initialised by
``worker/postgres-init.sh``, Redis with a password, ``worker/mlflow-server.sh`` (MLflow on
PostgreSQL, basic auth, artifacts served through it) and ``worker/prefect-server.sh`` (Prefect on
PostgreSQL, basic auth), the services' healthcheck (``worker/http-ok.py``), and a worker that
knows only the variables the compose file gives a worker container. A job submitted with the
same variables runs and logs its metrics and artifacts.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dioptra_lab.processes import free_port, port_open
from dioptra_lab.stack.postgres import server_program
from tests.conftest import ENTRYPOINTS, PLUGINS, elsewhere_environment, stop_process_groups, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
WORKER = REPO / "worker"
BIN = Path(sys.executable).parent
PASSWORDS = {
    "POSTGRES_PASSWORD": "pg-" + uuid.uuid4().hex,
    "MLFLOW_ADMIN_PASSWORD": "mlflow-" + uuid.uuid4().hex,
    "MLFLOW_FLASK_SERVER_SECRET_KEY": uuid.uuid4().hex,
    "PREFECT_SERVER_API_AUTH_STRING": "admin:prefect-" + uuid.uuid4().hex,
}


class Services:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], user: str | None = None) -> None:
        prefix = ["runuser", "-u", user, "--"] if user else []
        with (self.folder / f"{name}.log").open("wb") as log:
            self.procs.append(
                subprocess.Popen(
                    [*prefix, *argv], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        stop_process_groups(self.procs, 15)


@pytest.fixture
def compose_services() -> Iterator[tuple[Services, dict[str, str]]]:
    # PostgreSQL refuses to run as root: as root, it runs as Debian's `postgres` user, in a
    # folder that user can reach (a pytest folder under /tmp/pytest-of-root is root's alone)
    folder = Path(tempfile.mkdtemp(prefix="dioptra-lab-compose-", dir="/tmp"))
    folder.chmod(0o755)
    services = Services(folder)
    user = "postgres" if os.geteuid() == 0 else None
    data = folder / "pgdata"
    data.mkdir(mode=0o700)
    pwfile = folder / "pgpass"
    pwfile.write_text(PASSWORDS["POSTGRES_PASSWORD"])
    if user:
        entry = pwd.getpwnam(user)
        for path in (data, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    prefix = ["runuser", "-u", user, "--"] if user else []
    pg_port, redis_port, mlflow_port, prefect_port = (free_port() for _ in range(4))
    try:
        subprocess.run(
            [*prefix, server_program("initdb"), "-D", str(data), "-U", "dioptra", "--pwfile", str(pwfile),
             "-A", "scram-sha-256", "-E", "UTF8"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        services.start(
            "postgres",
            [server_program("postgres"), "-D", str(data), "-p", str(pg_port), "-k", str(data),
             "-c", "listen_addresses=127.0.0.1"],
            elsewhere_environment(),
            user,
        )  # fmt: skip
        wait_for(lambda: port_open(pg_port), 60, "PostgreSQL")
        pg = {"POSTGRES_USER": "dioptra", "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(pg_port)}
        # what the postgres image runs on an empty data folder: our init script
        init = subprocess.run(
            ["sh", str(WORKER / "postgres-init.sh")],
            env=elsewhere_environment(
                **pg, POSTGRES_DB="postgres", PGHOST="127.0.0.1", PGPORT=str(pg_port),
                PGPASSWORD=PASSWORDS["POSTGRES_PASSWORD"],
            ),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        redis_conf = folder / "redis.conf"
        redis_conf.write_text(f'requirepass "{PASSWORDS["POSTGRES_PASSWORD"]}-redis"\n')
        services.start(
            "redis",
            ["redis-server", str(redis_conf), "--port", str(redis_port), "--bind", "127.0.0.1",
             "--appendonly", "yes", "--dir", str(folder), "--save", ""],
            elsewhere_environment(),
        )  # fmt: skip
        services.start(
            "mlflow",
            [str(WORKER / "mlflow-server.sh")],
            elsewhere_environment(
                **pg, **PASSWORDS, HOST="127.0.0.1", PORT=str(mlflow_port),
                MLFLOW_ARTIFACTS=str(folder / "artifacts"),
                MLFLOW_ALLOWED_HOSTS=f"127.0.0.1,127.0.0.1:{mlflow_port}",
            ),
        )  # fmt: skip
        services.start(
            "prefect",
            [str(WORKER / "prefect-server.sh")],
            elsewhere_environment(
                **pg, **PASSWORDS, HOST="127.0.0.1", PORT=str(prefect_port),
                PREFECT_HOME=str(folder / "prefect"),
            ),
        )  # fmt: skip
        # what docker-compose.yml gives a worker container (x-worker-env), on this host
        worker_env = {
            "DIOPTRA_LAB_REDIS_URL": f"redis://:{PASSWORDS['POSTGRES_PASSWORD']}-redis@127.0.0.1:{redis_port}/0",
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
            "MLFLOW_TRACKING_USERNAME": "admin",
            "MLFLOW_TRACKING_PASSWORD": PASSWORDS["MLFLOW_ADMIN_PASSWORD"],
            "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
            "PREFECT_API_AUTH_STRING": PASSWORDS["PREFECT_SERVER_API_AUTH_STRING"],
            "DIOPTRA_LAB_WARM_KERNELS": "1",
        }
        yield services, worker_env
    finally:
        services.stop()
        shutil.rmtree(folder, ignore_errors=True)


def healthcheck(url: str, secret_env: str | None, env: dict[str, str]) -> int:
    argv = [sys.executable, str(WORKER / "http-ok.py"), url, *([secret_env] if secret_env else [])]
    return subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode


def test_the_compose_services_scripts_run_a_job_on_postgresql_with_passwords(
    compose_services: tuple[Services, dict[str, str]], tmp_path: Path
) -> None:
    services, env = compose_services
    mlflow, prefect = env["MLFLOW_TRACKING_URI"], env["PREFECT_API_URL"]
    server_env = elsewhere_environment(**PASSWORDS)

    def healthy() -> bool:
        return (
            healthcheck(f"{mlflow}/health", None, server_env) == 0
            and healthcheck(f"{prefect}/health", "PREFECT_SERVER_API_AUTH_STRING", server_env) == 0
        )

    try:
        wait_for(healthy, 180, "MLflow and Prefect on PostgreSQL")
    except AssertionError:
        raise AssertionError(services.log("mlflow") + "\n---\n" + services.log("prefect")) from None
    # the servers refuse requests without their password; the healthcheck then says unhealthy
    assert healthcheck(f"{prefect}/flows/filter", None, server_env) == 1
    assert healthcheck(f"{mlflow}/api/2.0/mlflow/experiments/search?max_results=1", None, server_env) == 1

    queue = f"compose-{uuid.uuid4().hex[:6]}"
    worker_env = elsewhere_environment(**env, DIOPTRA_LAB_HOME=str(tmp_path / "worker"))
    services.start("worker", [str(BIN / "dioptra-lab"), "worker", "--queue", queue], worker_env)

    def worker_healthy() -> bool:
        check = [str(BIN / "dioptra-lab"), "worker", "--healthcheck"]
        return subprocess.run(check, env=worker_env, capture_output=True, timeout=60).returncode == 0

    wait_for(worker_healthy, 120, "the worker's healthcheck")

    client_env = elsewhere_environment(
        **env, DIOPTRA_LAB_HOME=str(tmp_path / "client"), DIOPTRA_LAB_PLUGIN_PATH=str(PLUGINS)
    )
    experiment = f"compose-{uuid.uuid4().hex[:6]}"
    submitted = subprocess.run(
        [str(BIN / "dioptra-lab"), "submit", str(ENTRYPOINTS / "scaled.yaml"), "-p", "factor=3",
         "--queue", queue, "--experiment", experiment, "--wait"],
        env=client_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr + services.log("worker")
    job = submitted.stdout.strip()
    assert f"{job}: finished" in submitted.stderr  # --wait's progress

    from mlflow import MlflowClient

    os.environ.update({k: env[k] for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")})
    try:
        client = MlflowClient(tracking_uri=mlflow)
        found = client.get_experiment_by_name(experiment)
        assert found is not None
        (run,) = client.search_runs([found.experiment_id])
        assert run.info.run_id == job
        assert run.info.status == "FINISHED"
        assert run.data.metrics["custom_score"] == 30.0
        logged = {item.path for item in client.list_artifacts(run.info.run_id)}
    finally:
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            os.environ.pop(key, None)
    assert logged, "no artifact logged"
    # served through the tracking server into its artifacts folder (the compose volume)
    stored = list((services.folder / "artifacts").rglob("*"))
    assert any(path.is_file() for path in stored), "the artifacts are not in the server's folder"
