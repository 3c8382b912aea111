"""``dioptra_lab.lab()``: the whole notebook experience as tabs, Tasks | Build | Run | Jobs | Results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as w

from dioptra_lab.widgets.builder import GraphBuilder
from dioptra_lab.widgets.common import StackBanner
from dioptra_lab.widgets.form import ParameterForm
from dioptra_lab.widgets.monitor import JobMonitor
from dioptra_lab.widgets.results import ResultsView
from dioptra_lab.widgets.tasks import TaskBrowser

TITLES = ("Tasks", "Build", "Run", "Jobs", "Results")


class Lab(w.VBox):
    """Browse tasks, build a graph, fill its parameters, submit, watch the jobs, compare results.

    Args:
        entrypoint: an entry point (path or object) to open in the Run tab.
        experiment: the experiment the Jobs and Results tabs show and Run submits to.
    """

    def __init__(self, entrypoint: str | Path | Any | None = None, *, experiment: str | None = None) -> None:
        self.banner = StackBanner()
        self.tasks = TaskBrowser()
        self.builder = GraphBuilder()
        self.form = ParameterForm(entrypoint, experiment=experiment, on_submit=self._submitted)
        self.monitor = JobMonitor(experiment=experiment) if experiment else JobMonitor()
        self.results = ResultsView(experiment)
        self.use_button = w.Button(description="Use in Run tab", icon="play", tooltip="Fill its parameters")
        self.use_button.on_click(lambda _button: self.use_built())
        build = w.VBox([self.builder, self.use_button])
        self.tabs = w.Tab(children=[self.tasks, build, self.form, self.monitor, self.results])
        for index, title in enumerate(TITLES):
            self.tabs.set_title(index, title)
        super().__init__([self.banner, self.tabs])
        self.banner.check()

    def show(self, title: str) -> None:
        """Switch to the tab ``title`` (one of Tasks, Build, Run, Jobs, Results)."""
        self.tabs.selected_index = TITLES.index(title)

    def use_built(self) -> None:
        """Open the graph being built in the Run tab's form."""
        self.form.load(self.builder.entrypoint)
        self.show("Run")

    def _submitted(self, jobs: list[Any]) -> None:
        for job in jobs:
            self.monitor.add(job)
        self.show("Jobs")


def lab(entrypoint: str | Path | Any | None = None, *, experiment: str | None = None) -> Lab:
    """The notebook experience in one widget: Tasks | Build | Run | Jobs | Results.

    Args:
        entrypoint: an entry point (path or object) to open in the Run tab.
        experiment: the experiment to watch and compare (and submit to).
    """
    return Lab(entrypoint, experiment=experiment)


def monitor_of(obj: Any) -> JobMonitor:
    """The live view of a :class:`~dioptra_lab.jobs.Job` or ``Sweep`` displayed in a notebook."""
    return JobMonitor([obj])
