"""Find jobs whose worker died and hand them to RQ's abandoned-job handling.

RQ notices a dead worker only when the job's heartbeat key expires (a minute or more).
The work horse also writes a heartbeat into the job's meta every second; a started job
whose heartbeat is older than ``DIOPTRA_LAB_HEARTBEAT_TIMEOUT`` seconds (default 30) is
expired in its StartedJobRegistry so that RQ's own cleanup runs the failure callback
(the MLflow run is marked FAILED, reason ``abandoned``) and retries it when allowed.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from dioptra_lab.jobs.connection import serializer

if TYPE_CHECKING:
    from redis import Redis

HEARTBEAT_ENV = "DIOPTRA_LAB_HEARTBEAT_TIMEOUT"


def heartbeat_timeout() -> float:
    """Seconds without a heartbeat after which a started job counts as abandoned."""
    return float(os.environ.get(HEARTBEAT_ENV) or 30)


def reap_stale_jobs(connection: Redis, queue_names: list[str] | None = None) -> list[str]:
    """Expire started jobs with stale heartbeats and let RQ clean them up; return their ids."""
    from rq import Queue
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RQJob
    from rq.registry import StartedJobRegistry

    names = queue_names or [q.name for q in Queue.all(connection=connection, serializer=serializer())]
    limit = time.time() - heartbeat_timeout()
    reaped: list[str] = []
    for name in names:
        registry = StartedJobRegistry(name, connection=connection, serializer=serializer())
        members = [
            m.decode() if isinstance(m, bytes) else str(m) for m in connection.zrange(registry.key, 0, -1)
        ]
        for member in members:
            job_id = member.split(":", 1)[0]
            try:
                job = RQJob.fetch(job_id, connection=connection, serializer=serializer())
            except NoSuchJobError:
                continue
            beat = job.meta.get("heartbeat")
            if beat is None and job.started_at is not None:
                beat = job.started_at.timestamp()
            if beat is not None and float(beat) < limit:
                connection.zadd(registry.key, {member: 1})
                reaped.append(job_id)
        if reaped:
            registry.cleanup()
    return reaped
