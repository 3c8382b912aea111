"""Results of a graph run: per-step outputs and timings, final results, notebook display.

The compiled notebook's last cell displays :meth:`RunResult.summary`, whose output
carries a JSON copy of the results under :data:`RESULTS_MIME`; :func:`read_results`
gets it back from an executed notebook.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

from dioptra_lab.models import Failure

RESULTS_MIME = "application/vnd.dioptra-lab.results+json"
FAILURE_MIME = "application/vnd.dioptra-lab.failure+json"
_MAX_ITEMS = 100


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of a value: small containers in full, big arrays summarized."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth > 6:
        return repr(value)[:200]
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return to_jsonable(value.item(), depth)
    if hasattr(value, "shape") and hasattr(value, "tolist"):
        size = getattr(value, "size", None)
        size = size() if callable(size) else size
        if size is not None and int(size) <= _MAX_ITEMS:
            return to_jsonable(value.tolist(), depth + 1)
        return {
            "type": type(value).__name__,
            "shape": list(value.shape),
            "dtype": str(getattr(value, "dtype", "")),
        }
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, depth + 1) for k, v in list(value.items())[:_MAX_ITEMS]}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v, depth + 1) for v in list(value)[:_MAX_ITEMS]]
    return {"type": f"{type(value).__module__}.{type(value).__qualname__}", "repr": repr(value)[:200]}


@dataclass
class StepRecord:
    """What one step did."""

    name: str
    task: str
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    cached: bool = False

    @property
    def value(self) -> Any:
        """The single output's value, or the dict of named outputs."""
        if len(self.outputs) == 1:
            return next(iter(self.outputs.values()))
        return dict(self.outputs)


@dataclass
class RunResult:
    """The outcome of running an entry point's graph."""

    entrypoint: str
    parameters: dict[str, Any]
    steps: dict[str, StepRecord]
    leaves: list[str]
    artifacts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    flow_run_id: str | None = None

    def output(self, step: str, name: str | None = None) -> Any:
        """One step's output (``name`` picks one of several)."""
        record = self.steps[step]
        return record.outputs[name] if name else record.value

    @property
    def results(self) -> dict[str, Any]:
        """The final results: outputs of the steps nothing else uses, plus artifacts."""
        found = {name: self.steps[name].value for name in self.leaves if self.steps[name].outputs}
        if self.artifacts:
            found["artifacts"] = dict(self.artifacts)
        return found

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe summary (what the compiled notebook records)."""
        return {
            "entrypoint": self.entrypoint,
            "parameters": to_jsonable(self.parameters),
            "steps": [
                {
                    "name": r.name,
                    "task": r.task,
                    "seconds": r.seconds,
                    "cached": r.cached,
                    "outputs": to_jsonable(r.outputs),
                }
                for r in self.steps.values()
            ],
            "results": to_jsonable(self.results),
            "seconds": self.seconds,
            "flow_run_id": self.flow_run_id,
        }

    def show(self, step: str) -> StepView:
        """Display one step's outputs (figures as figures) in a notebook."""
        return StepView(self.steps[step])

    def summary(self) -> Summary:
        """A table of step timings and the final results, for display."""
        return Summary(self)

    def figures(self) -> dict[str, Any]:
        """The matplotlib figures the steps returned, by ``step`` or ``step.output``."""
        found = {}
        for record in self.steps.values():
            for name, value in record.outputs.items():
                if hasattr(value, "savefig"):
                    found[record.name if len(record.outputs) == 1 else f"{record.name}.{name}"] = value
        return found

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self.summary()._repr_mimebundle_(include, exclude)

    def _ipython_display_(self) -> None:
        """In a notebook: the results table, then every figure the steps made, inline."""
        from IPython.display import display

        display(self.summary())
        for figure in self.figures().values():
            display(figure)


class StepView:
    """Notebook display of one step's outputs."""

    def __init__(self, record: StepRecord) -> None:
        self.record = record

    def _ipython_display_(self) -> None:
        from IPython.display import display

        r = self.record
        took = "cached" if r.cached else f"{r.seconds:.3f}s" if r.seconds is not None else "-"
        print(f"{r.name} ({r.task}) — {took}")
        if not r.outputs:
            print("  (no outputs)")
        for name, value in r.outputs.items():
            if hasattr(value, "savefig"):
                display(value)
            else:
                print(f"  {name} = {_short(value)}")


def _short(value: Any, limit: int = 300) -> str:
    if hasattr(value, "savefig"):
        return "a figure (shown as an image)"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Summary:
    """Notebook display of a whole run; carries the JSON results for machines."""

    def __init__(self, result: RunResult) -> None:
        self.result = result

    def _text(self) -> str:
        lines = [f"{self.result.entrypoint}: {len(self.result.steps)} steps in {self.result.seconds:.2f}s"]
        for r in self.result.steps.values():
            took = "cached" if r.cached else f"{r.seconds:.3f}s" if r.seconds is not None else "-"
            lines.append(f"  {r.name:<24} {r.task:<40} {took:>9}")
        lines.append("results:")
        for name, value in self.result.results.items():
            lines.append(f"  {name} = {_short(value)}")
        return "\n".join(lines)

    def _html(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(r.name)}</td><td><code>{html.escape(r.task)}</code></td>"
            f"<td>{'cached' if r.cached else f'{r.seconds:.3f}s' if r.seconds is not None else '-'}</td></tr>"
            for r in self.result.steps.values()
        )
        results = "".join(
            f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(_short(v))}</code></td></tr>"
            for k, v in self.result.results.items()
        )
        return (
            f"<p><b>{html.escape(self.result.entrypoint)}</b>: {len(self.result.steps)} steps in "
            f"{self.result.seconds:.2f}s</p><table><tr><th>step</th><th>task</th><th>time</th></tr>"
            f"{rows}</table><p><b>Results</b></p><table>{results}</table>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": self._text(), "text/html": self._html(), RESULTS_MIME: self.result.to_json()}

    def __repr__(self) -> str:
        return self._text()


def read_results(nb: Any) -> dict[str, Any] | None:
    """The JSON results recorded in an executed compiled notebook, or ``None``."""
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if RESULTS_MIME in data:
                return dict(data[RESULTS_MIME])
    return None


class FailureReport:
    """Notebook display of a failed run; carries the failure as data for the runner."""

    def __init__(self, failure: Failure) -> None:
        self.failure = failure

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": str(self.failure), FAILURE_MIME: self.failure.to_json()}

    def __repr__(self) -> str:
        return str(self.failure)


def read_failure(nb: Any) -> Failure | None:
    """The failure recorded in an executed compiled notebook, or ``None``."""
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            found = output.get("data", {}).get(FAILURE_MIME)
            if found:
                cell_number = found.get("cell")
                return Failure(
                    reason=str(found.get("reason", "")),
                    exception=str(found.get("exception", "")),
                    message=str(found.get("message", "")),
                    step=found.get("step"),
                    task=found.get("task"),
                    cell=int(cell_number) if cell_number is not None else None,
                )
    return None
