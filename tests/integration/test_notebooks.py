"""Every notebook in notebooks/ runs top to bottom with Papermill, and shows what it should.

The tutorials run against the session's real stack (Redis, MLflow, Prefect, a worker on the
queue ``tests``); small parameters keep them quick. Each notebook's outputs are checked: the
figures are images (not ``<Figure size …>`` text), the results name their metrics, and the
libraries' INFO lines stay out of the cells.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
pytestmark = pytest.mark.integration


def outputs_of(cell: Any) -> list[dict[str, Any]]:
    return list(cell.get("outputs", []))


def mimes(cell: Any) -> set[str]:
    return {m for o in outputs_of(cell) for m in o.get("data", {})}


def text_of(cell: Any) -> str:
    parts = []
    for output in outputs_of(cell):
        parts.append(str(output.get("text", "")))
        parts.extend(str(v) for v in output.get("data", {}).values())
    return "\n".join(parts)


def cell_running(nb: Any, snippet: str) -> Any:
    found = [c for c in nb.cells if c.cell_type == "code" and snippet in c.source]
    assert found, f"no cell runs {snippet!r}"
    return found[0]


def no_noise(nb: Any) -> None:
    for cell in nb.cells:
        for output in outputs_of(cell):
            text = str(output.get("text", ""))
            data = output.get("data", {})
            if "<Figure size" in str(data.get("text/plain", "")) + text:
                assert "image/png" in data, f"a figure came back as text only: {cell.source}"
            for noise in (" INFO ", "alembic"):
                assert noise not in text, f"log noise in a cell: {text[:300]}"


def check_quickstart(nb: Any) -> None:
    assert {"text/html"} <= mimes(cell_running(nb, "ep  # its parameters"))
    assert "<svg" in text_of(cell_running(nb, "ep  # its parameters"))
    assert "image/png" in mimes(cell_running(nb, "robustness_figure(eps_values"))
    assert "image/png" in mimes(cell_running(nb, '.output("examples")'))
    detail = cell_running(nb, "runs[eps_values[1]]")
    assert "application/vnd.dioptra-lab.results+json" in mimes(detail)
    assert "image/png" in mimes(detail)  # the steps' figures, inline
    for metric in ("clean", "robust", "success"):
        assert metric in text_of(detail)
    no_noise(nb)


def check_build_and_submit(nb: Any) -> None:
    assert "<svg" in text_of(cell_running(nb, "builder.entrypoint"))
    assert "adversarial" in text_of(cell_running(nb, 'builder.sources("robust"'))
    assert "robust:" in text_of(cell_running(nb, "builder.save("))  # the YAML written
    assert "application/vnd.jupyter.widget-view+json" in mimes(cell_running(nb, "JobMonitor("))
    assert "finished" in text_of(cell_running(nb, "job.wait("))
    assert "clean_accuracy" in text_of(cell_running(nb, "job.results()"))
    assert "application/vnd.jupyter.widget-view+json" in mimes(cell_running(nb, "ResultsView("))
    no_noise(nb)


def check_sweep_and_compare(nb: Any) -> None:
    assert "finished" in text_of(cell_running(nb, "sweep.wait("))
    assert "image/png" in mimes(cell_running(nb, "comparison_figure("))
    assert "adversarial_accuracy" in text_of(cell_running(nb, "results.table()"))
    soundness = json.dumps(text_of(cell_running(nb, "soundness_checks:")))
    assert "eps_zero_is_clean" in soundness
    no_noise(nb)


SMALL: dict[str, tuple[dict[str, Any], Callable[[Any], None]]] = {
    "01_quickstart": ({"epochs": 3, "n_test": 60, "eps_values": [0.0, 0.1, 0.3]}, check_quickstart),
    "02_build_and_submit": ({"epochs": 2, "n_test": 60, "queue": "tests"}, check_build_and_submit),
    "03_sweep_and_compare": (
        {"epochs": 2, "n_test": 60, "eps_values": [0.05, 0.2], "steps_values": [2, 5], "queue": "tests"},
        check_sweep_and_compare,
    ),
}


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_runs_and_shows_its_results(
    path: Path, worker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert path.stem in SMALL, f"add {path.name} to SMALL with the checks of its outputs"
    parameters, check = SMALL[path.stem]
    monkeypatch.setenv("DIOPTRA_LAB_PLUGIN_PATH", str(NOTEBOOKS.parent / "plugins"))
    out = tmp_path / path.name
    papermill.execute_notebook(
        str(path),
        str(out),
        parameters=parameters,
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        progress_bar=False,
    )
    check(nbformat.read(str(out), as_version=4))
    assert not (NOTEBOOKS / "mlruns").exists(), "MLflow wrote a stray mlruns/ next to the notebook"
    assert not (NOTEBOOKS / ".dioptra_lab").exists(), "a second stack home appeared under notebooks/"


def test_there_are_notebooks() -> None:
    assert sorted(NOTEBOOKS.glob("*.ipynb"))
