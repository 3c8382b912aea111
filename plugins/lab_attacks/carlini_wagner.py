"""Carlini–Wagner L2 attack (Carlini & Wagner, 2017, "Towards Evaluating the Robustness of
Neural Networks")."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import nn

from dioptra_lab import Bounds, task
from lab_attacks.common import run_batched, targets_for
from lab_data.dataset import ImageDataset


def _margin(logits: torch.Tensor, y: torch.Tensor, targeted: bool, confidence: float) -> torch.Tensor:
    real = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.masked_fill(torch.nn.functional.one_hot(y, logits.shape[1]).bool(), -torch.inf).amax(1)
    gap = (other - real) if targeted else (real - other)
    return torch.clamp(gap + confidence, min=0.0)


def _succeeded(logits: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    pred = logits.argmax(1)
    return pred == y if targeted else pred != y


def cw_batch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    targeted: bool,
    confidence: float,
    learning_rate: float,
    binary_search_steps: int,
    max_iter: int,
    initial_const: float,
) -> torch.Tensor:
    """Minimize ||δ||² + c·margin in tanh space, with a binary search on c per image."""
    n = len(x)
    dims = tuple(range(1, x.dim()))
    w0 = torch.atanh((x * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    const = torch.full((n,), initial_const, device=x.device)
    lower = torch.zeros(n, device=x.device)
    upper = torch.full((n,), 1e10, device=x.device)
    best_l2 = torch.full((n,), torch.inf, device=x.device)
    best = x.clone()
    for _ in range(binary_search_steps):
        w = w0.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([w], lr=learning_rate)
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        for _ in range(max_iter):
            x_new = (torch.tanh(w) + 1) / 2
            logits = model(x_new)
            l2 = ((x_new - x) ** 2).sum(dims)
            loss = (l2 + const * _margin(logits, y, targeted, confidence)).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                ok = _succeeded(logits, y, targeted) & (_margin(logits, y, targeted, confidence) <= 0)
                better = ok & (l2 < best_l2)
                best_l2 = torch.where(better, l2, best_l2)
                best[better] = x_new[better].detach()
                found |= ok
        upper = torch.where(found, torch.minimum(upper, const), upper)
        lower = torch.where(found, lower, torch.maximum(lower, const))
        const = torch.where(upper < 1e9, (lower + upper) / 2, const * 10)
    return best


@task
def carlini_wagner(
    model: nn.Module,
    data: ImageDataset,
    confidence: Annotated[float, Bounds(ge=0.0)] = 0.0,
    learning_rate: Annotated[float, Bounds(gt=0.0)] = 0.1,
    binary_search_steps: Annotated[int, Bounds(ge=1)] = 6,
    max_iter: Annotated[int, Bounds(ge=1)] = 100,
    initial_const: Annotated[float, Bounds(gt=0.0)] = 0.1,
    targeted: bool = False,
    target_class: Annotated[int, Bounds(ge=0)] | None = None,
    batch_size: Annotated[int, Bounds(ge=1)] = 128,
) -> ImageDataset:
    """Carlini–Wagner L2: the smallest L2 perturbation that changes the class, by optimization.

    Args:
        model: the classifier under attack (inputs in [0, 1]).
        data: the images to perturb; images never fooled are returned unchanged.
        confidence: margin (in logits) the wrong class must win by, >= 0.
        learning_rate: Adam step size in tanh space, > 0. Carlini's 0.01 is meant for thousands of
            iterations; pixels at exactly 0 or 1 (most of a digit) start deep in tanh's flat
            tails, and 0.1 lets them move within max_iter=100.
        binary_search_steps: rounds of the search for the trade-off constant (>= 1).
        max_iter: optimization steps per round (>= 1).
        initial_const: first trade-off constant between distance and misclassification (> 0).
        targeted: steer towards target_class.
        target_class: class to reach when targeted (below the data's number of classes).
        batch_size: images per batch on the model's device (>= 1).
    """
    labels = targets_for(data, targeted, target_class)

    def attack(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return cw_batch(
            model, x, y, targeted, confidence, learning_rate, binary_search_steps, max_iter, initial_const
        )

    return run_batched(model, data, labels, batch_size, attack, "cw-l2")
