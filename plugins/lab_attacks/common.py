"""Pieces every native attack shares: tensors on the model's device, gradients, projections."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from dioptra_lab.errors import DioptraLabError
from lab_data.dataset import ImageDataset
from lab_models.device import model_device

Batch = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def targets_for(data: ImageDataset, targeted: bool, target_class: int | None) -> np.ndarray:
    """The labels an attack steers towards (targeted) or away from (untargeted)."""
    if not targeted:
        return data.y
    if target_class is None:
        raise DioptraLabError("targeted attacks need target_class")
    # the bound depends on the data, so it cannot be declared in the annotation
    if not 0 <= target_class < data.num_classes:
        raise DioptraLabError(f"target_class must be in [0, {data.num_classes - 1}], got {target_class}")
    return np.full_like(data.y, target_class)


def run_batched(
    model: nn.Module, data: ImageDataset, labels: np.ndarray, batch_size: int, attack: Batch, suffix: str
) -> ImageDataset:
    """Apply ``attack(x, y)`` batch by batch on the model's device; keep the true labels."""
    device = model_device(model)
    model.eval()
    out = []
    for start in range(0, len(data), batch_size):
        x = torch.from_numpy(data.x[start : start + batch_size]).to(device)
        y = torch.from_numpy(labels[start : start + batch_size]).to(device)
        out.append(attack(x, y).detach().cpu().numpy())
    x_adv = np.concatenate(out) if out else data.x.copy()
    return ImageDataset(x_adv, data.y, list(data.classes), f"{data.name}-{suffix}")


def loss_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Gradient of the cross-entropy loss; pointing towards the target when targeted."""
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return -grad if targeted else grad


def flat_norm(t: torch.Tensor, ord: float = 2.0) -> torch.Tensor:
    """Per-example norm, shaped to broadcast over images."""
    return torch.linalg.vector_norm(t.reshape(len(t), -1), ord=ord, dim=1).reshape(-1, *([1] * (t.dim() - 1)))


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project perturbations onto the L∞ or L2 ball of radius eps."""
    if norm == "inf":
        return delta.clamp(-eps, eps)
    size = flat_norm(delta)
    scale = torch.where(size == 0, torch.ones_like(size), torch.clamp(eps / size, max=1.0))
    return delta * scale
