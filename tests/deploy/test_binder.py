"""Binder without Binder: what repo2docker runs, in a fresh virtual environment.

repo2docker installs ``binder/requirements.txt``, runs ``binder/postBuild`` once in the
repository, and starts the notebook server through ``binder/start``. This test does the same
in a copy of the working tree and a new venv (no package of ours or of the session's venv):
then JupyterLab's extension and the `dioptra-lab` kernel spec are installed, ``start`` brings
the embedded stack up before handing over to the command it is given, and the quickstart
experiment runs through the queue. About 5 minutes; ``make deploy-check`` runs it (not
``make test``, to keep CI short).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def test_binder_postbuild_and_start_in_a_fresh_venv(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.split(b"\0")  # fmt: skip
    for name in filter(None, files):
        source = REPO / name.decode()
        if source.is_file():
            (repo / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name.decode())
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DIOPTRA_LAB_", "MLFLOW_", "PREFECT_"))}
    keep.pop("VIRTUAL_ENV", None)
    env = {
        **keep,
        "PATH": f"{env_dir / 'bin'}:{keep['PATH'].replace(str(Path(sys.executable).parent) + ':', '')}",
        # these machines reach PyPI but not PyTorch's index: do not retry it for every package
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "5",
    }

    def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{argv}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    run(["pip", "install", "--quiet", "-r", "binder/requirements.txt"], 1800)
    built = run(["./binder/postBuild"], 900)
    assert "its JupyterLab extension and kernel spec are installed" in built.stdout
    assert (env_dir / "share" / "jupyter" / "kernels" / "dioptra-lab" / "kernel.json").is_file()
    try:
        started = run(
            ["./binder/start", "sh", "-c",
             "dioptra-lab status && dioptra-lab submit examples/quickstart.yaml --wait"],
            600,
        )  # fmt: skip
        for service in ("redis", "mlflow", "prefect", "worker-1"):
            assert f"\n{service} " in "\n" + started.stdout, started.stdout
        assert ": finished" in started.stderr.splitlines()[-1], started.stderr[-2000:]
    finally:
        subprocess.run([str(env_dir / "bin" / "dioptra-lab"), "down"], cwd=repo, env=env, timeout=120)
