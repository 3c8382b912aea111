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
