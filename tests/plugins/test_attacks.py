"""Native attacks checked against IBM's Adversarial Robustness Toolbox (ART) on the same model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dioptra_lab.errors import DioptraLabError
from tests.plugins.conftest import Lab


def art_classifier(lab: Lab):  # noqa: ANN201
    from lab_attacks.art_evasion import art_classifier as wrap

    return wrap(lab.model, lab.test)


def one_hot(lab: Lab, y: np.ndarray) -> np.ndarray:
    return np.eye(lab.test.num_classes, dtype=np.float32)[y]


@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_fgsm_matches_art(lab: Lab, eps: float) -> None:
    from art.attacks.evasion import FastGradientMethod

    ours = lab.attacks.fgsm(lab.model, lab.test, eps=eps).x
    theirs = FastGradientMethod(
        art_classifier(lab), norm=np.inf, eps=eps, eps_step=eps, batch_size=64
    ).generate(lab.test.x, y=one_hot(lab, lab.test.y))
    assert np.abs(ours - theirs).max() <= 1e-5
    assert np.abs(ours - lab.test.x).max() <= eps + 1e-6


def test_targeted_fgsm_matches_art(lab: Lab) -> None:
    from art.attacks.evasion import FastGradientMethod

    ours = lab.attacks.fgsm(lab.model, lab.test, eps=0.1, targeted=True, target_class=3).x
    theirs = FastGradientMethod(art_classifier(lab), eps=0.1, eps_step=0.1, targeted=True).generate(
        lab.test.x, y=one_hot(lab, np.full_like(lab.test.y, 3))
    )
    assert np.abs(ours - theirs).max() <= 1e-5


@pytest.mark.parametrize(("norm", "eps", "eps_step"), [("inf", 0.1, 0.02), ("2", 1.0, 0.2)])
def test_pgd_matches_art(lab: Lab, norm: str, eps: float, eps_step: float) -> None:
    from art.attacks.evasion import ProjectedGradientDescentPyTorch

    ours = lab.attacks.pgd(lab.model, lab.test, eps=eps, eps_step=eps_step, steps=10, norm=norm).x
    art_norm = np.inf if norm == "inf" else 2
    theirs = ProjectedGradientDescentPyTorch(
        art_classifier(lab),
        norm=art_norm,
        eps=eps,
        eps_step=eps_step,
        max_iter=10,
        num_random_init=0,
        batch_size=64,
        verbose=False,
    ).generate(lab.test.x, y=one_hot(lab, lab.test.y))
    assert np.abs(ours - theirs).max() <= 1e-5


def _success_and_l2(lab: Lab, x_adv: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from lab_models.tasks import predict_labels

    clean = lab.test.x[idx]
    success = predict_labels(lab.model, x_adv) != lab.test.y[idx]
    l2 = np.linalg.norm((x_adv - clean).reshape(len(idx), -1), axis=1)
    return success, l2


def _subset(lab: Lab, n: int):  # noqa: ANN202
    from lab_models.tasks import predict_labels

    correct = np.flatnonzero(predict_labels(lab.model, lab.test.x) == lab.test.y)[:n]
    return correct, lab.test.take(correct)


def test_carlini_wagner_at_least_as_strong_as_art(lab: Lab) -> None:
    from art.attacks.evasion import CarliniL2Method

    idx, data = _subset(lab, 30)
    ours = lab.attacks.carlini_wagner(lab.model, data).x
    theirs = CarliniL2Method(art_classifier(lab), batch_size=30, verbose=False).generate(data.x)
    ok_ours, l2_ours = _success_and_l2(lab, ours, idx)
    ok_art, l2_art = _success_and_l2(lab, theirs, idx)
    assert ok_ours.mean() >= ok_art.mean()
    both = ok_ours & ok_art
    assert both.any()
    assert l2_ours[both].mean() <= l2_art[both].mean()


def test_deepfool_at_least_as_strong_as_art(lab: Lab) -> None:
    from art.attacks.evasion import DeepFool

    idx, data = _subset(lab, 60)
    ours = lab.attacks.deepfool(lab.model, data, overshoot=0.02).x
    theirs = DeepFool(art_classifier(lab), epsilon=0.02, nb_grads=10, batch_size=60, verbose=False).generate(
        data.x
    )
    ok_ours, l2_ours = _success_and_l2(lab, ours, idx)
    ok_art, l2_art = _success_and_l2(lab, theirs, idx)
    assert ok_ours.mean() >= ok_art.mean()
    both = ok_ours & ok_art
    # the same algorithm: equal up to float32 noise
    assert l2_ours[both].mean() <= l2_art[both].mean() * 1.01


def test_generic_art_task_runs_any_attack_by_name(lab: Lab) -> None:
    from lab_attacks.art_evasion import art_evasion

    out = art_evasion(lab.model, lab.test, "FastGradientMethod", {"eps": 0.1, "eps_step": 0.1})
    ours = lab.attacks.fgsm(lab.model, lab.test, eps=0.1)
    assert np.abs(out.x - ours.x).max() <= 1e-5
    with pytest.raises(DioptraLabError, match="ART has no evasion attack 'FastGradientMetod'; did you mean"):
        art_evasion(lab.model, lab.test, "FastGradientMetod")
    with pytest.raises(DioptraLabError, match="bad parameters"):
        art_evasion(lab.model, lab.test, "FastGradientMethod", {"nope": 1})


def test_pgd_options(lab: Lab) -> None:
    plain = lab.attacks.pgd(lab.model, lab.test, eps=0.1, eps_step=0.02, steps=10)
    again = lab.attacks.pgd(lab.model, lab.test, eps=0.1, eps_step=0.02, steps=10, random_start=True, seed=3)
    same = lab.attacks.pgd(lab.model, lab.test, eps=0.1, eps_step=0.02, steps=10, random_start=True, seed=3)
    assert np.array_equal(again.x, same.x)
    assert not np.array_equal(plain.x, again.x)
    assert np.abs(again.x - lab.test.x).max() <= 0.1 + 1e-6
    stopped = lab.attacks.pgd(lab.model, lab.test, eps=0.3, eps_step=0.05, steps=30, early_stop=True)
    full = lab.attacks.pgd(lab.model, lab.test, eps=0.3, eps_step=0.05, steps=30)
    # early stop moves no further than needed, so its perturbations are not larger on average
    assert np.abs(stopped.x - lab.test.x).mean() <= np.abs(full.x - lab.test.x).mean()
    targeted = lab.attacks.pgd(
        lab.model, lab.test, eps=0.3, eps_step=0.05, steps=30, targeted=True, target_class=0
    )
    from lab_models.tasks import predict_labels

    assert (predict_labels(lab.model, targeted.x) == 0).mean() > 0.8


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda a, lab: a.pgd(lab.model, lab.test, eps=1.5),
            r"eps must be in \[0.0, 1.0\] for norm 'inf', got 1.5",
        ),
        (lambda a, lab: a.fgsm(lab.model, lab.test, targeted=True), "targeted attacks need target_class"),
        (
            lambda a, lab: a.fgsm(lab.model, lab.test, targeted=True, target_class=12),
            r"target_class must be in \[0, 9\], got 12",
        ),
        (
            lambda a, lab: a.carlini_wagner(lab.model, lab.test, targeted=True, target_class=10),
            r"target_class must be in \[0, 9\], got 10",
        ),
    ],
)
def test_parameters_checked_with_range(lab: Lab, call, message: str) -> None:  # noqa: ANN001
    """Ranges that depend on the data or on another argument are checked in the task."""
    with pytest.raises(DioptraLabError, match=message):
        call(lab.attacks, lab)


@pytest.mark.parametrize(
    ("task", "value", "message"),
    [
        ("fgsm", {"eps": 1.5}, r"parameter 'eps': expected a float >= 0(\.0)? and <= 1(\.0)?, got 1\.5"),
        ("pgd", {"steps": 0}, r"parameter 'steps': expected an integer >= 1, got 0"),
        ("carlini_wagner", {"max_iter": 0}, r"parameter 'max_iter': expected an integer >= 1, got 0"),
        ("deepfool", {"overshoot": -1.0}, r"parameter 'overshoot': expected a float >= 0(\.0)?, got -1\.0"),
    ],
)
def test_declared_ranges_refused_before_running(
    builtin_registry: object, task: str, value: dict[str, float], message: str
) -> None:
    """Static ranges are declared in the annotations: an entry point refuses them at submit."""
    from dioptra_lab.entrypoints import load_entrypoint_text
    from dioptra_lab.errors import ParameterError

    ((name, bad),) = value.items()
    text = (
        f"parameters: [{name}]\n"
        "graph:\n"
        "  attack:\n"
        f"    {task}: {{model: 'runs:/0/model', data: 'runs:/0/data', {name}: ${name}}}\n"
    )
    ep = load_entrypoint_text(text, builtin_registry).validate()  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=message):
        ep.coerce({name: bad})


def test_patch_makes_target_class_win(lab: Lab) -> None:
    from lab_attacks.patch import apply_patch, train_patch
    from lab_models.tasks import predict_labels

    def rate(patch: np.ndarray) -> float:
        patched = apply_patch(lab.test, patch, seed=0)
        assert patched.x.shape == lab.test.x.shape
        return float((predict_labels(lab.model, patched.x)[lab.test.y != 3] == 3).mean())

    patch = train_patch(lab.model, lab.train, target_class=3, patch_fraction=0.5, steps=150, seed=0)
    assert patch.shape == (1, 4, 4)
    assert 0 <= patch.min()
    assert patch.max() <= 1
    noise = np.random.default_rng(0).random((1, 4, 4)).astype(np.float32)
    # a 4×4 sticker at random places on 8×8 digits is a hard attack; training must clearly help
    assert rate(patch) > max(0.15, 3 * rate(noise))
    with pytest.raises(DioptraLabError, match="does not fit"):
        apply_patch(lab.test, np.zeros((3, 4, 4), dtype=np.float32))


def test_attacks_run_on_the_models_device(lab: Lab) -> None:
    from lab_models.device import model_device

    assert model_device(lab.model) == torch.device("cuda" if torch.cuda.is_available() else "cpu")
