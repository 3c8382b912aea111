"""The bad-input corpus (issue 13): each case is refused with one clear message, and nothing is made.

Every case of ``bad_inputs/cases.yaml`` is submitted through :func:`dioptra_lab.submit` (or
``submit_sweep``) against the session's real Redis and MLflow; the test counts MLflow
experiments and runs, and RQ jobs, queues and bundle code in Redis, before and after. The cases
marked ``cli`` are also submitted with ``dioptra-lab submit`` in a subprocess. Queue names,
the unserved-queue warning, MLflow's 6,000-character params and the plugin import time limit
have tests of their own below.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import dioptra_lab
from dioptra_lab import errors
from dioptra_lab.config import load_settings
from dioptra_lab.errors import DioptraLabError, DioptraLabWarning, OptionError
from dioptra_lab.plugins.registry import Registry, set_registry
from tests.conftest import ENTRYPOINTS, JOB_QUEUE, PLUGINS, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

CORPUS = Path(__file__).parent / "bad_inputs"
CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "cases.yaml").read_text())
BIN = Path(sys.executable).parent
MAX_MESSAGE_LINES = 12


# -- what exists: counted before and after each case ------------------------------------------
def snapshot() -> dict[str, Any]:
    """Everything a submission could create: experiments, runs, RQ jobs and queues, bundle code."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType
    from rq import Queue

    from dioptra_lab.jobs.connection import redis_connection

    mlflow = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri)
    experiments = mlflow.search_experiments(view_type=ViewType.ALL, max_results=50_000)
    ids = [e.experiment_id for e in experiments]
    runs = 0
    for start in range(0, len(ids), 100):
        runs += len(
            mlflow.search_runs(ids[start : start + 100], run_view_type=ViewType.ALL, max_results=50_000)
        )
    conn = redis_connection()
    queues = {q.name: q.count for q in Queue.all(connection=conn)}
    return {
        "experiments": sorted(e.name for e in experiments),
        "runs": runs,
        "queues": queues,
        "jobs": {k.decode() for k in conn.scan_iter("rq:job:*", count=1000)},
        "bundle_code": {k.decode() for k in conn.scan_iter("dioptra_lab:bundle-code:*", count=1000)},
    }


def assert_nothing_created(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert after["experiments"] == before["experiments"], "an experiment was created"
    assert after["runs"] == before["runs"], "an MLflow run was created"
    assert set(after["queues"]) == set(before["queues"]), "a queue was created"
    for name, count in after["queues"].items():
        assert count <= before["queues"][name], f"a job was queued on {name!r}"
    assert after["jobs"] <= before["jobs"], f"RQ jobs created: {after['jobs'] - before['jobs']}"
    assert after["bundle_code"] <= before["bundle_code"], "bundle code was stored in Redis"


def assert_clear_message(message: str, case: dict[str, Any]) -> None:
    """One clear text: the expected words, no traceback, no file contents, a few short lines."""
    assert case["message"] in message, message
    assert "Traceback" not in message, message
    assert 'File "' not in message, message
    lines = message.splitlines()
    assert len(lines) <= MAX_MESSAGE_LINES, message
    assert all(len(line) <= 400 for line in lines), message
    for secret in case.get("absent", []):
        assert secret not in message, f"{secret!r} quoted in: {message}"


# -- a case's inputs ----------------------------------------------------------------------
def _generated(spec: dict[str, Any]) -> Any:
    if "repeat" in spec:
        return spec["repeat"] * spec["times"]
    if "list_of" in spec:
        return [spec["list_of"]] * spec["times"]
    if "range" in spec:
        return [str(i) for i in range(spec["range"])]
    if "power_of_ten" in spec:
        return 10 ** spec["power_of_ten"]
    raise AssertionError(f"unknown generator {spec}")


def inputs(case: dict[str, Any]) -> dict[str, Any]:
    """The case's params, sweep and options, with the generated values in place."""
    made: dict[str, Any] = {
        "params": copy.deepcopy(case.get("params", {})),
        "sweep": copy.deepcopy(case.get("sweep")),
        "options": {"queue": JOB_QUEUE, **copy.deepcopy(case.get("options", {}))},
    }
    for spec in case.get("generate", []):
        section, _, name = spec["at"].partition(".")
        made[section] = made[section] or {}
        made[section][name] = _generated(spec)
    return made


@pytest.fixture
def case_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    case = request.param
    if "link" in case:
        link = tmp_path / case["file"]
        link.symlink_to(CORPUS / case["link"])
        return link
    return CORPUS / case["file"]


@pytest.fixture
def case_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """The case's environment variables, and a registry with its plugin folder (if any)."""
    case = request.param
    for key, value in case.get("env", {}).items():
        monkeypatch.setenv(key, value)
    plugin_path = [PLUGINS] + ([CORPUS / "plugins" / case["plugins"]] if "plugins" in case else [])
    set_registry(Registry(plugin_path))
    yield plugin_path
    set_registry(None)


def submit_case(path: Path, case: dict[str, Any]) -> None:
    made = inputs(case)
    from_text = not case.get("values", False)
    if made["sweep"] is not None:
        dioptra_lab.submit_sweep(path, made["sweep"], made["params"], from_text=from_text, **made["options"])
    else:
        dioptra_lab.submit(path, made["params"], from_text=from_text, **made["options"])


# -- the corpus, through the Python API ---------------------------------------------------------
@pytest.mark.parametrize(
    ("case", "case_file", "case_env"),
    [pytest.param(c, c, c, id=c["id"]) for c in CASES],
    indirect=["case_file", "case_env"],
)
def test_bad_input_is_refused_and_nothing_is_created(
    services: object, case: dict[str, Any], case_file: Path, case_env: list[Path]
) -> None:
    before = snapshot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a broken plugin's PluginImportWarning; the error says it all
        with pytest.raises(DioptraLabError) as info:
            submit_case(case_file, case)
    expected = getattr(errors, case["error"])
    assert isinstance(info.value, expected), f"{type(info.value).__name__}: {info.value}"
    assert_clear_message(str(info.value), case)
    assert_nothing_created(before, snapshot())


# -- a sample through the command line -------------------------------------------------------
def cli_args(path: Path, case: dict[str, Any]) -> list[str]:
    made = inputs(case)
    args = [str(BIN / "dioptra-lab"), "submit", str(path)]
    for name, value in made["params"].items():
        args += ["-p", f"{name}={value}"]
    for name, values in (made["sweep"] or {}).items():
        args += ["--sweep", f"{name}={','.join(values)}"]
    for option, value in made["options"].items():
        args += [f"--{option}", str(value)]
    return args


@pytest.mark.parametrize(
    ("case", "case_file", "case_env"),
    [pytest.param(c, c, c, id=c["id"]) for c in CASES if c.get("cli")],
    indirect=["case_file", "case_env"],
)
def test_bad_input_through_the_cli(
    services: object, case: dict[str, Any], case_file: Path, case_env: list[Path]
) -> None:
    before = snapshot()
    env = {**os.environ, "DIOPTRA_LAB_PLUGIN_PATH": os.pathsep.join(str(p) for p in case_env)}
    done = subprocess.run(cli_args(case_file, case), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, done.stdout
    assert done.stdout == "", done.stdout  # no job id printed
    assert "Traceback" not in done.stderr, done.stderr
    error = [line for line in done.stderr.splitlines() if not line.startswith("warning: ")]
    assert error, done.stderr
    assert error[0].startswith("error: "), done.stderr
    assert_clear_message("\n".join(error).removeprefix("error: "), case)
    assert_nothing_created(before, snapshot())


# -- queues (bug 8) -----------------------------------------------------------------------
@pytest.mark.parametrize("queue", ["../x y:*", "a b", "q:*", "-x", "", "x" * 101, "é"])
def test_malformed_queue_names_are_refused_before_anything(services: object, queue: str) -> None:
    """Bug 8 of issue 13: `'../x y:*'` was accepted and its job stayed SCHEDULED forever."""
    from dioptra_lab.jobs.enqueue import JobOptions, SubmitOptions

    if queue:
        with pytest.raises(OptionError, match="queue name"):
            JobOptions.of(SubmitOptions(queue=queue))
    for good in ("cpu", "gpu.0", "tests", "A-1_b"):
        assert JobOptions.of(SubmitOptions(queue=good)).queue == good


@pytest.fixture
def served(worker: str) -> str:
    """The session worker's queue, once the worker has registered (it starts in the background)."""
    from rq import Worker

    from dioptra_lab.jobs.connection import redis_connection

    def registered() -> bool:
        return any(worker in w.queue_names() for w in Worker.all(connection=redis_connection()))

    wait_for(registered, 120, "the session's worker to register")
    return worker


def test_a_queue_no_worker_serves_gets_a_warning_and_the_job(served: str, registry: Registry) -> None:
    """Bug 8 of issue 13: a job on a queue nobody serves waited silently; now a warning says so."""
    from dioptra_lab.jobs.connection import get_queue

    queue = f"nobody-serves-{uuid.uuid4().hex[:8]}"
    before = snapshot()
    with pytest.warns(DioptraLabWarning, match=f"no worker serves queue '{queue}'"):
        job = dioptra_lab.submit(ENTRYPOINTS / "score.yaml", {"x": 1.0}, queue=queue)
    after = snapshot()
    try:
        assert after["runs"] == before["runs"] + 1  # the job IS created
        assert get_queue(queue).job_ids == [job.id]
    finally:
        job.cancel()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DioptraLabWarning)  # the served queue: no warning
        on_served = dioptra_lab.submit(ENTRYPOINTS / "score.yaml", {"x": 1.0}, queue=served)
    assert on_served.wait(180).value == "finished"


def test_the_cli_prints_the_unserved_queue_warning_as_one_line(services: object) -> None:
    queue = f"nobody-serves-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DIOPTRA_LAB_PLUGIN_PATH": str(PLUGINS)}
    args = [str(BIN / "dioptra-lab"), "submit", str(ENTRYPOINTS / "score.yaml"), "--queue", queue]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"warning: no worker serves queue '{queue}'" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "warnings.warn" not in done.stderr, done.stderr
    dioptra_lab.Job(done.stdout.split()[0]).cancel()


# -- MLflow's 6,000-character params (bug 7) ------------------------------------------------------
def test_long_values_are_cut_in_mlflow_params_with_a_marker(services: object, registry: Registry) -> None:
    """Bug 7 of issue 13: values over 6,000 characters were silently cut in MLflow params."""
    from mlflow import MlflowClient

    from dioptra_lab.tracking.bundles import download_bundle

    value = "v" * 7000
    queue = f"nobody-serves-{uuid.uuid4().hex[:8]}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DioptraLabWarning)
        long_job = dioptra_lab.submit(ENTRYPOINTS / "env.yaml", {"name": value}, queue=queue)
    try:
        mlflow = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri)
        logged = mlflow.get_run(long_job.id).data.params["name"]
        assert len(logged) == 6000
        assert logged.startswith("v" * 5000)
        assert logged.endswith(
            "[cut: 7000 characters in all; the full value is in the artifact bundle/bundle.json]"
        )
        assert download_bundle(mlflow, long_job.id).parameters["name"] == value  # where the marker says
    finally:
        long_job.cancel()


def test_param_text_marks_what_it_cuts() -> None:
    from dioptra_lab.tracking.runs import _param_text

    assert _param_text("short") == "short"
    assert _param_text("x" * 6000) == "x" * 6000
    cut = _param_text("x" * 6001)
    assert len(cut) == 6000
    assert "[cut: 6001 characters in all" in cut
    assert _param_text(10**5000).startswith("<int too long to print>")  # never raises


# -- the plugin import time limit ------------------------------------------------------------------
def test_a_plugin_import_that_hangs_is_stopped_in_the_main_thread(tmp_path: Path) -> None:
    """With no other timer armed (the CLI, a kernel), SIGALRM stops even a plugin asleep in C."""
    (tmp_path / "sleepy_plugin.py").write_text("import time\ntime.sleep(3600)\n")
    script = textwrap.dedent(
        """
        import time
        from dioptra_lab.plugins.imports import bounded_import, PluginImportError, _alarm_usable
        assert _alarm_usable()
        started = time.monotonic()
        try:
            bounded_import("sleepy_plugin", 1.0)
        except PluginImportError as exc:
            print(round(time.monotonic() - started), exc.reason)
        """
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{Path.cwd()}"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 its import did not finish within 1 s"), done.stdout


def test_a_plugin_import_that_hangs_is_stopped_in_another_thread(tmp_path: Path) -> None:
    """In a thread (the Jupyter server's handlers), a watchdog raises the timeout in the import."""
    import threading

    from dioptra_lab.plugins.imports import PluginImportError, bounded_import

    (tmp_path / "busy_plugin.py").write_text("while True:\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    found: list[BaseException] = []

    def run() -> None:
        try:
            bounded_import("busy_plugin", 1.0)
        except PluginImportError as exc:
            found.append(exc)

    try:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(30)
    finally:
        sys.path.remove(str(tmp_path))
    assert not thread.is_alive()
    assert found
    assert "did not finish within 1 s" in str(found[0])
    assert "busy_plugin" not in sys.modules


def test_values_just_under_the_size_limits_run(served: str, registry: Registry) -> None:
    """The limits are ones a job lives with: a value of nearly 256 KiB and values of nearly
    500,000 bytes in all run to the end. (A 50 MB value was queued, then failed in the kernel
    with Prefect's 422 and left ~450 MB of artifacts; Prefect refuses over 512 KiB in all.)"""
    from mlflow import MlflowClient

    from dioptra_lab.types.limits import max_param_bytes, max_params_bytes

    label = "y" * (max_param_bytes() - 100)
    note = "n" * (max_params_bytes() - len(label) - 1000)
    params = {"x": 1.0, "label": label, "note": note}
    job = dioptra_lab.submit(CORPUS / "entrypoints" / "typed.yaml", params, queue=served)
    status = job.wait(300).value
    run = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri).get_run(job.id)
    reason = {k: v[:300] for k, v in run.data.tags.items() if "fail" in k or "exception" in k}
    assert status == "finished", reason
    logged = run.data.params
    assert len(logged["label"]) == 6000
    assert f"[cut: {len(label)} characters in all" in logged["label"]
