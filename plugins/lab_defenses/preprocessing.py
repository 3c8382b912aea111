"""Input preprocessing defenses: transform images before the model sees them."""

from __future__ import annotations

import io
from typing import Annotated

import numpy as np

from dioptra_lab import Bounds, task
from lab_data.dataset import ImageDataset


def _same(data: ImageDataset, x: np.ndarray, suffix: str) -> ImageDataset:
    return ImageDataset(x, data.y, list(data.classes), f"{data.name}-{suffix}")


@task
def jpeg_compression(data: ImageDataset, quality: Annotated[int, Bounds(ge=1, le=95)] = 50) -> ImageDataset:
    """JPEG-compress every image (Dziugaite et al., 2016; Das et al., 2017).

    Args:
        data: images in [0, 1].
        quality: JPEG quality, 1 (strongest) to 95.
    """
    from PIL import Image

    out = np.empty_like(data.x)
    for i, img in enumerate(data.x):
        arr = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
        pil = Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0))
        buffer = io.BytesIO()
        pil.save(buffer, format="JPEG", quality=quality)
        back = np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype=np.float32) / 255.0
        out[i] = back[None] if back.ndim == 2 else back.transpose(2, 0, 1)
    return _same(data, out, f"jpeg{quality}")


@task
def spatial_smoothing(data: ImageDataset, window: Annotated[int, Bounds(ge=1, le=9)] = 3) -> ImageDataset:
    """Median-filter every channel (Xu, Evans & Qi, 2018, "Feature Squeezing").

    Args:
        data: images in [0, 1].
        window: side of the square median window, 1 to 9.
    """
    from scipy.ndimage import median_filter

    out = median_filter(data.x, size=(1, 1, window, window), mode="reflect")
    return _same(data, out.astype(np.float32), f"median{window}")


@task
def feature_squeezing(data: ImageDataset, bit_depth: Annotated[int, Bounds(ge=1, le=8)] = 4) -> ImageDataset:
    """Reduce colour bit depth (Xu, Evans & Qi, 2018, "Feature Squeezing").

    Args:
        data: images in [0, 1].
        bit_depth: bits per channel kept, 1 to 8.
    """
    levels = 2**bit_depth - 1
    return _same(data, np.round(data.x * levels) / levels, f"bits{bit_depth}")


@task
def gaussian_noise(
    data: ImageDataset,
    sigma: Annotated[float, Bounds(ge=0.0, le=1.0)] = 0.1,
    augment: bool = True,
    seed: Annotated[int, Bounds(ge=0)] = 0,
) -> ImageDataset:
    """Gaussian noise augmentation (Zantedeschi et al., 2017): add noisy copies (or noise in place).

    Args:
        data: images in [0, 1].
        sigma: standard deviation of the noise, in [0, 1].
        augment: keep the originals and append noisy copies (training); else replace (inference).
        seed: seed of the noise.
    """
    rng = np.random.default_rng(seed)
    noisy = np.clip(data.x + rng.normal(0.0, sigma, data.x.shape), 0, 1).astype(np.float32)
    if not augment:
        return _same(data, noisy, f"noise{sigma:g}")
    return ImageDataset(
        np.concatenate([data.x, noisy]),
        np.concatenate([data.y, data.y]),
        list(data.classes),
        f"{data.name}-noise-aug{sigma:g}",
    )
