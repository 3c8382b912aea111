"""The notebook widgets, headless, over the real stack: form → queue → monitor → results."""

from __future__ import annotations

import html
import subprocess
import sys
import uuid
from pathlib import Path

import ipywidgets as w
import pytest
from matplotlib.figure import Figure

from dioptra_lab import api
from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.errors import ParameterError
from dioptra_lab.jobs import JobStatus
from dioptra_lab.processes import free_port
from dioptra_lab.tracking.client import client
from dioptra_lab.widgets.form import ParameterForm
from dioptra_lab.widgets.monitor import JobMonitor
from dioptra_lab.widgets.results import ResultsView
from tests.conftest import ENTRYPOINTS, wait_for

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
WAIT = 180
SCALED = ENTRYPOINTS / "scaled.yaml"  # factor: float in [0, 10] (the input of hello_plugin's scale)
PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def experiment() -> str:
    return f"widgets-{uuid.uuid4().hex[:8]}"


def test_form_checks_in_the_cli_words_and_submits(worker: str, registry: object, experiment: str) -> None:
    form = ParameterForm(str(SCALED), experiment=experiment, queue=worker)
    assert form.banner.value == ""
    assert isinstance(form.sliders["factor"], w.FloatSlider)
    assert isinstance(form.queue, w.Dropdown)
    assert worker in form.queue.options

    form.fields["factor"].value = 11
    with pytest.raises(ParameterError) as caught:
        load_entrypoint(SCALED).coerce({"factor": "11"}, from_text=True)
    message = caught.value.problems[0]
    cli = subprocess.run(
        [str(BIN / "dioptra-lab"), "submit", str(SCALED), "-p", "factor=11", "--queue", worker],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode != 0
    assert message in cli.stderr
    assert html.escape(message) in form.errors["factor"].value
    assert form.submit_button.disabled

    form.fields["factor"].value = 4
    assert form.errors["factor"].value == ""
    assert not form.submit_button.disabled
    seen: list[list[object]] = []
    form.on_submit = seen.append
    form.submit_button.click()
    assert form.error_area.value == ""
    assert len(form.submitted) == 1
    assert seen == [form.submitted]
    job = form.submitted[0]
    assert job.id in str(form.output.outputs)
    assert job.wait(WAIT) == JobStatus.FINISHED

    monitor = JobMonitor(form.submitted, autostart=False)
    assert monitor.refresh() is False  # nothing left to watch
    row = monitor.rows[job.id]
    assert "finished" in row.status.value
    assert row.bar.value == row.bar.max
    assert row.cancel_button.disabled
    assert f"/runs/{job.id}" in row.links.value
    assert "notebook" in row.links.value
    calls = monitor.calls
    monitor.refresh()
    assert monitor.calls == calls  # a finished job's info is kept: no more service calls
    row.log_panel.selected_index = 0  # unfold the log tail
    assert row.log.value  # the kernel's output, from the run's artifact


def test_run_here_shows_the_summary(prefect_server: str, registry: object) -> None:
    results: list[object] = []
    form = ParameterForm(SCALED, presets={"factor": "3"}, on_run=results.append)
    form.run_button.click()
    assert form.error_area.value == ""
    assert form.last_result is not None
    assert results == [form.last_result]
    assert form.last_result.results["scored"] == 6.0
    assert form.output.outputs
    assert "scored" in str(form.output.outputs)


def test_failed_job_shows_its_step_and_exception(worker: str, registry: object, experiment: str) -> None:
    form = ParameterForm(ENTRYPOINTS / "failing.yaml", experiment=experiment, queue=worker)
    [job] = form.submit()
    monitor = JobMonitor([job], autostart=False)
    assert job.wait(WAIT) == JobStatus.FAILED
    monitor.refresh()
    row = monitor.rows[job.id]
    assert "failed" in row.status.value
    assert "bad_step" in row.failure.value
    assert "ZeroDivisionError" in row.failure.value


def test_cancel_from_the_row(worker: str, registry: object, experiment: str) -> None:
    form = ParameterForm(
        ENTRYPOINTS / "slow.yaml", presets={"seconds": "60"}, experiment=experiment, queue=worker
    )
    [job] = form.submit()
    monitor = JobMonitor(job, autostart=False)
    row = monitor.rows[job.id]
    wait_for(
        lambda: monitor.refresh() and row.info is not None and row.info.status == JobStatus.RUNNING,
        WAIT,
        "the slow job to run",
    )
    assert not row.cancel_button.disabled
    row.cancel_button.click()
    assert monitor.error_area.value == ""
    assert "cancelled" in row.status.value
    assert job.status == JobStatus.CANCELLED
    assert row.cancel_button.disabled


def test_sweep_from_the_form_and_its_results(worker: str, registry: object, experiment: str) -> None:
    form = ParameterForm(SCALED, experiment=experiment, queue=worker)
    form.sweep_toggles["factor"].value = True
    form.sweep_fields["factor"].value = "1, 3"
    jobs = form.submit()
    assert len(jobs) == 2
    assert form.last_sweep is not None
    sweep = form.last_sweep

    monitor = JobMonitor(jobs, interval=1.0)  # added as plain jobs: grouped by their sweep tag
    assert list(monitor.sweeps) == [sweep.id]
    header = monitor.sweeps[sweep.id]
    assert header.jobs == [monitor.rows[j.id] for j in jobs]
    assert sweep.wait(WAIT) == ["finished", "finished"]
    wait_for(lambda: not monitor.refresher.running, 30, "the background updates to stop")
    assert "2/2 done" in header.label.value
    assert header.bar.value == 2

    attached = JobMonitor(experiment=experiment, autostart=False)  # every job of the experiment
    assert {j.id for j in jobs} <= set(attached.rows)
    assert list(attached.sweeps) == [sweep.id]
    attached.close()
    for other in (JobMonitor([sweep], autostart=False), JobMonitor(sweep=sweep.id, autostart=False)):
        assert list(other.sweeps) == [sweep.id]
        assert set(other.rows) == {j.id for j in jobs}
        assert "2/2 done" in other.sweeps[sweep.id].label.value

    view = ResultsView(experiment, sweep=sweep)
    assert view.experiment.value == experiment
    assert {r.run_id for r in view.rows} == {j.id for j in jobs}
    assert all("custom_score" in r.metrics for r in view.rows)
    view.sort_by.value = "custom_score"
    view.ascending.value = False
    assert [r.metrics["custom_score"] for r in view.rows] == [30.0, 10.0]
    view.ascending.value = True
    assert [r.params["factor"] for r in view.rows] == ["1.0", "3.0"]
    view.metric.value, view.param.value = "custom_score", "factor"
    assert bytes(view.plot.value).startswith(PNG)
    assert "data:text/csv;base64," in view.csv.value
    assert jobs[0].id in view.table.value

    view.sweep_filter.value = ""
    view.status_filter.value = "finished"
    assert sweep.jobs[0].id in {r.run_id for r in view.rows}
    assert all(r.status == JobStatus.FINISHED for r in view.rows)

    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    client().log_figure(jobs[0].id, fig, "figures/check.png")
    view.run_picker.value = jobs[0].id
    images = [c for c in view.figures.children if isinstance(c, w.Image)]
    assert len(images) == 1
    assert bytes(images[0].value).startswith(PNG)
    assert api.run_figures(jobs[0].id) == ["figures/check.png"]


def test_stack_down_shows_one_banner_and_submits_nothing(
    registry: object, worker: str, experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(api.list_jobs(experiment))
    with monkeypatch.context() as patch:
        patch.setenv("DIOPTRA_LAB_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
        patch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
        form = ParameterForm(SCALED, experiment=experiment, queue=worker)
        assert "dioptra-lab up" in form.banner.value
        assert "Traceback" not in form.banner.value
        form.submit_button.click()
        assert form.submitted == []
        assert form.error_area.value == ""
        assert JobMonitor(experiment=experiment).banner.value  # the monitor waits on nothing either
    assert len(api.list_jobs(experiment)) == before


def test_lab_builds_runs_and_follows_a_job(worker: str, registry: object, experiment: str) -> None:
    from dioptra_lab.widgets.lab import TITLES, lab

    ui = lab(experiment=experiment)
    assert [ui.tabs.get_title(i) for i in range(len(TITLES))] == list(TITLES)
    assert "score" in ui.tasks.visible
    ui.builder.add_step("score", name="doubled")
    ui.builder.bind("doubled", "x", parameter="x")
    assert not ui.builder.problems, ui.builder.problems
    ui.use_button.click()  # the graph being built opens in the Run tab's form
    assert ui.tabs.selected_index == TITLES.index("Run")
    assert set(ui.form.fields) == {"x"}
    field = ui.form.fields["x"]
    field.value = "2.5" if isinstance(field, w.Text) else 2.5
    ui.form.queue.value = worker
    assert not ui.form.submit_button.disabled
    ui.form.submit_button.click()
    assert len(ui.form.submitted) == 1
    assert ui.tabs.selected_index == TITLES.index("Jobs")  # the monitor follows what was submitted
    job = ui.form.submitted[0]
    assert job.id in ui.monitor.rows
    assert job.wait(WAIT) == JobStatus.FINISHED
    ui.monitor.refresh()
    assert "finished" in ui.monitor.rows[job.id].status.value
    ui.monitor.close()
