"""Browser tests: Debian's Chromium driven by Playwright, a real JupyterLab, standalone Voila.

Chromium is ``/usr/bin/chromium`` from Debian's package (``make test`` installs it); Playwright
only drives it: never ``playwright install``, which downloads a browser and fails here. Each test
gets a fresh page whose requests, console errors and page errors are recorded, and a ``shot``
helper that saves numbered screenshots under the test's ``tmp_path``; a failing test gets a last
screenshot and its report names the folder.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dioptra_lab.processes import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
LOCAL_HOSTS = ("127.0.0.1",)
# The height of the page's content, wherever it scrolls
TALLEST = """() => Math.ceil(Math.max(
  ...Array.from(document.querySelectorAll('*'), (e) => e.getBoundingClientRect().top + e.scrollHeight)
))"""


def wait_http(
    url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None
) -> None:
    """Poll ``url`` until it answers 200; fail early (with the log's tail) if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.is_file() else ""
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM ``proc``'s process group (it was started in its own session), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# -- the browser ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium (Debian's) for the session."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: `make chromium` (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@dataclass
class BrowserPage:
    """A page with what it did recorded: every request, console errors and page errors."""

    page: Any
    folder: Path
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def shot(self, name: str, target: Any = None) -> Path:
        """Save a screenshot as ``NN-name.png`` in :attr:`folder` and return its path.

        Args:
            name: Says what it shows.
            target: A locator to photograph alone; by default the whole page, however long
                (Voila and JupyterLab scroll inside an element, which a "full page" screenshot
                would cut at the window's height, so the window grows to the content first).
        """
        path = self.folder / f"{len(self.shots) + 1:02d}-{name}.png"
        if target is not None:
            target.screenshot(path=str(path))
        else:
            size = self.page.viewport_size or VIEWPORT
            height = self.page.evaluate(TALLEST)
            self.page.set_viewport_size(
                {"width": size["width"], "height": max(size["height"], min(height, 8000))}
            )
            try:
                self.page.screenshot(path=str(path), full_page=True)
            finally:
                self.page.set_viewport_size(size)
        self.shots.append(path)
        return path

    def remote_requests(self) -> list[str]:
        """The requests that went anywhere but this machine (``data:``/``blob:`` URLs are local)."""
        from urllib.parse import urlsplit

        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in ("data", "blob", "about")
            and urlsplit(url).hostname not in LOCAL_HOSTS
        ]


@pytest.fixture
def page(browser: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[BrowserPage]:
    """A fresh page (own context) recording requests and errors; screenshots under ``tmp_path``."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    pg = context.new_page()
    recorded = BrowserPage(pg, folder)
    pg.on("request", lambda req: recorded.requests.append(req.url))
    pg.on(
        "console",
        lambda msg: (
            recorded.console_errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    pg.on("pageerror", lambda exc: recorded.console_errors.append(f"pageerror: {exc}"))
    request.node.browser_page = recorded  # for the failure report (pytest_runtest_makereport)
    yield recorded
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, take a last screenshot and name the screenshots' folder in the report."""
    outcome = yield
    report = outcome.get_result()
    recorded: BrowserPage | None = getattr(item, "browser_page", None)
    if recorded is None or report.when != "call" or not report.failed:
        return
    try:
        recorded.shot("failure")
    except Exception as exc:  # the page may be gone
        report.sections.append(("screenshots", f"no failure screenshot: {exc}"))
    listing = "\n".join(str(p) for p in recorded.shots)
    report.sections.append(("screenshots", f"kept in {recorded.folder}:\n{listing}"))
    print(f"\nscreenshots of {item.nodeid}: {recorded.folder}", file=sys.stderr)


# -- the servers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Server:
    """A server under test: its base address and token."""

    url: str
    token: str

    def address(self, path: str, **query: str) -> str:
        """``url/path?token=…&k=v`` (``path`` without the leading slash)."""
        from urllib.parse import urlencode

        return f"{self.url}/{path}?{urlencode({'token': self.token, **query})}"


@pytest.fixture(scope="session")
def jupyter_lab(stack_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``jupyter lab`` over the repository for the session, with the stack's environment."""
    port = free_port()
    token = secrets.token_hex(16)
    state = tmp_path_factory.mktemp("jupyter-lab")
    log = state / "jupyter-lab.log"
    # no "get notified about official Jupyter news?" prompt over the page
    news = state / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false", "checkForUpdates": false}')
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.token={token}",
        "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        "--allow-root",
        f"--ServerApp.root_dir={REPO}",
        # nothing from the internet, and nothing written into the user's own Lab settings
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.workspaces_dir={state / 'workspaces'}",
        f"--LabApp.user_settings_dir={state / 'settings'}",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/api/status?token={token}", 90, proc, log)
        yield Server(url, token)
    finally:
        stop_group(proc)


@pytest.fixture(scope="session")
def voila_dashboard(worker: str) -> Server:
    """The stack's standalone Voila over notebooks/dashboards, as ``dioptra-lab dashboard`` starts it.

    The stack is the session's (Redis, MLflow, Prefect and a worker on the ``tests`` queue); the
    dashboards' kernels get the built-in plugins, which the examples use. ``Stack.down()`` at the
    session's end stops it with the other services.
    """
    from dioptra_lab.config import load_settings
    from dioptra_lab.stack import Stack
    from dioptra_lab.stack.voila import read_token

    settings = load_settings(REPO)
    settings.plugin_path = [REPO / "plugins"]
    stack = Stack(settings)
    running = {s.name: s for s in stack.status()}.get("voila")
    if running and running.details.get("plugin_path") != str(REPO / "plugins"):
        stack.stop_dashboards()  # started by an earlier `up` with the test plugins: not ours
    url = stack.ensure_dashboards()
    token = read_token(stack.home)
    assert token is not None
    return Server(url, token)


@pytest.fixture(scope="session")
def stack_lab(worker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The stack's own JupyterLab (``dioptra-lab up`` starts it) with the extension.

    It serves a copy of the repository's ``examples/`` and ``notebooks/`` (so the notebooks
    the tests save or create stay out of the repository); jobs go to the session's worker on the
    ``tests`` queue; the Lab's kernels and the REST API get the built-in plugins, which the
    examples use. Its Lab settings and workspaces live in a temporary folder, so nothing is
    written into the user's own Lab settings.
    """
    import shutil

    from dioptra_lab.config import load_settings
    from dioptra_lab.stack import Stack
    from dioptra_lab.stack.base import read_secret
    from dioptra_lab.stack.lab import TOKEN_FILE

    state = tmp_path_factory.mktemp("stack-lab")
    root = state / "project"
    for folder in ("examples", "notebooks"):
        shutil.copytree(REPO / folder, root / folder)
    # no "get notified about official Jupyter news?" prompt over the page
    news = state / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false", "checkForUpdates": false}')
    os.environ["JUPYTERLAB_SETTINGS_DIR"] = str(state / "settings")
    os.environ["JUPYTERLAB_WORKSPACES_DIR"] = str(state / "workspaces")
    settings = load_settings(REPO)
    settings.plugin_path = [REPO / "plugins"]
    stack = Stack(settings)
    stack.stop_lab()  # one started by an earlier test with other settings is not ours
    url = stack.ensure_lab(root=root)
    token = read_secret(stack.home, TOKEN_FILE)
    assert token is not None
    yield Server(url, token)
    stack.stop_lab()
