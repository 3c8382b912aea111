"""Small networks that adapt to 8×8, 28×28 and 32×32 inputs with 1 or 3 channels."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """LeNet-style CNN: two conv blocks, adaptive pooling to 4×4, two dense layers."""

    def __init__(self, in_channels: int, num_classes: int, image_size: int, width: int = 16) -> None:
        super().__init__()
        self.input_shape = (in_channels, image_size, image_size)
        self.num_classes = num_classes
        pool: nn.Module = nn.MaxPool2d(2) if image_size >= 16 else nn.Identity()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            pool,
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * 16, 64), nn.ReLU(), nn.Linear(64, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """A multilayer perceptron over flattened images."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        self.input_shape = input_shape
        self.num_classes = num_classes
        size = input_shape[0] * input_shape[1] * input_shape[2]
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(size, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
