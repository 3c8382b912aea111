"""The rows of the job monitor: one per job, and one aggregate header per sweep."""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from dioptra_lab.models import JobInfo, JobStatus

LOG_LINES = 40
COLOURS = {
    JobStatus.QUEUED: "#666",
    JobStatus.RUNNING: "#0d47a1",
    JobStatus.FINISHED: "#1b5e20",
    JobStatus.FAILED: "#b00020",
    JobStatus.CANCELLED: "#8a6d00",
}
BAR_STYLES = {JobStatus.FINISHED: "success", JobStatus.FAILED: "danger", JobStatus.CANCELLED: "warning"}


def status_html(status: JobStatus) -> str:
    """A job status as a coloured word."""
    return f'<b style="color:{COLOURS[status]}">{status.value}</b>'


def tail(text: str, lines: int = LOG_LINES) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


class JobRow:
    """One job: status, step bar, elapsed time, Cancel, links, failure and a log tail.

    Not a widget itself (a widget's ``log`` is its logger): ``box`` is what is shown.
    """

    def __init__(
        self, job_id: str, on_cancel: Callable[[JobRow], Any], on_log: Callable[[JobRow], Any]
    ) -> None:
        self.job_id = job_id
        self.info: JobInfo | None = None
        self.final = False  # the job ended and its info is cached: no more service calls
        self.urls: dict[str, str] | None = None  # MLflow addresses, asked for once
        self.log_final = False  # the whole log of an ended job is shown
        self.name = w.HTML(f"<code>{job_id[:12]}</code>", layout=w.Layout(width="260px"))
        self.status = w.HTML(status_html(JobStatus.QUEUED), layout=w.Layout(width="80px"))
        self.bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="160px"))
        self.step = w.Label("", layout=w.Layout(width="200px"))
        self.elapsed = w.Label("", layout=w.Layout(width="70px"))
        self.cancel_button = w.Button(description="Cancel", icon="stop", layout=w.Layout(width="90px"))
        self.cancel_button.on_click(lambda _: on_cancel(self))
        self.links = w.HTML()
        self.failure = w.HTML()
        self.log = w.Textarea(value="", rows=12, disabled=True, layout=w.Layout(width="100%"))
        self.log_panel = w.Accordion(children=[self.log], selected_index=None)
        self.log_panel.set_title(0, "log")
        self.log_panel.observe(lambda _: on_log(self), "selected_index")
        header = [self.name, self.status, self.bar, self.step, self.elapsed, self.cancel_button, self.links]
        self.box = w.VBox([w.HBox(header), self.failure, self.log_panel])

    @property
    def log_open(self) -> bool:
        """Whether the log tail is unfolded (only then is it fetched)."""
        return self.log_panel.selected_index == 0

    @property
    def done(self) -> bool:
        """Whether the job has ended."""
        return self.info is not None and self.info.status.done

    def update(self, info: JobInfo) -> None:
        """Show a fresh :class:`JobInfo`."""
        self.info = info
        status = info.status
        self.name.value = f"<code>{html.escape(info.run_name or info.id)}</code>"
        self.status.value = status_html(status)
        progress = info.progress
        if status.done:
            self.bar.max = max(self.bar.max, 1)
            self.bar.value = self.bar.max if status == JobStatus.FINISHED else self.bar.value
            self.step.value = ""
        elif progress is not None and progress.total:
            self.bar.max = progress.total
            finished = progress.state in ("finished", "cached")
            self.bar.value = progress.index if finished else progress.index - 1
            self.step.value = f"[{progress.index}/{progress.total}] {progress.step} {progress.state}"
        self.bar.bar_style = BAR_STYLES.get(status, "info")
        self.cancel_button.disabled = status.done
        self.tick()
        failure = info.failure
        if failure is not None:
            parts = [
                f"<b>step {html.escape(failure.step)}</b>" if failure.step else "",
                f"<b>cell {failure.cell}</b>" if failure.cell is not None and not failure.step else "",
                f"<code>{html.escape(failure.exception)}</code>" if failure.exception else "",
                html.escape(failure.message or failure.reason),
            ]
            self.failure.value = (
                '<div class="dioptra-lab-failure" style="color:#b00020">failed: '
                + " ".join(p for p in parts if p)
                + "</div>"
            )

    def tick(self) -> None:
        """Update the elapsed time (no service call)."""
        info = self.info
        if info is None or info.submitted is None:
            return
        seconds = (info.ended or time.time()) - info.submitted
        self.elapsed.value = f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"

    def show_links(self, links: dict[str, str]) -> None:
        """Show anchors to the MLflow run and the executed notebook."""
        anchors = []
        if "run" in links:
            anchors.append(f'<a href="{html.escape(links["run"])}" target="_blank">MLflow run</a>')
        if "notebook" in links and self.done:
            anchors.append(f'<a href="{html.escape(links["notebook"])}" target="_blank">notebook</a>')
        self.links.value = " · ".join(anchors)


class SweepHeader(w.VBox):
    """A sweep: how many of its jobs are done, as a bar, with its rows under it."""

    def __init__(self, sweep_id: str) -> None:
        self.sweep_id = sweep_id
        self.label = w.HTML()
        self.bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="300px"))
        self.jobs: list[JobRow] = []
        self.rows = w.VBox(layout=w.Layout(margin="0 0 0 24px"))
        super().__init__([w.HBox([self.label, self.bar]), self.rows])

    def add(self, row: JobRow) -> None:
        """Put a job's row under this sweep."""
        if row not in self.jobs:
            self.jobs.append(row)
            self.rows.children = [*self.rows.children, row.box]

    def update(self) -> None:
        """Count the jobs that are done (no service call)."""
        rows = self.jobs
        done = sum(r.done for r in rows)
        failed = sum(bool(r.info and r.info.status in (JobStatus.FAILED, JobStatus.CANCELLED)) for r in rows)
        self.bar.max = max(len(rows), 1)
        self.bar.value = done
        self.bar.bar_style = "danger" if failed else "success" if done == len(rows) else "info"
        extra = f", {failed} failed or cancelled" if failed else ""
        name = f'<b class="dioptra-lab-sweep">sweep {html.escape(self.sweep_id)}</b>'
        self.label.value = f"{name}: {done}/{len(rows)} done{extra}"
