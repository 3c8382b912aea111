"""Matplotlib figures shared by the command line, the widgets and the built-in plot tasks.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so they work in
kernels, workers and headless processes alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from dioptra_lab.errors import DioptraLabError
from dioptra_lab.models import ExperimentResults, JobStatus, RunRow


def robustness_figure(
    eps: Sequence[float], accuracy: Sequence[float], title: str = "Robustness curve", ylabel: str = "accuracy"
) -> Figure:
    """Accuracy against ε, points sorted by ε."""
    if len(eps) != len(accuracy) or not eps:
        raise DioptraLabError("robustness curve: give as many accuracies as eps values (at least one)")
    pairs = sorted(zip(eps, accuracy, strict=True))
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    ax.plot([p[0] for p in pairs], [p[1] for p in pairs], marker="o")
    ax.set(xlabel="ε", ylabel=ylabel, ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def as_number(text: object) -> float | None:
    """A value as a number, or ``None`` (MLflow keeps parameters as text)."""
    try:
        return float(str(text))
    except ValueError:
        return None


def comparison_figure(
    runs: ExperimentResults | Sequence[RunRow],
    metric: str = "adversarial_accuracy",
    param: str = "eps",
    by: str | None = None,
    sweep: str | None = None,
) -> Figure:
    """A metric against a parameter across finished runs, one line per value of ``by``
    (the robustness curve for attack sweeps). Numeric parameters are placed by value,
    others evenly in order of appearance.

    Args:
        runs: an experiment's results, or the rows to draw (a table's filtered rows).
        metric: the y axis.
        param: the x axis (a swept parameter).
        by: another parameter; one line per value.
        sweep: only the runs of this sweep.

    Raises:
        DioptraLabError: no finished run has both the parameter and the metric.
    """
    rows = runs.runs if isinstance(runs, ExperimentResults) else list(runs)
    lines: dict[str, list[tuple[str, float]]] = {}
    for row in rows:
        if row.status != JobStatus.FINISHED or (sweep and row.sweep != sweep):
            continue
        y, x = row.metrics.get(metric), row.params.get(param)
        if y is not None and x is not None:
            lines.setdefault(str(row.params.get(by, "")) if by else "", []).append((x, y))
    if not lines:
        raise DioptraLabError(f"no finished run has parameter {param!r} and metric {metric!r}; pick others")
    numeric = all(as_number(x) is not None for points in lines.values() for x, _ in points)
    labels = list(dict.fromkeys(str(x) for points in lines.values() for x, _ in points))
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.add_subplot()
    for name in sorted(lines, key=lambda n: (as_number(n) is None, as_number(n) or 0.0, n)):
        points = lines[name]
        pairs = sorted((float(x) if numeric else labels.index(str(x)), y) for x, y in points)
        ax.plot(
            [p[0] for p in pairs], [p[1] for p in pairs], marker="o", label=f"{by}={name}" if by else None
        )
    if not numeric:
        ax.set_xticks(range(len(labels)), labels)
    ax.set(xlabel=param, ylabel=metric, title=f"{metric} against {param}")
    if by:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
