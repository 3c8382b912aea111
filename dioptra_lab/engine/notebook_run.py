"""The one Papermill runner: local runs (`dioptra-lab run`) and workers execute notebooks here.

A failure comes back as data, not as text to parse: the compiled notebook displays a
:data:`~dioptra_lab.engine.results.FAILURE_MIME` output (step, task, exception, message)
before it re-raises, and the runner reads it from the executed notebook. A notebook
entry point that fails in a plain cell gets the cell's number and exception from Papermill.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

import nbformat

from dioptra_lab.engine.kernels import ConnectedKernelManager, KernelHandle, prepare_kernel
from dioptra_lab.engine.results import read_failure, read_results, to_jsonable
from dioptra_lab.entrypoints.compile import KERNEL_NAME, compile_entrypoint
from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.errors import ExecutionError
from dioptra_lab.models import Failure


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
        kernel_name: the kernel; default the notebook's own, else ``python3``.
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
    name = kernel_name or nb.metadata.get("kernelspec", {}).get("name") or KERNEL_NAME
    connected: dict[str, Any] = {}
    if kernel is not None:
        prepare_kernel(kernel, Path(cwd or Path.cwd()).resolve(), environment or {})
        connected["km"] = ConnectedKernelManager(kernel)
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
    kernel: KernelHandle | None = None,
) -> tuple[nbformat.NotebookNode, dict[str, Any] | None]:
    """Compile ``ep`` and run it with checked ``values``; return the executed notebook and
    its recorded results (``None`` for notebooks that record none).

    ``kernel``: a warm kernel to run in (it is given this process's environment, as a
    kernel started here would inherit it); ``None`` starts one.

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
        kernel=kernel,
        environment=_inherited_environment() if kernel is not None else None,
    )
    return executed, read_results(executed)


def _inherited_environment() -> dict[str, str]:
    """This process's environment, for a warm kernel to take as a child would."""
    import os

    return dict(os.environ)
