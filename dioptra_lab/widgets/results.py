"""The runs of an experiment: a sortable, filterable table, their figures and a comparison plot."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from dioptra_lab import api
from dioptra_lab.config import load_settings
from dioptra_lab.jobs import Sweep
from dioptra_lab.models import ExperimentResults, JobStatus, RunRow
from dioptra_lab.widgets.common import StackBanner, guarded, message_html
from dioptra_lab.widgets.results_table import comparison_png, csv_link, sort_rows, table_html

ALL = ""  # the filter option that keeps every run
NONE = ""  # the "one line per" option that draws a single line


class ResultsView(w.VBox):
    """The runs of an experiment with their parameters and metrics.

    A table sorted by any column and filtered by sweep and status, the figures a chosen run
    logged, and a plot of a metric against a parameter (by default the robustness curve,
    ``adversarial_accuracy`` against ``eps``), one line per value of another parameter.

    Args:
        experiment: the experiment to show (default: the settings' experiment, if it exists).
        sweep: show only the runs of this :class:`Sweep` (or sweep id).
    """

    def __init__(self, experiment: str | None = None, *, sweep: Sweep | str | None = None) -> None:
        super().__init__()
        self.results: ExperimentResults | None = None
        self.rows: list[RunRow] = []
        self.error_area = w.HTML()
        self.banner = StackBanner()
        up = self.banner.check()
        names = (guarded(api.experiments, self.error_area) or []) if up else []
        wanted = experiment or load_settings().default_experiment
        chosen = wanted if wanted in names else (names[-1] if names else None)
        self.experiment = w.Dropdown(options=names, value=chosen, description="experiment")
        sweep_id = sweep.id if isinstance(sweep, Sweep) else sweep
        self.sweep_filter = w.Dropdown(
            options=[("all", ALL)] + ([(sweep_id, sweep_id)] if sweep_id else []),
            value=sweep_id or ALL,
            description="sweep",
        )
        self.status_filter = w.Dropdown(
            options=[("all", ALL)] + [(s.value, s.value) for s in JobStatus], value=ALL, description="status"
        )
        self.sort_by = w.Dropdown(options=[("newest first", "")], value="", description="sort by")
        self.ascending = w.ToggleButton(value=True, description="ascending", icon="sort-amount-asc")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.table = w.HTML(layout=w.Layout(overflow="auto"))  # wide tables scroll, not overflow
        self.csv = w.HTML()
        self.run_picker = w.Dropdown(options=[("(pick a run)", "")], value="", description="figures of")
        self.figures = w.VBox()
        self.metric = w.Dropdown(options=[], description="metric")
        self.param = w.Dropdown(options=[], description="against")
        self.group = w.Dropdown(options=[("(none)", NONE)], value=NONE, description="one line per")
        self.plot = w.Image(format="png", layout=w.Layout(max_width="640px"))
        self.plot_note = w.HTML()
        self.children = [
            self.banner,
            w.HBox([self.experiment, self.refresh_button]),
            w.HBox([self.sweep_filter, self.status_filter]),
            w.HBox([self.sort_by, self.ascending, self.csv]),
            self.table,
            w.HBox([self.metric, self.param, self.group]),
            self.plot_note,
            self.plot,
            self.run_picker,
            self.figures,
            self.error_area,
        ]
        self._busy = False  # while options are replaced, their value changes redraw nothing
        self.experiment.observe(lambda c: self._then(lambda: self._load(c["new"])), "value")
        self.refresh_button.on_click(lambda _: self.refresh())
        for widget in (self.sweep_filter, self.status_filter, self.sort_by, self.ascending):
            widget.observe(lambda _: self._then(self.show), "value")
        for widget in (self.metric, self.param, self.group):
            widget.observe(lambda _: self._then(self.draw), "value")
        self.run_picker.observe(lambda _: self._then(self.show_figures), "value")
        if chosen:
            self._load(chosen)

    def _then(self, action: Any) -> None:
        if not self._busy:
            action()

    # -- loading -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the experiment's runs again and show them."""
        if not self.banner.check():
            return
        names = guarded(api.experiments, self.error_area)
        if names is not None and list(names) != list(self.experiment.options):
            self._busy = True  # new experiments appear; the chosen one stays
            try:
                current = self.experiment.value
                self.experiment.options = names
                self.experiment.value = current if current in names else (names[-1] if names else None)
            finally:
                self._busy = False
        if self.experiment.value:
            self._load(self.experiment.value)

    def _load(self, name: str) -> None:
        """Read the runs of experiment ``name`` (one call) and show them."""
        if not name:
            return
        results = guarded(lambda: api.results(name), self.error_area)
        if results is None:
            return
        self.results = results
        columns = [*results.params, *results.metrics]
        self._busy = True
        try:
            self.sort_by.options = [("newest first", ""), *[(c, c) for c in ["status", *columns]]]
            sweeps = sorted({r.sweep for r in results.runs if r.sweep} | {self.sweep_filter.value} - {ALL})
            self.sweep_filter.options = [("all", ALL), *[(s, s) for s in sweeps]]
            self._choose(self.metric, results.metrics, "adversarial_accuracy")
            self._choose(self.param, results.params, "eps")
            group = self.group.value if self.group.value in results.params else NONE
            self.group.options = [("(none)", NONE), *[(p, p) for p in results.params]]
            self.group.value = group
        finally:
            self._busy = False
        self.show()

    @staticmethod
    def _choose(dropdown: w.Dropdown, options: list[str], preferred: str) -> None:
        current = dropdown.value
        dropdown.options = options
        if current in options:
            dropdown.value = current
        elif options:
            dropdown.value = preferred if preferred in options else options[0]

    # -- showing -------------------------------------------------------------------------------
    def show(self) -> None:
        """Filter and sort the runs read last; redraw the table, the CSV link and the plot."""
        results = self.results
        if results is None:
            return
        rows = [
            r
            for r in results.runs
            if self.sweep_filter.value in (ALL, r.sweep) and self.status_filter.value in (ALL, r.status.value)
        ]
        self.rows = sort_rows(rows, self.sort_by.value, self.ascending.value)
        self.table.value = table_html(results, self.rows, self.run_picker.value or None)
        self.csv.value = csv_link(results, self.rows)
        current = self.run_picker.value
        labels = [(self._label(r), r.run_id) for r in self.rows]
        self._busy = True
        try:
            self.run_picker.options = [("(pick a run)", ""), *labels]
            self.run_picker.value = current if current in {r.run_id for r in self.rows} else ""
        finally:
            self._busy = False
        if self.run_picker.value != current:
            self.show_figures()
        self.draw()

    @staticmethod
    def _label(row: RunRow) -> str:
        params = ", ".join(f"{k}={v}" for k, v in sorted(row.params.items())[:3])
        return f"{row.run_id[:8]} ({row.status.value}{'; ' + params if params else ''})"

    def draw(self) -> None:
        """Draw the comparison plot of the shown runs (matplotlib, as a PNG)."""
        metric, param = self.metric.value, self.param.value
        png = comparison_png(self.rows, metric, param, self.group.value or None) if metric and param else b""
        self.plot.value = png
        self.plot.layout.display = None if png else "none"
        self.plot_note.value = (
            ""
            if png
            else message_html(
                f"no shown run has both the metric {metric!r} and the parameter {param!r}", "info"
            )
            if metric and param
            else message_html("the plot needs runs with at least one metric and one parameter", "info")
        )

    def show_figures(self) -> None:
        """Show the figures the picked run logged (``figures/*.png``)."""
        run_id = self.run_picker.value
        if self.results is not None:
            self.table.value = table_html(self.results, self.rows, run_id or None)
        if not run_id:
            self.figures.children = []
            return

        def load() -> list[Any]:
            shown: list[Any] = []
            for path in api.run_figures(run_id):
                shown.append(w.HTML(f"<small>{html.escape(path)}</small>"))
                shown.append(w.Image(value=api.run_artifact(run_id, path), format="png"))
            return shown or [w.HTML(message_html(f"run {run_id} logged no figures", "info"))]

        self.figures.children = guarded(load, self.error_area) or []
