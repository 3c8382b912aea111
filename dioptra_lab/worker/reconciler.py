"""A worker's reconciler: a process of its own beside each ``dioptra-lab worker``.

The worker's main loop never waits on MLflow (RQ's registrations and heartbeats would
expire meanwhile); it records job states in Redis only and hands each job whose state it
changed to its reconciler, through the Redis list ``dioptra_lab:sync-requests:<worker>``.
The reconciler writes those to MLflow at once, and every few seconds (a third of the
heartbeat timeout, at most 5 s) runs :func:`dioptra_lab.jobs.reconcile.reconcile`: it reaps
jobs whose heartbeat is stale on the worker's queues, writes to MLflow what it missed while
it was down, and settles jobs RQ has ended. Being a process, not a thread, it never holds a
lock a forked work horse would inherit. It ends with its worker.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from dioptra_lab.jobs import lifecycle
from dioptra_lab.jobs.connection import shared_connection
from dioptra_lab.jobs.reaper import heartbeat_timeout
from dioptra_lab.jobs.reconcile import reconcile

log = logging.getLogger(__name__)

SYNC_REQUESTS_KEY = "dioptra_lab:sync-requests:{}"


def interval() -> float:
    """Seconds between two passes: a third of the heartbeat timeout, 1 to 5 s."""
    return max(1.0, min(5.0, heartbeat_timeout() / 3))


def request_sync(worker_name: str, job_id: str) -> None:
    """Hand a job whose state changed to the worker's reconciler (it writes MLflow)."""
    from redis.exceptions import RedisError

    key = SYNC_REQUESTS_KEY.format(worker_name)
    try:
        with shared_connection().pipeline() as pipe:
            pipe.rpush(key, job_id)
            pipe.expire(key, 24 * 3600)
            pipe.execute()
    except RedisError as exc:  # the reconciler's passes find it in the unsynced set anyway
        log.info("job %s: not handed to the reconciler (%s)", job_id, exc)


def start(worker_name: str, queues: list[str]) -> int:
    """Fork the reconciler of this worker; return its pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            serve(os.getppid(), worker_name, queues)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    return pid


def serve(worker_pid: int, worker_name: str, queues: list[str]) -> None:
    """Sync what the worker hands over, reconcile every :func:`interval`, until the worker
    is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    conn = shared_connection(patient=True)
    key = SYNC_REQUESTS_KEY.format(worker_name)
    every = interval()
    due = 0.0
    while os.getppid() == worker_pid:
        try:
            handed: Any = conn.blpop([key], timeout=1)
            item = handed[1] if handed else None
            while item:
                job_id = item.decode() if isinstance(item, bytes) else str(item)
                lifecycle.sync(job_id, wait=5.0, probe=True, connection=conn)
                if time.monotonic() >= due:  # a long backlog never delays the pass (reaping)
                    break
                item = conn.lpop(key)
            if time.monotonic() >= due:
                counts = reconcile(conn, queues)
                if any(counts.values()):
                    log.info("reconciled: %s", counts)
                due = time.monotonic() + every
        except Exception as exc:  # Redis or MLflow away: try again, never die of it
            log.warning("reconciler of %s: %s: %s", worker_name, type(exc).__name__, exc)
            time.sleep(1.0)
