"""A small CNN trained once per module on the digits, and the built-in plugins imported."""

from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BUILTIN_PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


@dataclass
class Lab:
    model: Any
    train: Any
    test: Any
    attacks: types.SimpleNamespace


@pytest.fixture(scope="session")
def builtin_registry() -> Any:
    """A registry of the built-in plugins (their folder goes on sys.path)."""
    from dioptra_lab.plugins import Registry

    return Registry([BUILTIN_PLUGINS], distributions=False).discover()


@pytest.fixture(scope="session")
def lab(builtin_registry: Any) -> Lab:
    """A CNN trained 15 epochs on 1,347 digits; 200 test digits."""
    import torch

    from lab_attacks.carlini_wagner import carlini_wagner
    from lab_attacks.deepfool import deepfool
    from lab_attacks.fgsm import fgsm
    from lab_attacks.pgd import pgd
    from lab_data.tasks import load_digits, subset, train_test_split
    from lab_models.tasks import train_model

    torch.use_deterministic_algorithms(False)
    split = train_test_split(load_digits(), seed=0)
    model = train_model(split.train, epochs=15, seed=0)
    attacks = types.SimpleNamespace(fgsm=fgsm, pgd=pgd, carlini_wagner=carlini_wagner, deepfool=deepfool)
    return Lab(model, split.train, subset(split.test, 200, seed=0), attacks)
