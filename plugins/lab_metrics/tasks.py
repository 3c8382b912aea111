"""Metrics of robustness. Each task logs what it computes under the name in its docstring."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from torch import nn

from dioptra_lab import Bounds, log_metric, log_metrics, task
from dioptra_lab.errors import DioptraLabError
from lab_data.dataset import ImageDataset
from lab_models.tasks import predict_labels


def _accuracy(model: nn.Module, data: ImageDataset) -> float:
    if len(data) == 0:
        raise DioptraLabError("cannot measure accuracy on an empty data set")
    return float((predict_labels(model, data.x) == data.y).mean())


@task
def clean_accuracy(model: nn.Module, data: ImageDataset) -> float:
    """Accuracy on unperturbed images (logged as clean_accuracy)."""
    value = _accuracy(model, data)
    log_metric("clean_accuracy", value)
    return value


@task
def adversarial_accuracy(model: nn.Module, adversarial: ImageDataset) -> float:
    """Accuracy on adversarial images against their true labels (logged as adversarial_accuracy)."""
    value = _accuracy(model, adversarial)
    log_metric("adversarial_accuracy", value)
    return value


def success_rate(
    model: nn.Module, clean: ImageDataset, adversarial: ImageDataset, target_class: int | None = None
) -> float:
    """Share of successful attacks (see :func:`attack_success_rate`)."""
    if len(clean) != len(adversarial):
        raise DioptraLabError(f"clean ({len(clean)}) and adversarial ({len(adversarial)}) sizes differ")
    adv_pred = predict_labels(model, adversarial.x)
    if target_class is not None:
        keep = clean.y != target_class
        return float((adv_pred[keep] == target_class).mean()) if keep.any() else 0.0
    correct = predict_labels(model, clean.x) == clean.y
    return float((adv_pred[correct] != clean.y[correct]).mean()) if correct.any() else 0.0


@task
def attack_success_rate(
    model: nn.Module,
    clean: ImageDataset,
    adversarial: ImageDataset,
    target_class: Annotated[int, Bounds(ge=0)] | None = None,
) -> float:
    """Share of attacks that worked (logged as attack_success_rate).

    Untargeted: among images the model got right, the share it now gets wrong. Targeted:
    among images not already of the target class, the share now classified as it.

    Args:
        model: the classifier.
        clean: the original images.
        adversarial: the same images, perturbed (same order).
        target_class: the target of a targeted attack.
    """
    value = success_rate(model, clean, adversarial, target_class)
    log_metric("attack_success_rate", value)
    return value


def norms(clean: ImageDataset, adversarial: ImageDataset) -> dict[str, float]:
    """L0, L2 and L∞ norms of the perturbations: mean, median and max of each."""
    if clean.x.shape != adversarial.x.shape:
        raise DioptraLabError(f"shapes differ: {clean.x.shape} and {adversarial.x.shape}")
    delta = (adversarial.x - clean.x).reshape(len(clean), -1)
    found = {
        "l0": (np.abs(delta) > 1e-6).sum(1).astype(float),
        "l2": np.linalg.norm(delta, axis=1),
        "linf": np.abs(delta).max(1) if delta.size else np.zeros(len(clean)),
    }
    out: dict[str, float] = {}
    for name, values in found.items():
        out[f"perturbation_{name}_mean"] = float(values.mean())
        out[f"perturbation_{name}_median"] = float(np.median(values))
        out[f"perturbation_{name}_max"] = float(values.max())
    return out


@task
def perturbation_norms(clean: ImageDataset, adversarial: ImageDataset) -> dict[str, float]:
    """Perturbation sizes: L0, L2, L∞ mean/median/max (logged as perturbation_<norm>_<stat>)."""
    values = norms(clean, adversarial)
    log_metrics(values)
    return values


@task
def confusion_matrix(model: nn.Module, data: ImageDataset) -> np.ndarray:
    """Counts of true class (rows) against predicted class (columns)."""
    pred = predict_labels(model, data.x)
    matrix = np.zeros((data.num_classes, data.num_classes), dtype=np.int64)
    np.add.at(matrix, (data.y, pred), 1)
    return matrix


@task
def per_class_accuracy(model: nn.Module, data: ImageDataset) -> dict[str, float]:
    """Accuracy of each class (logged as accuracy_class_<name>)."""
    pred = predict_labels(model, data.x)
    values = {
        name: float((pred[data.y == k] == k).mean())
        for k, name in enumerate(data.classes)
        if (data.y == k).any()
    }
    log_metrics({f"accuracy_class_{name}": v for name, v in values.items()})
    return values
