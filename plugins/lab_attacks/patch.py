"""Adversarial patch (Brown et al., 2017, "Adversarial Patch"): a square sticker trained to
make the model predict one class wherever it is pasted."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from dioptra_lab import Bounds, task
from dioptra_lab.errors import DioptraLabError
from lab_data.dataset import ImageDataset
from lab_models.device import model_device


def _paste(x: torch.Tensor, patch: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    size = patch.shape[-1]
    out = x.clone()
    for i in range(len(x)):
        r, c = int(rows[i]), int(cols[i])
        out[i, :, r : r + size, c : c + size] = patch
    return out


def _size(data: ImageDataset, patch_fraction: float) -> int:
    return max(1, round(data.shape[1] * patch_fraction))


@task
def train_patch(
    model: nn.Module,
    data: ImageDataset,
    target_class: Annotated[int, Bounds(ge=0)],
    patch_fraction: Annotated[float, Bounds(ge=0.01, le=1.0)] = 0.3,
    steps: Annotated[int, Bounds(ge=1)] = 200,
    learning_rate: Annotated[float, Bounds(gt=0.0)] = 0.1,
    batch_size: Annotated[int, Bounds(ge=1)] = 128,
    seed: Annotated[int, Bounds(ge=0)] = 0,
) -> np.ndarray:
    """Train an adversarial patch that makes the model predict target_class at random places.

    Args:
        model: the classifier under attack.
        data: images the patch is trained on.
        target_class: class the patch pushes the model to (below the data's number of classes).
        patch_fraction: side of the square patch as a share of the image side, in [0.01, 1].
        steps: optimization steps (>= 1).
        learning_rate: Adam step size (> 0).
        batch_size: images per step (>= 1).
        seed: seed of the initial patch, the batches and the places.
    """
    # the bound depends on the data, so it cannot be declared in the annotation
    if not 0 <= target_class < data.num_classes:
        raise DioptraLabError(f"target_class must be in [0, {data.num_classes - 1}], got {target_class}")
    size = _size(data, patch_fraction)
    device = model_device(model)
    gen = torch.Generator().manual_seed(seed)
    channels, height, width = data.shape
    # tanh keeps pixel values in [0, 1] without clamping, whose zero gradient would freeze them
    weights = (torch.randn((channels, size, size), generator=gen) * 0.5).to(device).requires_grad_(True)
    optimizer = torch.optim.Adam([weights], lr=learning_rate)
    x_all = torch.from_numpy(data.x)
    target = torch.full((min(batch_size, len(data)),), target_class, device=device)
    model.eval()
    for _ in range(steps):
        idx = torch.randperm(len(data), generator=gen)[: len(target)]
        rows = torch.randint(0, height - size + 1, (len(idx),), generator=gen)
        cols = torch.randint(0, width - size + 1, (len(idx),), generator=gen)
        x = _paste(x_all[idx].to(device), (torch.tanh(weights) + 1) / 2, rows, cols)
        loss = F.cross_entropy(model(x), target[: len(idx)])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return ((torch.tanh(weights) + 1) / 2).detach().cpu().numpy()


@task
def apply_patch(
    data: ImageDataset, patch: np.ndarray, seed: Annotated[int, Bounds(ge=0)] = 0
) -> ImageDataset:
    """Paste a patch onto every image at a random place (true labels are kept).

    Args:
        data: the images.
        patch: a C×S×S patch from train_patch.
        seed: seed of the places.
    """
    if patch.ndim != 3 or patch.shape[0] != data.shape[0] or patch.shape[1] > data.shape[1]:
        raise DioptraLabError(f"patch of shape {patch.shape} does not fit images of shape {data.shape}")
    gen = torch.Generator().manual_seed(seed)
    size = patch.shape[-1]
    rows = torch.randint(0, data.shape[1] - size + 1, (len(data),), generator=gen)
    cols = torch.randint(0, data.shape[2] - size + 1, (len(data),), generator=gen)
    x = _paste(torch.from_numpy(data.x), torch.from_numpy(patch), rows, cols)
    return ImageDataset(x.numpy(), data.y, list(data.classes), f"{data.name}-patched")
