"""The Voila dashboards in a real browser: presets from the URL, submit, live job row, plots.

Every request a page makes must go to this machine (the dashboards render offline), and
nothing may be logged as an error in the browser's console.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import REPO, BrowserPage, Server

pytestmark = pytest.mark.e2e

JOB_TIMEOUT = 240_000  # ms: a 2-epoch CNN and FGSM on the CPU take ~20 s; the worker may be busy
EXPERIMENT = f"e2e-dashboards-{uuid.uuid4().hex[:6]}"


def assert_offline_and_clean(page: BrowserPage) -> None:
    assert page.requests, "no request was recorded"
    assert page.remote_requests() == [], "requests that left this machine"
    assert page.console_errors == [], "errors in the browser's console"
    print(f"{len(page.requests)} requests, every one to 127.0.0.1; no console error")


def test_launcher_presets_submit_live_status_and_plots(
    page: BrowserPage, voila_dashboard: Server, worker: str
) -> None:
    url = voila_dashboard.address(
        "voila/render/launcher.ipynb",
        entrypoint="examples/quickstart.yaml",
        eps="0.2",
        epochs="2",
        queue=worker,
        experiment=EXPERIMENT,
    )
    started = time.monotonic()
    page.page.goto(url, wait_until="commit")
    page.page.get_by_text("Executing").wait_for()  # Voila's spinner while the cells run
    page.shot("launcher-loading")
    submit = page.page.get_by_role("button", name="Submit")
    submit.wait_for(timeout=90_000)
    rendered = time.monotonic() - started
    eps = page.page.locator(".dioptra-lab-field-eps input")
    assert eps.input_value() == "0.2"
    assert page.page.locator(".dioptra-lab-field-epochs input").input_value() == "2"
    assert page.page.locator("select").first.input_value().startswith("examples/quickstart.yaml")
    assert "token" not in page.page.inner_text("body")  # the query string is not echoed
    page.shot("launcher-form-with-presets")

    submit.click()
    # The job's row changes with nobody touching the page: the monitor's background thread
    # updates its widgets, and the updates reach the page through its websocket.
    page.page.get_by_text("running", exact=True).wait_for(timeout=JOB_TIMEOUT)
    page.shot("launcher-job-running")
    page.page.get_by_text("finished", exact=True).wait_for(timeout=JOB_TIMEOUT)
    page.shot("launcher-job-finished")
    figure = page.page.locator("img.dioptra-lab-figure-adversarial_examples")
    figure.wait_for(timeout=60_000)
    page.page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 100", arg=figure.element_handle()
    )
    assert page.page.locator("table.dioptra-lab-metrics").get_by_text("adversarial accuracy").count() == 1
    page.shot("launcher-results")
    page.shot("launcher-figure", target=figure)
    print(f"launcher rendered in {rendered:.1f}s, job and plots after {time.monotonic() - started:.1f}s")
    assert_offline_and_clean(page)


def test_results_explorer_table_plot_and_csv(
    page: BrowserPage, voila_dashboard: Server, worker: str, builtin_runs: str
) -> None:
    url = voila_dashboard.address("voila/render/results.ipynb", experiment=builtin_runs)
    page.page.goto(url)
    run = page.page.locator("table.dioptra-lab-results tr.dioptra-lab-run").first
    run.wait_for(timeout=90_000)
    assert "adversarial_accuracy" in page.page.locator("table.dioptra-lab-results thead").inner_text()
    assert page.page.locator("select").first.input_value() == builtin_runs
    link = page.page.locator("a[download]").first
    href = link.get_attribute("href") or ""
    assert href.startswith("data:text/csv"), href[:80]  # the download is made in the page, offline
    assert "adversarial_accuracy" in link_text(page, href)
    page.shot("results-explorer")
    assert_offline_and_clean(page)


def link_text(page: BrowserPage, href: str) -> str:
    """The text a ``data:`` link downloads, decoded by the browser itself."""
    return str(page.page.evaluate("async (href) => await (await fetch(href)).text()", href))


@pytest.fixture(scope="module")
def builtin_runs(worker: str) -> str:
    """An experiment with a finished quickstart run: the launcher test's, or one submitted here."""
    from dioptra_lab import api
    from dioptra_lab.jobs import submit
    from dioptra_lab.plugins.registry import Registry, set_registry

    if any(job.status.value == "finished" for job in api.list_jobs(EXPERIMENT)):
        return EXPERIMENT
    set_registry(Registry([REPO / "plugins"]))
    try:
        job: Any = submit(
            REPO / "examples" / "quickstart.yaml", {"epochs": 2}, experiment=EXPERIMENT, queue=worker
        )
    finally:
        set_registry(None)
    assert job.wait(timeout=JOB_TIMEOUT / 1000).value == "finished", job.info()
    return EXPERIMENT
