"""Projected Gradient Descent (Madry et al., 2018, "Towards Deep Learning Models Resistant
to Adversarial Attacks")."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from dioptra_lab import Bounds, task
from dioptra_lab.errors import DioptraLabError
from lab_attacks.common import flat_norm, loss_gradient, project, run_batched, targets_for
from lab_data.dataset import ImageDataset


def pgd_batch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    eps_step: float,
    steps: int,
    norm: str,
    random_start: bool,
    targeted: bool,
    early_stop: bool,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """PGD on one batch (also used by adversarial training)."""
    x_adv = x.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device="cpu").to(x.device) * 2 - 1
        if norm == "2":
            noise = (
                noise
                / flat_norm(noise).clamp_min(1e-12)
                * eps
                * torch.rand((len(x),) + (1,) * (x.dim() - 1), generator=generator, device="cpu").to(x.device)
            )
        else:
            noise = noise * eps
        x_adv = (x + noise).clamp(0.0, 1.0)
    active = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for _ in range(steps):
        grad = loss_gradient(model, x_adv, y, targeted)
        if norm == "inf":
            step = grad.sign()
        else:
            size = flat_norm(grad)
            step = grad * torch.where(size == 0, size, 1.0 / size)
        if early_stop:
            step = step * active.reshape(-1, *([1] * (x.dim() - 1)))
        x_adv = (x_adv + eps_step * step).clamp(0.0, 1.0)
        x_adv = x + project(x_adv - x, eps, norm)
        if early_stop:
            with torch.no_grad():
                pred = model(x_adv).argmax(1)
            active = (pred != y) if targeted else (pred == y)
            if not bool(active.any()):
                break
    return x_adv


@task
def pgd(
    model: nn.Module,
    data: ImageDataset,
    eps: Annotated[float, Bounds(ge=0.0)] = 0.1,
    eps_step: Annotated[float, Bounds(ge=0.0)] = 0.01,
    steps: Annotated[int, Bounds(ge=1)] = 20,
    norm: Literal["inf", "2"] = "inf",
    random_start: bool = False,
    targeted: bool = False,
    target_class: Annotated[int, Bounds(ge=0)] | None = None,
    early_stop: bool = False,
    seed: Annotated[int, Bounds(ge=0)] = 0,
    batch_size: Annotated[int, Bounds(ge=1)] = 256,
) -> ImageDataset:
    """Projected Gradient Descent (L∞ or L2): iterated gradient steps projected onto the eps-ball.

    Args:
        model: the classifier under attack (inputs in [0, 1]).
        data: the images to perturb.
        eps: radius of the ball, >= 0 (L∞: in [0, 1]).
        eps_step: size of each step, >= 0.
        steps: number of steps, >= 1.
        norm: inf or 2.
        random_start: start from a random point in the ball.
        targeted: steer towards target_class.
        target_class: class to reach when targeted (below the data's number of classes).
        early_stop: stop moving an image once the attack succeeds on it.
        seed: seed of the random start.
        batch_size: images per batch on the model's device (>= 1).
    """
    # the upper bound depends on the norm, so it cannot be declared in the annotation
    if norm == "inf" and eps > 1.0:
        raise DioptraLabError(f"eps must be in [0.0, 1.0] for norm 'inf', got {eps}")
    labels = targets_for(data, targeted, target_class)
    generator = torch.Generator().manual_seed(seed)

    def attack(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pgd_batch(
            model, x, y, eps, eps_step, steps, norm, random_start, targeted, early_stop, generator
        )

    return run_batched(model, data, labels, batch_size, attack, f"pgd{norm}-{eps:g}")
