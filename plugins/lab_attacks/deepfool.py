"""DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, 2016, "DeepFool: a simple and accurate
method to fool deep neural networks")."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import nn

from dioptra_lab import Bounds, task
from lab_attacks.common import run_batched
from lab_data.dataset import ImageDataset

_TOL = 1e-7


def _class_gradients(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and the gradient of every logit with respect to the input."""
    x = x.clone().requires_grad_(True)
    logits = model(x)
    grads = []
    for k in range(logits.shape[1]):
        (g,) = torch.autograd.grad(logits[:, k].sum(), x, retain_graph=k < logits.shape[1] - 1)
        grads.append(g)
    return logits.detach(), torch.stack(grads, 1)


def deepfool_batch(model: nn.Module, x: torch.Tensor, max_iter: int, overshoot: float) -> torch.Tensor:
    """Step to the nearest linearized decision boundary until the class changes."""
    logits, grads = _class_gradients(model, x)
    original = logits.argmax(1)
    rows = torch.arange(len(x), device=x.device)
    x_adv = x.clone()
    active = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for _ in range(max_iter):
        if not bool(active.any()):
            break
        grad_diff = grads - grads[rows, original][:, None]
        f_diff = logits - logits[rows, original][:, None]
        norm = grad_diff.flatten(2).norm(dim=2) + _TOL
        value = f_diff.abs() / norm
        value[rows, original] = torch.inf
        best = value.argmin(1)
        chosen = grad_diff[rows, best]
        size = f_diff[rows, best].abs() / (chosen.flatten(1).norm(dim=1) ** 2 + _TOL)
        step = size.reshape(-1, *([1] * (x.dim() - 1))) * chosen
        mask = active.reshape(-1, *([1] * (x.dim() - 1)))
        x_adv = torch.where(mask, (x_adv + step).clamp(0.0, 1.0), x_adv)
        logits, grads = _class_gradients(model, x_adv)
        active = logits.argmax(1) == original
    return (x + (1 + overshoot) * (x_adv - x)).clamp(0.0, 1.0)


@task
def deepfool(
    model: nn.Module,
    data: ImageDataset,
    max_iter: Annotated[int, Bounds(ge=1)] = 100,
    overshoot: Annotated[float, Bounds(ge=0.0)] = 0.02,
    batch_size: Annotated[int, Bounds(ge=1)] = 128,
) -> ImageDataset:
    """DeepFool: iterate towards the closest linearized decision boundary (minimal L2).

    Args:
        model: the classifier under attack (must output logits).
        data: the images to perturb.
        max_iter: steps at most (>= 1).
        overshoot: how far past the boundary the final perturbation goes (relative, >= 0).
        batch_size: images per batch on the model's device (>= 1).
    """
    return run_batched(
        model,
        data,
        data.y,
        batch_size,
        lambda x, _y: deepfool_batch(model, x, max_iter, overshoot),
        "deepfool",
    )
