"""Load, split, subset and fingerprint image data sets (all offline)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import numpy as np

from dioptra_lab import Bounds, log_tags, task
from dioptra_lab.errors import DioptraLabError
from lab_data.dataset import ImageDataset


@task
def load_digits(
    n_samples: Annotated[int, Bounds(ge=1)] | None = None, seed: Annotated[int, Bounds(ge=0)] = 0
) -> ImageDataset:
    """Load scikit-learn's 8×8 handwritten digits (1,797 images; works offline).

    Args:
        n_samples: keep a random subset of this many images, >= 1 (all when empty).
        seed: seed of the subset.
    """
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    data = ImageDataset(
        bunch.images[:, None, :, :] / 16.0, bunch.target, [str(i) for i in range(10)], "digits"
    )
    return record(_subset(data, n_samples, seed))


def _open(path: Path) -> bytes:
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes())
    return path.read_bytes()


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz", folder / stem.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    raise DioptraLabError(f"MNIST: no {stem}[.gz] in {folder}; download the IDX files there")


def read_idx(data: bytes) -> np.ndarray:
    """Decode one IDX file (the MNIST format)."""
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DioptraLabError("not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@task
def load_mnist(
    path: str,
    split: Literal["train", "test"] = "train",
    n_samples: Annotated[int, Bounds(ge=1)] | None = None,
    seed: Annotated[int, Bounds(ge=0)] = 0,
) -> ImageDataset:
    """Load MNIST (or Fashion-MNIST) from a folder of IDX files.

    Args:
        path: folder with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-… (optionally .gz).
        split: train or test files.
        n_samples: keep a random subset of this many images (>= 1; all when empty).
        seed: seed of the subset.
    """
    folder = Path(path)
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(_open(_find(folder, f"{prefix}-images-idx3-ubyte")))
    labels = read_idx(_open(_find(folder, f"{prefix}-labels-idx1-ubyte")))
    data = ImageDataset(images[:, None, :, :] / 255.0, labels, name=f"mnist-{split}")
    return record(_subset(data, n_samples, seed))


@task
def load_cifar10(
    path: str,
    split: Literal["train", "test"] = "train",
    n_samples: Annotated[int, Bounds(ge=1)] | None = None,
    seed: Annotated[int, Bounds(ge=0)] = 0,
) -> ImageDataset:
    """Load CIFAR-10 from its python-batches folder (data_batch_1…5, test_batch).

    Args:
        path: the cifar-10-batches-py folder.
        split: train (data_batch_*) or test (test_batch).
        n_samples: keep a random subset of this many images (>= 1; all when empty).
        seed: seed of the subset.
    """
    folder = Path(path)
    files = sorted(folder.glob("data_batch_*")) if split == "train" else [folder / "test_batch"]
    if not files or not all(f.is_file() for f in files):
        raise DioptraLabError(
            f"CIFAR-10: no {'data_batch_*' if split == 'train' else 'test_batch'} in {folder}"
        )
    xs, ys = [], []
    for file in files:
        with file.open("rb") as fh:
            batch = pickle.load(fh, encoding="bytes")  # noqa: S301 - the published format
        xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[b"labels"]))
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    meta = folder / "batches.meta"
    if meta.is_file():
        with meta.open("rb") as fh:
            names = pickle.load(fh, encoding="bytes").get(b"label_names")  # noqa: S301
        classes = [n.decode() for n in names] if names else classes
    data = ImageDataset(np.concatenate(xs) / 255.0, np.concatenate(ys), classes, f"cifar10-{split}")
    return record(_subset(data, n_samples, seed))


@task
def load_image_folder(
    path: str, size: Annotated[int, Bounds(ge=1)] = 32, grayscale: bool = False
) -> ImageDataset:
    """Load images from a folder with one subfolder per class (PNG, JPEG, …).

    Args:
        path: the folder; each subfolder's name is a class.
        size: images are resized to size×size (>= 1).
        grayscale: load one channel instead of three.
    """
    from PIL import Image

    root = Path(path)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    if not classes:
        raise DioptraLabError(f"image folder {root}: expected one subfolder per class")
    xs, ys = [], []
    for label, cls in enumerate(classes):
        for file in sorted((root / cls).iterdir()):
            if file.suffix.lower() not in {".png", ".jpg", ".jpeg", ".bmp", ".gif"}:
                continue
            with Image.open(file) as img:
                img = img.convert("L" if grayscale else "RGB").resize((size, size))
                arr = np.asarray(img, dtype=np.float32) / 255.0
            xs.append(arr[None] if grayscale else arr.transpose(2, 0, 1))
            ys.append(label)
    if not xs:
        raise DioptraLabError(f"image folder {root}: no images found")
    return record(ImageDataset(np.stack(xs), np.array(ys), classes, root.name))


def record(data: ImageDataset) -> ImageDataset:
    """Log a loaded data set's fingerprint and size with the run, so runs can be compared."""
    log_tags({f"dataset.{data.name}.sha256": data.fingerprint, f"dataset.{data.name}.images": len(data)})
    return data


def _subset(data: ImageDataset, n: int | None, seed: int) -> ImageDataset:
    if n is None or n >= len(data):
        return data
    if n <= 0:
        raise DioptraLabError(f"n_samples must be positive, got {n}")
    index = np.random.default_rng(seed).permutation(len(data))[:n]
    return data.take(np.sort(index))


@task
def subset(
    data: ImageDataset, n_samples: Annotated[int, Bounds(ge=1)], seed: Annotated[int, Bounds(ge=0)] = 0
) -> ImageDataset:
    """Keep a random subset of a data set.

    Args:
        data: the data set.
        n_samples: how many images to keep, >= 1 (all of them when there are fewer).
        seed: seed of the choice.
    """
    return _subset(data, n_samples, seed)


class Split(NamedTuple):
    train: ImageDataset
    test: ImageDataset


@task
def train_test_split(
    data: ImageDataset,
    test_fraction: Annotated[float, Bounds(gt=0.0, lt=1.0)] = 0.25,
    seed: Annotated[int, Bounds(ge=0)] = 0,
) -> Split:
    """Split a data set into train and test parts, stratified by class, with a seed.

    Args:
        data: the data set.
        test_fraction: share of each class that goes to the test part, in (0, 1).
        seed: seed of the shuffle.
    """
    rng = np.random.default_rng(seed)
    test_idx = []
    for label in np.unique(data.y):
        rows = rng.permutation(np.flatnonzero(data.y == label))
        test_idx.extend(rows[: max(1, round(len(rows) * test_fraction))])
    mask = np.zeros(len(data), dtype=bool)
    mask[test_idx] = True
    return Split(
        data.take(np.flatnonzero(~mask), f"{data.name}-train"),
        data.take(np.flatnonzero(mask), f"{data.name}-test"),
    )


@task
def normalize(
    data: ImageDataset,
    low: Annotated[float, Bounds(ge=0.0, le=1.0)] = 0.0,
    high: Annotated[float, Bounds(ge=0.0, le=1.0)] = 1.0,
) -> ImageDataset:
    """Rescale pixel values linearly to [low, high] (attacks and defenses expect [0, 1]).

    Args:
        data: the data set.
        low: the value the darkest pixel gets, in [0, 1].
        high: the value the brightest pixel gets, in [0, 1].
    """
    x = data.x
    span = float(x.max() - x.min()) or 1.0
    scaled = (x - x.min()) / span * (high - low) + low
    return ImageDataset(scaled, data.y, list(data.classes), data.name)


@task
def fingerprint(data: ImageDataset) -> str:
    """sha256 of a data set's pixels and labels (logged so runs can be compared)."""
    return data.fingerprint
