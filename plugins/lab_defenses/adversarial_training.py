"""Adversarial training with PGD (Madry et al., 2018, "Towards Deep Learning Models Resistant
to Adversarial Attacks")."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from dioptra_lab import Bounds, task
from lab_attacks.pgd import pgd_batch
from lab_data.dataset import ImageDataset
from lab_models.device import pick_device
from lab_models.tasks import build_model, fit


@task(cache=True)
def adversarial_training(
    data: ImageDataset,
    kind: Literal["cnn", "mlp"] = "cnn",
    epochs: Annotated[int, Bounds(ge=1)] = 5,
    eps: Annotated[float, Bounds(ge=0.0, le=1.0)] = 0.1,
    eps_step: Annotated[float, Bounds(ge=0.0, le=1.0)] = 0.025,
    steps: Annotated[int, Bounds(ge=1)] = 7,
    ratio: Annotated[float, Bounds(ge=0.0, le=1.0)] = 1.0,
    batch_size: Annotated[int, Bounds(ge=1)] = 64,
    learning_rate: Annotated[float, Bounds(gt=0.0)] = 1e-3,
    seed: Annotated[int, Bounds(ge=0)] = 0,
    device: str = "auto",
) -> nn.Module:
    """Train a classifier on PGD examples made against itself at every step (cached).

    Args:
        data: training data.
        kind: cnn or mlp.
        epochs: passes over the data (>= 1).
        eps: L∞ radius of the training attack, in [0, 1].
        eps_step: L∞ step of the training attack, in [0, 1].
        steps: steps of the training attack (>= 1).
        ratio: share of each batch replaced by adversarial examples, in [0, 1].
        batch_size: images per step (>= 1).
        learning_rate: Adam step size (> 0).
        seed: seed of weights, shuffling and random starts.
        device: auto (CUDA when present), cpu or cuda[:N].
    """
    dev = pick_device(device)
    model = build_model(data, kind, seed).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)

    def adversary(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        cut = round(len(x) * ratio)
        if not cut:
            return x
        x = x.clone()
        x[:cut] = pgd_batch(
            model, x[:cut], y[:cut], eps, eps_step, steps, "inf", True, False, False, generator
        ).detach()
        return x

    return fit(model, data, optimizer, epochs, batch_size, seed, dev, adversary)
