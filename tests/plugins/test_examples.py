"""Every example entry point runs through `dioptra-lab run` (small sizes) and logs what it should."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from mlflow import MlflowClient

from dioptra_lab.config import load_settings
from dioptra_lab.engine import read_results
from tests.plugins.conftest import BUILTIN_PLUGINS

pytestmark = pytest.mark.integration
EXAMPLES = BUILTIN_PLUGINS.parent / "examples"
SMALL = ["-p", "epochs=3", "-p", "n_test=60"]

# example -> (parameters, metrics it must log, figures it must log)
CASES = {
    "quickstart": (
        SMALL,
        {"clean_accuracy", "adversarial_accuracy", "attack_success_rate", "perturbation_linf_max"},
        {"adversarial_examples", "perturbation_histogram"},
    ),
    "fgsm": (
        ["-p", "epochs=3", "-p", "n_test=60", "-p", "eps=0.2"],
        {"adversarial_accuracy", "perturbation_l0_mean"},
        {"perturbation_histogram"},
    ),
    "train": (["-p", "epochs=3", "-p", "registered_name="], {"clean_accuracy"}, {"confusion_matrix"}),
    "pgd": (SMALL, {"adversarial_accuracy", "perturbation_l2_mean"}, {"adversarial_examples"}),
    "cw": (
        ["-p", "epochs=3", "-p", "n_test=20", "-p", "max_iter=30", "-p", "binary_search_steps=3"],
        {"attack_success_rate", "perturbation_l2_mean"},
        {"adversarial_examples"},
    ),
    "patch": (
        ["-p", "epochs=3", "-p", "steps=40"],
        {"attack_success_rate", "adversarial_accuracy"},
        {"adversarial_examples"},
    ),
    "backdoor": (
        ["-p", "epochs=3"],
        {"backdoor_success_rate", "clean_accuracy", "poisoned_images"},
        {"triggered_examples"},
    ),
    "defended": (SMALL, {"acc.clean.none", "acc.fgsm.jpeg", "acc.pgd.squeezing"}, set()),
    "adversarial_training": (["-p", "epochs=2", "-p", "n_test=60"], set(), set()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_runs_and_logs(name: str, services: object, tmp_path: Path) -> None:
    params, metrics, figures = CASES[name]
    out = tmp_path / f"{name}.ipynb"
    env = {**os.environ, "DIOPTRA_LAB_PLUGIN_PATH": str(BUILTIN_PLUGINS)}
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "dioptra-lab"),
            "run",
            str(EXAMPLES / f"{name}.yaml"),
            *params,
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = read_results(nbformat.read(str(out), as_version=4))
    assert results is not None
    assert results["results"]
    if not metrics:
        # adversarial training: the robust model holds up better under the same PGD attack
        got = results["results"]
        assert got["robust_under_pgd"] > got["standard_under_pgd"]
        return
    client = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("interactive")
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`dioptra_lab.entrypoint` = '{name}'",
        order_by=["start_time DESC"],
        max_results=1,
    )
    assert runs, f"no local run logged by {name}"
    run = runs[0]
    assert metrics <= set(run.data.metrics), sorted(run.data.metrics)
    assert len(run.data.tags["dataset.digits.sha256"]) == 64  # the data set's fingerprint
    logged = {Path(a.path).stem for a in client.list_artifacts(run.info.run_id, "figures")}
    assert figures <= logged, logged


def test_examples_validate(builtin_registry: object) -> None:
    from dioptra_lab.entrypoints import load_entrypoint

    found = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))
    # fgsm_registered needs a registered model: test_attack_job_uses_model_registered_by_earlier_job
    assert set(CASES) | {"fgsm_registered"} == set(found)
    for path in EXAMPLES.glob("*.yaml"):
        load_entrypoint(path, builtin_registry).validate()  # type: ignore[arg-type]


def test_attack_job_uses_model_registered_by_earlier_job(worker: str, builtin_registry: object) -> None:
    """train.yaml registers a model through the queue; fgsm_registered.yaml attacks it by URI."""
    from dioptra_lab.plugins.registry import set_registry

    set_registry(builtin_registry)  # type: ignore[arg-type]
    try:
        _train_then_attack(worker)
    finally:
        set_registry(None)


def _train_then_attack(worker: str) -> None:
    import uuid

    from dioptra_lab.jobs import JobStatus, submit

    name = f"digits-cnn-{uuid.uuid4().hex[:6]}"
    experiment = f"registry-{uuid.uuid4().hex[:6]}"
    train = submit(
        EXAMPLES / "train.yaml", {"epochs": 3, "registered_name": name}, experiment=experiment, queue=worker
    )
    assert train.wait(300) == JobStatus.FINISHED, train.logs()[-3000:]
    attack = submit(
        EXAMPLES / "fgsm_registered.yaml",
        {"model": f"models:/{name}/1", "n_test": 60, "eps": 0.2},
        experiment=experiment,
        queue=worker,
        from_text=True,
    )
    assert attack.wait(300) == JobStatus.FINISHED, attack.logs()[-3000:]
    metrics = attack.results().metrics
    client = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri)
    trained = client.get_run(train.id).data.metrics["clean_accuracy"]
    assert metrics["clean_accuracy"] > 0.5
    assert metrics["adversarial_accuracy"] < metrics["clean_accuracy"]
    assert trained > 0.5


def test_sweep_robustness_curve_reads_the_sweep_back(worker: str, builtin_registry: object) -> None:
    from dioptra_lab.jobs import submit_sweep
    from lab_plots.figures import sweep_robustness_curve

    experiment = f"curve-{os.getpid()}-{id(worker)}"
    sweep = submit_sweep(
        BUILTIN_PLUGINS.parent / "tests" / "fixtures" / "entrypoints" / "score.yaml",
        {"x": [0.1, 0.2, 0.4]},
        experiment=experiment,
        queue=worker,
    )
    assert sweep.wait(300) == ["finished"] * 3
    fig = sweep_robustness_curve(experiment, sweep.id, param="x", metric="doubled")
    xs, ys = fig.axes[0].lines[0].get_data()
    assert list(xs) == [0.1, 0.2, 0.4]
    assert list(ys) == [0.2, 0.4, 0.8]
