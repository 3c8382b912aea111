"""Device choice: CUDA when present (honouring CUDA_VISIBLE_DEVICES), else CPU."""

from __future__ import annotations

import torch

from dioptra_lab.errors import DioptraLabError


def pick_device(preference: str = "auto") -> torch.device:
    """``auto`` picks ``cuda`` when a GPU is visible, else ``cpu``; ``cuda:1`` etc. are checked."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DioptraLabError(
            f"device {preference!r} asked for, but no CUDA GPU is visible; use 'auto' or 'cpu'"
        )
    return device


def model_device(model: torch.nn.Module) -> torch.device:
    """The device a model's parameters live on."""
    return next(model.parameters()).device
