"""The Voila dashboards in notebooks/dashboards run top to bottom with Papermill on the test stack.

The launcher is run with ``submit_now``: it submits the preset values of the quickstart to
the session's worker, waits for the job and shows its metrics and plots, all as widgets; the
widgets' state that Papermill stores in the notebook is what the assertions read.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "notebooks" / "dashboards"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
EXPERIMENT = f"dashboards-{uuid.uuid4().hex[:6]}"

pytestmark = pytest.mark.integration


def run(name: str, out: Path, monkeypatch: pytest.MonkeyPatch, **parameters: Any) -> nbformat.NotebookNode:
    """Execute dashboard ``name`` as CI does; the kernel gets the built-in plugins."""
    monkeypatch.setenv("DIOPTRA_LAB_PLUGIN_PATH", str(REPO / "plugins"))
    papermill.execute_notebook(
        str(DASHBOARDS / f"{name}.ipynb"),
        str(out),
        parameters=parameters,
        cwd=str(DASHBOARDS),
        kernel_name="python3",
        progress_bar=False,
    )
    return nbformat.read(out, as_version=4)


def widget_outputs(nb: nbformat.NotebookNode) -> list[str]:
    return [
        out["data"][WIDGET_VIEW]["model_id"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if WIDGET_VIEW in out.get("data", {})
    ]


def widget_state(nb: nbformat.NotebookNode) -> dict[str, dict[str, Any]]:
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    assert state, "Papermill stored no widget state"
    return dict(state)


def texts(state: dict[str, dict[str, Any]], model: str) -> list[str]:
    return [str(m["state"].get("value", "")) for m in state.values() if m["model_name"] == model]


def test_dashboards_are_hidden_code() -> None:
    """Every code cell is hidden (Voila strips them anyway); the launcher has a parameters cell."""
    for path in sorted(DASHBOARDS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code, path.name
        assert all(c.metadata.get("jupyter", {}).get("source_hidden") for c in code), path.name
        assert any("parameters" in c.metadata.get("tags", []) for c in code), path.name
    assert {p.stem for p in DASHBOARDS.glob("*.ipynb")} >= {"launcher", "results"}


def test_launcher_lists_the_parameters_submits_and_shows_the_plots(
    worker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = run(
        "launcher",
        tmp_path / "launcher.ipynb",
        monkeypatch,
        entrypoint="examples/quickstart.yaml",
        presets={"eps": "0.2", "epochs": "2"},
        queue=worker,
        experiment=EXPERIMENT,
        submit_now=True,
    )
    assert widget_outputs(nb), "the launcher displayed no widget"
    state = widget_state(nb)
    html = "\n".join(texts(state, "HTMLModel"))
    for name in ("eps", "epochs", "n_test", "seed"):  # the quickstart's parameters, one field each
        assert f"<b>{name}</b>" in html, name
    assert 0.2 in [m["state"].get("value") for m in state.values() if m["model_name"] == "FloatTextModel"]
    classes = {
        c for m in state.values() if m["model_name"] == "ImageModel" for c in m["state"]["_dom_classes"]
    }
    assert "dioptra-lab-figure-adversarial_examples" in classes, classes
    assert "dioptra-lab-metrics" in html
    assert "adversarial accuracy" in html
    # nothing but widgets on the page: no stray text, no progress bars drawn by libraries
    stray = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if WIDGET_VIEW not in out.get("data", {})
    ]
    assert stray == []
    assert len(widget_outputs(nb)) == 1, "the launcher is one widget"


def test_results_explorer_shows_the_experiment(
    services: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dioptra_lab import api

    nb = run("results", tmp_path / "results.ipynb", monkeypatch, experiment=EXPERIMENT)
    assert widget_outputs(nb), "the results explorer displayed no widget"
    state = widget_state(nb)
    dropdowns = [m["state"] for m in state.values() if m["model_name"] == "DropdownModel"]
    assert any(d.get("description") == "experiment" for d in dropdowns)
    if api.list_jobs(EXPERIMENT):  # the launcher's run, when that test ran first
        html = "\n".join(texts(state, "HTMLModel"))
        assert "dioptra-lab-run" in html
        assert "data:text/csv" in html
