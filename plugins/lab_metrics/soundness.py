"""Soundness checks of an evaluation: the properties any honest robustness number must have."""

from __future__ import annotations

from typing import Annotated, Any

from torch import nn

from dioptra_lab import Bounds, log_metrics, task
from lab_attacks.fgsm import fgsm
from lab_attacks.pgd import pgd
from lab_data.dataset import ImageDataset
from lab_metrics.tasks import _accuracy


@task
def soundness_checks(
    model: nn.Module,
    data: ImageDataset,
    eps_values: list[Annotated[float, Bounds(ge=0.0, le=1.0)]] | None = None,
    large_eps: Annotated[float, Bounds(gt=0.0, le=1.0)] = 1.0,
    few_steps: Annotated[int, Bounds(ge=1)] = 5,
    many_steps: Annotated[int, Bounds(ge=1)] = 40,
    tolerance: Annotated[float, Bounds(ge=0.0, le=1.0)] = 0.02,
) -> dict[str, Any]:
    """Run the soundness checks of an attack evaluation on a model (logged as soundness_<check>).

    ε = 0 gives the clean accuracy; adversarial accuracy never rises with ε; PGD with a very large
    ε drives accuracy near 0; more PGD steps never make the attack weaker on average.

    Args:
        model: the classifier.
        data: evaluation images.
        eps_values: L∞ ε values for the monotonicity check, each in [0, 1] (sorted first).
        large_eps: the "very large" L∞ ε, in (0, 1].
        few_steps: PGD steps of the weaker attack (>= 1).
        many_steps: PGD steps of the stronger attack (>= 1).
        tolerance: accuracy slack allowed for noise, in [0, 1].
    """
    eps_values = sorted(eps_values or [0.0, 0.05, 0.1, 0.2, 0.3])
    clean = _accuracy(model, data)
    at_zero = _accuracy(model, fgsm(model, data, eps=0.0))
    curve = [
        _accuracy(model, pgd(model, data, eps=e, eps_step=max(e / 4, 1e-4), steps=10)) for e in eps_values
    ]
    huge = _accuracy(model, pgd(model, data, eps=large_eps, eps_step=large_eps / 10, steps=20))
    mid = eps_values[len(eps_values) // 2] or 0.1
    weak = _accuracy(model, pgd(model, data, eps=mid, eps_step=mid / 4, steps=few_steps))
    strong = _accuracy(model, pgd(model, data, eps=mid, eps_step=mid / 4, steps=many_steps))
    checks = {
        "eps_zero_is_clean": abs(at_zero - clean) <= 1e-9,
        "monotone_in_eps": all(b <= a + tolerance for a, b in zip(curve, curve[1:], strict=False)),
        "large_eps_breaks_model": huge <= 0.05,
        "more_steps_not_weaker": strong <= weak + tolerance,
    }
    log_metrics({f"soundness_{k}": float(v) for k, v in checks.items()})
    return {
        "passed": all(checks.values()),
        "checks": checks,
        "clean_accuracy": clean,
        "curve": dict(zip(eps_values, curve, strict=True)),
        "large_eps_accuracy": huge,
        "few_steps_accuracy": weak,
        "many_steps_accuracy": strong,
    }
