"""Jobs: submission (single and sweeps) and the Job handle."""

from dioptra_lab.jobs.job import Job, JobStatus, JobWaitTimeout, list_jobs
from dioptra_lab.jobs.submit import Sweep, submit, submit_sweep

__all__ = ["Job", "JobStatus", "JobWaitTimeout", "Sweep", "list_jobs", "submit", "submit_sweep"]
