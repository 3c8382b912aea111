"""Compile an entry point into a Papermill-ready notebook (nbformat 4).

The notebook holds a cell tagged ``parameters`` with the defaults, the entry point's
own YAML text, a cell that runs the graph, one cell per step showing its outputs,
and a results cell. It runs unchanged with the plain ``papermill`` command, and a
person opening it reads what ran.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dioptra_lab.entrypoints.model import EntryPoint, Step
from dioptra_lab.errors import brief
from dioptra_lab.plugins.registry import get_registry

KERNEL_NAME = "dioptra-lab"
"""The kernel spec compiled notebooks name (``kernels/dioptra-lab``: this environment's Python;
installed by the package, ``make setup`` and the images)."""
KERNEL_DISPLAY_NAME = "Python 3 (dioptra_lab)"
FALLBACK_KERNEL = "python3"
"""What runs a notebook naming :data:`KERNEL_NAME` where that spec is not installed."""
SETUP_TAG = "dioptra-lab-setup"


def _describe_value(value: object) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):  # keys JSON cannot take (dates), ints too long to print
        return brief(value, 200)


def _one_line(text: str) -> str:
    """Text for a ``#`` comment: a newline there would end the comment and start code."""
    return " ".join(text.split())


def python_literal(value: Any) -> str:
    """Python source that evaluates to ``value`` (a default as YAML or a notebook gives it).

    ``repr`` is not enough: ``nan`` and ``inf`` are not names in a fresh kernel, and YAML's
    dates are written as their ISO text.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, datetime.date):
        return repr(value.isoformat())
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + "".join(python_literal(v) + ", " for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, set | frozenset):
        return "set([" + ", ".join(python_literal(v) for v in value) + "])"
    return repr(value)


def _step_markdown(step: Step) -> str:
    spec = step.spec
    lines = [f"## Step `{step.name}`: `{spec.qualname if spec else step.task}`"]
    if spec and spec.description:
        lines.append(f"\n{spec.description}\n")
    for index, value in enumerate(step.args):
        lines.append(f"- argument {index + 1}: `{_describe_value(value)}`")
    for key, value in step.kwargs.items():
        lines.append(f"- `{key}` = `{_describe_value(value)}`")
    if step.dependencies:
        lines.append(f"- after: {', '.join(f'`{d}`' for d in step.dependencies)}")
    return "\n".join(lines)


def _intro(ep: EntryPoint, source: str) -> str:
    lines = [f"# {ep.name}"]
    if ep.description:
        lines.append(f"\n{ep.description}")
    lines.append(f"\nCompiled by dioptra_lab from `{source}` (sha256 `{ep.digest[:12]}`).")
    if ep.parameters:
        lines.append("\n| parameter | type | default | description |\n|---|---|---|---|")
        for p in ep.parameters.values():
            default = "*required*" if p.required else f"`{_describe_value(p.default)}`"
            lines.append(f"| `{p.name}` | `{p.type}` | {default} | {p.description} |")
    lines.append("\nSteps: " + " → ".join(f"`{n}`" for n in ep.steps))
    return "\n".join(lines)


def _parameters_source(ep: EntryPoint) -> str:
    lines = []
    for p in ep.parameters.values():
        # Papermill skips a line with a second "=", so bounds are written with ≥ and ≤
        kind = str(p.type).replace(">=", "≥").replace("<=", "≤")
        comment = _one_line(kind + (f" — {p.description}" if p.description else ""))
        if p.required:
            lines.append(f"{p.name} = None  # required: {comment}")
        else:
            lines.append(f"{p.name} = {python_literal(p.default)}  # {comment}")
    for name in ep.artifact_inputs:
        lines.append(f"{name} = None  # required artifact input: a path or runs:/ URI")
    return "\n".join(lines) or "# this entry point has no parameters"


def _run_source(ep: EntryPoint) -> str:
    required = [p.name for p in ep.parameters.values() if p.required] + list(ep.artifact_inputs)
    names = list(ep.parameters) + list(ep.artifact_inputs)
    given = "{" + ", ".join(f"{n!r}: {n}" for n in names) + "}"
    return (
        f"_values = {given}\n"
        f"_required = {required!r}\n"
        "# a required parameter left at None is reported as missing, not as a wrong type\n"
        "_values = {k: v for k, v in _values.items() if not (k in _required and v is None)}\n"
        f"run = run_compiled(ENTRYPOINT_YAML, _values, name={ep.name!r}, plugin_path=PLUGIN_PATH)"
    )


def compile_entrypoint(ep: EntryPoint, *, portable: bool = False) -> nbformat.NotebookNode:
    """Compile a valid entry point; a notebook entry point compiles to itself.

    Args:
        ep: the entry point.
        portable: record no path of this machine (for bundles: the same code gives the
            same notebook wherever it is submitted from; the worker sets the plugin path).
    """
    ep.validate()
    if ep.kind == "notebook":
        return nbformat.reads(ep.text, as_version=4)
    plugin_path = [] if portable else [str(p) for p in get_registry().plugin_path]
    source = (ep.path.name if ep.path else ep.name) if portable else ep.source
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY_NAME, "language": "python"},
            "language_info": {"name": "python"},
            "dioptra_lab": {"entrypoint": ep.name, "source": source, "sha256": ep.digest},
        }
    )
    cells = [
        new_markdown_cell(_intro(ep, source)),
        new_code_cell(_parameters_source(ep), metadata={"tags": ["parameters"]}),
        new_code_cell(
            "from dioptra_lab.engine import run_compiled\n\n"
            f"ENTRYPOINT_YAML = {ep.text!r}\n"
            f"PLUGIN_PATH = {plugin_path!r}",
            metadata={"tags": [SETUP_TAG], "jupyter": {"source_hidden": True}},
        ),
        new_markdown_cell("## Run the graph\nEach line is a step finishing, with its time."),
        new_code_cell(_run_source(ep)),
        new_code_cell(
            "# inside a job: numeric results and step times go to the job's MLflow run\n"
            "from dioptra_lab.tracking import log_results\n\n"
            "log_results(run)",
            metadata={"tags": [SETUP_TAG], "jupyter": {"source_hidden": True}},
        ),
    ]
    for step in ep.steps.values():
        cells.append(new_markdown_cell(_step_markdown(step)))
        cells.append(new_code_cell(f"run.show({step.name!r})"))
    cells.append(new_markdown_cell("## Results"))
    cells.append(new_code_cell("run.summary()"))
    for index, cell in enumerate(cells):
        cell.id = f"cell-{index}"  # nbformat's ids are random; the same entry point must compile the same
    nb.cells = cells
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: str | Path) -> Path:
    """Write a notebook to ``path`` (folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
