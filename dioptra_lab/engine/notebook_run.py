"""The one Papermill runner: local runs (`dioptra-lab run`) and workers execute notebooks here.

A failure comes back as data, not as text to parse: the compiled notebook displays a
:data:`~dioptra_lab.engine.results.FAILURE_MIME` output (step, task, exception, message)
before it re-raises, and the runner reads it from the executed notebook. A notebook
entry point that fails in a plain cell gets the cell's number and exception from Papermill.
"""

from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path
from typing import Any, TextIO

import nbformat

from dioptra_lab.engine.kernels import ConnectedKernelManager, KernelHandle, kill_kernel, prepare_kernel
from dioptra_lab.engine.results import read_failure, read_results, to_jsonable
from dioptra_lab.entrypoints.compile import FALLBACK_KERNEL, KERNEL_NAME, compile_entrypoint
from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.errors import DioptraLabError, ExecutionError
from dioptra_lab.models import Failure

ENGINE = "dioptra_lab"
"""Our Papermill engine: nbclient, with the output notebook saved at most every
:data:`SAVE_EVERY` seconds while cells run (and always at the start and the end)."""

SAVE_EVERY = 2.0


def _register_engine() -> None:
    """Register :data:`ENGINE` in Papermill's engine registry (once per process).

    Papermill writes the whole output notebook (validated) when each cell starts and again
    when it completes: 30 writes for a 15-cell compiled notebook, a quarter of a trivial
    job's time in a warm kernel. The workers follow a job through its live feed, not this
    file, so it is written when the run starts, at most every 2 s while it runs (a job
    killed mid-run still leaves a recent one) and when it ends.
    """
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    if ENGINE in papermill_engines._engines:
        return

    class ThrottledManager(NotebookExecutionManager):  # type: ignore[misc]
        forced = False

        def save(self, **kwargs: Any) -> None:
            if self.forced or (self.now() - self.last_save_time).total_seconds() >= SAVE_EVERY:
                super().save(**kwargs)

        def notebook_start(self, **kwargs: Any) -> None:
            self.forced = True
            super().notebook_start(**kwargs)
            self.forced = False

        def notebook_complete(self, **kwargs: Any) -> None:
            self.forced = True
            super().notebook_complete(**kwargs)

    class ThrottledEngine(NBClientEngine):  # type: ignore[misc]
        @classmethod
        def execute_notebook(
            cls,
            nb: Any,
            kernel_name: str,
            output_path: str | None = None,
            progress_bar: bool = True,
            log_output: bool = False,
            autosave_cell_every: int = 30,
            **kwargs: Any,
        ) -> Any:
            nb_man = ThrottledManager(
                nb,
                output_path=output_path,
                progress_bar=progress_bar,
                log_output=log_output,
                autosave_cell_every=autosave_cell_every,
            )
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(ENGINE, ThrottledEngine)


@functools.lru_cache(maxsize=8)
def installed_kernel(name: str) -> str:
    """``name`` when its kernel spec is installed, else ``python3`` for our own spec (an
    environment where the package was not installed with its data files, e.g. a plain
    ``PYTHONPATH`` checkout); any other missing name is left for Papermill to report."""
    if name != KERNEL_NAME:
        return name
    from jupyter_client.kernelspec import KernelSpecManager

    return name if name in KernelSpecManager().find_kernel_specs() else FALLBACK_KERNEL


def execute_notebook(
    notebook: nbformat.NotebookNode | str | Path,
    output: str | Path,
    *,
    parameters: dict[str, Any] | None = None,
    kernel_name: str | None = None,
    cwd: str | Path | None = None,
    timeout: float | None = None,
    stdout: TextIO | Any | None = None,
    stderr: TextIO | Any | None = None,
    kernel: KernelHandle | None = None,
    environment: dict[str, str] | None = None,
) -> nbformat.NotebookNode:
    """Execute ``notebook`` in a fresh kernel with Papermill and write it to ``output``.

    Args:
        notebook: a notebook object or a path.
        output: where the executed notebook goes (also when it fails).
        parameters: values Papermill injects after the ``parameters`` cell.
        kernel_name: the kernel; default the notebook's own, else ``dioptra-lab`` (``python3``
            where that spec is not installed).
        cwd: the kernel's working folder.
        timeout: seconds allowed per cell (``None``: no limit).
        stdout: where the kernel's standard output is copied (a file-like object).
        stderr: likewise for standard error.
        kernel: a warm kernel started for this run (:mod:`dioptra_lab.engine.kernels`):
            it is moved into ``cwd`` and ``environment`` and runs the notebook; ``None``
            starts a kernel (``environment`` is then this process's, which it inherits).
        environment: variables the warm ``kernel`` sets before the first cell.

    Raises:
        ExecutionError: a cell raised; ``.failure`` names the step (graphs) or cell.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else nbformat.read(str(notebook), 4)
    name = installed_kernel(kernel_name or nb.metadata.get("kernelspec", {}).get("name") or KERNEL_NAME)
    _register_engine()
    connected: dict[str, Any] = {}
    if kernel is not None:
        try:
            prepare_kernel(kernel, Path(cwd or Path.cwd()).resolve(), environment or {})
            connected["km"] = ConnectedKernelManager(kernel)
        except (RuntimeError, OSError) as exc:  # it died, or does not answer: start one here
            if stderr is not None:
                stderr.write(f"[dioptra-lab] the warm kernel is not usable ({exc}); starting a new one\n")
            kill_kernel(kernel)
    try:
        return papermill.execute_notebook(
            nb,
            str(output),
            parameters=to_jsonable(parameters) if parameters else {},
            kernel_name=name,
            progress_bar=False,
            stdout_file=stdout,
            stderr_file=stderr,
            cwd=str(cwd) if cwd else None,
            execution_timeout=timeout,
            log_output=False,
            engine_name=ENGINE,
            **connected,
        )
    except PapermillExecutionError as exc:
        failure = _failure_of(output, exc)
        raise ExecutionError(f"{failure}\nexecuted notebook: {output}", failure) from None
    except CellTimeoutError as exc:
        failure = Failure("timeout", type(exc).__name__, f"a cell ran longer than {timeout}s")
        raise ExecutionError(f"{failure}\nexecuted notebook: {output}", failure) from None


def _failure_of(output: Path, exc: Any) -> Failure:
    """The failure the notebook recorded as data, else the failing cell Papermill reports."""
    try:
        recorded = read_failure(nbformat.read(str(output), as_version=4))
    except (OSError, ValueError):
        recorded = None
    if recorded is not None:
        return recorded
    cell = exc.exec_count
    return Failure(f"cell {cell} failed", exc.ename, str(exc.evalue), cell=cell)


def execute_entrypoint(
    ep: EntryPoint,
    values: dict[str, Any],
    output: str | Path,
    *,
    cwd: str | Path | None = None,
    stream: TextIO | None = sys.stdout,
    kernel_name: str | None = None,
    timeout: float | None = None,
) -> tuple[nbformat.NotebookNode, dict[str, Any] | None]:
    """Compile ``ep`` and run it with checked ``values`` in a new kernel; return the executed
    notebook and its recorded results (``None`` for notebooks that record none). With a warm
    kernel, :func:`prepare_in_kernel` compiles there, then :func:`execute_notebook` runs.

    Raises:
        ExecutionError: a cell raised; names the failing step when the graph failed.
    """
    executed = execute_notebook(
        compile_entrypoint(ep),
        output,
        parameters=values,
        kernel_name=kernel_name,
        cwd=cwd,
        timeout=timeout,
        stdout=stream,
        stderr=sys.stderr if stream is not None else None,
    )
    return executed, read_results(executed)


def import_papermill_without_hdfs() -> None:
    """Import Papermill without its ``hdfs://`` support, for a process that runs local files only.

    Papermill imports ``pyarrow.fs`` for it where pyarrow is installed (MLflow brings it), and
    numpy with it: ~80 ms of a local run's command. ``pyarrow.fs`` is hidden only while
    Papermill imports: call this where nothing else imports at the same time (a plugin that
    imports ``pyarrow.fs`` would fail meanwhile), as ``dioptra-lab run`` does once the warm
    kernel has loaded the plugins in its stead.
    """
    if "papermill.iorw" in sys.modules:
        return
    hidden = "pyarrow.fs" not in sys.modules
    if hidden:
        sys.modules["pyarrow.fs"] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        import papermill.engines  # noqa: F401
    finally:
        if hidden and sys.modules.get("pyarrow.fs", False) is None:
            del sys.modules["pyarrow.fs"]


class KernelWarning(UserWarning):
    """A warning given in the warm kernel while it loaded a local run's entry point."""


PREPARE_TIMEOUT = 600.0
"""Seconds a warm kernel may take to load, check and compile a local run's entry point (its
plugins' imports are bounded each on their own: :mod:`dioptra_lab.plugins.imports`)."""


def prepare_in_kernel(
    kernel: KernelHandle,
    file: str | Path,
    assignments: dict[str, str],
    *,
    cwd: str | Path | None = None,
    timeout: float = PREPARE_TIMEOUT,
) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
    """Have the warm ``kernel`` load, check and compile ``file`` for a local run.

    The kernel is first moved into ``cwd`` (default: here) and this process's environment,
    as a kernel started here would inherit them; then
    :func:`~dioptra_lab.engine.local_prepare.prepare_here` runs in it, in the same round
    trip. Returns the compiled notebook and the checked values for Papermill; the warnings
    loading gave there (a plugin that failed to import, for one) are given again here, as
    :class:`KernelWarning`. Run the notebook in the same kernel with :func:`execute_notebook`.

    Raises:
        DioptraLabError: the entry point or a value is bad (the message loading gave).
        RuntimeError: the kernel is not usable (it died, does not answer, or failed in a way
            that is not the entry point's): run in a new kernel instead.
    """
    import ast
    import json
    import os

    folder = Path(cwd or Path.cwd()).resolve()
    call = f"prepare_here({str(file)!r}, {dict(assignments)!r})"
    expression = f"__import__('dioptra_lab.engine.local_prepare', fromlist=['_']).{call}"
    answered = prepare_kernel(kernel, folder, dict(os.environ), timeout, {"prepared": expression})
    reply = answered.get("prepared", {})
    if reply.get("status") != "ok":
        raise RuntimeError(
            f"loading {file} in the warm kernel failed: {reply.get('ename')}: {reply.get('evalue')}"
        )
    try:
        answer = json.loads(ast.literal_eval(reply["data"]["text/plain"]))
    except (KeyError, TypeError, ValueError, SyntaxError) as exc:
        raise RuntimeError(f"the warm kernel gave an answer that is not one: {exc}") from None
    for message in answer.get("warnings", []):
        warnings.warn(str(message), KernelWarning, stacklevel=2)
    if "error" in answer:
        raise DioptraLabError(answer["error"])
    return nbformat.reads(answer["notebook"], as_version=4), answer["parameters"]
