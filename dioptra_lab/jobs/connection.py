"""The stack's Redis: connection, queues (RQ's JSON serializer, never pickle), health."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dioptra_lab.config import load_settings
from dioptra_lab.errors import ServiceError

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


def redis_connection(check: bool = True) -> Redis:
    """A Redis client for the stack; ``check`` pings it first.

    Raises:
        ServiceError: no Redis configured, or it does not answer.
    """
    from redis import Redis
    from redis.exceptions import RedisError

    url = load_settings().redis_url
    if not url:
        raise ServiceError(
            "no Redis is configured: start the stack with `dioptra-lab up`, or set DIOPTRA_LAB_REDIS_URL"
        )
    conn = Redis.from_url(url, socket_connect_timeout=3, health_check_interval=30)
    if check:
        try:
            conn.ping()
        except RedisError as exc:
            raise ServiceError(
                f"Redis at {url} does not answer ({exc}); start it with `dioptra-lab up`"
            ) from exc
    return conn


def get_queue(name: str, connection: Redis | None = None) -> Queue:
    """The RQ queue ``name`` with the JSON serializer."""
    from rq import Queue

    return Queue(name, connection=connection or redis_connection(), serializer=serializer())
