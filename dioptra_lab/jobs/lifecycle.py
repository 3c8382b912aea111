"""The job lifecycle: the one owner of job states and their transitions.

::

    queued ──► running ──► finished
      │          ├──────► failed
      │          ├──────► cancelled
      │          ├──────► queued      (failed or abandoned, and RQ retries it)
      │          └──────► running     (a retry starts after an attempt that left no end)
      ├──────► cancelled
      ├──────► failed                 (the submission failed, or RQ lost the job)
      └──────► queued                 (an attempt failed before its start was recorded)

(and queued → finished when RQ finished a job whose start was never recorded: RQ's
word, see :func:`settle`). A final state (finished, failed, cancelled) never changes: the
first writer to end a job wins, so a late failure callback cannot overwrite a finished run.

**Where a job's state lives.** Every job has a *record* in Redis, next to RQ's job (the
hash ``dioptra_lab:job:<id>``): its status, the latest attempt a worker began, and the
changes its MLflow run has not taken yet (*pending*). A transition is decided on the
record, atomically (one Lua script checks the move and the writer's attempt and merges the
change), then written to the MLflow run, the durable history, by :func:`sync`. A change
MLflow does not take (it is down or slow, or its writer died) stays pending, its job's id
in the set ``dioptra_lab:jobs:unsynced``, and is written by the next :func:`sync`: the
writer's own, every worker's reconciler (:mod:`dioptra_lab.jobs.reconcile`, every few
seconds) and every read of the job. Reads report the record's status, so RQ's side and
MLflow's side of a job never disagree for longer than an outage of MLflow lasts. Against
MLflow, too, the first final writer wins: a run MLflow has already ended keeps its status,
and the record adopts it. Without Redis (it is down), a transition is checked against and
written to MLflow directly, as when there were no records.

**Attempts.** A worker begins an attempt (:func:`begin_attempt`) before it hands a job to
its work horse; every transition of that horse and of its worker carries the attempt, and
one from an older attempt than the record's latest is ignored: the failure of attempt 1
that lands while attempt 2 runs changes nothing. A failure that RQ will retry is kept as
``last_failure`` only, and a new attempt clears the failure tags of earlier ones.

Submission, the worker, RQ's callbacks, the reaper, the reconciler and cancel all go
through these functions; nothing else writes a run's status.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dioptra_lab.errors import DioptraLabError, UnknownJobError
from dioptra_lab.jobs.connection import release_lease
from dioptra_lab.models import Failure, JobStatus
from dioptra_lab.tracking import runs

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

LIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(JobStatus),
    JobStatus.FINISHED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}

ABANDONED = "abandoned (its worker died)"
LOST = "lost: RQ no longer has this job (its queue's data was lost)"
FAILURE_TAGS = (runs.TAG_REASON, runs.TAG_STEP, runs.TAG_ENAME, runs.TAG_EVALUE, runs.TAG_CELL)

RECORD_KEY = "dioptra_lab:job:{}"
UNSYNCED_KEY = "dioptra_lab:jobs:unsynced"
"""Ids of jobs whose record has changes MLflow has not taken yet."""
LIVE_KEY = "dioptra_lab:jobs:live"
"""Ids of jobs whose record says queued or running (what reconcilers compare with RQ)."""
SYNC_LOCK_KEY = "dioptra_lab:job-sync:{}"
LIVE_TTL = 30 * 24 * 3600
"""Seconds a record lives after its last change while its job is live or has pending changes."""
FINAL_TTL = 2 * 24 * 3600
"""Seconds a record lives once its job ended and MLflow has it all (late writes are refused)."""
SYNC_LEASE = 15.0
"""Seconds one :func:`sync` holds a job before another may write it too. Short, so that a
writer that was stopped or is stuck on a slow MLflow holds up no one for long; two writers
at once are safe: a writer whose lease ran out marks the latest state pending again (see
``_ACK``), and the next sync writes it over whatever the late writer wrote."""


@dataclass(frozen=True)
class Record:
    """A job's record in Redis: what RQ's side knows of it."""

    status: JobStatus | None
    attempt: int = 0
    pending: dict[str, Any] | None = None
    since: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    untags: frozenset[str] = frozenset()
    submitting: bool = False
    """Its submission is under way (the run exists, the bundle uploads, RQ has no job yet)."""

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def ended(self) -> float | None:
        """When the job ended (seconds), while MLflow has not taken that change yet."""
        if self.status is None or not self.status.done:
            return None
        end_time = (self.pending or {}).get("end_time")
        return end_time / 1000 if isinstance(end_time, (int, float)) else None


def allowed(current: JobStatus, target: JobStatus) -> bool:
    """Whether the lifecycle allows moving from ``current`` to ``target``."""
    return target in TRANSITIONS[current]


# -- where writes of the worker's own process go ---------------------------------------------
_deferred: tuple[int, Callable[[str], None]] | None = None


def defer_sync(handler: Callable[[str], None] | None) -> None:
    """In this process (not the ones it forks), hand the MLflow write of each transition to
    ``handler(job_id)`` instead of writing it here: the worker's main loop never waits on
    MLflow; its reconciler writes (``None``: write here again)."""
    global _deferred
    _deferred = (os.getpid(), handler) if handler else None


def _deferring() -> Callable[[str], None] | None:
    return _deferred[1] if _deferred and _deferred[0] == os.getpid() else None


def _redis() -> Redis | None:
    from dioptra_lab.jobs.connection import shared_connection

    try:
        return shared_connection()
    except DioptraLabError:  # no Redis configured: MLflow alone
        return None


# -- the record ---------------------------------------------------------------------------
_TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then
  if ARGV[5] == '' then return {'unknown', ''} end
  cur = ARGV[5]
end
local latest = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '0')
local mine = tonumber(ARGV[3])
if mine > 0 and mine < latest then return {'stale', cur} end
if not string.find(' ' .. ARGV[4] .. ' ', ' ' .. cur .. ' ', 1, true) then return {'refused', cur} end
local pending = {tags = {}, untags = {}}
local raw = redis.call('HGET', KEYS[1], 'pending')
if raw then pending = cjson.decode(raw) end
local change = cjson.decode(ARGV[6])
for k, v in pairs(change.tags) do pending.tags[k] = v; pending.untags[k] = nil end
for k, _ in pairs(change.untags) do pending.untags[k] = 1; pending.tags[k] = nil end
pending.status = ARGV[2]
if change.end_time then pending.end_time = change.end_time end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'mstatus', ARGV[2], 'pending', cjson.encode(pending))
redis.call('HSETNX', KEYS[1], 'since', ARGV[8])
redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('SADD', KEYS[2], ARGV[7])
if ARGV[10] == '1' then redis.call('SREM', KEYS[3], ARGV[7]) else redis.call('SADD', KEYS[3], ARGV[7]) end
redis.call('EXPIRE', KEYS[1], ARGV[9])
return {'ok', cur}
"""

_ACK = """
if redis.call('GET', KEYS[3]) ~= ARGV[3] then
  -- this writer's lease ran out while it wrote: make sure the latest state is written again
  local mstatus = redis.call('HGET', KEYS[1], 'mstatus')
  if mstatus and redis.call('HEXISTS', KEYS[1], 'pending') == 0 then
    redis.call('HSET', KEYS[1], 'pending', cjson.encode({tags = {}, untags = {}, status = mstatus}))
    redis.call('HINCRBY', KEYS[1], 'seq', 1)
    redis.call('SADD', KEYS[2], ARGV[2])
  end
  return 0
end
if redis.call('HGET', KEYS[1], 'seq') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'pending')
redis.call('SREM', KEYS[2], ARGV[2])
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return 1
"""

_ADOPT = """
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'mstatus', ARGV[2])
redis.call('HDEL', KEYS[1], 'pending')
redis.call('SREM', KEYS[2], ARGV[3])
redis.call('SREM', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


def _script(conn: Redis, source: str) -> Any:
    return conn.register_script(source)


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def record(job_id: str, connection: Redis | None = None) -> Record | None:
    """The job's record, or ``None`` (no record, or Redis does not answer)."""
    from redis.exceptions import RedisError

    conn = connection or _redis()
    if conn is None:
        return None
    try:
        fields = conn.hmget(RECORD_KEY.format(job_id), *_FIELDS)
    except RedisError:
        return None
    return _record(*fields)


_FIELDS = ("status", "attempt", "pending", "since", "submitting")


def _record(status: Any, attempt: Any, pending: Any, since: Any, submitting: Any = None) -> Record | None:
    if status is None and attempt is None:
        return None
    changes = json.loads(pending) if pending else None
    return Record(
        status=JobStatus(str(_text(status))) if status else None,
        attempt=int(attempt or 0),
        pending=changes,
        since=float(since) if since else None,
        tags=dict(changes.get("tags") or {}) if changes else {},
        untags=frozenset(changes.get("untags") or {}) if changes else frozenset(),
        submitting=bool(submitting),
    )


def records(job_ids: list[str], connection: Redis | None = None) -> dict[str, Record]:
    """The records of several jobs, in one round trip (those that have one)."""
    from redis.exceptions import RedisError

    conn = connection or _redis()
    if conn is None or not job_ids:
        return {}
    try:
        with conn.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hmget(RECORD_KEY.format(job_id), *_FIELDS)
            answers = pipe.execute()
    except RedisError:
        return {}
    found = {job_id: _record(*answer) for job_id, answer in zip(job_ids, answers, strict=True)}
    return {job_id: rec for job_id, rec in found.items() if rec is not None}


def superseded(job_id: str, attempt: int, connection: Redis | None = None) -> bool:
    """Whether a newer attempt at the job than ``attempt`` began (``False`` when that cannot
    be known: no attempt given, no record, Redis does not answer)."""
    if not attempt:
        return False
    found = record(job_id, connection)
    return found is not None and found.attempt > attempt


def status(job_id: str) -> JobStatus:
    """The job's current status: its record's, else its MLflow run's.

    A read changes no state, but writes the record's pending changes to MLflow when it
    answers (reads reconcile).

    Raises:
        UnknownJobError: no such job.
    """
    rec = record(job_id)
    if rec is not None and rec.status is not None:
        if rec.pending is not None:
            sync(job_id, probe=True)
        return rec.status
    return JobStatus.from_mlflow(runs.run_status(job_id))


def view(job_id: str, run: Any) -> tuple[JobStatus, dict[str, str], float | None]:
    """The job's status, tags and end time (seconds, ``None`` while it has not ended): its
    MLflow ``run``'s, with its record's changes MLflow has not taken yet on top (they are what
    the job's state is: a job its record has ended may have no end time in MLflow yet)."""
    tags = dict(run.data.tags)
    current = JobStatus.from_mlflow(run.info.status)
    ended = run.info.end_time / 1000 if run.info.end_time else None
    rec = record(job_id)
    if rec is None or rec.status is None:
        return current, tags, ended
    for key in rec.untags:
        tags.pop(key, None)
    tags.update(rec.tags)
    return rec.status, tags, rec.ended or ended


def begin_attempt(job_id: str) -> int:
    """A worker begins an attempt at the job (1, 2, … with retries); return its number.

    Raises:
        redis.exceptions.RedisError: Redis does not answer.
    """
    conn = _redis()
    if conn is None:
        return 0
    with conn.pipeline() as pipe:
        pipe.hincrby(RECORD_KEY.format(job_id), "attempt", 1)
        pipe.expire(RECORD_KEY.format(job_id), LIVE_TTL)
        number, _ = pipe.execute()
    return int(number)


def _mlflow_status(job_id: str) -> JobStatus:
    return JobStatus.from_mlflow(runs.run_status(job_id))


def _move(
    job_id: str,
    target: JobStatus,
    tags: dict[str, Any] | None = None,
    untags: Iterable[str] = (),
    *,
    attempt: int = 0,
    current: JobStatus | None = None,
    guess: JobStatus | None = None,
    also_from: frozenset[JobStatus] = frozenset(),
    run: Any = None,
) -> bool:
    """Move the job to ``target`` if allowed (or from ``also_from``); ``attempt`` (0: any)
    fences out older attempts.

    ``current``: the status the caller has just read from MLflow, used when the job has no
    record; ``guess``: the status to assume then where MLflow may not be asked (the worker's
    own process) or does not answer. ``run``: the run as the caller read it just before (its
    MLflow write then does not read it again).
    """
    from redis.exceptions import RedisError

    change: dict[str, Any] = {
        "tags": {k: str(v)[:5000] for k, v in (tags or {}).items() if v not in (None, "")},
        "untags": {k: 1 for k in untags},
    }
    if target.done:
        change["end_time"] = int(time.time() * 1000)
    conn = _redis()
    if conn is not None:
        try:
            sources = {s for s in TRANSITIONS if allowed(s, target)} | also_from
            outcome = _transition(conn, job_id, target, change, attempt, current, sources)
            if outcome == "unknown":
                now = _resolve(job_id, guess)
                outcome = _transition(conn, job_id, target, change, attempt, now, sources)
        except RedisError as exc:
            log.warning(
                "job %s: Redis does not answer (%s); writing %s to MLflow directly", job_id, exc, target
            )
            conn = None
    if conn is None:
        return _move_in_mlflow(job_id, target, change)
    if outcome != "ok":
        return False
    deferred = _deferring()
    if deferred is not None:
        deferred(job_id)
    else:
        sync(job_id, connection=conn, run=run)
    return True


def _resolve(job_id: str, guess: JobStatus | None) -> JobStatus:
    if guess is not None and _deferring() is not None:
        return guess
    try:
        return _mlflow_status(job_id)
    except UnknownJobError:
        raise
    except Exception:
        if guess is None:
            raise
        return guess


def _transition(
    conn: Redis,
    job_id: str,
    target: JobStatus,
    change: dict[str, Any],
    attempt: int,
    current: JobStatus | None,
    sources: set[JobStatus],
) -> str:
    answer = _script(conn, _TRANSITION)(
        keys=[RECORD_KEY.format(job_id), UNSYNCED_KEY, LIVE_KEY],
        args=[
            target.value,
            target.mlflow,
            attempt,
            " ".join(s.value for s in sources),
            current.value if current else "",
            json.dumps(change),
            job_id,
            f"{time.time():.3f}",
            LIVE_TTL,
            "1" if target.done else "0",
        ],
    )
    outcome = str(_text(answer[0]))
    if outcome in ("stale", "refused"):
        log.info("job %s: %s move to %s ignored (now %s)", job_id, outcome, target, _text(answer[1]))
    return outcome


def _move_in_mlflow(job_id: str, target: JobStatus, change: dict[str, Any]) -> bool:
    """The transition without Redis: checked against the run's status as MLflow has it now."""
    run = runs.get_run(job_id)
    if not allowed(JobStatus.from_mlflow(run.info.status), target):
        return False
    if change["tags"]:
        runs.set_tags(job_id, change["tags"])
    present = [k for k in change["untags"] if k in run.data.tags]
    if present:
        runs.delete_tags(job_id, present)
    runs.write_status(job_id, target.mlflow, change.get("end_time"))
    return True


# -- MLflow brought up to date ----------------------------------------------------------------
def sync(
    job_id: str, *, wait: float = 0.0, probe: bool = False, connection: Redis | None = None, run: Any = None
) -> bool:
    """Write the job's pending changes to its MLflow run; return whether MLflow has them all.

    One writer at a time per job (a lease in Redis); ``wait``: seconds to wait for another
    writer to finish. ``probe``: check MLflow's health first (reads: never wait on MLflow's
    retries when it is down). A run MLflow has already ended keeps its status; the record
    adopts it. Never raises: what is not written stays pending for the next sync. ``run``: the
    run as read just before the change that made this write (spares reading it again).
    """
    from redis.exceptions import RedisError

    conn = connection or _redis()
    if conn is None:
        return False
    token = uuid.uuid4().hex
    lock = SYNC_LOCK_KEY.format(job_id)
    deadline = time.monotonic() + wait
    try:
        with conn.pipeline(transaction=False) as pipe:
            pipe.hget(RECORD_KEY.format(job_id), "pending")
            pipe.exists(lock)
            pending, held = pipe.execute()
        if pending is None:
            return True
        if held and not wait:  # another writer is at it (a reader polling while the worker
            return False  # writes): nothing to add, and no health check of MLflow to pay
        if probe and not mlflow_answers():
            return False
        while not conn.set(lock, token, nx=True, px=int(SYNC_LEASE * 1000)):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
    except RedisError as exc:
        log.info("job %s: not synced (%s)", job_id, exc)
        return False
    try:
        for _ in range(3):  # again if a change landed while this one was written
            seq, raw = conn.hmget(RECORD_KEY.format(job_id), "seq", "pending")
            if raw is None:
                conn.srem(UNSYNCED_KEY, job_id)
                return True
            if _write_pending(conn, job_id, json.loads(raw), run):
                return True  # MLflow had already ended it: the record adopted that
            run = None  # a change landed meanwhile: read the run again
            keys = [RECORD_KEY.format(job_id), UNSYNCED_KEY, lock]
            if _script(conn, _ACK)(keys=keys, args=[seq, job_id, token, FINAL_TTL]):
                return True
            if conn.get(lock) != token.encode():
                return False
        return False
    except UnknownJobError:  # this process's MLflow does not know the run: another one may
        log.info("job %s: MLflow at %s has no such run; its changes stay pending", job_id, _where())
        return False
    except Exception as exc:  # MLflow down or slow, Redis gone: it stays pending
        log.info("job %s: MLflow not brought up to date (%s: %s)", job_id, type(exc).__name__, exc)
        return False
    finally:
        try:
            release_lease(conn, lock, token)
        except RedisError:
            pass


def _where() -> str:
    from dioptra_lab.tracking.client import tracking_uri

    return tracking_uri()


def mlflow_answers() -> bool:
    """Whether the stack's MLflow answers its health check within 2 s."""
    from dioptra_lab.tracking.client import mlflow_healthy, tracking_uri

    return mlflow_healthy(tracking_uri(), 2.0)


def _write_pending(conn: Redis, job_id: str, pending: dict[str, Any], run: Any = None) -> bool:
    """Write ``pending`` to the run (as ``run`` has it, else as read now); ``True`` when MLflow
    had ended the run otherwise (adopted)."""
    run = run if run is not None else runs.get_run(job_id)
    now = str(run.info.status)
    target = str(pending.get("status") or now)
    if now in runs.TERMINAL and now != target:
        ended = JobStatus.from_mlflow(now)
        log.warning("job %s: MLflow has it %s already; its record adopts that (not %s)", job_id, now, target)
        _script(conn, _ADOPT)(
            keys=[RECORD_KEY.format(job_id), UNSYNCED_KEY, LIVE_KEY],
            args=[ended.value, now, job_id, FINAL_TTL],
        )
        return True
    present = run.data.tags
    tags = {k: v for k, v in (pending.get("tags") or {}).items() if present.get(k) != v}
    untags = [k for k in (pending.get("untags") or {}) if k in present]
    if tags:
        runs.set_tags(job_id, tags)
    if untags:
        runs.delete_tags(job_id, untags)
    if now != target:
        runs.write_status(job_id, target, pending.get("end_time"))
    return False


def unsynced(connection: Redis, limit: int = 500) -> list[str]:
    """Ids of jobs with changes MLflow has not taken yet (at most ``limit``)."""
    members = connection.srandmember(UNSYNCED_KEY, limit) or []
    return [str(_text(m)) for m in members]


def live(connection: Redis) -> list[str]:
    """Ids of jobs whose record says queued or running."""
    return [str(_text(m)) for m in connection.smembers(LIVE_KEY)]


def forget_live(job_id: str, connection: Redis) -> None:
    """Drop a job from the live set (its record is final or gone)."""
    connection.srem(LIVE_KEY, job_id)


# -- failures as tags ---------------------------------------------------------------------------
def failure_tags(failure: Failure) -> dict[str, Any]:
    """The run tags that record a failure."""
    return {
        runs.TAG_REASON: failure.reason,
        runs.TAG_STEP: failure.step,
        runs.TAG_ENAME: failure.exception,
        runs.TAG_EVALUE: failure.message[:2000],
        runs.TAG_CELL: failure.cell,
    }


def failure_from_tags(tags: dict[str, str]) -> Failure | None:
    """The failure recorded in a run's tags, or ``None``."""
    reason = tags.get(runs.TAG_REASON)
    if not reason:
        return None
    cell = tags.get(runs.TAG_CELL)
    return Failure(
        reason=reason,
        exception=tags.get(runs.TAG_ENAME, ""),
        message=tags.get(runs.TAG_EVALUE, ""),
        step=tags.get(runs.TAG_STEP) or None,
        cell=int(cell) if cell and cell.isdigit() else None,
    )


def _failed(failure: Failure) -> tuple[dict[str, Any], list[str]]:
    """A final failure's tags, and the failure tags it clears (those it leaves empty)."""
    tags = failure_tags(failure)
    return tags, [k for k, v in tags.items() if v in (None, "")]


# -- the transitions ----------------------------------------------------------------------------
def create(experiment: str, run_name: str, params: dict[str, Any], tags: dict[str, str]) -> str:
    """A new job: its run is created queued (MLflow ``SCHEDULED``), and its record, marked
    *submitting* until :func:`submitted`; return the run id (the job's id)."""
    from redis.exceptions import RedisError

    run_id = runs.create_run(experiment, run_name, params, {**tags}, id_tag=runs.TAG_JOB)
    conn = _redis()
    if conn is not None:
        try:
            with conn.pipeline() as pipe:
                key = RECORD_KEY.format(run_id)
                pipe.hset(
                    key, mapping={"status": JobStatus.QUEUED.value, "mstatus": "SCHEDULED", "submitting": "1"}
                )
                pipe.hsetnx(key, "since", f"{time.time():.3f}")
                pipe.expire(key, LIVE_TTL)
                pipe.sadd(LIVE_KEY, run_id)
                pipe.execute()
        except RedisError as exc:  # the enqueue that follows reports Redis
            log.info("job %s: no record (%s)", run_id, exc)
    return run_id


def submitted(job_id: str, pipeline: Any) -> None:
    """The job is about to be enqueued (in ``pipeline``, just before RQ's enqueue): from
    here on, a record whose RQ job is missing means RQ lost it (see
    :func:`dioptra_lab.jobs.reconcile.settle`), however long its bundle took to upload."""
    key = RECORD_KEY.format(job_id)
    pipeline.hdel(key, "submitting")
    pipeline.hset(key, "since", f"{time.time():.3f}")  # the grace counts from the enqueue


def start(job_id: str, worker: str, attempt: int, current: JobStatus | None = None, run: Any = None) -> bool:
    """queued → running: a worker took the job (attempt 1, 2, … with retries).

    Records when (``dioptra_lab.started``, epoch seconds; a retry records its own start)
    and clears the failure tags an earlier attempt may have left. ``run``: the run as the
    caller has just read it: its status is used when the job has no record (``current``, the
    status alone, where the caller has no run), and MLflow's update starts from it rather
    than reading it again.
    """
    if current is None and run is not None:
        current = JobStatus.from_mlflow(run.info.status)
    tags = {runs.TAG_WORKER: worker, runs.TAG_ATTEMPT: attempt, runs.TAG_STARTED: f"{time.time():.3f}"}
    return _move(job_id, JobStatus.RUNNING, tags, FAILURE_TAGS, attempt=attempt, current=current, run=run)


def finish(job_id: str, attempt: int = 0) -> bool:
    """running → finished."""
    return _move(job_id, JobStatus.FINISHED, attempt=attempt, guess=JobStatus.RUNNING)


def fail(job_id: str, failure: Failure, *, will_retry: bool = False, attempt: int = 0) -> bool:
    """running → failed, or back to queued when RQ will retry the job.

    A failure that will be retried is recorded as ``last_failure`` only, so the run that
    finally finishes carries no failure of an earlier attempt.
    """
    if will_retry:
        tags = {runs.TAG_LAST_FAILURE: str(failure)[:2000]}
        return _move(job_id, JobStatus.QUEUED, tags, attempt=attempt, guess=JobStatus.RUNNING)
    tags, cleared = _failed(failure)
    return _move(job_id, JobStatus.FAILED, tags, cleared, attempt=attempt, guess=JobStatus.RUNNING)


def abandon(job_id: str, *, will_retry: bool = False, attempt: int = 0) -> bool:
    """The job's worker died: failed (reason ``abandoned``), or queued again for a retry."""
    return fail(job_id, Failure(ABANDONED, "AbandonedJobError"), will_retry=will_retry, attempt=attempt)


def lost(job_id: str) -> bool:
    """queued or running → failed: RQ has no job of this id any more."""
    tags, cleared = _failed(Failure(LOST, "NoSuchJobError"))
    return _move(job_id, JobStatus.FAILED, tags, cleared, guess=JobStatus.QUEUED)


def submission_failed(run_id: str, exc: BaseException) -> bool:
    """queued → failed: the job could not be enqueued after its run was created."""
    reason = f"submission failed: {type(exc).__name__}: {exc}"
    tags, cleared = _failed(Failure(reason, type(exc).__name__, str(exc)))
    return _move(run_id, JobStatus.FAILED, tags, cleared, current=JobStatus.QUEUED)


def cancel(job_id: str, attempt: int = 0) -> bool:
    """queued or running → cancelled (MLflow ``KILLED``)."""
    tags, cleared = _failed(Failure("cancelled"))
    return _move(job_id, JobStatus.CANCELLED, tags, cleared, attempt=attempt, guess=JobStatus.RUNNING)


def settle(job_id: str, target: JobStatus, failure: Failure | None = None, attempt: int = 0) -> bool:
    """A live job whose RQ job ended (RQ's word): move it to the same final state (also
    queued → finished: RQ ran it, its start was never recorded)."""
    if target == JobStatus.FAILED:
        return fail(job_id, failure or Failure("failed in RQ", "RQ"), attempt=attempt)
    if target == JobStatus.CANCELLED:
        return cancel(job_id, attempt)
    return _move(job_id, target, attempt=attempt, guess=JobStatus.RUNNING, also_from=LIVE)
