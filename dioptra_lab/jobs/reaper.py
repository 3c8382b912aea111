"""Find jobs whose worker died and hand them to RQ's abandoned-job handling.

RQ notices a dead worker only when the job's heartbeat key expires (a minute or more).
The work horse also writes a heartbeat into the job's meta every second; a started job
whose heartbeat is older than ``DIOPTRA_LAB_HEARTBEAT_TIMEOUT`` seconds (default 30) is
expired in its StartedJobRegistry so that RQ's own cleanup runs the failure callback
(the job's record and run say failed, reason ``abandoned``) and retries it when allowed.

Workers' reconcilers reap every few seconds, and so do reads of a job
(:mod:`dioptra_lab.jobs.reconcile`); one reaper at a time per queue (a lease in Redis, which
workers also take around RQ's own registry cleaning), so an abandoned job is retried once.
Right after Redis restarted no job is reaped: its heartbeats could not be written while it
was down. The horse's heartbeat decides for RQ's own cleaning too: workers extend RQ's
expiry of started jobs whose horse still beats (:func:`renew_beating_jobs`) before RQ
cleans, so a stopped worker's job that goes on is not retried beside itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dioptra_lab.jobs.connection import release_lease, serializer

if TYPE_CHECKING:
    from redis import Redis

HEARTBEAT_ENV = "DIOPTRA_LAB_HEARTBEAT_TIMEOUT"
REAP_LOCK_KEY = "dioptra_lab:reaping:{}"
REAP_LEASE = 60.0


def heartbeat_timeout() -> float:
    """Seconds without a heartbeat after which a started job counts as abandoned, and a
    worker as dead."""
    try:
        return max(1.0, float(os.environ.get(HEARTBEAT_ENV) or 30))
    except ValueError:
        return 30.0


def redis_uptime(connection: Redis) -> float:
    """Seconds since this Redis started."""
    return float(connection.info("server").get("uptime_in_seconds", 0))


@contextmanager
def reaping(connection: Redis, queue: str) -> Iterator[bool]:
    """Hold the queue's reaping lease while the block runs; yields whether it was taken
    (another process reaps it now otherwise)."""
    key = REAP_LOCK_KEY.format(queue)
    token = f"{os.getpid()}-{time.monotonic()}"
    taken = bool(connection.set(key, token, nx=True, px=int(REAP_LEASE * 1000)))
    try:
        yield taken
    finally:
        if taken:  # only this holder's lease, in one step (it may have run out and been taken)
            release_lease(connection, key, token)


def renew_beating_jobs(connection: Redis, queue_name: str, ttl: float = 75.0) -> int:
    """Extend RQ's expiry (by ``ttl`` seconds) of the queue's started jobs whose work horse
    still beats: RQ's own cleanup then takes no job for abandoned whose worker is merely
    stopped or slow while its horse goes on. Returns how many were extended."""
    from rq.exceptions import NoSuchJobError
    from rq.registry import StartedJobRegistry

    from dioptra_lab.jobs.guard import GuardedJob

    registry = StartedJobRegistry(queue_name, connection=connection, serializer=serializer())
    limit = time.time() - heartbeat_timeout()
    renewed = 0
    for raw in connection.zrange(registry.key, 0, -1):
        member = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            job = GuardedJob.fetch(member.split(":", 1)[0], connection=connection, serializer=serializer())
        except NoSuchJobError:
            continue
        beat = job.meta.get("heartbeat")
        if beat is not None and float(beat) >= limit:
            connection.zadd(registry.key, {member: time.time() + ttl}, xx=True, gt=True)
            renewed += 1
    return renewed


def reap_stale_jobs(connection: Redis, queue_names: list[str] | None = None) -> list[str]:
    """Expire started jobs with stale heartbeats and let RQ clean them up; return their ids."""
    from rq import Queue
    from rq.exceptions import NoSuchJobError
    from rq.registry import StartedJobRegistry
    from rq.timeouts import TimerDeathPenalty

    from dioptra_lab.jobs.guard import GuardedJob

    timeout = heartbeat_timeout()
    if redis_uptime(connection) < timeout:
        return []
    names = queue_names or [q.name for q in Queue.all(connection=connection, serializer=serializer())]
    limit = time.time() - timeout
    reaped: list[str] = []
    for name in names:
        with reaping(connection, name) as taken:
            if not taken:
                continue
            # the guarded job class: the cleanup below calls only our failure callback, and
            # a timer (not SIGALRM) bounds it, so any thread may reap
            registry = StartedJobRegistry(
                name,
                connection=connection,
                serializer=serializer(),
                job_class=GuardedJob,
                death_penalty_class=TimerDeathPenalty,
            )
            members = [
                m.decode() if isinstance(m, bytes) else str(m) for m in connection.zrange(registry.key, 0, -1)
            ]
            executions = _execution_signs(connection, members)
            stale = []
            for member in members:
                job_id = member.split(":", 1)[0]
                try:
                    job = GuardedJob.fetch(job_id, connection=connection, serializer=serializer())
                except NoSuchJobError:
                    continue
                # the newest sign of life: the horse's beat (a retry's meta still holds its
                # previous attempt's), RQ's start, and this execution's creation and beats (a
                # retry a worker has just taken has nothing else yet: its horse is not forked)
                signs = [float(job.meta["heartbeat"])] if job.meta.get("heartbeat") is not None else []
                if job.started_at is not None:
                    signs.append(job.started_at.timestamp())
                signs.extend(executions.get(member, []))
                if signs and max(signs) < limit:
                    connection.zadd(registry.key, {member: 1}, xx=True)  # not one its horse removed
                    stale.append(job_id)
            if stale:
                registry.cleanup(timestamp=1)  # only these: RQ's own expiries are its maintenance's
                reaped.extend(stale)
    return reaped


def _execution_signs(connection: Redis, members: list[str]) -> dict[str, list[float]]:
    """When each started-registry member's RQ execution (``rq:execution:<job>:<execution>``)
    was created and last beat, in one round trip (none for an execution that expired)."""
    if not members:
        return {}
    with connection.pipeline(transaction=False) as pipe:
        for member in members:
            pipe.hmget(f"rq:execution:{member}", "created_at", "last_heartbeat")
        answers = pipe.execute()
    signs: dict[str, list[float]] = {}
    for member, values in zip(members, answers, strict=True):
        found = []
        for value in values:
            try:
                found.append(float(value))
            except (TypeError, ValueError):
                continue
        signs[member] = found
    return signs
