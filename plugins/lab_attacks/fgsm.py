"""Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy, 2015, "Explaining and
Harnessing Adversarial Examples")."""

from __future__ import annotations

import torch
from torch import nn

from dioptra_lab import task
from lab_attacks.common import check_range, loss_gradient, run_batched, targets_for
from lab_data.dataset import ImageDataset


@task
def fgsm(
    model: nn.Module,
    data: ImageDataset,
    eps: float = 0.1,
    targeted: bool = False,
    target_class: int | None = None,
    batch_size: int = 256,
) -> ImageDataset:
    """Fast Gradient Sign Method: one step of size eps along the sign of the loss gradient.

    Args:
        model: the classifier under attack (inputs in [0, 1]).
        data: the images to perturb (their true labels are kept).
        eps: L∞ size of the perturbation, in [0, 1].
        targeted: steer towards target_class instead of away from the true class.
        target_class: class to reach when targeted.
        batch_size: images per batch on the model's device.
    """
    check_range("eps", eps, 0.0, 1.0)
    labels = targets_for(data, targeted, target_class)

    def attack(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x + eps * loss_gradient(model, x, y, targeted).sign()).clamp(0.0, 1.0)

    return run_batched(model, data, labels, batch_size, attack, f"fgsm{eps:g}")
