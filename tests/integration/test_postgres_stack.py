"""`dioptra-lab up --postgres`: the embedded stack with MLflow and Prefect on PostgreSQL.

The stack starts its own PostgreSQL server (Debian's package; as root, as the `postgres` user),
jobs run and are recorded in its databases, `down` then `up --postgres` finds them again, a
stack on SQLite is not switched behind its back, and a server that does not answer is refused
before anything starts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ENTRYPOINTS, PLUGINS, elsewhere_environment

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BIN = Path(sys.executable).parent


def dioptra_lab(home: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = elsewhere_environment(
        DIOPTRA_LAB_HOME=str(home), DIOPTRA_LAB_PLUGIN_PATH=str(PLUGINS), DIOPTRA_LAB_WARM_KERNELS="1"
    )
    return subprocess.run(
        [str(BIN / "dioptra-lab"), *argv], env=env, capture_output=True, text=True, timeout=timeout, cwd=home
    )


def query(server: str, database: str, sql: str) -> list[tuple[object, ...]]:
    import psycopg2

    connection = psycopg2.connect(f"{server}/{database}")
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        connection.close()


def test_up_postgres_runs_jobs_on_postgresql_and_keeps_them_across_down(tmp_path: Path) -> None:
    home = tmp_path / "stack"
    home.mkdir()
    up = ["up", "--workers", "1", "--no-lab", "--no-dashboards"]
    data = None
    try:
        # a server that does not answer: refused before anything starts
        refused = dioptra_lab(home, *up, "--postgres", "postgresql://dioptra:nope@127.0.0.1:1", timeout=120)
        assert refused.returncode == 1
        assert "PostgreSQL at postgresql://dioptra:***@127.0.0.1:1 does not answer" in refused.stderr
        assert "nope" not in refused.stderr
        recorded = json.loads((home / "stack.json").read_text()) if (home / "stack.json").exists() else {}
        assert not recorded.get("services"), recorded

        # a stack on SQLite is not moved onto PostgreSQL behind its back
        assert dioptra_lab(home, *up).returncode == 0
        switched = dioptra_lab(home, *up, "--postgres")
        assert switched.returncode == 1
        assert (
            "keep their data in SQLite: `dioptra-lab down`, then `dioptra-lab up --postgres`"
            in switched.stderr
        )
        assert dioptra_lab(home, "down").returncode == 0

        started = dioptra_lab(home, *up, "--postgres")
        assert started.returncode == 0, started.stderr
        assert "PostgreSQL  postgresql://dioptra:***@" in started.stdout
        stack = json.loads((home / "stack.json").read_text())
        server = stack["services"]["postgres"]["url"]
        data = Path(stack["services"]["postgres"]["data"])
        assert (home / "postgres_password").stat().st_mode & 0o077 == 0

        experiment = f"pg-{uuid.uuid4().hex[:6]}"
        sweep = dioptra_lab(
            home, "submit", str(ENTRYPOINTS / "scaled.yaml"), "--sweep", "factor=1,2,3",
            "--experiment", experiment, "--wait",
        )  # fmt: skip
        assert sweep.returncode == 0, sweep.stderr
        failing = dioptra_lab(
            home, "submit", str(ENTRYPOINTS / "failing.yaml"), "--experiment", experiment, "--wait"
        )
        assert "failed" in failing.stderr
        # recorded in PostgreSQL: MLflow's runs and Prefect's flow runs
        runs = query(
            server,
            "mlflow",
            "SELECT r.status FROM runs r JOIN experiments e ON r.experiment_id = e.experiment_id "
            f"WHERE e.name = '{experiment}' ORDER BY r.status",
        )
        assert [row[0] for row in runs] == ["FAILED", "FINISHED", "FINISHED", "FINISHED"]
        assert query(server, "prefect", "SELECT count(*) FROM flow_run")[0][0] >= 4

        # `down` then `up --postgres` again: the same data, the same runs
        assert dioptra_lab(home, "down").returncode == 0
        again = dioptra_lab(home, *up, "--postgres")
        assert again.returncode == 0, again.stderr
        listed = dioptra_lab(home, "jobs", "list", "--experiment", experiment)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.count("finished") == 3, listed.stdout
    finally:
        dioptra_lab(home, "down")
        if data is not None and data.parent.name.startswith("dioptra-lab-postgres-"):
            shutil.rmtree(data.parent, ignore_errors=True)
