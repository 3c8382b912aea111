"""Jobs: the lifecycle of job states, submission (single and sweeps) and the Job handle."""

from dioptra_lab.jobs.enqueue import JobOptions, SubmitOptions
from dioptra_lab.jobs.job import Job, JobWaitTimeout, list_jobs
from dioptra_lab.jobs.submit import Sweep, submit, submit_sweep
from dioptra_lab.models import JobStatus

__all__ = [
    "Job",
    "JobOptions",
    "JobStatus",
    "JobWaitTimeout",
    "SubmitOptions",
    "Sweep",
    "list_jobs",
    "submit",
    "submit_sweep",
]
