"""The JupyterLab extension in Debian's Chromium, on the stack's own JupyterLab.

A researcher's path without a line of code: open an entry point, Submit to queue, fill the
form (a wrong value first: the message shows next to its field), watch the job in the side
panel move and finish, open its executed notebook and see the results drawn by the MIME
renderer. Then the launcher card that starts a notebook with the Lab widget, and a dashboard
through the Lab server's Voila, which loads every Lab extension (ours must not fail there).
Every step is photographed under the test's ``tmp_path``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import BrowserPage, Server

pytestmark = pytest.mark.e2e

EXPERIMENT = "e2e-lab-extension"


def own_errors(page: BrowserPage) -> list[str]:
    """Console errors other than the browser's own "Failed to load resource" lines (a 409 for a
    notebook asked too early is an answer, not a fault: the panel shows it)."""
    return [e for e in page.console_errors if "Failed to load resource" not in e]


def open_panel(pg: Any) -> Any:
    pg.locator('.jp-SideBar .lm-TabBar-tab[data-id="dioptra-lab-panel"]').click()
    panel = pg.locator(".jp-DioptraLab-panel")
    panel.wait_for()
    return panel


def test_submit_from_lab_and_see_results(page: BrowserPage, stack_lab: Server, worker: str) -> None:
    pg = page.page
    pg.goto(stack_lab.address("lab/tree/examples/quickstart.yaml", reset=""))
    pg.locator(".jp-FileEditor").first.wait_for(timeout=60_000)

    # the side panel: the stack's services, the session's worker and its queue
    panel = open_panel(pg)
    for service in ("redis", "mlflow", "prefect"):
        row = panel.locator(f'.jp-DioptraLab-service[data-service="{service}"]')
        row.wait_for()
        assert row.get_attribute("data-running") == "true", f"{service} shown as down"
    assert panel.locator(".jp-DioptraLab-service-ui").count() >= 2, "no links to the MLflow and Prefect UIs"
    mlflow_link = panel.locator('.jp-DioptraLab-service[data-service="mlflow"] a.jp-DioptraLab-service-ui')
    assert (mlflow_link.get_attribute("href") or "").startswith("http://127.0.0.1:")
    worker_row = panel.locator(".jp-DioptraLab-worker").first
    worker_row.wait_for()
    assert worker in worker_row.locator(".jp-DioptraLab-worker-queues").inner_text()
    page.shot("panel-stack")

    # Submit to queue: the form is generated from the entry point's parameters
    pg.locator(".jp-DioptraLab-submitButton:visible").first.click()
    dialog = pg.locator(".jp-DioptraLab-submitDialog")
    dialog.wait_for()
    form = dialog.locator(".jp-DioptraLab-submitForm")
    assert form.get_attribute("data-entrypoint") == "examples/quickstart.yaml"
    fields = dialog.locator(".jp-DioptraLab-field").evaluate_all("ns => ns.map(n => n.dataset.param)")
    assert set(fields) == {"eps", "epochs", "n_test", "seed"}

    # a wrong value first: the server's message shows next to its field, nothing is submitted
    epochs = dialog.locator('.jp-DioptraLab-field[data-param="epochs"]')
    epochs.locator(".jp-DioptraLab-field-input").fill("many")
    error = dialog.locator('.jp-DioptraLab-field-error[data-param="epochs"]')
    error.wait_for()
    pg.wait_for_function(
        "() => document.querySelector('.jp-DioptraLab-field[data-param=\"epochs\"]')"
        "?.getAttribute('data-invalid') === 'true'"
    )
    assert "epochs" in error.inner_text() or "int" in error.inner_text().lower()
    page.shot("submit-dialog-invalid")

    # long enough (a few seconds of training) for the panel to show it running: with warm
    # kernels, a 2-epoch job can end between two refreshes of the panel
    epochs.locator(".jp-DioptraLab-field-input").fill("15")
    dialog.locator('.jp-DioptraLab-field[data-param="eps"] .jp-DioptraLab-field-input').fill("0.2")
    dialog.locator('.jp-DioptraLab-field[data-param="n_test"] .jp-DioptraLab-field-input').fill("50")
    dialog.locator("input.jp-DioptraLab-experiment").fill(EXPERIMENT)
    dialog.locator("select.jp-DioptraLab-queue").select_option(worker)
    pg.wait_for_function(
        "() => document.querySelector('.jp-DioptraLab-submitForm')?.getAttribute('data-valid') === 'true'"
    )
    page.shot("submit-dialog-valid")
    dialog.locator(".jp-DioptraLab-submitOk").click()
    dialog.wait_for(state="detached", timeout=60_000)

    # the job appears in the panel, its progress bar moves, it finishes
    ours = pg.locator(".jp-DioptraLab-job-experiment", has_text=EXPERIMENT)
    row = panel.locator(".jp-DioptraLab-job", has=ours)
    row.first.wait_for(timeout=30_000)
    job_id = row.first.get_attribute("data-job-id")
    row = panel.locator(f'.jp-DioptraLab-job[data-job-id="{job_id}"]')
    pg.wait_for_function(
        """(id) => {
            const row = document.querySelector(`.jp-DioptraLab-job[data-job-id="${id}"]`);
            const bar = row?.querySelector('.jp-DioptraLab-progress');
            const label = row?.querySelector('.jp-DioptraLab-progress-label')?.textContent ?? '';
            return bar && Number(bar.getAttribute('aria-valuenow')) > 0 && label.includes('step');
        }""",
        arg=job_id,
        timeout=180_000,
    )
    page.shot("job-running")
    pg.wait_for_function(
        '(id) => document.querySelector(`.jp-DioptraLab-job[data-job-id="${id}"]`)'
        "?.dataset.status === 'finished'",
        arg=job_id,
        timeout=300_000,
    )
    # a job submitted from this Lab ends with a notification
    toast = pg.locator(".Toastify__toast", has_text="finished")
    toast.first.wait_for(timeout=30_000)
    page.shot("job-finished")

    # its executed notebook opens in Lab; the results are drawn by the MIME renderer
    row.locator('[data-action="notebook"]').click()
    results = pg.locator(".jp-NotebookPanel .jp-DioptraLab-results")
    results.first.wait_for(timeout=60_000)
    # Lab renders cells out of view lazily (content-visibility): bring the output into view
    results.first.scroll_into_view_if_needed()
    steps = results.first.locator("table.jp-DioptraLab-results-steps tr[data-step]")
    names = steps.evaluate_all("ns => ns.map(n => n.dataset.step)")
    assert {"digits", "model", "adversarial"} <= set(names), names
    values = results.first.locator("table.jp-DioptraLab-results-values tr[data-result]")
    assert values.count() >= 1
    params = results.first.locator(".jp-DioptraLab-results-params").text_content() or ""
    assert "eps" in params, params
    assert "0.2" in params, params
    page.shot("executed-notebook-results")
    page.shot("results-output", results.first)
    assert own_errors(page) == [], "errors in the browser's console"


def test_launcher_card_opens_the_lab_widget(page: BrowserPage, stack_lab: Server) -> None:
    pg = page.page
    pg.goto(stack_lab.address("lab", reset=""))
    card = pg.locator('.jp-LauncherCard[data-category="Dioptra Lab"]', has_text="Dioptra Lab experiment")
    card.wait_for(timeout=60_000)
    dashboards = pg.locator('.jp-LauncherCard[data-category="Dioptra Lab"]', has_text="dashboard")
    assert dashboards.count() == 2, "one card per dashboard (launcher, results)"
    page.shot("launcher")
    card.click()
    notebook = pg.locator(".jp-NotebookPanel").last
    notebook.wait_for(timeout=60_000)
    notebook.locator(".jp-CodeCell", has_text="dioptra_lab.lab()").first.wait_for(timeout=60_000)
    # the cell ran: the widget's tabs (Tasks | Build | Run | Jobs | Results) are there
    tabs = ".jp-OutputArea-output .lm-TabBar-tab, .jp-OutputArea-output .widget-tab"
    tab = notebook.locator(tabs, has_text="Tasks")
    tab.first.wait_for(timeout=120_000)
    page.shot("experiment-notebook")
    assert own_errors(page) == [], "errors in the browser's console"


def test_extension_is_quiet_inside_voila(page: BrowserPage, stack_lab: Server) -> None:
    """Voila (here on the Lab server, which loads every Lab extension) renders a dashboard with
    the extension loaded, and nothing of it fails in the page."""
    pg = page.page
    pg.goto(stack_lab.address("voila/render/notebooks/dashboards/results.ipynb"))
    pg.locator(".jupyter-widgets").first.wait_for(timeout=120_000)
    assert any("dioptra-lab" in url for url in page.requests), "Voila did not load the extension"
    page.shot("voila-with-extension")
    errors = [e for e in page.console_errors if "dioptra" in e.lower() or "pageerror" in e]
    assert errors == [], "the extension failed inside Voila"
