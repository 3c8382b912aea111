"""Only our job runs on a worker: the RQ job class of workers and reapers.

An RQ job names the function a worker calls, and the callbacks RQ calls around it, as
dotted names; anyone who can write to Redis can name any function (``os.system``). The
JSON serializer stops pickle, not that. :class:`GuardedJob` runs a job only when it calls
:data:`~dioptra_lab.jobs.connection.JOB_FUNCTION` with one run id, and resolves no callback
but our failure callback of such a job: a refused job raises :class:`RefusedJobError` before
anything it names is imported, ends failed in RQ with that reason, is never retried, and
sends no webhook. Workers use it as their ``job_class``; reapers clean registries with it.
"""

from __future__ import annotations

from typing import Any

from rq.job import Job

from dioptra_lab.errors import DioptraLabError
from dioptra_lab.jobs.connection import FAILURE_CALLBACK, JOB_FUNCTION


class RefusedJobError(DioptraLabError):
    """A job on our queues that is not one of ours: it is failed, nothing of it runs."""


class GuardedJob(Job):
    """An RQ job that runs only ``dioptra_lab.worker.execute_job(run_id)``."""

    @property
    def refusal(self) -> str | None:
        """Why this job may not run (``None``: it is ours)."""
        try:
            name, instance, args, kwargs = self.func_name, self.instance, self.args, self.kwargs
        except Exception as exc:  # undecodable data: nothing to run
            return f"its data cannot be read ({type(exc).__name__})"
        if name != JOB_FUNCTION or instance is not None:
            return f"it calls {str(name)[:200]!r}"
        if kwargs or len(args) != 1 or not isinstance(args[0], str):
            return "its arguments are not one run id"
        return None

    @property
    def allowed(self) -> bool:
        """Whether a worker may run this job."""
        return self.refusal is None

    def refusal_message(self) -> str:
        """The one line a refused job fails with."""
        return (
            f"refused: dioptra-lab workers run only {JOB_FUNCTION}(run_id), and job {self.id} "
            f"does not ({self.refusal}); submit jobs with `dioptra-lab submit` or dioptra_lab.submit"
        )

    def _execute(self) -> Any:
        if not self.allowed:
            raise RefusedJobError(self.refusal_message())
        return super()._execute()

    @property
    def should_retry(self) -> bool:
        return self.allowed and super().should_retry

    @property
    def success_callback(self) -> Any:
        return None  # our jobs have none

    @property
    def stopped_callback(self) -> Any:
        return None  # our jobs have none

    @property
    def failure_callback(self) -> Any:
        if self._failure_callback_name != FAILURE_CALLBACK or not self.allowed:
            return None
        return super().failure_callback  # RQ imports it by its name, as for every job

    def send_webhooks(self, status: Any, *, exc_string: str | None = None) -> None:
        """Our jobs send none; a foreign job's webhooks are never called."""
