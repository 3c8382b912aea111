"""Matplotlib figures shared by the command line, the widgets and the built-in plot tasks.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so they work in
kernels, workers and headless processes alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from dioptra_lab.errors import DioptraLabError


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
