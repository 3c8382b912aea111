"""Execute an entry point's notebook with Papermill in a fresh kernel (no queue)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, TextIO

import nbformat

from dioptra_lab.engine.results import read_results, to_jsonable
from dioptra_lab.entrypoints.compile import KERNEL_NAME
from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.errors import ExecutionError

_STEP_IN_MESSAGE = re.compile(r"step '([^']+)' \(task ([^)]+)\) failed: (\w+): (.*)", re.S)


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
    """Run ``ep`` through Papermill with checked ``values``; return the executed notebook
    and its recorded results (``None`` for notebooks that record none).

    Raises:
        ExecutionError: a cell raised; names the failing step when the graph failed.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    nb = ep.compile()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    kernel = kernel_name or nb.metadata.get("kernelspec", {}).get("name") or KERNEL_NAME
    try:
        executed = papermill.execute_notebook(
            nb,
            str(output),
            parameters=to_jsonable(values) if values else {},
            kernel_name=kernel,
            progress_bar=False,
            stdout_file=stream,
            stderr_file=sys.stderr if stream is not None else None,
            cwd=str(cwd) if cwd else None,
            execution_timeout=timeout,
            log_output=False,
        )
    except PapermillExecutionError as exc:
        match = _STEP_IN_MESSAGE.search(str(exc.evalue))
        if exc.ename == "StepFailedError" and match:
            step, task, ename, evalue = match.groups()
            raise ExecutionError(
                f"step {step!r} (task {task}) failed: {ename}: {evalue.strip()}\nexecuted notebook: {output}",
                step=step,
                ename=ename,
                evalue=evalue.strip(),
            ) from None
        raise ExecutionError(
            f"cell {exc.exec_count} failed: {exc.ename}: {exc.evalue}\nexecuted notebook: {output}",
            ename=exc.ename,
            evalue=str(exc.evalue),
        ) from None
    return executed, read_results(executed)
