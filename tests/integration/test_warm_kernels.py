"""Warm kernels: forked from a zygote, one job each, never outliving their owner.

Real kernels (ipykernel) run real notebooks through Papermill here; the zygote imports
only ``json`` so each test warms in about a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from dioptra_lab.engine.kernels import KernelPool
from dioptra_lab.engine.notebook_run import execute_notebook
from dioptra_lab.errors import ExecutionError
from dioptra_lab.processes import pid_alive
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def notebook(*sources: str) -> object:
    nb = new_notebook(cells=[new_code_cell("x = 0", metadata={"tags": ["parameters"]})])
    nb.cells += [new_code_cell(source) for source in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def output_of(executed: object) -> str:
    return "".join(o.get("text", "") for o in executed.cells[-1].outputs)  # type: ignore[attr-defined]


@pytest.fixture
def pool(tmp_path: Path) -> object:
    environment = {"DIOPTRA_LAB_TEST_BASE": "one"}
    pool = KernelPool(1, environment=lambda: dict(environment), imports=("json",), backoff=1.0).start()
    pool.settings = environment  # type: ignore[attr-defined]
    yield pool
    pool.close()


def test_each_job_gets_a_fresh_kernel_in_its_folder_and_environment(pool: KernelPool, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "leaky_plugin.py").write_text("VALUE = 'first'\n")
    first_ws, second_ws = tmp_path / "job1", tmp_path / "job2"
    first_ws.mkdir()
    second_ws.mkdir()
    first = pool.take(60)
    assert first is not None
    executed = execute_notebook(
        notebook(
            f"import sys; sys.path.insert(0, {str(plugins)!r})\n"
            "import leaky_plugin, os, random\n"
            "GLOBAL_FROM_FIRST = 1\n"
            "env = os.environ\n"
            "print(leaky_plugin.VALUE, os.getcwd(), env['JOB_VAR'], env['DIOPTRA_LAB_TEST_BASE'], x)"
        ),
        first_ws / "out.ipynb",
        parameters={"x": 7},
        cwd=first_ws,
        kernel=first.handle,
        environment={"JOB_VAR": "a"},
    )
    assert output_of(executed).split() == ["first", str(first_ws.resolve()), "a", "one", "7"]
    pool.release(first)
    assert not first.alive()  # a kernel never outlives its job
    (plugins / "leaky_plugin.py").write_text("VALUE = 'second'\n")  # a plugin edited between jobs
    second = pool.take(60)
    assert second is not None
    assert second.handle is not None
    assert first.handle is not None
    assert second.handle.pid != first.handle.pid
    executed = execute_notebook(
        notebook(
            "import sys, os\n"
            "seen = 'leaky_plugin' in sys.modules, 'GLOBAL_FROM_FIRST' in globals()\n"
            "print(*seen, os.getcwd(), os.environ['JOB_VAR'])\n"
            f"sys.path.insert(0, {str(plugins)!r}); import leaky_plugin; print(leaky_plugin.VALUE)"
        ),
        second_ws / "out.ipynb",
        cwd=second_ws,
        kernel=second.handle,
        environment={"JOB_VAR": "b"},
    )
    assert output_of(executed).split() == ["False", "False", str(second_ws.resolve()), "b", "second"]
    pool.release(second)


def test_kernels_forked_from_one_zygote_do_not_share_random_streams(pool: KernelPool, tmp_path: Path) -> None:
    draws = []
    for _ in range(2):
        kernel = pool.take(60)
        assert kernel is not None
        executed = execute_notebook(
            notebook("import random; print(random.random())"),
            tmp_path / "r.ipynb",
            cwd=tmp_path,
            kernel=kernel.handle,
        )
        draws.append(output_of(executed))
        pool.release(kernel)
    assert draws[0] != draws[1]


def test_a_dead_warm_kernel_is_replaced_not_handed_out(pool: KernelPool) -> None:
    wait_for(lambda: bool(pool.ready), 60, "a warm kernel")
    dead = pool.ready[0]
    assert dead.handle is not None
    os.kill(dead.handle.pid, signal.SIGKILL)
    wait_for(lambda: not dead.alive(), 10, "the kernel to die")
    kernel = pool.take(60)
    assert kernel is not None
    assert kernel.handle is not None
    assert kernel.handle.pid != dead.handle.pid
    assert kernel.alive()
    assert pool.replaced >= 1
    pool.release(kernel)


def test_a_warm_kernel_of_an_old_environment_is_not_handed_out(pool: KernelPool, tmp_path: Path) -> None:
    wait_for(lambda: bool(pool.ready), 60, "a warm kernel")
    old = pool.ready[0]
    pool.settings["DIOPTRA_LAB_TEST_BASE"] = "two"  # type: ignore[attr-defined]  # e.g. MLflow moved
    kernel = pool.take(60)
    assert kernel is not None
    assert kernel is not old
    executed = execute_notebook(
        notebook("import os; print(os.environ['DIOPTRA_LAB_TEST_BASE'])"),
        tmp_path / "e.ipynb",
        kernel=kernel.handle,
    )
    assert output_of(executed).strip() == "two"
    pool.release(kernel)


def test_a_cell_timeout_in_a_warm_kernel_fails_the_run(pool: KernelPool, tmp_path: Path) -> None:
    kernel = pool.take(60)
    assert kernel is not None
    with pytest.raises(ExecutionError) as info:
        execute_notebook(
            notebook("import time; time.sleep(60)"), tmp_path / "t.ipynb", timeout=2, kernel=kernel.handle
        )
    assert info.value.failure.reason == "timeout"
    pool.release(kernel)
    assert not kernel.alive()


OWNER = textwrap.dedent(
    """
    import sys, time
    from dioptra_lab.engine.kernels import KernelPool
    pool = KernelPool(1, imports=("json",)).start()
    while not pool.ready:
        time.sleep(0.1)
    print(pool.zygote.proc.pid, pool.ready[0].handle.pid, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_kernels_and_zygote_die_with_their_owner(sig: signal.Signals) -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        zygote, kernel = (int(pid) for pid in owner.stdout.readline().split())
        assert pid_alive(zygote)
        assert pid_alive(kernel)
        owner.send_signal(sig)
        owner.wait(10)
        wait_for(lambda: not pid_alive(zygote) and not pid_alive(kernel), 10, "the zygote and kernel to exit")
    finally:
        owner.kill()
        owner.wait()


def test_a_zygote_that_cannot_start_makes_jobs_start_their_own(tmp_path: Path) -> None:
    pool = KernelPool(1, imports=("json",), backoff=60.0, environment=lambda: {"PYTHONPATH": str(tmp_path)})
    (tmp_path / "ipykernel").mkdir()  # shadows ipykernel: the zygote cannot import its kernel
    (tmp_path / "ipykernel" / "__init__.py").write_text("raise ImportError('broken on purpose')\n")
    pool.start()
    try:
        wait_for(lambda: pool.error is not None, 60, "the pool to report its failure")
        started = time.monotonic()
        assert pool.take(60) is None  # at once, not after 60 s
        assert time.monotonic() - started < 5
        assert "zygote" in (pool.error or "")
    finally:
        pool.close()


def test_a_zygote_still_importing_dies_with_its_owner() -> None:
    from tests.conftest import process_family

    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom dioptra_lab.engine.kernels import KernelPool\n"
            "KernelPool(1, imports=('torch', 'numpy', 'sklearn', 'matplotlib.pyplot')).start()\n"
            "time.sleep(600)",
        ]
    )
    try:
        wait_for(lambda: len(process_family(owner.pid)) >= 2, 30, "the zygote to start")
        zygote = (process_family(owner.pid) - {owner.pid}).pop()
        owner.kill()  # while the zygote imports (seconds): no kernel forked yet
        owner.wait(10)
        # at once, not once its imports are done (the campaign found one still importing,
        # orphaned, 8 s after its worker was killed)
        wait_for(lambda: not pid_alive(zygote), 2, "the zygote to exit")
    finally:
        owner.kill()
        owner.wait()


def test_a_warm_kernel_behaves_like_a_fresh_one(tmp_path: Path) -> None:
    """Inline figures, no shared history file, modules found in its own working folder."""
    (tmp_path / "local_helper.py").write_text("WHERE = 'workspace'\n")
    pool = KernelPool(1, imports=("matplotlib", "matplotlib.figure")).start()
    try:
        kernel = pool.take(60)
        assert kernel is not None
        executed = execute_notebook(
            notebook(
                "import matplotlib, local_helper\n"
                "print(matplotlib.get_backend(), get_ipython().history_manager.hist_file, local_helper.WHERE)"
            ),
            tmp_path / "b.ipynb",
            cwd=tmp_path,
            kernel=kernel.handle,
        )
        assert output_of(executed).split() == [
            "module://matplotlib_inline.backend_inline",
            ":memory:",
            "workspace",
        ]
        pool.release(kernel)
    finally:
        pool.close()


def test_a_warm_kernel_collects_its_garbage_not_its_zygotes_heap(pool: KernelPool, tmp_path: Path) -> None:
    """The zygote freezes what its imports built (a full collection then skips it, and a
    kernel does not copy those pages by touching them); a job's own cycles are collected."""
    kernel = pool.take(60)
    assert kernel is not None
    executed = execute_notebook(
        notebook(
            "import gc\n"
            "class Node: pass\n"
            "node = Node(); node.self = node; del node\n"
            "before = gc.get_freeze_count()\n"
            "print(gc.isenabled(), before > 1000, gc.collect() >= 1, gc.get_freeze_count() == before)"
        ),
        tmp_path / "gc.ipynb",
        cwd=tmp_path,
        kernel=kernel.handle,
    )
    assert output_of(executed).split() == ["True", "True", "True", "True"]
    pool.release(kernel)
