"""The command line without services: messages, exit codes, no tracebacks."""

from __future__ import annotations

import pytest

from dioptra_lab.cli import main
from dioptra_lab.cli_common import parse_assignments
from dioptra_lab.errors import DioptraLabError
from dioptra_lab.plugins import Registry
from tests.conftest import ENTRYPOINTS


def test_validate_ok(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ENTRYPOINTS / "hello_dioptra.yaml")]) == 0
    out = capsys.readouterr().out
    assert "valid yaml entry point 'hello_dioptra' (2 parameters, 7 steps)" in out
    assert "greeting: str (default 'Goodbye')" in out


def test_validate_lists_every_problem_without_traceback(
    registry: Registry,
    tmp_path,
    capsys: pytest.CaptureFixture[str],  # noqa: ANN001
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("graph:\n  a:\n    nosuch: 1\n  b:\n    hello: $zz\n")
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "2 problems" in err
    assert "Traceback" not in err


def test_plugins_list_and_show(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "list"]) == 0
    out = capsys.readouterr().out
    assert "hello_plugin.tasks.greet" in out
    assert "Greet someone with a chosen greeting." in out
    assert main(["plugins", "show", "scale"]) == 0
    out = capsys.readouterr().out
    assert "factor  float[>=0, <=10]  2.0" in out
    assert "outputs: output: float" in out
    assert main(["plugins", "show", "scael"]) == 1
    assert "did you mean 'scale'" in capsys.readouterr().err


def test_compile_command(registry: Registry, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    out = tmp_path / "sub" / "c.ipynb"
    assert main(["compile", str(ENTRYPOINTS / "hello_dioptra.yaml"), "-o", str(out)]) == 0
    assert out.is_file()


def test_run_rejects_bad_parameters_before_starting_anything(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(ENTRYPOINTS / "hello_dioptra.yaml"), "-p", "nme=x", "-p", "greeting=hi"])
    assert code == 1
    assert "unknown parameter 'nme'; known parameters: greeting, name" in capsys.readouterr().err


def test_parse_assignments() -> None:
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(DioptraLabError, match="expected NAME=VALUE"):
        parse_assignments(["novalue"])


def test_status_with_nothing_recorded(capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("DIOPTRA_LAB_HOME", str(tmp_path))
    assert main(["status"]) == 0
    assert "no services recorded" in capsys.readouterr().out


def test_commands_fail_fast_when_mlflow_does_not_answer(tmp_path) -> None:  # noqa: ANN001
    """Bug 9: `jobs show` hung 4 min 10 s (MLflow's 7 retries) then printed a 109-line
    traceback; now one line within seconds, naming MLflow, its address and what to do."""
    import os
    import subprocess
    import sys
    import time
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from dioptra_lab.processes import free_port

    mlflow = f"http://127.0.0.1:{free_port()}"  # nobody listens
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_")},
        "DIOPTRA_LAB_HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": mlflow,
        "DIOPTRA_LAB_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    commands = [["jobs", "show", "0" * 32], ["jobs", "list"], ["results", "some-experiment"]]

    def run(args: list[str]) -> tuple[list[str], int, str, float]:
        start = time.monotonic()
        try:
            proc = subprocess.run(
                [str(Path(sys.executable).parent / "dioptra-lab"), *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=90,
            )
        except subprocess.TimeoutExpired:
            return args, 124, "(hung)", time.monotonic() - start
        return args, proc.returncode, proc.stderr, time.monotonic() - start

    with ThreadPoolExecutor(len(commands)) as pool:
        for args, code, err, seconds in pool.map(run, commands):
            where = f"{args}: exit {code} after {seconds:.1f} s: {err[-2000:]}"
            assert code == 1, where
            # MLflow is refused at once: the time is Python's and MLflow's imports (3 s on a
            # quiet host, up to 30 s on a busy one); MLflow's own retries took 4 minutes
            assert seconds < 45, where
            assert "Traceback" not in err, where
            assert err.strip().splitlines() == [err.strip()], where
            assert err.startswith(f"error: the MLflow server at {mlflow} does not answer"), where
            assert "dioptra-lab up" in err, where


def test_service_failures_become_one_line_naming_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    import requests
    from mlflow.exceptions import MlflowException
    from redis.exceptions import AuthenticationError, TimeoutError

    from dioptra_lab.tracking.client import service_error

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://user:hunter2@127.0.0.1:5000")
    monkeypatch.setenv("DIOPTRA_LAB_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0")

    def raised_by_mlflow(cause: BaseException, message: str) -> MlflowException:
        try:
            try:
                raise cause
            except BaseException:  # as MLflow's http_request does: raised while handling it
                raise MlflowException(message)  # noqa: B904
        except MlflowException as exc:
            return exc

    refused = raised_by_mlflow(
        requests.exceptions.ConnectionError("Max retries exceeded ... Connection refused"),
        "API request to http://127.0.0.1:5000/api/2.0/mlflow/runs/get failed with exception ...",
    )
    hung = raised_by_mlflow(
        requests.exceptions.ReadTimeout("Read timed out. (read timeout=5)"),
        "API request to http://127.0.0.1:5000/api/2.0/mlflow/runs/get failed with timeout exception",
    )
    redis = "redis://:***@127.0.0.1:6379/0"
    cases = {
        refused: "the MLflow server at http://user:***@127.0.0.1:5000 does not answer (connection refused)",
        hung: "the MLflow server at http://user:***@127.0.0.1:5000 does not answer (no answer in time)",
        TimeoutError("Timeout reading from socket"): f"Redis at {redis} does not answer",
        AuthenticationError("invalid username-password pair"): f"Redis at {redis} refuses the password",
    }
    for exc, start in cases.items():
        failure = service_error(exc)
        assert failure is not None, exc
        message = str(failure)
        assert message.startswith(start), message
        assert "\n" not in message
        assert "hunter2" not in message
        assert "dioptra-lab up" in message
    assert service_error(KeyError("x")) is None  # a bug stays a bug (a traceback)
    assert service_error(MlflowException("Run 'x' not found", error_code="RESOURCE_DOES_NOT_EXIST")) is None
