"""Any evasion attack of IBM's Adversarial Robustness Toolbox (ART), by name."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from dioptra_lab import task
from dioptra_lab.errors import DioptraLabError
from lab_data.dataset import ImageDataset
from lab_models.device import model_device


def art_classifier(model: nn.Module, data: ImageDataset) -> Any:
    """Wrap a PyTorch model as ART's PyTorchClassifier (inputs in [0, 1], cross-entropy)."""
    try:
        from art.estimators.classification import PyTorchClassifier
    except ImportError as exc:
        raise DioptraLabError(
            "ART is not installed: pip install 'dioptra_lab[art]' (adversarial-robustness-toolbox)"
        ) from exc
    device = model_device(model)
    return PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=data.shape,
        nb_classes=data.num_classes,
        clip_values=(0.0, 1.0),
        device_type="gpu" if device.type == "cuda" else "cpu",
    )


@task
def art_evasion(
    model: nn.Module,
    data: ImageDataset,
    attack: str,
    params: dict[str, Any] | None = None,
    use_labels: bool = True,
) -> ImageDataset:
    """Run any ART evasion attack by its class name (e.g. BoundaryAttack, SquareAttack).

    Args:
        model: the classifier under attack.
        data: the images to perturb.
        attack: the class name in art.attacks.evasion.
        params: keyword arguments of the attack's constructor.
        use_labels: give the true labels to the attack (else it uses the model's predictions).
    """
    try:
        import art.attacks.evasion as evasion
    except ImportError as exc:
        raise DioptraLabError(
            "ART is not installed: pip install 'dioptra_lab[art]' (adversarial-robustness-toolbox)"
        ) from exc
    names = sorted(n for n in dir(evasion) if n[0].isupper())
    cls = getattr(evasion, attack, None)
    if cls is None:
        import difflib

        close = difflib.get_close_matches(attack, names, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise DioptraLabError(
            f"ART has no evasion attack {attack!r}; {hint}choose one of: {', '.join(names)}"
        )
    try:
        instance = cls(art_classifier(model, data), **(params or {}))
    except (TypeError, ValueError) as exc:
        raise DioptraLabError(f"ART {attack}: bad parameters {params}: {exc}") from exc
    labels = np.eye(data.num_classes, dtype=np.float32)[data.y] if use_labels else None
    x_adv = instance.generate(x=data.x, y=labels)
    return ImageDataset(
        np.asarray(x_adv, dtype=np.float32), data.y, list(data.classes), f"{data.name}-art-{attack}"
    )
