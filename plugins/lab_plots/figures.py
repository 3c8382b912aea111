"""Figures shown inline in notebooks and logged to the run under figures/<name>.png."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from matplotlib.figure import Figure
from torch import nn

from dioptra_lab import Bounds, log_figure, task
from dioptra_lab.errors import DioptraLabError
from dioptra_lab.plots import robustness_figure
from lab_data.dataset import ImageDataset
from lab_metrics.tasks import norms
from lab_models.tasks import predict_labels


def _image(img: np.ndarray) -> np.ndarray:
    return img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)


def curve_figure(eps: list[float], accuracy: list[float], title: str = "Robustness curve") -> Figure:
    """Accuracy against ε, sorted by ε."""
    return robustness_figure(eps, accuracy, title)


@task
def robustness_curve(
    eps: list[Annotated[float, Bounds(ge=0.0)]],
    accuracy: list[Annotated[float, Bounds(ge=0.0, le=1.0)]],
    name: str = "robustness_curve",
) -> Figure:
    """Plot accuracy against ε (logged as figures/<name>.png).

    Args:
        eps: the ε values (>= 0), one per accuracy.
        accuracy: the accuracies, each in [0, 1].
        name: the figure's name in the run.
    """
    fig = curve_figure(eps, accuracy)
    log_figure(fig, name)
    return fig


@task
def sweep_robustness_curve(
    experiment: str, sweep_id: str = "", param: str = "eps", metric: str = "adversarial_accuracy"
) -> Figure:
    """Robustness curve across the finished runs of a sweep, read back from MLflow.

    Args:
        experiment: the MLflow experiment of the sweep.
        sweep_id: only runs of this sweep (all runs when empty).
        param: the swept parameter (x axis).
        metric: the metric on the y axis.
    """
    from dioptra_lab.models import JobStatus
    from dioptra_lab.tracking.results import experiment_results

    rows = [
        r
        for r in experiment_results(experiment).runs
        if r.status == JobStatus.FINISHED
        and (not sweep_id or r.sweep == sweep_id)
        and param in r.params
        and metric in r.metrics
    ]
    if not rows:
        raise DioptraLabError(
            f"no finished runs in {experiment!r} with param {param!r} and metric {metric!r}"
        )
    fig = curve_figure(
        [float(r.params[param]) for r in rows],
        [r.metrics[metric] for r in rows],
        f"{metric} against {param}",
    )
    log_figure(fig, f"robustness_{param}")
    return fig


@task
def adversarial_examples(
    model: nn.Module,
    clean: ImageDataset,
    adversarial: ImageDataset,
    count: Annotated[int, Bounds(ge=1)] = 8,
    name: str = "adversarial_examples",
) -> Figure:
    """A grid of clean, adversarial and perturbation images with the model's predictions.

    Args:
        model: the classifier.
        clean: the original images.
        adversarial: the same images, perturbed (same order).
        count: how many images to show (>= 1; at most the data's size).
        name: the figure's name in the run.
    """
    n = min(count, len(clean))
    if n == 0:
        raise DioptraLabError("no images to show")
    clean_pred = predict_labels(model, clean.x[:n])
    adv_pred = predict_labels(model, adversarial.x[:n])
    fig = Figure(figsize=(1.4 * n, 4.4))
    axes = fig.subplots(3, n, squeeze=False)
    for i in range(n):
        delta = adversarial.x[i] - clean.x[i]
        span = float(np.abs(delta).max()) or 1.0
        panels = [
            (clean.x[i], f"{clean.classes[clean_pred[i]]}", "gray"),
            (adversarial.x[i], f"{clean.classes[adv_pred[i]]}", "gray"),
            (delta / (2 * span) + 0.5, f"±{span:.2f}", "RdBu"),
        ]
        for row, (img, label, cmap) in enumerate(panels):
            ax = axes[row][i]
            ax.imshow(_image(img), cmap=cmap, vmin=0, vmax=1)
            ax.set_title(
                label, fontsize=8, color="red" if row == 1 and adv_pred[i] != clean.y[i] else "black"
            )
            ax.axis("off")
    for row, title in enumerate(("clean", "adversarial", "perturbation")):
        axes[row][0].text(
            -0.3, 0.5, title, transform=axes[row][0].transAxes, rotation=90, va="center", fontsize=9
        )
    fig.tight_layout()
    log_figure(fig, name)
    return fig


@task
def perturbation_histogram(
    clean: ImageDataset, adversarial: ImageDataset, name: str = "perturbation_histogram"
) -> Figure:
    """Histograms of the perturbations' L2 and L∞ norms."""
    delta = (adversarial.x - clean.x).reshape(len(clean), -1)
    fig = Figure(figsize=(8, 3))
    for ax, values, label in zip(
        fig.subplots(1, 2), (np.linalg.norm(delta, axis=1), np.abs(delta).max(1)), ("L2", "L∞"), strict=True
    ):
        ax.hist(values, bins=30)
        ax.set(xlabel=f"{label} norm", ylabel="images")
    stats = norms(clean, adversarial)
    fig.suptitle(
        f"mean L2 {stats['perturbation_l2_mean']:.3f}, mean L∞ {stats['perturbation_linf_mean']:.3f}"
    )
    fig.tight_layout()
    log_figure(fig, name)
    return fig


@task
def confusion_matrix_figure(model: nn.Module, data: ImageDataset, name: str = "confusion_matrix") -> Figure:
    """The confusion matrix as a heat map with counts."""
    pred = predict_labels(model, data.x)
    k = data.num_classes
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (data.y, pred), 1)
    fig = Figure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        if value:
            ax.text(j, i, str(value), ha="center", va="center", fontsize=7)
    ax.set(
        xticks=range(k),
        yticks=range(k),
        xticklabels=data.classes,
        yticklabels=data.classes,
        xlabel="predicted",
        ylabel="true",
        title=f"{data.name}",
    )
    fig.tight_layout()
    log_figure(fig, name)
    return fig
