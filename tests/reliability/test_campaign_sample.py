"""The sample of the reliability campaign and the load test that ``make test`` runs.

One fault of each kind of :data:`tests.reliability.campaign.SAMPLE_KINDS` (seed 1: worker, work
horse and kernel kills, SIGSTOP, Redis, MLflow and Prefect restarts, a timeout, a cancel, a plugin
edited between submission and execution), then a 50-job load (:mod:`tests.reliability.load`) on
the same isolated stack, in a process of its own (the campaign sets its own ``DIOPTRA_LAB_HOME``
and environment, never the session's). Short settings keep it within its budget: a heartbeat
timeout of 6 s, outages scaled to 40 %, at most 2 background jobs per fault, 60 s to settle.
``make reliability`` runs the full campaign (100 faults of 12 kinds) and load (500 jobs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dioptra_lab.tracking.client import patient_environment
from tests.reliability.campaign import SAMPLE_KINDS

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
LOAD_JOBS = 50


@pytest.mark.timeout(900)
def test_a_sample_of_faults_and_a_50_job_load_lose_nothing(tmp_path: Path) -> None:
    report = tmp_path / "campaign.json"
    argv = [
        sys.executable,
        "-m",
        "tests.reliability.campaign",
        "--faults",
        str(len(SAMPLE_KINDS)),
        "--kinds",
        ",".join(SAMPLE_KINDS),
        "--seed",
        "1",
        "--heartbeat",
        "6",
        "--outage-scale",
        "0.4",
        "--max-background",
        "2",
        "--settle",
        "60",
        "--then-load",
        str(LOAD_JOBS),
        "--report",
        str(report),
    ]
    # the campaign's own home, and MLflow's patience as a process started from here gets it: a
    # Jupyter server extension loaded in this session made this process fail fast, and the
    # campaign's workers and kernels must not inherit that (its MLflow restarts would fail them)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIOPTRA_LAB_HOME")}
    env.update(patient_environment())
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=880)
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    print(output)
    print(f"sample: {seconds:.0f}s")
    assert report.is_file(), output[-4000:]
    found = json.loads(report.read_text())
    table = {row["fault kind"]: row for row in found["table"]}
    assert set(SAMPLE_KINDS) <= {kind for kind, row in table.items() if row["injected"]}, output[-4000:]
    totals = found["totals"]
    failed = {k: totals[k] for k in ("lost", "stuck", "duplicated", "other") if totals[k]}
    assert not failed, output[-6000:]
    load = found["load"]
    assert load["finished_mlflow"] == LOAD_JOBS, output[-4000:]
    assert load["finished_rq"] == LOAD_JOBS, output[-4000:]
    assert not load["problems"], output[-4000:]
    assert not load["unexplained_log_errors"], output[-4000:]
    assert done.returncode == 0, output[-4000:]
