"""Jobs under faults: foreign RQ jobs, MLflow and Redis outages, kernel deaths with retries,
dead workers and the workspaces jobs leave behind (issue 13's list, one regression each).

Each test runs its own `dioptra-lab worker` processes on a queue of its own, so that killing
a service or a worker here never touches the session's worker; a test that stops a service
starts its own (Redis or MLflow in a folder of its own) rather than the session's.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from dioptra_lab.config import load_settings
from dioptra_lab.jobs import Job, JobStatus, list_jobs, submit
from dioptra_lab.jobs.connection import get_queue, redis_connection, serializer
from dioptra_lab.plugins import Registry
from dioptra_lab.processes import pid_alive
from dioptra_lab.stack import Stack
from dioptra_lab.tracking.client import mlflow_healthy
from tests.conftest import ENTRYPOINTS, stop_process_groups, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.reliability]
BIN = Path(sys.executable).parent
WAIT = 180
RQ_FINAL = {"finished": "FINISHED", "failed": "FAILED", "stopped": "KILLED", "canceled": "KILLED"}


def experiment() -> str:
    return f"faults-{uuid.uuid4().hex[:8]}"


def new_queue(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:6]}"


class Workers:
    """`dioptra-lab worker` processes started by one test, each in its own session (group)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self, queue: str, name: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        name = name or f"faults-{uuid.uuid4().hex[:8]}"
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [str(BIN / "dioptra-lab"), "worker", "--queue", queue, "--name", name],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        proc.name = name  # type: ignore[attr-defined]
        self.started.append(proc)
        wait_for(lambda: registered(name) or proc.poll() is not None, WAIT, f"worker {name} to register")
        return proc

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.logs / f"{proc.name}.log").read_text(errors="replace")[-3000:]  # type: ignore[attr-defined]

    def stop_all(self) -> None:
        stop_process_groups(self.started, 30)


@pytest.fixture
def workers(services: Stack, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    yield started
    started.stop_all()


def registered(name: str) -> bool:
    from rq import Worker

    return any(w.name == name for w in Worker.all(connection=redis_connection(), serializer=serializer()))


def rq_status(job_id: str) -> str | None:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RQJob

    try:
        status = RQJob.fetch(job_id, connection=redis_connection(), serializer=serializer()).get_status()
        return str(getattr(status, "value", status))
    except NoSuchJobError:
        return None


def started(job: Job) -> bool:
    return (job.progress or {}).get("state") == "started"


def kernel_pid(job: Job) -> int:
    found = re.search(r"warm kernel \(pid (\d+)\)", job.logs())
    assert found, job.logs()
    return int(found.group(1))


def horse_of(worker_pid: int) -> int | None:
    """The work horse of a worker: its forked child (the same command line, unlike the kernel
    zygote) that leads a process group of its own (unlike the worker's reconciler)."""
    command = Path(f"/proc/{worker_pid}/cmdline").read_bytes()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            ppid, group, pid = int(fields[1]), int(fields[2]), int(entry.name)
            if ppid == worker_pid and group == pid and (entry / "cmdline").read_bytes() == command:
                return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def workspaces(job_id: str) -> list[Path]:
    return sorted(Path(tempfile.gettempdir()).glob(f"dioptra-lab-job-{job_id[:8]}-*"))


# -- 1. only our job runs on a worker ----------------------------------------------------------
def test_worker_refuses_a_foreign_rq_job_and_lives_on(
    worker: str, registry: Registry, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    queue = get_queue(worker)
    foreign = queue.enqueue("os.system", f"touch {marker}")  # plain RQ, anyone reaching Redis
    disguised = queue.enqueue("dioptra_lab.worker.execute.execute_job", "not-a-run")  # not the entry
    for job in (foreign, disguised):
        wait_for(lambda job=job: job.get_status(refresh=True) == "failed", WAIT, f"{job.id} to fail")
        result = job.latest_result()
        assert result is not None
        assert "refused" in (result.exc_string or ""), result.exc_string
    assert not marker.exists()  # nothing of it ran
    good = submit(ENTRYPOINTS / "score.yaml", {"x": 2}, experiment=experiment(), queue=worker)
    assert good.wait(WAIT) == JobStatus.FINISHED  # the worker lives on


def test_foreign_callbacks_are_never_resolved(services: Stack) -> None:
    """A job's callbacks are names too: only our failure callback, only for our function."""
    from rq import Callback
    from rq.job import Job as RQJob

    from dioptra_lab.jobs.guard import GuardedJob

    conn = redis_connection()
    ours = GuardedJob.create(
        "dioptra_lab.worker.execute_job",
        args=("run",),
        connection=conn,
        serializer=serializer(),
        on_failure=Callback("dioptra_lab.worker.callbacks.on_job_failure"),
    )
    assert ours.allowed
    assert ours.failure_callback is not None
    for job in (
        GuardedJob.create("os.system", args=("true",), connection=conn, serializer=serializer()),
        GuardedJob.create(
            "dioptra_lab.worker.execute_job",
            args=("run",),
            connection=conn,
            serializer=serializer(),
            on_failure=Callback("os.system"),
            on_success=Callback("os.system"),
            on_stopped=Callback("os.system"),
        ),
    ):
        assert job.failure_callback is None
        assert job.success_callback is None
        assert job.stopped_callback is None
    assert isinstance(ours, RQJob)


# -- 2 and 4, at the lifecycle's level ---------------------------------------------------------
def test_job_states_are_fenced_by_attempt_and_replayed_to_mlflow(
    services: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dioptra_lab.jobs import lifecycle
    from dioptra_lab.models import Failure
    from dioptra_lab.processes import free_port

    session_mlflow = load_settings().mlflow_tracking_uri
    assert session_mlflow
    run_id = lifecycle.create(experiment(), "fenced", {}, {})
    first = lifecycle.begin_attempt(run_id)
    assert lifecycle.start(run_id, "w1", first, JobStatus.QUEUED)
    assert lifecycle.fail(run_id, Failure("boom", "KeyError"), will_retry=True, attempt=first)
    second = lifecycle.begin_attempt(run_id)
    assert second == first + 1
    assert lifecycle.start(run_id, "w2", second)
    # the first attempt's worker, late: ignored (the retry runs)
    assert not lifecycle.fail(run_id, Failure("work horse terminated", "WorkHorseKilled"), attempt=first)
    assert lifecycle.status(run_id) == JobStatus.RUNNING

    # MLflow away: the end is recorded all the same, reads report it, MLflow gets it back
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    assert lifecycle.finish(run_id, second)
    assert lifecycle.status(run_id) == JobStatus.FINISHED
    assert run_id in lifecycle.unsynced(redis_connection())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", session_mlflow)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    assert MlflowClient(tracking_uri=session_mlflow).get_run(run_id).info.status == "RUNNING"
    assert lifecycle.sync(run_id)
    run = MlflowClient(tracking_uri=session_mlflow).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["dioptra_lab.attempt"] == "2"
    assert run.data.tags["dioptra_lab.worker"] == "w2"
    assert "boom" in run.data.tags["dioptra_lab.last_failure"]
    assert "dioptra_lab.failure_reason" not in run.data.tags
    assert run_id not in lifecycle.unsynced(redis_connection())
    # a final state sticks, whoever comes after
    assert not lifecycle.fail(run_id, Failure("late", "WorkHorseKilled"))
    assert not lifecycle.cancel(run_id)
    assert lifecycle.status(run_id) == JobStatus.FINISHED


# -- 2. an MLflow outage during a job -----------------------------------------------------------
@pytest.mark.slow
def test_mlflow_outage_during_a_job_ends_in_agreeing_states(
    services: Stack, registry: Registry, workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # submissions export the session's
    own = Stack(load_settings())
    own.home = tmp_path / "own-mlflow"
    own.settings.mlflow_tracking_uri = None
    url = own.ensure_mlflow()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    # MLflow's client gives up after ~6 s here (its default is ~4 min): the outage below is
    # longer than every retry of the worker, its horse and its kernel
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    queue = new_queue("outage")
    proc = workers.start(queue)
    job = submit(ENTRYPOINTS / "slow.yaml", {"seconds": 8}, experiment=experiment(), queue=queue)
    wait_for(lambda: started(job), WAIT, "the job to start")
    pid = int((own.home / "pids" / "mlflow.pid").read_text())
    os.killpg(pid, signal.SIGKILL)  # the server and its web workers
    wait_for(lambda: not pid_alive(pid) and not mlflow_healthy(url, 1.0), 15, "MLflow to die")
    # RQ ends the job while MLflow is down, and the worker stays free for other work
    try:
        wait_for(lambda: rq_status(job.id) in RQ_FINAL, 90, "RQ to end the job")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{job.logs()[-3000:]}\n{workers.log(proc)}") from None
    time.sleep(15)  # longer than any MLflow retry of the worker
    assert proc.poll() is None, workers.log(proc)
    assert registered(proc.name)  # type: ignore[attr-defined]
    final = RQ_FINAL[str(rq_status(job.id))]
    own.ensure_mlflow()  # the same port and database
    mlflow = MlflowClient(tracking_uri=url)
    try:
        wait_for(lambda: mlflow.get_run(job.id).info.status == final, 60, f"MLflow to record {final}")
    except AssertionError as exc:
        record = redis_connection().hgetall(f"dioptra_lab:job:{job.id}")
        raise AssertionError(f"{exc}\nrecord: {record}\n{workers.log(proc)}") from None
    assert job.status == JobStatus.from_mlflow(final)
    assert registered(proc.name)  # type: ignore[attr-defined]
    after = submit(ENTRYPOINTS / "score.yaml", {"x": 1}, experiment=experiment(), queue=queue)
    assert after.wait(WAIT) == JobStatus.FINISHED, workers.log(proc)
    own.down()


# -- 3. a Redis crash during a job --------------------------------------------------------------
@pytest.mark.slow
def test_workers_ride_out_a_redis_crash_and_their_job_finishes(
    services: Stack, registry: Registry, workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = Stack(load_settings())
    own.home = tmp_path / "own-redis"
    own.settings.redis_url = None
    url = own.ensure_redis()
    monkeypatch.setenv("DIOPTRA_LAB_REDIS_URL", url)
    queue = new_queue("redis")
    busy, idle = workers.start(queue), workers.start(queue)
    wait_for(lambda: registered(idle.name), WAIT, "the workers to register")  # type: ignore[attr-defined]
    job = submit(ENTRYPOINTS / "slow.yaml", {"seconds": 15}, experiment=experiment(), queue=queue)
    wait_for(lambda: started(job), WAIT, "the job to start")
    time.sleep(2)  # the AOF is fsynced every second
    pid = int((own.home / "pids" / "redis.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), 10, "Redis to die")
    time.sleep(6)  # RQ's workers died within ~5 s
    own.ensure_redis()  # the same port, the AOF replayed
    try:
        assert job.wait(WAIT) == JobStatus.FINISHED, workers.log(busy) + workers.log(idle)
        wait_for(lambda: rq_status(job.id) == "finished", 30, "RQ to finish the job too")
        for proc in (busy, idle):
            assert proc.poll() is None, workers.log(proc)
        wait_for(lambda: registered(busy.name) and registered(idle.name), 30, "both workers")  # type: ignore[attr-defined]
        after = submit(ENTRYPOINTS / "score.yaml", {"x": 1}, experiment=experiment(), queue=queue)
        assert after.wait(WAIT) == JobStatus.FINISHED
    finally:
        workers.stop_all()
        own.down()


# -- 4. a retry never races its own failure -----------------------------------------------------
@pytest.mark.slow
def test_retry_after_kernel_death_does_not_race_its_failure(
    services: Stack, registry: Registry, workers: Workers, tmp_path: Path
) -> None:
    queue = new_queue("retry")
    first, second = workers.start(queue), workers.start(queue)  # the retry may start on either
    wait_for(lambda: registered(first.name) and registered(second.name), WAIT, "the workers")  # type: ignore[attr-defined]
    marker = tmp_path / "attempts"
    job = submit(
        ENTRYPOINTS / "once.yaml",
        {"marker": str(marker), "seconds": 120},
        experiment=experiment(),
        queue=queue,
        retries=1,
    )
    wait_for(lambda: started(job), WAIT, "the first attempt to start")
    os.kill(kernel_pid(job), signal.SIGKILL)
    seen = []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        status = job.status
        seen.append(status)
        if status.done:
            break
        time.sleep(0.05)
    assert JobStatus.FAILED not in seen, seen
    assert seen[-1] == JobStatus.FINISHED
    assert job.wait(30) == JobStatus.FINISHED  # and once wait returns, MLflow has it too
    run = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri).get_run(job.id)
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["dioptra_lab.attempt"] == "2"
    assert tags.get("dioptra_lab.last_failure")  # the first attempt's failure, kept apart
    leftover = {k for k in tags if k.split(".", 1)[1] in ("failure_reason", "exception", "failed_step")}
    assert not leftover, {k: tags[k] for k in leftover}
    assert marker.read_text() == "2"


# -- campaign 1a: a frozen attempt, resumed, leaves its retry alone --------------------------------
@pytest.mark.slow
def test_a_frozen_host_resumed_leaves_the_retry_of_its_job_alone(
    services: Stack, registry: Registry, workers: Workers
) -> None:
    """The campaign's `sigstop host` (seed 1, #6 of the sample): a worker, its horse and its
    kernel stopped past the heartbeat timeout; the job is taken for abandoned and retried on
    the other worker; once resumed, the old attempt gives up, and its worker must then
    neither retry nor fail RQ's job, which is the retry's (it did: a third attempt, and the
    retry, superseded in turn, ended FAILED)."""
    from dioptra_lab.jobs import lifecycle
    from dioptra_lab.jobs.reaper import heartbeat_timeout
    from dioptra_lab.processes import descendants

    queue = new_queue("frozen")
    first, second = workers.start(queue), workers.start(queue)
    wait_for(lambda: registered(first.name) and registered(second.name), WAIT, "the workers")  # type: ignore[attr-defined]
    # every attempt takes 15 s: the retry still runs when the frozen attempt resumes
    job = submit(ENTRYPOINTS / "slow.yaml", {"seconds": 15}, experiment=experiment(), queue=queue, retries=1)
    wait_for(lambda: started(job), WAIT, "the first attempt to start")
    frozen = next(p for p in (first, second) if horse_of(p.pid))
    host = [frozen.pid, *sorted(descendants(frozen.pid))]
    for pid in host:
        os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(
            lambda: (lifecycle.record(job.id) or lifecycle.Record(None)).attempt >= 2,
            heartbeat_timeout() + 30,
            "the job to be retried on the other worker",
        )
        time.sleep(1)
    finally:
        for pid in host:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    try:
        assert job.wait(WAIT) == JobStatus.FINISHED
        wait_for(lambda: rq_status(job.id) == "finished", 30, "RQ to finish the job too")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n{job.logs()[-3000:]}\n{workers.log(first)}\n{workers.log(second)}"
        ) from None
    record = lifecycle.record(job.id)
    assert record is not None
    assert record.attempt == 2, record
    run = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri).get_run(job.id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["dioptra_lab.attempt"] == "2"
    assert "dioptra_lab.failure_reason" not in run.data.tags
    wait_for(lambda: "a newer attempt runs it" in workers.log(frozen), 30, "the resumed worker to stand down")
    time.sleep(2)  # what it would have done to RQ's job, it has done now
    assert rq_status(job.id) == "finished"
    assert lifecycle.record(job.id).attempt == 2  # type: ignore[union-attr]
    assert frozen.poll() is None, workers.log(frozen)  # and the resumed worker serves on
    after = submit(ENTRYPOINTS / "score.yaml", {"x": 1}, experiment=experiment(), queue=queue)
    assert after.wait(WAIT) == JobStatus.FINISHED


# -- campaign 1b: a stopped writer holds up a job's MLflow writes for its lease only ---------------
def test_a_stopped_writer_holds_up_mlflow_for_its_short_lease_only(services: Stack) -> None:
    """The campaign's `sigstop worker` (seed 3): a reconciler stopped while it held a job's
    sync lease (then 120 s) kept every other process from writing the job to MLflow past the
    settle time. The lease is short now, and another writer takes over when it runs out."""
    from dioptra_lab.jobs import lifecycle

    conn = redis_connection()
    run_id = lifecycle.create(experiment(), "held", {}, {})
    # the stopped writer: its lease taken just before it froze
    lock = lifecycle.SYNC_LOCK_KEY.format(run_id)
    assert conn.set(lock, "a-stopped-writer", nx=True, px=int(lifecycle.SYNC_LEASE * 1000))
    attempt = lifecycle.begin_attempt(run_id)
    assert lifecycle.start(run_id, "w1", attempt, JobStatus.QUEUED)  # recorded; MLflow not written yet
    mlflow = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri)
    assert mlflow.get_run(run_id).info.status == "SCHEDULED"
    assert lifecycle.SYNC_LEASE <= 15
    began = time.monotonic()
    assert lifecycle.sync(run_id, wait=lifecycle.SYNC_LEASE + 5)
    assert time.monotonic() - began <= lifecycle.SYNC_LEASE + 5
    assert mlflow.get_run(run_id).info.status == "RUNNING"
    assert conn.get(lock) is None  # released; the stopped writer's token never frees another's


def test_a_job_its_record_ended_shows_its_times_before_mlflow_has_them(services: Stack) -> None:
    """CI (stop 24): the REST API answered a finished job with no end time: its record said
    finished while another writer still held its MLflow write. A job's info, results and
    listing take its start and end times from its record too, as they take its status."""
    from dioptra_lab.jobs import lifecycle

    conn = redis_connection()
    exp = experiment()
    run_id = lifecycle.create(exp, "times", {}, {})
    lock = lifecycle.SYNC_LOCK_KEY.format(run_id)
    # held for longer than its lease: a slow read below must not let a sync write the end first
    assert conn.set(lock, "another-writer", nx=True, px=120_000)
    attempt = lifecycle.begin_attempt(run_id)
    before = time.time()
    assert lifecycle.start(run_id, "w1", attempt, JobStatus.QUEUED)
    assert lifecycle.finish(run_id, attempt)
    after = time.time()
    mlflow = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri)
    assert mlflow.get_run(run_id).info.end_time is None  # MLflow has not taken the end yet
    job = Job(run_id)
    shown = [job.info(), job.results().job, *[i for i in list_jobs(exp) if i.id == run_id]]
    assert len(shown) == 3
    for info in shown:
        assert info.status == JobStatus.FINISHED
        assert info.started is not None, info
        assert info.ended is not None, info
        assert before - 0.01 <= info.started <= info.ended <= after + 0.01, info
    assert mlflow.get_run(run_id).info.end_time is None  # the times above came from the record
    conn.delete(lock)
    assert lifecycle.sync(run_id)
    assert mlflow.get_run(run_id).info.end_time == round(shown[0].ended * 1000)  # the same end, written
    assert job.info().ended == shown[0].ended


# -- campaign seed 1 #66: a retry a worker has just taken is not reaped again ---------------------
def test_a_retry_just_taken_by_a_worker_is_not_reaped_before_its_horse_beats(services: Stack) -> None:
    """The campaign's `worker_kill` #66 (seed 1, 100 faults): the killed worker's job was
    reaped and retried; the restarted worker took the retry and waited for its warm kernel
    before forking the horse; meanwhile the job's only signs of life were the dead attempt's
    (its last beat, RQ's start), so a second reap failed the retry as abandoned, with no
    retry left (lost). The execution RQ registers when a worker takes a job counts now."""
    from datetime import UTC, datetime

    from rq.executions import Execution
    from rq.utils import utcformat

    from dioptra_lab.errors import DioptraLabWarning
    from dioptra_lab.jobs.guard import GuardedJob
    from dioptra_lab.jobs.reaper import heartbeat_timeout, reap_stale_jobs

    conn = redis_connection()
    queue = new_queue("taken")
    with pytest.warns(DioptraLabWarning, match="no worker serves"):  # the test plays the worker
        job = submit(ENTRYPOINTS / "score.yaml", {"x": 1}, experiment=experiment(), queue=queue, retries=1)
    rq_job = GuardedJob.fetch(job.id, connection=conn, serializer=serializer())
    # the first attempt ran and died long ago: its last beat and RQ's start are stale
    old = time.time() - heartbeat_timeout() - 30
    rq_job.meta["heartbeat"] = old
    rq_job.save_meta()
    conn.hset(rq_job.key, "started_at", utcformat(datetime.fromtimestamp(old, tz=UTC)))
    # a worker takes the retry: off the queue, its execution registered; no horse yet
    conn.lrem(get_queue(queue, conn).key, 0, job.id)
    rq_job.set_status("started")
    with conn.pipeline() as pipe:
        execution = Execution.create(rq_job, ttl=120, pipeline=pipe, worker_name="taking")
        pipe.execute()
    assert reap_stale_jobs(conn, [queue]) == []
    assert rq_status(job.id) == "started"
    # the same execution gone silent for the heartbeat timeout: that one is abandoned
    conn.hset(execution.key, mapping={"created_at": old, "last_heartbeat": old})
    assert reap_stale_jobs(conn, [queue]) == [job.id]
    assert rq_status(job.id) == "queued"  # retried (its one retry)


# -- review: a submission slower than the grace is not taken for lost -----------------------------
def test_a_job_whose_bundle_uploads_slowly_is_not_taken_for_lost(services: Stack) -> None:
    from dioptra_lab.jobs import lifecycle
    from dioptra_lab.jobs.reconcile import GRACE, settle

    conn = redis_connection()
    run_id = lifecycle.create(experiment(), "slow-upload", {}, {})
    key = lifecycle.RECORD_KEY.format(run_id)
    conn.hset(key, "since", f"{time.time() - GRACE - 30:.3f}")  # its upload has taken 90 s so far
    found = lifecycle.record(run_id, conn)
    assert found is not None
    assert found.submitting
    assert not settle(conn, run_id, found, None)  # RQ has no job yet: that is no loss
    with conn.pipeline() as pipe:
        lifecycle.submitted(run_id, pipe)
        pipe.execute()
    found = lifecycle.record(run_id, conn)
    assert found is not None
    assert not found.submitting
    assert not settle(conn, run_id, found, None)  # just enqueued: the grace counts from here
    conn.hset(key, "since", f"{time.time() - GRACE - 1:.3f}")
    assert settle(conn, run_id, lifecycle.record(run_id, conn), None)  # type: ignore[arg-type]
    assert lifecycle.status(run_id) == JobStatus.FAILED  # enqueued and gone from RQ: lost


# -- 6. the heartbeat timeout decides, everywhere -----------------------------------------------
@pytest.mark.slow
def test_dead_worker_is_noticed_within_the_heartbeat_timeout(
    services: Stack, registry: Registry, workers: Workers
) -> None:
    from dioptra_lab.api import stack_status
    from dioptra_lab.jobs.reaper import heartbeat_timeout

    limit = heartbeat_timeout() + 10  # the timeout (6 s in tests) and a few polls
    queue = new_queue("dead")
    busy = workers.start(queue)
    exp = experiment()
    shown = submit(ENTRYPOINTS / "slow.yaml", {"seconds": 120}, experiment=exp, queue=queue)
    wait_for(lambda: started(shown), WAIT, "the job to start")
    os.killpg(busy.pid, signal.SIGKILL)
    busy.wait()

    def worker_state() -> str:
        return next(w.state for w in stack_status().workers if w.name == busy.name)  # type: ignore[attr-defined]

    wait_for(lambda: worker_state() == "dead", limit, "status to show the worker dead")
    # jobs show and jobs list read the job as abandoned, with no `wait` and no other worker
    wait_for(lambda: Job(shown.id).info().status == JobStatus.FAILED, limit, "jobs show to say failed")
    listed = {i.id: i.status for i in list_jobs(exp)}
    assert listed[shown.id] == JobStatus.FAILED

    # an idle worker notices a dead one's job on its own, within the timeout too
    idle = workers.start(queue)
    again = workers.start(queue)
    wait_for(lambda: registered(idle.name) and registered(again.name), WAIT, "the workers")  # type: ignore[attr-defined]
    job = submit(ENTRYPOINTS / "slow.yaml", {"seconds": 120}, experiment=experiment(), queue=queue)
    wait_for(lambda: started(job), WAIT, "the job to start")
    runner = next(p for p in (idle, again) if horse_of(p.pid))
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    mlflow = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri)
    wait_for(lambda: mlflow.get_run(job.id).info.status == "FAILED", limit + 5, "an idle worker to reap it")


# -- 11. workspaces never outlive their job -----------------------------------------------------
@pytest.mark.slow
def test_workspaces_of_killed_cancelled_and_abandoned_jobs_are_removed(
    services: Stack, registry: Registry, workers: Workers
) -> None:
    queue = new_queue("tmp")
    proc = workers.start(queue)
    exp = experiment()

    killed = submit(ENTRYPOINTS / "slow.yaml", {"seconds": 120}, experiment=exp, queue=queue)
    wait_for(lambda: started(killed), WAIT, "the job to start")
    assert workspaces(killed.id)
    horse = horse_of(proc.pid)
    assert horse
    os.kill(horse, signal.SIGKILL)
    assert killed.wait(WAIT) == JobStatus.FAILED
    wait_for(lambda: not workspaces(killed.id), 15, "the killed job's workspace to go")

    cancelled = submit(ENTRYPOINTS / "slow.yaml", {"seconds": 120}, experiment=exp, queue=queue)
    wait_for(lambda: started(cancelled), WAIT, "the job to start")
    assert workspaces(cancelled.id)
    assert cancelled.cancel() == JobStatus.CANCELLED
    wait_for(lambda: not workspaces(cancelled.id), 15, "the cancelled job's workspace to go")

    abandoned = submit(ENTRYPOINTS / "slow.yaml", {"seconds": 120}, experiment=exp, queue=queue)
    wait_for(lambda: started(abandoned), WAIT, "the job to start")
    assert workspaces(abandoned.id)
    os.killpg(proc.pid, signal.SIGKILL)  # the worker; its horse finds itself alone
    proc.wait()
    assert abandoned.wait(WAIT) == JobStatus.FAILED
    wait_for(lambda: not workspaces(abandoned.id), 15, "the abandoned job's workspace to go")

    # a worker starting up removes what dead workers left
    stale = Path(tempfile.mkdtemp(prefix="dioptra-lab-job-0badcafe-w999999999-"))
    (stale / "kernel.log").write_text("left behind")
    fresh = workers.start(queue)
    wait_for(lambda: registered(fresh.name), WAIT, "the new worker")  # type: ignore[attr-defined]
    wait_for(lambda: not stale.exists(), 15, "the stale workspace to go")
    shutil.rmtree(stale, ignore_errors=True)
