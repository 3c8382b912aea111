"""The :class:`ImageDataset` every data, model, attack and metric task passes around."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageDataset:
    """Images ``x`` (float32, N×C×H×W, values in [0, 1]) with integer labels ``y``."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str] = field(default_factory=list)
    name: str = "dataset"

    def __post_init__(self) -> None:
        self.x = np.ascontiguousarray(self.x, dtype=np.float32)
        self.y = np.ascontiguousarray(self.y, dtype=np.int64)
        if self.x.ndim != 4:
            raise ValueError(f"{self.name}: images must be N×C×H×W, got shape {self.x.shape}")
        if len(self.x) != len(self.y):
            raise ValueError(f"{self.name}: {len(self.x)} images but {len(self.y)} labels")
        if not self.classes:
            self.classes = [str(c) for c in range(int(self.y.max()) + 1 if len(self.y) else 0)]

    def __len__(self) -> int:
        return len(self.y)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Channels, height, width of one image."""
        c, h, w = self.x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def fingerprint(self) -> str:
        """sha256 of the pixels and labels: two runs on the same data show the same hash."""
        digest = hashlib.sha256()
        digest.update(str(self.x.shape).encode())
        digest.update(self.x.tobytes())
        digest.update(self.y.tobytes())
        return digest.hexdigest()

    def take(self, index: np.ndarray, name: str | None = None) -> ImageDataset:
        """A new dataset of the rows in ``index``."""
        return ImageDataset(self.x[index], self.y[index], list(self.classes), name or self.name)

    def __repr__(self) -> str:
        return (
            f"ImageDataset({self.name!r}, n={len(self)}, shape={self.shape}, "
            f"classes={self.num_classes}, sha256={self.fingerprint[:12]})"
        )
