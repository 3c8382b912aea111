"""A form for an entry point's parameters: check as you type, run here or submit to the queue."""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w

from dioptra_lab import api
from dioptra_lab.config import load_settings
from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.errors import DioptraLabError
from dioptra_lab.jobs import Job, Sweep, submit, submit_sweep
from dioptra_lab.widgets.common import StackBanner, guarded, message_html, problems_html
from dioptra_lab.widgets.form_values import FieldSet


def _found_entrypoints() -> list[str]:
    """Entry points at the project's root and under its ``examples/``, relative to here."""
    root = load_settings().project_root or Path()
    found = [*root.glob("*.yaml"), *root.glob("examples/*.yaml"), *root.glob("examples/*.ipynb")]
    return sorted(os.path.relpath(p) for p in found)


class ParameterForm(w.VBox):
    """A form for an entry point's parameters; **Run here** or **Submit** to the queue.

    Each field is made from the parameter's type and checked as you type with the same
    message the command line prints; Submit stays disabled while a field has a problem.
    A "sweep" box turns a field into a list (``a, b, c``) or a range (``start:stop:step``).

    Args:
        entrypoint: a path or an :class:`EntryPoint`; ``None`` shows an empty picker.
        presets: values as text by name (as from a URL's query string).
        experiment: the MLflow experiment to submit to (default: the settings').
        queue: the queue to submit to (default: the settings').
        on_submit: called with the list of :class:`Job` handles after each submission.
        on_run: called with the :class:`RunResult` after each Run here.
    """

    def __init__(
        self,
        entrypoint: str | Path | EntryPoint | None = None,
        *,
        presets: dict[str, str] | None = None,
        experiment: str | None = None,
        queue: str | None = None,
        on_submit: Callable[[list[Job]], Any] | None = None,
        on_run: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__()
        self.on_submit, self.on_run = on_submit, on_run
        self.entrypoint: EntryPoint | None = None
        self.fields: dict[str, w.Widget] = {}
        self.sliders: dict[str, w.FloatSlider | w.IntSlider] = {}
        self.sweep_toggles: dict[str, w.Checkbox] = {}
        self.sweep_fields: dict[str, w.Text] = {}
        self.errors: dict[str, w.HTML] = {}
        self.submitted: list[Job] = []
        self.last_sweep: Sweep | None = None
        self.last_result: Any = None
        self._set: FieldSet | None = None
        settings = load_settings()

        self.banner = StackBanner()
        self.stack_up = self.banner.check()
        self.picker = w.Combobox(
            options=_found_entrypoints(), ensure_option=False, placeholder="path/to/entrypoint.yaml"
        )
        self.load_button = w.Button(description="Load", icon="folder-open")
        self.load_button.on_click(lambda _: self.load(self.picker.value))
        self.title = w.HTML()
        self.fields_box = w.VBox()
        self.experiment = w.Combobox(
            value=experiment or settings.default_experiment,
            options=self._lookup(api.experiments),
            ensure_option=False,
            description="experiment",
        )
        queues = self._lookup(api.queue_names)
        chosen = queue or settings.default_queue
        if queues:
            self.queue: w.Dropdown | w.Text = w.Dropdown(
                options=sorted({*queues, chosen}), value=chosen, description="queue"
            )
        else:  # Redis is down: the queue can still be typed
            self.queue = w.Text(value=chosen, description="queue")
        self.timeout = w.FloatText(value=0, description="timeout (s)", tooltip="0: no timeout")
        self.retries = w.IntText(value=0, description="retries")
        self.run_button = w.Button(description="Run here", icon="play", tooltip="run in this kernel")
        self.submit_button = w.Button(description="Submit", icon="paper-plane", button_style="primary")
        self.run_button.on_click(lambda _: self.run())
        self.submit_button.on_click(lambda _: self.submit())
        self.error_area = w.HTML()
        self.warnings = w.HTML()
        self.output = w.Output()
        self.children = [
            self.banner,
            w.HBox([self.picker, self.load_button]),
            self.title,
            self.fields_box,
            w.HBox([self.experiment, self.queue]),
            w.HBox([self.timeout, self.retries]),
            w.HBox([self.run_button, self.submit_button]),
            self.error_area,
            self.warnings,
            self.output,
        ]
        self._update()  # nothing loaded yet: nothing to submit
        if entrypoint is not None:
            self.load(entrypoint, presets)

    def _lookup(self, action: Callable[[], list[str]]) -> list[str]:
        """A list for a picker from the services; empty while the stack is down."""
        if not self.stack_up:
            return []  # asking a dead MLflow would retry for minutes
        try:
            return list(action())
        except Exception:  # a picker without options still takes typed text
            return []

    # -- building ------------------------------------------------------------------------------
    def load(self, entrypoint: str | Path | EntryPoint, presets: dict[str, str] | None = None) -> None:
        """Show the fields of another entry point (a path or an :class:`EntryPoint`)."""

        def build() -> EntryPoint:
            ep = entrypoint if isinstance(entrypoint, EntryPoint) else load_entrypoint(entrypoint)
            return ep

        ep = guarded(build, self.error_area)
        if ep is None:
            return
        self.entrypoint = ep
        if not isinstance(entrypoint, EntryPoint):
            self.picker.value = str(entrypoint)
        info = api.describe(ep)
        self.title.value = f"<h4>{html.escape(info.name)}</h4><p>{html.escape(info.description)}</p>"
        wants_models = any(p.kind == "object" for p in info.parameters)
        models = self._lookup(api.registered_models) if wants_models else []
        self._set = FieldSet(ep, info, models, self._update)
        fields = self._set.fields
        self.fields = {n: f.value for n, f in fields.items()}
        self.errors = {n: f.error for n, f in fields.items()}
        self.sliders = {n: f.slider for n, f in fields.items() if f.slider}
        self.sweep_toggles = {n: f.sweep_toggle for n, f in fields.items() if f.sweep_toggle}
        self.sweep_fields = {n: f.sweep_text for n, f in fields.items() if f.sweep_text}
        self.fields_box.children = [f.box for f in fields.values()]
        self.error_area.value = problems_html(info.problems)
        self.warnings.value = "".join(message_html(m, "warning") for m in self._set.apply(presets or {}))
        self._set.watch()
        self._update()

    def _update(self) -> None:
        fields = self._set
        bad = fields is None or not fields.entrypoint.valid or fields.has_errors
        self.submit_button.disabled = bad
        # Run here runs one set of values in this kernel; a sweep goes to the queue
        self.run_button.disabled = bad or (fields is not None and fields.sweeping)

    @property
    def valid(self) -> bool:
        """Whether every field holds a valid value (Submit is enabled)."""
        return not self.submit_button.disabled

    def values(self) -> dict[str, Any]:
        """The checked values of the fields that are not swept (defaults filled).

        Raises:
            ParameterError: every problem of every field, swept ones included.
        """
        if self._set is None:
            raise DioptraLabError("no entry point is loaded; pick one and press Load")
        return self._set.values()

    def grid(self) -> dict[str, list[Any]]:
        """The checked values of each swept field, by name (empty without sweeps).

        Raises:
            ParameterError: a swept value does not fit its parameter.
        """
        return self._set.grid() if self._set is not None else {}

    def options(self) -> dict[str, Any]:
        """The submit options: experiment, queue, timeout (``None``: none) and retries."""
        return {
            "experiment": self.experiment.value.strip() or None,
            "queue": (self.queue.value or "").strip() or None,
            "timeout": self.timeout.value or None,
            "retries": self.retries.value,
        }

    # -- actions ------------------------------------------------------------------------------
    def submit(self) -> list[Job]:
        """Submit the values (or the sweep) to the queue; return the jobs (none on error)."""
        self.stack_up = self.banner.check()
        if not self.stack_up:
            self.error_area.value = ""  # the banner says it once
            return []

        def send() -> list[Job]:
            values, grid = self.values(), self.grid()
            assert self.entrypoint is not None
            if grid:
                self.last_sweep = submit_sweep(self.entrypoint, grid, values, **self.options())
                return list(self.last_sweep.jobs)
            return [submit(self.entrypoint, values, **self.options())]

        sweeps_before = self.last_sweep
        jobs = guarded(send, self.error_area) or []
        if jobs:
            self.submitted.extend(jobs)
            sweep = self.last_sweep if self.last_sweep is not sweeps_before else None
            what = f"sweep {sweep.id}: {len(jobs)} jobs" if sweep else "job"
            self.output.outputs = ()
            self.output.append_stdout(f"submitted {what}: {', '.join(j.id for j in jobs)}\n")
            if self.on_submit is not None:
                self.on_submit(jobs)
        return jobs

    def run(self) -> Any:
        """Run the values here, in this kernel; show the summary and return the result."""

        def go() -> Any:
            values = self.values()
            if self.grid():
                raise DioptraLabError("Run here runs one set of values; turn the sweeps off, or Submit")
            assert self.entrypoint is not None
            return api.run(self.entrypoint, **values)

        self.run_button.disabled = True
        try:
            result = guarded(go, self.error_area)
        finally:
            self._update()
        if result is not None:
            self.last_result = result
            self.output.outputs = ()
            self.output.append_display_data(result.summary())
            if self.on_run is not None:
                self.on_run(result)
        return result
