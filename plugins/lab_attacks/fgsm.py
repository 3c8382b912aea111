"""Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy, 2015, "Explaining and
Harnessing Adversarial Examples")."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import nn

from dioptra_lab import Bounds, task
from lab_attacks.common import loss_gradient, run_batched, targets_for
from lab_data.dataset import ImageDataset


@task
def fgsm(
    model: nn.Module,
    data: ImageDataset,
    eps: Annotated[float, Bounds(ge=0.0, le=1.0)] = 0.1,
    targeted: bool = False,
    target_class: Annotated[int, Bounds(ge=0)] | None = None,
    batch_size: Annotated[int, Bounds(ge=1)] = 256,
) -> ImageDataset:
    """Fast Gradient Sign Method: one step of size eps along the sign of the loss gradient.

    Args:
        model: the classifier under attack (inputs in [0, 1]).
        data: the images to perturb (their true labels are kept).
        eps: L∞ size of the perturbation, in [0, 1].
        targeted: steer towards target_class instead of away from the true class.
        target_class: class to reach when targeted (below the data's number of classes).
        batch_size: images per batch on the model's device (>= 1).
    """
    labels = targets_for(data, targeted, target_class)

    def attack(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x + eps * loss_gradient(model, x, y, targeted).sign()).clamp(0.0, 1.0)

    return run_batched(model, data, labels, batch_size, attack, f"fgsm{eps:g}")
