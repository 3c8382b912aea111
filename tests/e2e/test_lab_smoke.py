"""JupyterLab opens in Debian's Chromium, over the repository, without an error in the console."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import BrowserPage, Server

pytestmark = pytest.mark.e2e


def test_jupyterlab_opens(page: BrowserPage, jupyter_lab: Server) -> None:
    started = time.monotonic()
    page.page.goto(jupyter_lab.address("lab"))
    # the file browser lists the repository: the Lab application has started and talks to its server
    page.page.locator(".jp-DirListing-item", has_text="notebooks").first.wait_for(timeout=60_000)
    page.page.locator(".jp-LauncherCard").first.wait_for(timeout=30_000)
    print(f"JupyterLab ready in {time.monotonic() - started:.1f}s")
    page.shot("jupyterlab")
    assert page.console_errors == [], "errors in the browser's console"
    assert page.remote_requests() == [], "requests that left this machine"
