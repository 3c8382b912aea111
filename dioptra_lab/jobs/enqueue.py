"""Put a bundle on the queue: create its run, upload the bundle, enqueue ``execute_job``.

Shared by submission and rerun. A failure after the run exists marks the run FAILED, so
nothing is left half done: no enqueued job without its run, no run left queued forever.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from dioptra_lab.config import load_settings
from dioptra_lab.errors import DioptraLabWarning, OptionError, ServiceError, brief
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
QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_EXPERIMENT_NAME = 500  # MLflow's MAX_EXPERIMENT_NAME_LENGTH
MAX_TIMEOUT = 365 * 24 * 3600.0
MAX_RETRIES = 100


def queue_problem(queue: object) -> str | None:
    """Why ``queue`` cannot name a queue, or ``None`` (issue 13, bug 8)."""
    if isinstance(queue, str) and QUEUE_NAME.fullmatch(queue):
        return None
    return (
        f"queue name {brief(queue)} is not allowed: use 1 to 100 letters, digits, '_', '.' or '-', "
        "starting with a letter or digit (e.g. cpu, gpu)"
    )


def experiment_problem(experiment: object) -> str | None:
    """Why MLflow would refuse ``experiment`` as an experiment name (or it is unsafe), or ``None``.

    MLflow refuses empty names, names over 500 characters and text that is not UTF-8; control
    characters (newlines, NUL) are refused here too: they break tables and some databases.
    """
    if not isinstance(experiment, str) or not experiment.strip():
        return f"experiment name {brief(experiment)} is not allowed: give a non-empty name"
    if len(experiment) > MAX_EXPERIMENT_NAME:
        return (
            f"experiment name of {len(experiment)} characters is too long: MLflow takes at most "
            f"{MAX_EXPERIMENT_NAME}"
        )
    try:
        experiment.encode("utf-8")
    except UnicodeEncodeError:
        return f"experiment name {brief(experiment)} is not valid UTF-8 text (a lone surrogate)"
    if any(ord(c) < 32 or ord(c) == 127 for c in experiment):
        return f"experiment name {brief(experiment)} holds a control character (newline, tab, NUL…)"
    return None


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
            OptionError: a queue name that is not one (``[A-Za-z0-9][A-Za-z0-9_.-]*``), an
                experiment name MLflow would refuse, ``retries`` not in 0..100, ``timeout`` not a
                positive number of seconds (at most a year).
        """
        settings = load_settings()
        problems = []
        retries = options.get("retries") or 0
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
            problems.append(f"retries must be a whole number from 0 to {MAX_RETRIES}, got {brief(retries)}")
            retries = 0
        timeout = options.get("timeout")
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or not 0 < timeout <= MAX_TIMEOUT
        ):
            most = f"at most {MAX_TIMEOUT:.0f}"
            problems.append(f"timeout must be a positive number of seconds ({most}), got {brief(timeout)}")
        queue = options.get("queue") or settings.default_queue
        experiment = options.get("experiment") or settings.default_experiment
        problems += [p for p in (queue_problem(queue), experiment_problem(experiment)) if p]
        if problems:
            raise OptionError("; ".join(problems))
        return cls(experiment, queue, timeout, retries, dict(extra_tags))

    def tags(self) -> dict[str, str]:
        """The run tags that record these options."""
        return {
            runs.TAG_QUEUE: str(self.queue),
            runs.TAG_TIMEOUT: str(self.timeout or ""),
            runs.TAG_RETRIES: str(self.retries),
            **self.extra_tags,
        }


def check_services(queue: str | None = None) -> Redis:
    """Check Redis and MLflow answer (before anything is created); return the Redis connection.

    With ``queue``, warn (:class:`~dioptra_lab.errors.DioptraLabWarning`) when no worker
    serves it: the job would wait until one does. A warning, not an error: workers may start later.
    """
    conn = redis_connection()
    require_mlflow()
    if queue is not None:
        warn_if_unserved(queue, conn)
    return conn


def warn_if_unserved(queue: str, conn: Redis) -> bool:
    """Warn when no registered worker serves ``queue``; return whether one does."""
    from rq import Worker

    try:
        served = any(queue in worker.queue_names() for worker in Worker.all(connection=conn))
    except Exception:  # a listing that fails must not stop a submission
        return True
    if not served:
        warnings.warn(
            f"no worker serves queue {queue!r}: the job waits until one does "
            f"(`dioptra-lab worker --queue {queue}`, or `dioptra-lab up --queues {queue}`)",
            DioptraLabWarning,
            stacklevel=3,
        )
    return served


def enqueue_bundle(
    bundle: Bundle, options: JobOptions, run_name: str | None = None, connection: Redis | None = None
) -> str:
    """Create the run for ``bundle``, upload it and enqueue the job; return the job's id.

    ``connection`` comes from :func:`check_services`; without it the services are checked here.

    Raises:
        ServiceError: a service failed half way; the run is marked FAILED and nothing is queued.
    """
    from rq import Callback, Retry

    conn = connection or check_services(options.queue)
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
            lifecycle.submitted(run_id, pipe)
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
