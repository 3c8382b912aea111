"""Build, train, evaluate and use classifiers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, Literal

import numpy as np
import torch
from torch import nn

from dioptra_lab import Bounds, task
from dioptra_lab.errors import DioptraLabError
from lab_data.dataset import ImageDataset
from lab_models.device import model_device, pick_device
from lab_models.nets import MLP, SmallCNN

_SEEDED = threading.Lock()
"""Held while a model's initial weights are drawn from torch's process-wide generator: a graph's
independent steps run in threads at once (train_model next to adversarial_training), and two
constructions interleaving their draws gave each model other weights on each run."""


@task
def build_model(
    data: ImageDataset, kind: Literal["cnn", "mlp"] = "cnn", seed: Annotated[int, Bounds(ge=0)] = 0
) -> nn.Module:
    """Build an untrained classifier shaped for a data set (small CNN or MLP).

    Args:
        data: the data set whose image shape and classes the model takes.
        kind: cnn (LeNet-style) or mlp.
        seed: seed of the initial weights (the same seed, the same weights, whatever other
            tasks with generators of their own run at the same time; torch's CPU generator is
            left as it was, its CUDA ones are not touched).
    """
    channels, height, width = data.shape
    if kind == "cnn" and height != width:
        raise DioptraLabError(f"the CNN needs square images, got {height}×{width}")
    with _SEEDED, torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)  # the CPU's, which draws the weights
        if kind == "cnn":
            return SmallCNN(channels, data.num_classes, height)
        return MLP(data.shape, data.num_classes)


def batches(
    data: ImageDataset, batch_size: int, device: torch.device, shuffle: bool = False, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Tensors of a data set in batches, on ``device``."""
    order = np.random.default_rng(seed).permutation(len(data)) if shuffle else np.arange(len(data))
    out = []
    for start in range(0, len(data), batch_size):
        idx = order[start : start + batch_size]
        out.append((torch.from_numpy(data.x[idx]).to(device), torch.from_numpy(data.y[idx]).to(device)))
    return out


@task(cache=True)
def train_model(
    data: ImageDataset,
    kind: Literal["cnn", "mlp"] = "cnn",
    epochs: Annotated[int, Bounds(ge=1, le=1000)] = 5,
    batch_size: Annotated[int, Bounds(ge=1)] = 64,
    learning_rate: Annotated[float, Bounds(gt=0.0)] = 1e-3,
    optimizer: Literal["adam", "sgd"] = "adam",
    seed: Annotated[int, Bounds(ge=0)] = 0,
    device: str = "auto",
) -> nn.Module:
    """Train a classifier on a data set (cached: same data, settings and code are not retrained).

    Args:
        data: training data.
        kind: cnn or mlp.
        epochs: passes over the data, 1 to 1000.
        batch_size: images per step (>= 1).
        learning_rate: optimizer step size (> 0).
        optimizer: adam or sgd (with momentum 0.9).
        seed: seed of the weights and the shuffling.
        device: auto (CUDA when present), cpu or cuda[:N].
    """
    dev = pick_device(device)
    model = build_model(data, kind, seed).to(dev)
    opt: torch.optim.Optimizer = (
        torch.optim.Adam(model.parameters(), lr=learning_rate)
        if optimizer == "adam"
        else torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9)
    )
    return fit(model, data, opt, epochs, batch_size, seed, dev)


Adversary = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def fit(
    model: nn.Module,
    data: ImageDataset,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int,
    seed: int,
    device: torch.device,
    adversary: Adversary | None = None,
) -> nn.Module:
    """The training loop of train_model and adversarial_training; returns the model in eval mode.

    ``adversary(x, y)``, when given, replaces each batch's images before the step (it runs
    with the model in eval mode).
    """
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        for x, y in batches(data, batch_size, device, shuffle=True, seed=seed + epoch):
            if adversary is not None:
                model.eval()
                x = adversary(x, y)
            model.train()
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
    model.eval()
    return model


@torch.no_grad()
def predict_labels(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Predicted labels for images (numpy or tensor), computed on the model's device."""
    device = model_device(model)
    model.eval()
    xt = torch.as_tensor(x, dtype=torch.float32)
    preds = [model(xt[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(xt), batch_size)]
    return torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.int64)


@task
def predict(model: nn.Module, data: ImageDataset) -> np.ndarray:
    """Predicted class of every image in a data set."""
    return predict_labels(model, data.x)


@task
def evaluate(model: nn.Module, data: ImageDataset) -> float:
    """Accuracy of a model on a data set (share of images classified correctly)."""
    if len(data) == 0:
        raise DioptraLabError("cannot evaluate on an empty data set")
    return float((predict_labels(model, data.x) == data.y).mean())


@task
def save_model(model: nn.Module, name: str = "model", registered_name: str | None = None) -> str:
    """Log the model to the run (and register it when registered_name is given); returns its URI.

    Args:
        model: the trained model.
        name: the model's name within the run.
        registered_name: name in the MLflow model registry (later jobs can use models:/NAME/VERSION).
    """
    from dioptra_lab import log_model

    return log_model(model, name=name, registered_name=registered_name or None)
