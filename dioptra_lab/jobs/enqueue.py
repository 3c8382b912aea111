"""Put a bundle on the queue: create its run, upload the bundle, enqueue ``execute_job``.

Shared by submission and rerun. A failure after the run exists marks the run FAILED, so
nothing is left half done: no enqueued job without its run, no run left queued forever.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from dioptra_lab.config import load_settings
from dioptra_lab.errors import DioptraLabError, ServiceError
from dioptra_lab.jobs import lifecycle
from dioptra_lab.jobs.connection import (
    BUNDLE_CODE_KEY,
    BUNDLE_CODE_TTL,
    FAILURE_CALLBACK,
    JOB_FUNCTION,
    get_queue,
    redis_connection,
)
from dioptra_lab.tracking import runs
from dioptra_lab.tracking.bundles import Bundle, upload_bundle
from dioptra_lab.tracking.client import client, require_mlflow

if TYPE_CHECKING:
    from redis import Redis

DEFAULT_RESULT_TTL = 7 * 24 * 3600


class SubmitOptions(TypedDict, total=False):
    """Where and how a job runs; every submitting function takes these as keywords.

    Attributes:
        experiment: the MLflow experiment (default from settings: ``Default``).
        queue: the RQ queue (default ``cpu``).
        timeout: seconds before the job is stopped and its run marked FAILED (reason timeout).
        retries: how many times RQ retries a failed or abandoned job.
    """

    experiment: str | None
    queue: str | None
    timeout: float | None
    retries: int


@dataclass
class JobOptions:
    """:class:`SubmitOptions` checked and with defaults filled, plus extra run tags."""

    experiment: str | None = None
    queue: str | None = None
    timeout: float | None = None
    retries: int = 0
    extra_tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, options: SubmitOptions, **extra_tags: str) -> JobOptions:
        """Check ``options`` and fill the defaults from the settings.

        Raises:
            DioptraLabError: a negative ``retries`` or a non-positive ``timeout``.
        """
        settings = load_settings()
        retries = int(options.get("retries") or 0)
        timeout = options.get("timeout")
        if retries < 0:
            raise DioptraLabError(f"retries must be >= 0, got {retries}")
        if timeout is not None and timeout <= 0:
            raise DioptraLabError(f"timeout must be a positive number of seconds, got {timeout}")
        return cls(
            options.get("experiment") or settings.default_experiment,
            options.get("queue") or settings.default_queue,
            timeout,
            retries,
            dict(extra_tags),
        )

    def tags(self) -> dict[str, str]:
        """The run tags that record these options."""
        return {
            runs.TAG_QUEUE: str(self.queue),
            runs.TAG_TIMEOUT: str(self.timeout or ""),
            runs.TAG_RETRIES: str(self.retries),
            **self.extra_tags,
        }


def check_services() -> Redis:
    """Check Redis and MLflow answer (before anything is created); return the Redis connection."""
    conn = redis_connection()
    require_mlflow()
    return conn


def enqueue_bundle(
    bundle: Bundle, options: JobOptions, run_name: str | None = None, connection: Redis | None = None
) -> str:
    """Create the run for ``bundle``, upload it and enqueue the job; return the job's id.

    ``connection`` comes from :func:`check_services`; without it the services are checked here.

    Raises:
        ServiceError: a service failed half way; the run is marked FAILED and nothing is queued.
    """
    from rq import Callback, Retry

    conn = connection or check_services()
    tags = {
        runs.TAG_ENTRYPOINT: bundle.entrypoint_name,
        runs.TAG_ENTRYPOINT_SHA: bundle.content["entrypoint"]["sha256"],
        runs.TAG_BUNDLE_SHA: bundle.sha256,
        **{runs.TAG_PLUGIN_SHA + name: sha for name, sha in bundle.plugin_hashes().items()},
        **options.tags(),
    }
    run_id = lifecycle.create(
        str(options.experiment), run_name or bundle.entrypoint_name, bundle.parameters, tags
    )
    try:
        upload_bundle(client(), run_id, bundle)  # the durable copy: reruns, and jobs queued > a day
        code_key = BUNDLE_CODE_KEY.format(bundle.code_sha256)
        with conn.pipeline() as pipe:
            pipe.set(code_key, json.dumps(bundle.code(), sort_keys=True, default=str), nx=True)
            pipe.expire(code_key, BUNDLE_CODE_TTL)
            pipe.execute()
        get_queue(str(options.queue), conn).enqueue(
            JOB_FUNCTION,
            run_id,
            job_id=run_id,
            job_timeout=int(options.timeout) if options.timeout else -1,
            retry=Retry(max=options.retries) if options.retries else None,
            on_failure=Callback(FAILURE_CALLBACK),
            result_ttl=DEFAULT_RESULT_TTL,
            failure_ttl=DEFAULT_RESULT_TTL,
            description=f"{bundle.entrypoint_name} ({run_id})",
            meta={
                "entrypoint": bundle.entrypoint_name,
                "experiment": options.experiment,
                "bundle_code": bundle.code_sha256,
                "parameters": bundle.parameters,
            },
        )
    except Exception as exc:
        lifecycle.submission_failed(run_id, exc)
        raise ServiceError(
            f"submission failed ({type(exc).__name__}: {exc}); run {run_id} was marked FAILED "
            "and nothing was queued"
        ) from exc
    return run_id


def options_from_tags(tags: dict[str, Any], experiment: str, **extra_tags: str) -> JobOptions:
    """The options a job was submitted with, read back from its run's tags (for rerun)."""
    timeout = tags.get(runs.TAG_TIMEOUT)
    return JobOptions.of(
        SubmitOptions(
            experiment=experiment,
            queue=tags.get(runs.TAG_QUEUE),
            timeout=float(timeout) if timeout else None,
            retries=int(tags.get(runs.TAG_RETRIES, "0")),
        ),
        **extra_tags,
    )
