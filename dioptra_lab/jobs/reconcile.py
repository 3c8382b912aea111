"""Reconciliation: RQ's side and MLflow's side of every job end up in the same state.

RQ is the live truth; a job's record (:mod:`dioptra_lab.jobs.lifecycle`) follows it, and
its MLflow run follows the record. Three repairs, each one safe to repeat and to run in
several processes at once (the record's transitions are atomic and attempt-fenced):

1. **sync**: a record's changes MLflow did not take (it was down) are written to the run;
2. **settle**: a job RQ has ended (finished, failed, stopped, canceled) whose record is
   still live takes the same final state; a job RQ no longer has at all fails (``lost``);
3. **reap**: a started job whose heartbeat is older than the heartbeat timeout is handed
   to RQ's abandoned-job handling (:mod:`dioptra_lab.jobs.reaper`).

:func:`reconcile` does all three for every job; each worker's reconciler process runs it
every few seconds (and syncs at once what its worker hands it). :func:`check` does them
for one job; reads of a job (``Job.status``, ``Job.info``, ``Job.wait``, ``list_jobs``) run
it, so a job reads right even when no worker serves its queue.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from dioptra_lab.jobs import lifecycle
from dioptra_lab.jobs.reaper import reap_stale_jobs
from dioptra_lab.models import Failure, JobStatus

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

GRACE = 60.0
"""Seconds a job may have a record and no RQ job once its submission enqueues it."""
SUBMIT_GRACE = 3600.0
"""Seconds a job may stay *submitting* (its bundle uploading to an MLflow that is slow or
away and retried) before it counts as lost: its submitter died."""
RQ_FINAL = {
    "finished": JobStatus.FINISHED,
    "failed": JobStatus.FAILED,
    "stopped": JobStatus.CANCELLED,
    "canceled": JobStatus.CANCELLED,
}
RQ_JOB_KEY = "rq:job:{}"


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def rq_sides(connection: Redis, job_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """RQ's status and queue of each job (``(None, None)`` when RQ has no such job)."""
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(RQ_JOB_KEY.format(job_id), "status", "origin")
        answers = pipe.execute()
    return {
        job_id: (_text(status), _text(origin))
        for job_id, (status, origin) in zip(job_ids, answers, strict=True)
    }


def rq_failure(connection: Redis, job_id: str) -> Failure:
    """Why RQ failed a job: the last line of its latest result."""
    from rq.job import Job as RQJob

    from dioptra_lab.jobs.connection import serializer

    try:
        result = RQJob.fetch(job_id, connection=connection, serializer=serializer()).latest_result()
        lines = (result.exc_string or "").strip().splitlines() if result else []
    except Exception:  # the job or its result is gone
        lines = []
    last = lines[-1] if lines else "no reason recorded"
    return Failure(f"failed in RQ: {last}"[:500], "RQ")


def settle(
    connection: Redis, job_id: str, rec: lifecycle.Record, rq_status: str | None, *, now: float | None = None
) -> bool:
    """Move a live job's record to what RQ says; return whether it moved."""
    if not rec.live:
        return False
    if rq_status is None:
        since = rec.since or 0.0
        if (now or time.time()) - since > (SUBMIT_GRACE if rec.submitting else GRACE):
            log.warning("job %s: RQ no longer has it (or never got it); failed as lost", job_id)
            return lifecycle.lost(job_id)
        return False
    target = RQ_FINAL.get(rq_status)
    if target is None:
        return False
    failure = rq_failure(connection, job_id) if target == JobStatus.FAILED else None
    log.info("job %s: RQ says %s, its record %s; settling", job_id, rq_status, rec.status)
    return lifecycle.settle(job_id, target, failure, attempt=rec.attempt)


def check(job_id: str, connection: Redis | None = None, *, reap: bool = True) -> JobStatus | None:
    """Reconcile one job now: sync, settle from RQ, and (``reap``) reap it if its heartbeat
    is stale. Return its status after, ``None`` when it has no record (then MLflow alone
    knows it). Never raises on a service that does not answer."""
    from redis.exceptions import RedisError

    from dioptra_lab.errors import DioptraLabError
    from dioptra_lab.jobs.connection import shared_connection

    try:
        conn = connection or shared_connection()
        rec = lifecycle.record(job_id, conn)
        if rec is None or rec.status is None:
            return None
        if rec.pending is not None:
            lifecycle.sync(job_id, probe=True, connection=conn)
        if not rec.live:
            return rec.status
        rq_status, origin = rq_sides(conn, [job_id])[job_id]
        if settle(conn, job_id, rec, rq_status):
            return lifecycle.status(job_id)
        if reap and rq_status == "started" and origin:
            if reap_stale_jobs(conn, [origin]):
                return lifecycle.status(job_id)
        return rec.status
    except (RedisError, DioptraLabError, OSError) as exc:
        log.info("job %s: not reconciled (%s)", job_id, exc)
        return None


def reconcile(connection: Redis, queues: list[str] | None = None) -> dict[str, int]:
    """One pass over every job: reap the stale ones of ``queues`` (all by default), sync
    what MLflow misses (when it answers), settle live records with RQ; return counts."""
    counts = {"reaped": 0, "synced": 0, "settled": 0}
    counts["reaped"] = len(reap_stale_jobs(connection, queues))
    pending = lifecycle.unsynced(connection)
    if pending and lifecycle.mlflow_answers():
        counts["synced"] = sum(lifecycle.sync(job_id, connection=connection) for job_id in pending)
    ids = lifecycle.live(connection)
    now = time.time()
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        found = lifecycle.records(chunk, connection)
        sides = rq_sides(connection, chunk)
        for job_id in chunk:
            rec = found.get(job_id)
            if rec is None or not rec.live:
                lifecycle.forget_live(job_id, connection)
                continue
            try:
                counts["settled"] += settle(connection, job_id, rec, sides[job_id][0], now=now)
            except Exception as exc:  # one job's trouble never stops the pass
                log.warning("job %s: not settled (%s: %s)", job_id, type(exc).__name__, exc)
    return counts
