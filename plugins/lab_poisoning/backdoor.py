"""Backdoor poisoning with a pattern trigger (Gu, Dolan-Gavitt & Garg, 2017, "BadNets")."""

from __future__ import annotations

from typing import Annotated, NamedTuple

import numpy as np
from torch import nn

from dioptra_lab import Bounds, log_metric, task
from dioptra_lab.errors import DioptraLabError
from lab_data.dataset import ImageDataset
from lab_models.tasks import predict_labels


def stamp(x: np.ndarray, size: int) -> np.ndarray:
    """Put a checkerboard trigger of side ``size`` in the bottom-right corner."""
    out = x.copy()
    pattern = (np.indices((size, size)).sum(0) % 2).astype(np.float32)
    out[:, :, -size:, -size:] = pattern
    return out


def _size(data: ImageDataset, trigger_size: int) -> int:
    if not 1 <= trigger_size <= min(data.shape[1:]):
        raise DioptraLabError(f"trigger_size must be in [1, {min(data.shape[1:])}], got {trigger_size}")
    return trigger_size


class Poisoned(NamedTuple):
    data: ImageDataset
    count: int


@task
def backdoor_poison(
    data: ImageDataset,
    target_class: Annotated[int, Bounds(ge=0)],
    rate: Annotated[float, Bounds(ge=0.0, le=1.0)] = 0.1,
    trigger_size: Annotated[int, Bounds(ge=1)] = 3,
    seed: Annotated[int, Bounds(ge=0)] = 0,
) -> Poisoned:
    """Stamp a trigger on a share of the training images and relabel them as target_class.

    Args:
        data: the training set.
        target_class: the class the backdoor switches to (below the data's number of classes).
        rate: share of the non-target images poisoned, in [0, 1].
        trigger_size: side of the checkerboard trigger, in pixels (1 to the image's side).
        seed: seed of the choice of images.
    """
    # the bounds that depend on the data cannot be declared in the annotations
    if not 0 <= target_class < data.num_classes:
        raise DioptraLabError(f"target_class must be in [0, {data.num_classes - 1}], got {target_class}")
    size = _size(data, trigger_size)
    candidates = np.flatnonzero(data.y != target_class)
    chosen = np.random.default_rng(seed).choice(candidates, round(len(candidates) * rate), replace=False)
    x, y = data.x.copy(), data.y.copy()
    x[chosen] = stamp(x[chosen], size)
    y[chosen] = target_class
    log_metric("poisoned_images", len(chosen))
    return Poisoned(ImageDataset(x, y, list(data.classes), f"{data.name}-poisoned{rate:g}"), len(chosen))


@task
def add_trigger(data: ImageDataset, trigger_size: Annotated[int, Bounds(ge=1)] = 3) -> ImageDataset:
    """Stamp the trigger on every image (true labels kept, same order).

    Args:
        data: the images.
        trigger_size: side of the checkerboard trigger, in pixels (1 to the image's side).
    """
    return ImageDataset(
        stamp(data.x, _size(data, trigger_size)), data.y, list(data.classes), f"{data.name}-triggered"
    )


@task
def backdoor_success_rate(
    model: nn.Module, triggered: ImageDataset, target_class: Annotated[int, Bounds(ge=0)]
) -> float:
    """Share of triggered other-class images classified as the target (logged as backdoor_success_rate).

    Args:
        model: the (possibly backdoored) classifier.
        triggered: images with the trigger stamped on (see add_trigger).
        target_class: the class the backdoor switches to.
    """
    keep = triggered.y != target_class
    if not keep.any():
        raise DioptraLabError("no triggered images outside the target class to measure")
    value = float((predict_labels(model, triggered.x[keep]) == target_class).mean())
    log_metric("backdoor_success_rate", value)
    return value
