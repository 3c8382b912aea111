"""A live view of jobs on the queue: status, step, time, log tail, failure, cancel."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import ipywidgets as w

from dioptra_lab import api
from dioptra_lab.jobs import Job, Sweep
from dioptra_lab.models import JobInfo, JobStatus
from dioptra_lab.widgets.common import Refresher, StackBanner, guarded
from dioptra_lab.widgets.monitor_rows import JobRow, SweepHeader, tail

JobLike = Job | Sweep | JobInfo | str


class JobMonitor(w.VBox):
    """One row per job (and one header per sweep), updated in the background.

    Args:
        jobs: jobs to watch: :class:`Job` handles, job ids, :class:`Sweep` objects.
        experiment: also watch every job of this experiment; new ones appear on each refresh
            (the Refresh button, an ``add``, or the background updates while a job runs).
        sweep: a :class:`Sweep` or a sweep id to watch.
        interval: seconds between background refreshes (at least 1).
        autostart: refresh in a background thread until every job is done.

    ``refresh()`` updates at once and returns whether some job is not done yet;
    ``calls`` counts the service calls made so far: per refresh one per unfinished job
    (none for jobs that ended: their final info is kept), one listing when attached to an
    experiment or a sweep id, one per unfolded log; and once per job, its MLflow links.
    """

    def __init__(
        self,
        jobs: JobLike | Iterable[JobLike] | None = None,
        *,
        experiment: str | None = None,
        sweep: Sweep | str | None = None,
        interval: float = 1.0,
        autostart: bool = True,
    ) -> None:
        super().__init__()
        self.experiment = experiment
        self.autostart = autostart
        self.rows: dict[str, JobRow] = {}
        self.sweeps: dict[str, SweepHeader] = {}
        self.calls = 0
        self._lock = threading.RLock()
        self._watched_sweeps: set[str] = set()
        self.error_area = w.HTML()
        self.banner = StackBanner()
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh_now())
        self.title = w.HTML(f"<b>Jobs of experiment {experiment}</b>" if experiment else "<b>Jobs</b>")
        self.body = w.VBox()
        self.children = [self.banner, w.HBox([self.title, self.refresh_button]), self.body, self.error_area]
        self.refresher = Refresher(self.refresh, interval)
        if sweep is not None:
            self._watched_sweeps.add(sweep if isinstance(sweep, str) else sweep.id)
        self.add(jobs if jobs is not None else [], refresh=False)
        if isinstance(sweep, Sweep):
            self.add(sweep, refresh=False)
        if self.banner.check():  # a dead MLflow would be retried for minutes: ask only when up
            guarded(self.refresh, self.error_area)
            if autostart and self.pending:
                self.refresher.start()

    def refresh_now(self) -> None:
        """Check the stack, refresh, and restart the background updates if needed."""
        if not self.banner.check():
            return
        pending = guarded(self.refresh, self.error_area)
        if self.autostart and pending:
            self.refresher.start()

    # -- adding ------------------------------------------------------------------------------
    def add(self, jobs: JobLike | Iterable[JobLike], refresh: bool = True) -> None:
        """Watch more jobs (a job, a job id, a sweep, or a list of those)."""
        items: Iterable[JobLike] = [jobs] if isinstance(jobs, Job | Sweep | JobInfo | str) else jobs
        with self._lock:
            for item in items:
                if isinstance(item, Sweep):
                    for job in item.jobs:
                        self._row(job.id, item.id)
                elif isinstance(item, JobInfo):
                    self._row(item.id, item.sweep).update(item)
                else:
                    self._row(item.id if isinstance(item, Job) else item)
        if refresh:
            self.refresh_now()

    def _row(self, job_id: str, sweep: str | None = None) -> JobRow:
        row = self.rows.get(job_id)
        if row is None:
            row = self.rows[job_id] = JobRow(job_id, self._cancel, self._log)
            if sweep is None:
                self.body.children = [*self.body.children, row.box]
        if sweep is not None:
            self._place(row, sweep)
        return row

    def _place(self, row: JobRow, sweep: str) -> None:
        """Put ``row`` under its sweep's header (made on first use)."""
        header = self.sweeps.get(sweep)
        if header is None:
            header = self.sweeps[sweep] = SweepHeader(sweep)
            self.body.children = [*self.body.children, header]
        if row.box in self.body.children:
            self.body.children = [c for c in self.body.children if c is not row.box]
        header.add(row)

    # -- refreshing ----------------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        """Whether some watched job has not ended."""
        return any(not row.final for row in self.rows.values())

    def refresh(self) -> bool:
        """Update every row now; return whether some job is still not done."""
        with self._lock:
            listed = self._discover() if self.experiment or self._watched_sweeps else set()
            for row in list(self.rows.values()):
                if not row.final and row.job_id not in listed:
                    self.calls += 1
                    self._show(row, api.job_info(row.job_id))
                else:
                    row.tick()
                if row.log_open and not row.log_final:
                    self._fetch_log(row)
            for header in self.sweeps.values():
                header.update()
            return self.pending

    def _discover(self) -> set[str]:
        """Rows for new jobs of the experiment (or of a watched sweep): one listing call.

        Returns the jobs the listing told all about (not running: no progress to ask for).
        """
        self.calls += 1
        listed = set()
        for info in reversed(api.list_jobs(self.experiment)):  # oldest first, as they came
            if self.experiment is None and info.sweep not in self._watched_sweeps:
                continue
            row = self._row(info.id, info.sweep)
            if info.status != JobStatus.RUNNING and not row.final:
                self._show(row, info)
                listed.add(info.id)
        return listed

    def _show(self, row: JobRow, info: JobInfo) -> None:
        row.update(info)
        if info.sweep:  # a job added on its own may turn out to belong to a sweep
            self._place(row, info.sweep)
        if row.urls is None:  # once per job
            self.calls += 1
            row.urls = api.mlflow_links(info.experiment, info.id)
        row.show_links(row.urls)
        row.final = info.status.done

    def _fetch_log(self, row: JobRow) -> None:
        self.calls += 1
        row.log.value = tail(api.job_logs(row.job_id))
        row.log_final = row.final

    # -- actions -------------------------------------------------------------------------------
    def _cancel(self, row: JobRow) -> None:
        info = guarded(lambda: api.cancel(row.job_id), self.error_area)
        with self._lock:
            self.calls += 1
            if info is not None:
                self._show(row, info)

    def _log(self, row: JobRow) -> None:
        if row.log_open and not row.log_final:
            guarded(lambda: self._fetch_log(row), self.error_area)

    def close(self) -> None:
        """Stop the background updates and close the widget."""
        self.refresher.stop()
        super().close()
