"""Each defense against each attack, as one table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from torch import nn

from dioptra_lab import log_metrics, task
from dioptra_lab.errors import DioptraLabError
from lab_data.dataset import ImageDataset
from lab_defenses.preprocessing import feature_squeezing, gaussian_noise, jpeg_compression, spatial_smoothing
from lab_metrics.tasks import _accuracy

DefenseName = Literal["none", "jpeg", "smoothing", "squeezing", "noise"]
DEFENSES: dict[str, Callable[[ImageDataset], ImageDataset]] = {
    "none": lambda d: d,
    "jpeg": lambda d: jpeg_compression(d, quality=50),
    "smoothing": lambda d: spatial_smoothing(d, window=3),
    "squeezing": lambda d: feature_squeezing(d, bit_depth=3),
    "noise": lambda d: gaussian_noise(d, sigma=0.1, augment=False),
}


@task
def defense_matrix(
    model: nn.Module,
    clean: ImageDataset,
    adversarial: dict[str, ImageDataset],
    defenses: list[DefenseName] | None = None,
) -> dict[str, dict[str, float]]:
    """Accuracy of the model on each attack's images after each defense (logged as acc.<attack>.<defense>).

    Args:
        model: the classifier.
        clean: clean images (the row "clean").
        adversarial: adversarial image sets by attack name.
        defenses: preprocessing defenses to compare ("none" is the undefended baseline).
    """
    names = list(defenses or DEFENSES)
    unknown = [n for n in names if n not in DEFENSES]
    if unknown:
        raise DioptraLabError(f"unknown defenses {unknown}; choose from {', '.join(DEFENSES)}")
    table = {
        attack: {name: _accuracy(model, DEFENSES[name](images)) for name in names}
        for attack, images in {"clean": clean, **adversarial}.items()
    }
    log_metrics({f"acc.{a}.{d}": v for a, row in table.items() for d, v in row.items()})
    return table
