"""Graphs run for real: Prefect server, Papermill kernels, the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

import dioptra_lab
from dioptra_lab.engine import progress, read_results
from dioptra_lab.engine.notebook_run import execute_entrypoint
from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.entrypoints.compile import write_notebook
from dioptra_lab.errors import ExecutionError, ServiceError, StepFailedError
from dioptra_lab.plugins import Registry
from dioptra_lab.processes import pid_alive
from tests.conftest import ENTRYPOINTS, process_family

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
HELLO = ENTRYPOINTS / "hello_dioptra.yaml"
EXPECTED_HELLO = {
    "price_step": "Price, $5",
    "mixed_step": "Hey, HELLO, ANN!",
    "last_word": "ANN!",
}


def cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(BIN / "dioptra-lab"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=240,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"dioptra-lab {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_dioptra_hello_world_runs_in_process(prefect_server: str, registry: Registry) -> None:
    result = dioptra_lab.run(load_entrypoint(HELLO), name="ann")
    assert {k: result.results[k] for k in EXPECTED_HELLO} == EXPECTED_HELLO
    assert result.output("split_step", "rest") == "ann"
    assert result.output("goodbye_step") == "Goodbye, ann"
    assert all(r.seconds is not None for r in result.steps.values())
    assert result.flow_run_id


def test_same_results_three_ways(prefect_server: str, registry: Registry, tmp_path: Path) -> None:
    in_process = dioptra_lab.run(load_entrypoint(HELLO), name="ann").to_json()

    out_cli = tmp_path / "cli.ipynb"
    proc = cli("run", str(HELLO), "-p", "name=ann", "-o", str(out_cli))
    assert "shout_step" in proc.stdout
    assert "results:" in proc.stdout
    via_cli = read_results(nbformat.read(str(out_cli), as_version=4))

    compiled = write_notebook(dioptra_lab.compile(HELLO), tmp_path / "compiled.ipynb")
    out_pm = tmp_path / "pm.ipynb"
    subprocess.run(
        [str(BIN / "papermill"), str(compiled), str(out_pm), "-p", "name", "ann"],
        check=True,
        capture_output=True,
        timeout=240,
    )
    via_papermill = read_results(nbformat.read(str(out_pm), as_version=4))

    assert via_cli is not None
    assert via_papermill is not None
    assert in_process["results"] == via_cli["results"] == via_papermill["results"]
    assert via_cli["results"]["mixed_step"] == "Hey, HELLO, ANN!"
    steps = [s["name"] for s in via_papermill["steps"]]
    assert steps == list(load_entrypoint(HELLO).steps)


def test_independent_steps_run_concurrently(prefect_server: str, registry: Registry) -> None:
    events: list[progress.ProgressEvent] = []
    progress.add_listener(events.append)
    try:
        result = dioptra_lab.run(load_entrypoint(ENTRYPOINTS / "concurrent.yaml"), seconds=0.6)
    finally:
        progress.remove_listener(events.append)
    assert result.results == {"join": "left+right"}
    order = [(e.step, e.state) for e in events]
    # both slow steps start before either finishes
    first_finish = min(order.index(("left", "finished")), order.index(("right", "finished")))
    assert order.index(("left", "started")) < first_finish
    assert order.index(("right", "started")) < first_finish
    assert order.index(("join", "started")) > max(
        order.index(("left", "finished")), order.index(("right", "finished"))
    )


def test_retries(prefect_server: str, registry: Registry, tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    result = dioptra_lab.run(load_entrypoint(ENTRYPOINTS / "flaky.yaml"), marker=str(marker))
    assert result.results == {"flaky_step": 3}
    assert marker.read_text() == "3"


def test_cached_step_is_not_recomputed(
    prefect_server: str, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "train.log"
    monkeypatch.setenv("HELLO_TRAIN_LOG", str(log))
    ep = load_entrypoint(ENTRYPOINTS / "cached.yaml")
    size = 3 + len(str(tmp_path)) % 1000  # unique per test run: a fresh cache key
    first = dioptra_lab.run(ep, size=size, tag="a")
    second = dioptra_lab.run(ep, size=size, tag="b")  # only the cheap step's input changed
    third = dioptra_lab.run(ep, size=size + 1, tag="a")  # the expensive step's input changed
    assert log.read_text().splitlines() == [f"trained {size}", f"trained {size + 1}"]
    assert not first.steps["train"].cached
    assert second.steps["train"].cached
    assert second.results == {"use": f"b:{sum(range(size))}"}
    assert not third.steps["train"].cached


def test_failing_step_names_step_and_error(prefect_server: str, registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(StepFailedError) as info:
        dioptra_lab.run(load_entrypoint(ENTRYPOINTS / "failing.yaml"), divisor=0)
    assert (info.value.step, info.value.ename) == ("bad_step", "ZeroDivisionError")
    proc = cli("run", str(ENTRYPOINTS / "failing.yaml"), "-o", str(tmp_path / "f.ipynb"), check=False)
    assert proc.returncode == 1
    assert "error: step 'bad_step' (task hello_plugin.tasks.divide) failed: ZeroDivisionError" in proc.stderr
    assert "Traceback" not in proc.stderr.split("error:")[-1]
    assert (tmp_path / "f.ipynb").is_file()  # the executed notebook is kept to inspect
    with pytest.raises(ExecutionError) as failed:
        execute_entrypoint(
            load_entrypoint(ENTRYPOINTS / "failing.yaml"), {"divisor": 0}, tmp_path / "g.ipynb"
        )
    failure = failed.value.failure  # read back from the notebook's failure output, not from text
    assert (failure.step, failure.task, failure.exception, failure.message) == (
        "bad_step",
        "hello_plugin.tasks.divide",
        "ZeroDivisionError",
        "float division by zero",
    )


def test_notebook_entrypoint_runs_through_cli(prefect_server: str, tmp_path: Path) -> None:
    out = tmp_path / "nb.ipynb"
    proc = cli("run", str(ENTRYPOINTS / "params.ipynb"), "-p", "x=4", "-p", "label=t", "-o", str(out))
    assert "doubled = 8.0" in proc.stdout
    results: dict[str, Any] | None = read_results(nbformat.read(str(out), as_version=4))
    assert results is not None
    assert results["results"] == {"doubled": 8.0, "label": "t"}
    bad = cli("run", str(ENTRYPOINTS / "params.ipynb"), "-p", "mode=c", check=False)
    assert bad.returncode == 1
    assert "parameter 'mode': expected one of 'a', 'b', got 'c'" in bad.stderr


def test_dead_prefect_server_is_a_clear_error(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    from dioptra_lab.processes import free_port

    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    with pytest.raises(ServiceError, match=r"does not answer.*; start it with `dioptra-lab up`"):
        dioptra_lab.run(load_entrypoint(HELLO), name="x")


@pytest.mark.slow
def test_run_starts_prefect_once_and_down_stops_it(tmp_path: Path) -> None:
    env = {"DIOPTRA_LAB_HOME": str(tmp_path / "home"), "PREFECT_API_URL": ""}
    first = cli("run", str(HELLO), "-o", str(tmp_path / "1.ipynb"), env=env)
    assert "Starting a Prefect server on 127.0.0.1:" in first.stderr
    assert "`dioptra-lab down`" in first.stderr
    stack = json.loads((tmp_path / "home" / "stack.json").read_text())
    pid = stack["services"]["prefect"]["pid"]
    second = cli("run", str(HELLO), "-o", str(tmp_path / "2.ipynb"), env=env)
    assert "Starting a Prefect server" not in second.stderr
    status = cli("status", env=env)
    assert "prefect" in status.stdout
    assert "running" in status.stdout
    down = cli("down", env=env)
    assert "stopped: prefect" in down.stdout
    assert not pid_alive(pid)
    assert "nothing was running" in cli("down", env=env).stdout


def test_editing_a_helper_invalidates_the_cache(prefect_server: str, tmp_path: Path) -> None:
    """Prefect's TASK_SOURCE sees only the task's own code; ours also keys on the plugin's files."""
    from dioptra_lab.plugins.registry import set_registry

    plugins = tmp_path / "plugins"
    pkg = plugins / f"cache_helper_{tmp_path.name[-6:].replace('-', '_')}"
    pkg.mkdir(parents=True)
    log = tmp_path / "calls.log"
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("def factor() -> int:\n    return 2\n")
    (pkg / "tasks.py").write_text(
        "from dioptra_lab import task\n"
        f"from {pkg.name}.helpers import factor\n\n"
        "@task(cache=True)\n"
        "def expensive(x: int) -> int:\n"
        "    '''Multiply by the helper's factor, noting each real call.'''\n"
        f"    open({str(log)!r}, 'a').write('call\\n')\n"
        "    return x * factor()\n"
    )
    entry = tmp_path / "cached_helper.yaml"
    entry.write_text("graph:\n  out:\n    expensive: [21]\n")
    reg = Registry([plugins])
    set_registry(reg)
    try:
        assert dioptra_lab.run(load_entrypoint(entry)).results == {"out": 42}
        assert dioptra_lab.run(load_entrypoint(entry)).steps["out"].cached
        (pkg / "helpers.py").write_text("def factor() -> int:\n    return 3\n")
        reg.reload()
        again = dioptra_lab.run(load_entrypoint(entry))
        assert again.results == {"out": 63}
        assert not again.steps["out"].cached
        assert log.read_text().count("call") == 2
    finally:
        set_registry(None)


def test_local_run_takes_the_stacks_warm_kernel_and_stopping_leaves_nothing(
    services: Any, registry: Registry, tmp_path: Path
) -> None:
    from dioptra_lab.config import load_settings
    from dioptra_lab.engine.kernels import SHELF
    from tests.conftest import wait_for

    ready = load_settings().home / SHELF / "ready"
    pid = services.ensure_kernels()
    try:
        wait_for(lambda: any(ready.glob("*.json")), 120, "a warm kernel on the shelf")
        shelved = int(next(ready.glob("*.json")).stem)
        proc = cli("run", str(HELLO), "-p", "name=ann", "-o", str(tmp_path / "warm.ipynb"))
        assert f"in a warm kernel (pid {shelved})" in proc.stderr
        results = read_results(nbformat.read(str(tmp_path / "warm.ipynb"), as_version=4))
        assert results is not None
        assert {k: results["results"][k] for k in EXPECTED_HELLO} == EXPECTED_HELLO
        assert not pid_alive(shelved)  # used once, then gone
        wait_for(
            lambda: any(p.stem != str(shelved) for p in ready.glob("*.json")), 60, "the next warm kernel"
        )
        family = process_family(pid)
        assert len(family) >= 3  # the shelf, its zygote, a kernel
        _the_warm_kernel_loads_the_plugins(ready, tmp_path)
    finally:
        services._kernels.stop()  # what `dioptra-lab down` does for this service
    wait_for(lambda: not any(pid_alive(p) for p in family), 15, "the shelf, zygote and kernels to exit")
    assert not any(ready.glob("*.json"))


PID_PLUGIN = '''\
import os

from dioptra_lab import task

with open(os.environ["PID_PLUGIN_LOG"], "a") as log:
    log.write(f"{os.getpid()}\\n")


@task
def twice(x: int) -> int:
    """Double x."""
    return 2 * x
'''


def _the_warm_kernel_loads_the_plugins(ready: Path, tmp_path: Path) -> None:
    """With a warm kernel, `run` loads the entry point and its plugins in the kernel, never in
    its own process, with the command's plugin path; bad input still ends in the one-line
    error, and the warnings, of a load in the command's process. Each run takes the shelf's
    next kernel."""
    from tests.conftest import wait_for

    def next_kernel() -> int:
        wait_for(lambda: any(ready.glob("*.json")), 60, "a warm kernel on the shelf")
        return int(next(ready.glob("*.json")).stem)

    plugins = tmp_path / "plugins"
    (plugins / "pid_plugin").mkdir(parents=True)
    (plugins / "pid_plugin" / "__init__.py").write_text(PID_PLUGIN)
    (plugins / "broken_plugin.py").write_text("raise ImportError('no such library: nothere')\n")
    entry = tmp_path / "twice.yaml"
    entry.write_text("parameters:\n  x: 1\ngraph:\n  out:\n    twice: $x\n")
    imports = tmp_path / "imports.log"
    env = {"DIOPTRA_LAB_PLUGIN_PATH": str(plugins), "PID_PLUGIN_LOG": str(imports)}

    kernel = next_kernel()
    proc = cli("run", str(entry), "-p", "x=21", "-o", str(tmp_path / "twice.ipynb"), env=env)
    assert f"in a warm kernel (pid {kernel})" in proc.stderr
    assert "out = 42" in proc.stdout
    assert imports.read_text().split() == [str(kernel)]  # imported once, by the kernel
    assert "warning: plugin 'broken_plugin'" in proc.stderr
    assert "nothere" in proc.stderr

    kernel = next_kernel()
    bad_value = cli("run", str(entry), "-p", "x=many", env=env, check=False)
    assert bad_value.returncode == 1, bad_value.stderr
    error = bad_value.stderr.strip().splitlines()[-1]
    assert error.startswith("error: "), bad_value.stderr
    assert "many" in error
    assert "Traceback" not in bad_value.stderr
    assert "in a warm kernel" not in bad_value.stderr
    wait_for(lambda: not pid_alive(kernel), 15, "the kernel of the refused run to be gone")

    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("graph:\n  out:\n    twise: [1]\n")
    local = cli("validate", str(unknown), env=env, check=False)  # loads it in its own process
    kernel = next_kernel()
    warm = cli("run", str(unknown), env=env, check=False)
    assert warm.returncode == local.returncode == 1, warm.stderr
    assert warm.stderr.strip().splitlines()[-1] == local.stderr.strip().splitlines()[-1]
    assert "twice" in warm.stderr  # the suggestion: the kernel saw the command's plugins
    wait_for(lambda: not pid_alive(kernel), 15, "the kernel of the refused run to be gone")
    assert imports.read_text().split()[-1] == str(kernel)  # the kernel loaded them, not `run`
