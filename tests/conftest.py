"""Shared fixtures. Services are real and started once per session on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
PLUGINS = FIXTURES / "plugins"
ENTRYPOINTS = FIXTURES / "entrypoints"


# tests/deploy: minutes each (a fresh venv); `make deploy-check` runs them, `make test` does not
collect_ignore = [] if os.environ.get("DIOPTRA_LAB_DEPLOY_CHECKS") else ["deploy"]


def wait_for(predicate: Callable[[], object], timeout: float = 60, what: str = "condition") -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def elsewhere_environment(**extra: str) -> dict[str, str]:
    """This process's environment without the session stack's addresses and settings (a
    process on another host, or a container, knows only what it is given), with this venv's
    commands first on the PATH, plus ``extra``."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DIOPTRA_LAB_", "MLFLOW_", "PREFECT_"))}
    return {**keep, "PATH": f"{Path(sys.executable).parent}:{keep.get('PATH', '')}", **extra}


def stop_process_groups(procs: list[subprocess.Popen[bytes]], grace: float = 30) -> None:
    """SIGTERM the process group of each of ``procs`` still running, then wait for each,
    SIGKILLing a group that takes longer than ``grace`` seconds."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def process_family(pid: int) -> set[int]:
    """``pid`` and every process below it (a shelf's zygote and its kernels)."""
    from dioptra_lab.processes import descendants

    return {pid} | descendants(pid)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last. Playwright's synchronous API keeps its event loop running in the
    main thread for as long as the session's browser lives, and the in-process Jupyter server of
    the REST API's tests (pytest-jupyter) needs to run its own loop there."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


# Set before anything runs so that kernels started by Papermill inherit them; the
# stack's files never land in the repository.
os.environ["DIOPTRA_LAB_PLUGIN_PATH"] = str(PLUGINS)
os.environ["DIOPTRA_LAB_HOME"] = tempfile.mkdtemp(prefix="dioptra-lab-tests-")
os.environ.pop("PREFECT_API_URL", None)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"


@pytest.fixture
def registry() -> Iterator[object]:
    """A registry of the test plugins, installed as the process-wide one."""
    from dioptra_lab.plugins.registry import Registry, set_registry

    reg = Registry([PLUGINS])
    set_registry(reg)
    yield reg
    set_registry(None)


@pytest.fixture(scope="session")
def stack_home() -> Path:
    """The session's stack folder (``DIOPTRA_LAB_HOME``)."""
    return Path(os.environ["DIOPTRA_LAB_HOME"])


@pytest.fixture(scope="session")
def prefect_server(stack_home: Path) -> Iterator[str]:
    """One real Prefect server for the session, started by our own stack code."""
    from dioptra_lab.config import load_settings
    from dioptra_lab.stack import Stack

    stack = Stack(load_settings())
    url = stack.ensure_prefect()
    yield url
    if "mlflow" in sys.modules:  # close the local run tasks logged to here, while MLflow still answers
        sys.modules["mlflow"].end_run()
    stack.down()


# Jobs whose heartbeat is this old count as abandoned (the default, 30 s, is for real use).
os.environ["DIOPTRA_LAB_HEARTBEAT_TIMEOUT"] = "6"
JOB_QUEUE = "tests"


@pytest.fixture(scope="session")
def services(prefect_server: str, stack_home: Path) -> object:
    """Real Redis, MLflow and Prefect servers for the session, started by our Stack.

    They stop with the ``prefect_server`` fixture's ``Stack.down()`` at the session's end.
    """
    from dioptra_lab.config import load_settings
    from dioptra_lab.stack import Stack

    stack = Stack(load_settings())
    stack.ensure_redis()
    stack.ensure_mlflow()
    return Stack(load_settings())


@pytest.fixture(scope="session")
def worker(services: object) -> str:
    """One `dioptra-lab worker` process serving the queue ``tests`` for the session."""
    from dioptra_lab.stack import Stack

    assert isinstance(services, Stack)
    services.ensure_workers(1, [JOB_QUEUE])
    return JOB_QUEUE
