"""Every notebook in notebooks/ runs top to bottom with Papermill (small parameters)."""

from __future__ import annotations

from pathlib import Path

import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SMALL = {"01_quickstart": {"epochs": 3, "n_test": 60, "eps_values": [0.0, 0.1, 0.3]}}

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_runs(
    path: Path, prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIOPTRA_LAB_PLUGIN_PATH", str(NOTEBOOKS.parent / "plugins"))
    out = tmp_path / path.name
    papermill.execute_notebook(
        str(path),
        str(out),
        parameters=SMALL.get(path.stem, {}),
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        progress_bar=False,
    )
    assert out.stat().st_size > 0


def test_there_are_notebooks() -> None:
    assert sorted(NOTEBOOKS.glob("*.ipynb"))
