"""What the queues hold and which workers serve them (RQ's registries, read only).

A worker whose last heartbeat is older than ``DIOPTRA_LAB_HEARTBEAT_TIMEOUT`` seconds is
reported ``dead`` (RQ keeps a dead worker's registration, ``busy`` with its last job, for a
minute or more): a worker of ours beats at least every half of that timeout, idle or busy.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from dioptra_lab.jobs.connection import redis_connection, serializer
from dioptra_lab.jobs.reaper import heartbeat_timeout
from dioptra_lab.models import QueueInfo, WorkerInfo

DEAD = "dead"


def queue_report() -> tuple[list[QueueInfo], list[WorkerInfo]]:
    """Job counts per queue and the registered workers.

    Raises:
        ServiceError: Redis is not configured or does not answer.
    """
    from rq import Queue, Worker

    conn = redis_connection()
    queues = [
        QueueInfo(
            name=q.name,
            # counts without RQ's cleanup: that would expire jobs here, outside the reaper's
            # guarded job class, lease and grace (see dioptra_lab.jobs.reaper)
            queued=q.count,
            running=q.started_job_registry.get_job_count(cleanup=False),
            failed=q.failed_job_registry.get_job_count(cleanup=False),
            finished=q.finished_job_registry.get_job_count(cleanup=False),
        )
        for q in Queue.all(connection=conn, serializer=serializer())
    ]
    workers = [worker_info(w) for w in Worker.all(connection=conn, serializer=serializer())]
    return queues, workers


def worker_info(worker: Any, now: float | None = None) -> WorkerInfo:
    """A registered RQ worker as the UIs show it (``dead`` past the heartbeat timeout)."""
    beat = worker.last_heartbeat.timestamp() if worker.last_heartbeat else None
    dead = beat is None or (now or time.time()) - beat > heartbeat_timeout()
    return WorkerInfo(
        name=worker.name,
        state=DEAD if dead else str(worker.get_state()),
        queues=list(worker.queue_names()),
        current_job=worker.get_current_job_id() or None,
        gpu=_gpu_of(worker.name),
        last_heartbeat=beat,
    )


def live_workers_on_host(hostname: str | None = None) -> list[WorkerInfo]:
    """The workers registered from ``hostname`` (default this host: a container's name) whose
    heartbeat is fresh: what a worker container's healthcheck asks Redis.

    Raises:
        ServiceError: Redis is not configured or does not answer.
    """
    from rq import Worker

    host = hostname or socket.gethostname()
    now = time.time()
    found = []
    for worker in Worker.all(connection=redis_connection(), serializer=serializer()):
        if worker.hostname == host:
            info = worker_info(worker, now)
            if info.state != DEAD:
                found.append(info)
    return found


def _gpu_of(worker_name: str) -> str | None:
    # `dioptra-lab worker --gpu N` names itself …-gpuN (see worker.process.run_worker)
    head, sep, gpu = worker_name.rpartition("-gpu")
    return gpu if sep and head and gpu.isdigit() else None
