"""Data formats, models, defenses, poisoning, metrics, soundness, and conformance of every task."""

from __future__ import annotations

import gzip
import inspect
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dioptra_lab.errors import DioptraLabError
from dioptra_lab.types import AnyType
from tests.plugins.conftest import Lab


# -- data ----------------------------------------------------------------------------
def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_mnist_idx_folder(builtin_registry: Any, tmp_path: Path) -> None:
    from lab_data.tasks import load_mnist

    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (12, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(12) % 10)
    data = load_mnist(str(tmp_path))
    assert data.x.shape == (12, 1, 28, 28)
    assert 0 <= data.x.min()
    assert data.x.max() <= 1
    assert list(data.y[:3]) == [0, 1, 2]
    assert len(load_mnist(str(tmp_path), n_samples=5)) == 5
    with pytest.raises(DioptraLabError, match="no t10k-images-idx3-ubyte"):
        load_mnist(str(tmp_path), split="test")


def test_cifar10_batches(builtin_registry: Any, tmp_path: Path) -> None:
    from lab_data.tasks import load_cifar10

    rng = np.random.default_rng(0)
    for name in ("data_batch_1", "data_batch_2", "test_batch"):
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [1, 2, 3, 4]}
        (tmp_path / name).write_bytes(pickle.dumps(batch))
    train = load_cifar10(str(tmp_path))
    assert train.x.shape == (8, 3, 32, 32)
    assert train.classes[1] == "automobile"
    assert len(load_cifar10(str(tmp_path), split="test")) == 4


def test_image_folder(builtin_registry: Any, tmp_path: Path) -> None:
    from PIL import Image

    from lab_data.tasks import load_image_folder

    for cls, shade in (("cats", 40), ("dogs", 200)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (20, 20), (shade, shade, shade)).save(tmp_path / cls / f"{i}.png")
    data = load_image_folder(str(tmp_path), size=16)
    assert data.x.shape == (6, 3, 16, 16)
    assert data.classes == ["cats", "dogs"]
    assert load_image_folder(str(tmp_path), size=8, grayscale=True).x.shape == (6, 1, 8, 8)


def test_split_subset_fingerprint(builtin_registry: Any) -> None:
    from lab_data.tasks import fingerprint, load_digits, train_test_split

    digits = load_digits()
    split = train_test_split(digits, test_fraction=0.25, seed=1)
    assert len(split.train) + len(split.test) == len(digits) == 1797
    assert set(np.unique(split.test.y)) == set(range(10))  # stratified
    again = train_test_split(digits, test_fraction=0.25, seed=1)
    assert fingerprint(split.test) == fingerprint(again.test) == again.test.fingerprint
    assert fingerprint(train_test_split(digits, seed=2).test) != fingerprint(split.test)


# -- models and metrics --------------------------------------------------------------
def test_model_learns_and_shapes(lab: Lab) -> None:
    from lab_models.nets import SmallCNN
    from lab_models.tasks import build_model, evaluate, predict

    assert evaluate(lab.model, lab.test) > 0.85
    assert predict(lab.model, lab.test).shape == (200,)
    import torch

    for channels, size in ((1, 8), (1, 28), (3, 32)):
        net = SmallCNN(channels, 10, size)
        assert net(torch.zeros(2, channels, size, size)).shape == (2, 10)
    assert build_model(lab.test, kind="mlp").num_classes == 10


def test_models_built_in_threads_at_once_get_their_seeds_weights(lab: Lab) -> None:
    """A graph's independent steps run in threads: train_model and adversarial_training built
    their models at once and drew each other's initial weights from torch's one generator (the
    adversarial training example's comparison flipped under load)."""
    import threading

    import torch

    from lab_models.tasks import build_model

    def weights(model: torch.nn.Module) -> list[torch.Tensor]:
        return [p.detach().clone() for p in model.parameters()]

    expected = {seed: weights(build_model(lab.test, seed=seed)) for seed in (0, 1)}
    torch.manual_seed(123)
    outside = torch.rand(3)
    torch.manual_seed(123)
    for _ in range(20):
        start = threading.Barrier(2)
        built: dict[int, list[torch.Tensor]] = {}

        def build(seed: int, start: threading.Barrier = start, built: dict = built) -> None:
            start.wait()
            built[seed] = weights(build_model(lab.test, seed=seed))

        threads = [threading.Thread(target=build, args=(seed,)) for seed in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for seed in (0, 1):
            assert all(torch.equal(a, b) for a, b in zip(built[seed], expected[seed], strict=True)), seed
    assert torch.equal(torch.rand(3), outside)  # the process's own generator is where it was


def test_metrics(lab: Lab) -> None:
    from lab_metrics.tasks import (
        adversarial_accuracy,
        attack_success_rate,
        clean_accuracy,
        confusion_matrix,
        per_class_accuracy,
        perturbation_norms,
    )

    adv = lab.attacks.fgsm(lab.model, lab.test, eps=0.2)
    clean = clean_accuracy(lab.model, lab.test)
    robust = adversarial_accuracy(lab.model, adv)
    assert robust < clean
    assert 0 < attack_success_rate(lab.model, lab.test, adv) <= 1
    norms = perturbation_norms(lab.test, adv)
    assert norms["perturbation_linf_max"] == pytest.approx(0.2, abs=1e-6)
    assert norms["perturbation_l0_median"] > 0
    matrix = confusion_matrix(lab.model, lab.test)
    assert matrix.sum() == 200
    assert np.trace(matrix) / 200 == pytest.approx(clean)
    assert set(per_class_accuracy(lab.model, lab.test)) == set(lab.test.classes)
    same = perturbation_norms(lab.test, lab.test)
    assert same["perturbation_l2_max"] == 0.0


def test_soundness_checks_pass_on_a_sound_evaluation(lab: Lab) -> None:
    from lab_metrics.soundness import soundness_checks

    report = soundness_checks(lab.model, lab.test)
    assert report["passed"], report
    assert report["curve"][0.0] == pytest.approx(report["clean_accuracy"])
    assert report["large_eps_accuracy"] <= 0.05


# -- defenses and poisoning ----------------------------------------------------------
def test_preprocessing_defenses(lab: Lab) -> None:
    from lab_defenses.preprocessing import (
        feature_squeezing,
        gaussian_noise,
        jpeg_compression,
        spatial_smoothing,
    )

    for out in (
        jpeg_compression(lab.test, 30),
        spatial_smoothing(lab.test, 3),
        feature_squeezing(lab.test, 2),
    ):
        assert out.x.shape == lab.test.x.shape
        assert 0 <= out.x.min()
        assert out.x.max() <= 1
        assert not np.array_equal(out.x, lab.test.x)
    assert set(np.unique(feature_squeezing(lab.test, 1).x)) <= {0.0, 1.0}
    augmented = gaussian_noise(lab.test, sigma=0.1, seed=0)
    assert len(augmented) == 2 * len(lab.test)
    assert np.array_equal(
        gaussian_noise(lab.test, 0.1, augment=False, seed=0).x,
        gaussian_noise(lab.test, 0.1, augment=False, seed=0).x,
    )


def test_defense_matrix(lab: Lab) -> None:
    from lab_defenses.evaluation import defense_matrix

    adv = lab.attacks.fgsm(lab.model, lab.test, eps=0.15)
    table = defense_matrix(lab.model, lab.test, {"fgsm": adv}, ["none", "squeezing"])
    assert set(table) == {"clean", "fgsm"}
    assert table["fgsm"]["none"] < table["clean"]["none"]
    with pytest.raises(DioptraLabError, match="unknown defenses"):
        defense_matrix(lab.model, lab.test, {}, ["magic"])  # type: ignore[list-item]


@pytest.mark.slow
def test_adversarial_training_resists_pgd(lab: Lab) -> None:
    from lab_defenses.adversarial_training import adversarial_training
    from lab_models.tasks import evaluate

    robust = adversarial_training(lab.train, epochs=6, eps=0.15, eps_step=0.04, steps=5, seed=0)
    attack = {"eps": 0.15, "eps_step": 0.03, "steps": 20}
    standard_under = evaluate(lab.model, lab.attacks.pgd(lab.model, lab.test, **attack))
    robust_under = evaluate(robust, lab.attacks.pgd(robust, lab.test, **attack))
    assert robust_under > standard_under + 0.2


def test_backdoor_poisoning(lab: Lab) -> None:
    from lab_models.tasks import evaluate, train_model
    from lab_poisoning.backdoor import add_trigger, backdoor_poison, backdoor_success_rate

    poisoned = backdoor_poison(lab.train, target_class=7, rate=0.1, trigger_size=3, seed=0)
    assert poisoned.count == round(np.sum(lab.train.y != 7) * 0.1)
    assert np.sum(poisoned.data.y == 7) == np.sum(lab.train.y == 7) + poisoned.count
    model = train_model(poisoned.data, epochs=15, seed=0)
    triggered = add_trigger(lab.test, trigger_size=3)
    assert evaluate(model, lab.test) > 0.8  # still accurate on clean images
    assert backdoor_success_rate(model, triggered, 7) > 0.8
    assert backdoor_success_rate(lab.model, triggered, 7) < 0.3  # the clean model has no backdoor
    with pytest.raises(DioptraLabError, match="target_class must be in"):
        backdoor_poison(lab.train, target_class=11)


def test_plots(lab: Lab) -> None:
    from lab_plots.figures import (
        adversarial_examples,
        confusion_matrix_figure,
        perturbation_histogram,
        robustness_curve,
    )

    adv = lab.attacks.fgsm(lab.model, lab.test, eps=0.1)
    for fig in (
        robustness_curve([0.0, 0.1, 0.2], [0.9, 0.5, 0.2]),
        adversarial_examples(lab.model, lab.test, adv, count=4),
        perturbation_histogram(lab.test, adv),
        confusion_matrix_figure(lab.model, lab.test),
    ):
        assert fig.axes
    with pytest.raises(DioptraLabError, match="as many accuracies as eps"):
        robustness_curve([0.1], [])


# -- conformance over every registered task ------------------------------------------
def all_tasks(registry: Any) -> list[Any]:
    return registry.list_tasks()


def test_every_task_is_documented_and_typed(builtin_registry: Any) -> None:
    tasks = all_tasks(builtin_registry)
    assert len(tasks) >= 35
    assert not builtin_registry.broken
    for spec in tasks:
        assert spec.description, f"{spec.qualname} has no docstring"
        for inp in spec.inputs:
            assert not isinstance(inp.type, AnyType), f"{spec.qualname}: input {inp.name} is not typed"
        assert "return" in inspect.get_annotations(spec.func), f"{spec.qualname}: no return annotation"


def _fixture_value(name: str, annotation: Any, lab: Lab, patch: np.ndarray) -> Any:
    text = str(annotation)
    if "ImageDataset" in text:
        return lab.test.take(np.arange(40))
    if "Module" in text:
        return lab.model
    if "ndarray" in text:
        return patch
    return inspect.Parameter.empty


SKIP_CONFORMANCE = {
    # need files, a server or other specific inputs; covered by their own tests above
    "load_mnist",
    "load_cifar10",
    "load_image_folder",
    "art_evasion",
    "sweep_robustness_curve",
    "save_model",
    "robustness_curve",
    "defense_matrix",
    "soundness_checks",
    "backdoor_success_rate",
    "train_patch",
}


def test_same_output_for_same_seed(lab: Lab, builtin_registry: Any) -> None:
    """Every task that can be called with generic inputs gives the same output twice."""
    patch = np.full((1, 3, 3), 0.5, dtype=np.float32)
    checked = 0
    for spec in all_tasks(builtin_registry):
        if spec.name in SKIP_CONFORMANCE:
            continue
        kwargs = {}
        for inp in spec.inputs:
            value = _fixture_value(inp.name, spec.func.__annotations__.get(inp.name, ""), lab, patch)
            if value is not inspect.Parameter.empty:
                kwargs[inp.name] = value
            elif inp.required:
                kwargs[inp.name] = {"int": 3, "float": 0.1, "str": "x"}[inp.type.kind]
            elif inp.name == "epochs":
                kwargs[inp.name] = 2  # keep the training tasks quick
        outputs = [spec.func(**kwargs) for _ in range(2)]
        assert _same(outputs[0], outputs[1]), f"{spec.qualname} differs between two calls"
        checked += 1
    assert checked >= 20


def _same(a: Any, b: Any) -> bool:
    if hasattr(a, "savefig"):
        return True  # figures: their data are checked through the tasks that feed them
    if hasattr(a, "x") and hasattr(a, "y"):
        return np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    if hasattr(a, "state_dict"):
        return all(
            np.array_equal(v.cpu().numpy(), b.state_dict()[k].cpu().numpy())
            for k, v in a.state_dict().items()
        )
    if isinstance(a, tuple) and hasattr(a, "_fields"):
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return bool(a == b)
