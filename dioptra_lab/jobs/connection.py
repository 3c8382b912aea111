"""The stack's Redis: connection, queues (RQ's JSON serializer, never pickle), health."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dioptra_lab.config import load_settings
from dioptra_lab.errors import ServiceError
from dioptra_lab.tracking.client import redis_error

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue

JOB_FUNCTION = "dioptra_lab.worker.execute_job"
FAILURE_CALLBACK = "dioptra_lab.worker.callbacks.on_job_failure"
LOG_KEY = "dioptra_lab:logs:{}"
BUNDLE_CODE_KEY = "dioptra_lab:bundle-code:{}"
"""A bundle's code (all but the parameters) by its sha256: the worker's copy of the bundle,
one per sweep, so a job starts without fetching its bundle from MLflow."""
BUNDLE_CODE_TTL = 24 * 3600


def serializer() -> Any:
    """RQ's JSON serializer: job arguments are only run ids, and nothing is unpickled."""
    from rq.serializers import JSONSerializer

    return JSONSerializer


PATIENT_RETRIES = 40
"""Retries of a worker's Redis commands, 0.2 s apart doubling up to 2 s (about 75 s in all):
a worker and its job ride out a Redis restart (the stack restarts its own on the same port,
with its AOF) instead of dying with it."""


def redis_connection(check: bool = True, *, patient: bool = False) -> Redis:
    """A Redis client for the stack; ``check`` pings it first.

    ``patient`` (workers and their work horses): every command is retried on a lost
    connection for about 75 s (:data:`PATIENT_RETRIES`), reconnecting to the same URL, so that
    a Redis restart costs a pause, not the worker. Other clients give up after two quick
    retries and report the dead service.

    Raises:
        ServiceError: no Redis configured, or it does not answer.
    """
    from redis import Redis
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import RedisError
    from redis.retry import Retry

    url = load_settings().redis_url
    if not url:
        raise ServiceError(
            "no Redis is configured: start the stack with `dioptra-lab up`, or set DIOPTRA_LAB_REDIS_URL"
        )
    retry = (
        Retry(ExponentialBackoff(cap=2.0, base=0.2), PATIENT_RETRIES)
        if patient
        else Retry(ExponentialBackoff(cap=1.0, base=0.2), 2)
    )
    # a client's commands are short (a worker's blocking dequeue sets its own, longer timeout)
    timeout = None if patient else 15.0
    conn = Redis.from_url(
        url, socket_connect_timeout=3, socket_timeout=timeout, health_check_interval=30, retry=retry
    )
    if check:
        try:
            conn.ping()
        except RedisError as exc:
            raise redis_error(url, exc) from exc
    return conn


_shared: dict[tuple[int, str, bool], Redis] = {}
_patient_default = False


def be_patient() -> None:
    """Make :func:`shared_connection` patient in this process (and the processes it forks):
    called once by ``dioptra-lab worker``."""
    global _patient_default
    _patient_default = True


def shared_connection(patient: bool | None = None) -> Redis:
    """This process's own Redis client for short commands (job states, reads), made once per
    process and URL; patient in workers (see :func:`be_patient`).

    Raises:
        ServiceError: no Redis configured.
    """
    patient = _patient_default if patient is None else patient
    key = (os.getpid(), load_settings().redis_url or "", patient)
    conn = _shared.get(key)
    if conn is None:
        conn = _shared[key] = redis_connection(check=False, patient=patient)
    return conn


def get_queue(name: str, connection: Redis | None = None) -> Queue:
    """The RQ queue ``name`` with the JSON serializer."""
    from rq import Queue

    return Queue(name, connection=connection or redis_connection(), serializer=serializer())


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def release_lease(connection: Redis, key: str, token: str) -> bool:
    """Release a lease (a key set with ``nx`` and an expiry) if ``token`` still holds it, in
    one step: a lease that ran out and was taken by another is left to its new holder."""
    return bool(connection.register_script(_RELEASE)(keys=[key], args=[token]))
