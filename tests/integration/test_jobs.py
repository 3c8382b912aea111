"""Jobs through the real stack: Redis, MLflow and Prefect servers and `dioptra-lab worker`s."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient

import dioptra_lab
from dioptra_lab.config import load_settings
from dioptra_lab.errors import ParameterError, ServiceError
from dioptra_lab.jobs import JobStatus, submit, submit_sweep
from dioptra_lab.jobs.connection import get_queue, redis_connection
from dioptra_lab.plugins import Registry
from dioptra_lab.plugins.registry import set_registry
from dioptra_lab.processes import free_port, pid_alive
from dioptra_lab.stack import Stack
from tests.conftest import ENTRYPOINTS, PLUGINS, process_family, wait_for

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
WAIT = 180


def mlflow_client() -> MlflowClient:
    return MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri)


def experiment() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def start_worker(queue: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "dioptra-lab"), "worker", "--queue", queue, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_submit_runs_and_logs_everything(worker: str, registry: Registry) -> None:
    exp = experiment()
    job = dioptra_lab.submit(ENTRYPOINTS / "score.yaml", {"x": 1.5}, experiment=exp, queue=worker)
    assert job.wait(WAIT) == JobStatus.FINISHED
    run = mlflow_client().get_run(job.id)  # MLflow's own client reads what the worker wrote
    assert run.info.status == "FINISHED"
    assert run.data.params == {"x": "1.5"}
    assert run.data.metrics["custom_score"] == 15.0  # logged by the task itself
    assert run.data.metrics["doubled"] == 3.0  # the graph's numeric result
    assert "step_seconds.doubled" in run.data.metrics
    tags = run.data.tags
    assert tags["dioptra_lab.entrypoint"] == "score"
    assert tags["dioptra_lab.queue"] == worker
    assert tags["dioptra_lab.job_id"] == job.id
    assert len(tags["dioptra_lab.bundle_sha256"]) == 64
    assert "dioptra_lab.plugin_sha256.job_plugin" in tags
    results = job.results()
    assert {"bundle/bundle.json", "notebook/executed.ipynb", "logs/kernel.log"} <= set(results.artifacts)
    assert "[1/1] doubled (job_plugin.tasks.score) finished" in job.logs()
    assert ", warm kernel (pid " in job.logs()  # the worker's warm kernel ran it
    executed = job.notebook()
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert job.progress == {
        "step": "doubled",
        "task": "job_plugin.tasks.score",
        "index": 1,
        "total": 1,
        "state": "finished",
        "seconds": pytest.approx(job.progress["seconds"]),  # type: ignore[index]
        "time": pytest.approx(time.time(), abs=WAIT),  # when the step ended (benchmarks use it)
    }


def test_sweep_of_three_is_grouped(worker: str, registry: Registry) -> None:
    exp = experiment()
    sweep = submit_sweep(
        ENTRYPOINTS / "score.yaml", {"x": ["1", "2", "3"]}, experiment=exp, queue=worker, from_text=True
    )
    assert len(sweep.jobs) == 3
    assert sweep.wait(WAIT) == ["finished"] * 3
    runs = mlflow_client().search_runs(
        [mlflow_client().get_experiment_by_name(exp).experiment_id],
        filter_string=f"tags.`dioptra_lab.sweep_id` = '{sweep.id}'",
    )
    assert sorted(r.data.metrics["doubled"] for r in runs) == [2.0, 4.0, 6.0]
    bundles = {r.data.tags["dioptra_lab.bundle_sha256"] for r in runs}
    assert len(bundles) == 3  # same code, different parameters
    proc = subprocess.run(
        [str(BIN / "dioptra-lab"), "results", exp, "--format", "csv"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("run_id,status,entrypoint,x,custom_score,doubled")
    assert len(lines) == 4


def test_bad_parameters_enqueue_nothing(worker: str, registry: Registry) -> None:
    exp = experiment()
    queue = get_queue(worker)
    before = queue.count
    with pytest.raises(ParameterError, match="parameter 'x': expected a float, got 'abc'"):
        submit(ENTRYPOINTS / "score.yaml", {"x": "abc"}, experiment=exp, queue=worker, from_text=True)
    with pytest.raises(ParameterError, match="parameter 'x': expected a float, got 'no'"):
        submit_sweep(
            ENTRYPOINTS / "score.yaml", {"x": ["1", "no"]}, experiment=exp, queue=worker, from_text=True
        )
    assert queue.count == before
    assert mlflow_client().get_experiment_by_name(exp) is None  # not even a run was created


def test_failing_notebook_and_worker_keeps_serving(worker: str, registry: Registry) -> None:
    exp = experiment()
    bad = submit(ENTRYPOINTS / "failing.yaml", experiment=exp, queue=worker)
    assert bad.wait(WAIT) == JobStatus.FAILED
    tags = mlflow_client().get_run(bad.id).data.tags
    assert tags["dioptra_lab.failed_step"] == "bad_step"
    assert tags["dioptra_lab.exception"] == "ZeroDivisionError"
    assert "division by zero" in tags["dioptra_lab.exception_message"]
    assert "logs/traceback.txt" in bad.results().artifacts
    failure = bad.info().failure  # structured, from the kernel's failure output: no message parsing
    assert failure is not None
    assert (failure.step, failure.exception) == ("bad_step", "ZeroDivisionError")
    assert failure.message == "float division by zero"
    assert bad.info().status == JobStatus.FAILED
    assert "ZeroDivisionError" in bad.notebook().cells[-1].source + str(bad.notebook())
    good = submit(ENTRYPOINTS / "score.yaml", {"x": 2}, experiment=exp, queue=worker)
    assert good.wait(WAIT) == JobStatus.FINISHED


def test_timeout_stops_job_with_reason(worker: str, registry: Registry) -> None:
    job = submit(
        ENTRYPOINTS / "slow.yaml", {"seconds": 120}, experiment=experiment(), queue=worker, timeout=8
    )
    assert job.wait(WAIT) == JobStatus.FAILED
    assert mlflow_client().get_run(job.id).data.tags["dioptra_lab.failure_reason"] == "timeout"


def test_cancel_running_job(worker: str, registry: Registry) -> None:
    exp = experiment()
    job = submit(ENTRYPOINTS / "slow.yaml", {"seconds": 120}, experiment=exp, queue=worker)
    wait_for(lambda: (job.progress or {}).get("state") == "started", WAIT, "the step to start")
    assert job.cancel() == JobStatus.CANCELLED
    assert mlflow_client().get_run(job.id).info.status == "KILLED"
    queued = submit(ENTRYPOINTS / "slow.yaml", {"seconds": 1}, experiment=exp, queue="nobody-serves-this")
    assert queued.status == JobStatus.QUEUED
    assert queued.cancel() == JobStatus.CANCELLED
    after = submit(ENTRYPOINTS / "score.yaml", {"x": 1}, experiment=exp, queue=worker)
    assert after.wait(WAIT) == JobStatus.FINISHED  # the worker survived the cancel


def test_plugin_edit_between_submissions_and_rerun(worker: str, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    pkg = plugins / "editable_tasks"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    source = "\n".join(
        [
            "from dioptra_lab import task",
            "",
            "@task",
            "def version() -> int:",
            '    """The version."""',
            "    return {}",
            "",
        ]
    )
    (pkg / "tasks.py").write_text(source.format(1))
    entry = tmp_path / "version.yaml"
    entry.write_text("graph:\n  v:\n    version: {}\n")
    reg = Registry([plugins, PLUGINS])
    set_registry(reg)
    try:
        exp = experiment()
        first = submit(entry, experiment=exp, queue=worker)
        (pkg / "tasks.py").write_text(source.format(2))
        reg.reload()
        second = submit(entry, experiment=exp, queue=worker)
        assert first.wait(WAIT) == JobStatus.FINISHED
        assert second.wait(WAIT) == JobStatus.FINISHED
        client = mlflow_client()
        assert client.get_run(first.id).data.metrics["v"] == 1.0
        assert client.get_run(second.id).data.metrics["v"] == 2.0
        tags = [client.get_run(j.id).data.tags for j in (first, second)]
        assert tags[0]["dioptra_lab.bundle_sha256"] != tags[1]["dioptra_lab.bundle_sha256"]
        again = first.rerun()
        assert again.wait(WAIT) == JobStatus.FINISHED
        rerun = client.get_run(again.id)
        assert rerun.data.metrics["v"] == 1.0  # the first run's code, exactly
        assert rerun.data.tags["dioptra_lab.bundle_sha256"] == tags[0]["dioptra_lab.bundle_sha256"]
        assert rerun.data.tags["dioptra_lab.rerun_of"] == first.id
    finally:
        set_registry(None)


def test_model_registry_round_trip(worker: str, registry: Registry) -> None:
    exp = experiment()
    name = f"tiny-{uuid.uuid4().hex[:6]}"
    fit = submit(ENTRYPOINTS / "fit.yaml", {"register_as": name}, experiment=exp, queue=worker)
    assert fit.wait(WAIT) == JobStatus.FINISHED
    use = submit(
        ENTRYPOINTS / "use_model.yaml",
        {"model": f"models:/{name}/1"},
        experiment=exp,
        queue=worker,
        from_text=True,
    )
    assert use.wait(WAIT) == JobStatus.FINISHED, use.logs()
    assert mlflow_client().get_run(use.id).data.metrics["accuracy"] > 0.8


def test_mlflow_unreachable_at_submit(
    worker: str, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = get_queue(worker)
    before = queue.count
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServiceError, match="does not answer; start it with `dioptra-lab up`"):
        submit(ENTRYPOINTS / "score.yaml", experiment=experiment(), queue=worker)
    assert queue.count == before


def test_rq_info_shows_our_queue_and_worker(worker: str) -> None:
    url = load_settings().redis_url
    assert url
    proc = subprocess.run(
        [str(BIN / "rq"), "info", "--url", url, "--serializer", "rq.serializers.JSONSerializer"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert worker in proc.stdout
    assert "worker-1" in proc.stdout


@pytest.mark.slow
def test_sigkilled_worker_job_fails_then_retries(services: Stack, registry: Registry, tmp_path: Path) -> None:
    queue = f"kill-{uuid.uuid4().hex[:6]}"
    exp = experiment()
    abandoned = submit(ENTRYPOINTS / "slow.yaml", {"seconds": 120}, experiment=exp, queue=queue)
    first = start_worker(queue)
    wait_for(lambda: (abandoned.progress or {}).get("state") == "started", WAIT, "the first job to start")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert abandoned.wait(60) == JobStatus.FAILED
    run = mlflow_client().get_run(abandoned.id)
    assert run.info.status == "FAILED"
    assert "abandoned" in run.data.tags["dioptra_lab.failure_reason"]

    marker = tmp_path / "attempts"
    retried = submit(
        ENTRYPOINTS / "once.yaml",
        {"marker": str(marker), "seconds": 120},
        experiment=exp,
        queue=queue,
        retries=1,
    )
    second = start_worker(queue)
    wait_for(lambda: (retried.progress or {}).get("state") == "started", WAIT, "the retried job to start")
    os.killpg(second.pid, signal.SIGKILL)
    second.wait()
    third = start_worker(queue)
    try:
        assert retried.wait(WAIT) == JobStatus.FINISHED
        run = mlflow_client().get_run(retried.id)
        assert run.data.tags["dioptra_lab.attempt"] == "2"
        assert "abandoned" in run.data.tags["dioptra_lab.last_failure"]
        assert run.data.metrics["nap"] == 2.0
    finally:
        os.killpg(third.pid, signal.SIGTERM)
        third.wait(30)


@pytest.mark.slow
def test_redis_restart_keeps_queued_jobs(
    services: Stack, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "own-redis"
    own = Stack(load_settings())
    own.home = home
    own.settings.redis_url = None
    url = own.ensure_redis()
    monkeypatch.setenv("DIOPTRA_LAB_REDIS_URL", url)
    queue = f"parked-{uuid.uuid4().hex[:6]}"
    job = submit(ENTRYPOINTS / "score.yaml", {"x": 4}, experiment=experiment(), queue=queue)
    assert get_queue(queue).count == 1
    pid = int((home / "pids" / "redis.pid").read_text())
    redis_connection().bgrewriteaof()
    time.sleep(1)
    os.kill(pid, signal.SIGKILL)  # a crash, not a clean shutdown: only the AOF keeps the job
    wait_for(lambda: not pid_alive(pid), 10, "Redis to die")
    own.ensure_redis()  # same folder, same port (recorded), AOF replayed
    assert get_queue(queue).count == 1
    burst = subprocess.run(
        [str(BIN / "dioptra-lab"), "worker", "--queue", queue, "--burst"],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert burst.returncode == 0, burst.stderr[-2000:]
    assert job.status == JobStatus.FINISHED
    own.down()
    shutil.rmtree(home, ignore_errors=True)


def test_up_twice_starts_nothing_new(worker: str, services: Stack) -> None:
    Stack(load_settings()).up(workers=1, queues=[worker])  # the fixtures' stack plus the dashboards
    before = {s.name: s.pid for s in services.status()}
    urls = Stack(load_settings()).up(workers=1, queues=[worker])
    after = {s.name: s.pid for s in Stack(load_settings()).status()}
    assert after == before
    assert urls["redis"] == load_settings().redis_url


def test_missing_redis_server_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server anywhere
    monkeypatch.delenv("DIOPTRA_LAB_REDIS_URL", raising=False)
    stack = Stack(load_settings())
    stack.home = tmp_path / "home"
    stack.settings.redis_url = None
    with pytest.raises(ServiceError, match="apt-get install -y redis-server"):
        stack.ensure_redis()


def test_gpu_flag_reaches_the_kernel_and_worker_stays_free_of_torch(
    services: Stack, registry: Registry
) -> None:
    queue = f"gpu-{uuid.uuid4().hex[:6]}"
    job = submit(ENTRYPOINTS / "env.yaml", experiment=experiment(), queue=queue)
    proc = subprocess.run(
        [str(BIN / "dioptra-lab"), "worker", "--queue", queue, "--gpu", "1", "--burst"],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert job.wait(30) == JobStatus.FINISHED
    notebook = job.notebook()
    assert "'1'" in str(notebook.cells[-1].outputs)  # the kernel saw CUDA_VISIBLE_DEVICES=1
    # the worker's own process imports neither torch nor the plugins
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, dioptra_lab.worker.process, dioptra_lab.worker.execute; "
            "print(sorted(m for m in ('torch', 'job_plugin', 'lab_models') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "[]"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_or_killed_worker_leaves_no_kernel_behind(services: Stack, sig: signal.Signals) -> None:
    worker = start_worker(f"idle-{uuid.uuid4().hex[:6]}")
    try:
        # the worker, its reconciler, its kernel zygote and one warm kernel
        wait_for(lambda: len(process_family(worker.pid)) >= 4, WAIT, "the worker's warm kernel")
        family = process_family(worker.pid)
        os.killpg(worker.pid, sig)  # SIGTERM is what `dioptra-lab down` sends
        worker.wait(30)
        wait_for(lambda: not any(pid_alive(p) for p in family), 15, "the zygote and kernel to exit")
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def test_stale_own_service_is_stopped_before_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recorded service that runs but does not answer is replaced, not leaked."""
    from dioptra_lab.config import write_stack_file
    from dioptra_lab.processes import start_detached

    monkeypatch.delenv("DIOPTRA_LAB_REDIS_URL", raising=False)
    home = tmp_path / "home"
    hung = start_detached("redis", ["sleep", "300"], run_dir=home)  # alive, answers nothing
    write_stack_file(
        home, {"services": {"redis": {"pid": hung.pid, "url": f"redis://127.0.0.1:{free_port()}/0"}}}
    )
    stack = Stack(load_settings())
    stack.home = home
    stack.settings.redis_url = None
    try:
        url = stack.ensure_redis()
        assert hung.wait(timeout=20) is not None  # the hung process was stopped
        from redis import Redis

        assert Redis.from_url(url).ping()
    finally:
        stack.down()


def test_submitting_into_an_experiment_deleted_since_the_last_submit(worker: str) -> None:
    """A process remembers experiment ids (one MLflow request less per submit); an experiment
    deleted since is looked up again, restored, and the job lands in it."""
    exp = experiment()
    first = submit(ENTRYPOINTS / "score.yaml", {"x": 1.0}, experiment=exp, queue=worker)
    experiment_id = mlflow_client().get_run(first.id).info.experiment_id
    assert first.wait(WAIT) == JobStatus.FINISHED
    mlflow_client().delete_experiment(experiment_id)
    second = submit(ENTRYPOINTS / "score.yaml", {"x": 2.0}, experiment=exp, queue=worker)
    assert second.wait(WAIT) == JobStatus.FINISHED
    assert mlflow_client().get_run(second.id).info.experiment_id == experiment_id
    assert mlflow_client().get_experiment(experiment_id).lifecycle_stage == "active"


def test_dioptra_artifact_tasks_through_the_queue(worker: str, registry: Registry) -> None:
    """A job's artifact outputs are serialized by their artifact task and uploaded with the name
    of the task; a later job given the artifact's runs:/ URI reads it back with that task."""
    exp = experiment()
    first = dioptra_lab.submit(
        ENTRYPOINTS / "score_artifact.yaml", {"x": 1.5, "earlier": 0.5}, experiment=exp, queue=worker
    )
    assert first.wait(WAIT) == JobStatus.FINISHED, first.logs()
    artifacts = set(first.results().artifacts)
    assert {"artifacts/saved.json", "artifacts/saved.json.dioptra-task.json"} <= artifacts
    assert {"artifacts/tenfold.tenfold", "artifacts/tenfold.tenfold.dioptra-task.json"} <= artifacts
    # a .tenfold file holds 30.0 for 3.0: only TenfoldArtifactTask.deserialize reads it right
    uri = f"runs:/{first.id}/artifacts/tenfold.tenfold"
    second = dioptra_lab.submit(
        ENTRYPOINTS / "score_artifact.yaml", {"x": 1.0, "earlier": uri}, experiment=exp, queue=worker
    )
    assert second.wait(WAIT) == JobStatus.FINISHED, second.logs()
    run = mlflow_client().get_run(second.id)
    assert run.data.metrics["again"] == 6.0  # 2 × the first job's saved 3.0


def test_worker_healthcheck_asks_redis_for_this_hosts_heartbeat(worker: str) -> None:
    """A worker container's healthcheck: healthy while Redis has a fresh heartbeat of a worker
    on this host; a killed worker's stale heartbeat (and another host's) does not count."""
    from dioptra_lab.jobs.queues import live_workers_on_host

    wait_for(lambda: any(worker in w.queues for w in live_workers_on_host()), WAIT, "the worker to register")
    check = subprocess.run(
        [str(BIN / "dioptra-lab"), "worker", "--healthcheck"], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "healthy: " in check.stdout
    assert f"queues {worker}" in check.stdout
    assert live_workers_on_host("elsewhere.invalid") == []
    queue = f"health-{uuid.uuid4().hex[:6]}"
    lone = start_worker(queue)
    try:
        wait_for(
            lambda: any(queue in w.queues for w in live_workers_on_host()), WAIT, "the worker's heartbeat"
        )
        os.killpg(lone.pid, signal.SIGKILL)
        lone.wait(10)
        # DIOPTRA_LAB_HEARTBEAT_TIMEOUT is 6 s in the tests
        wait_for(
            lambda: not any(queue in w.queues for w in live_workers_on_host()), 30, "its beat to go stale"
        )
    finally:
        if lone.poll() is None:
            os.killpg(lone.pid, signal.SIGKILL)
            lone.wait()
