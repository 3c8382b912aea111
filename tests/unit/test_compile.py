"""Compilation of entry points into Papermill-ready notebooks."""

from __future__ import annotations

import ast

import nbformat
import pytest

from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.entrypoints.compile import SETUP_TAG, compile_entrypoint
from dioptra_lab.errors import EntryPointError
from dioptra_lab.plugins import Registry
from tests.conftest import ENTRYPOINTS


def test_compiled_notebook_structure(registry: Registry) -> None:
    ep = load_entrypoint(ENTRYPOINTS / "hello_dioptra.yaml")
    nb = compile_entrypoint(ep)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == "dioptra-lab"
    assert nb.metadata.dioptra_lab.sha256 == ep.digest
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert tagged[0].source == "name = 'joe'  # str\ngreeting = 'Goodbye'  # str"
    setup = next(c for c in nb.cells if SETUP_TAG in c.metadata.get("tags", []))
    namespace: dict[str, object] = {}
    exec(setup.source.split("\n", 2)[2], namespace)  # the constants after the import
    assert namespace["ENTRYPOINT_YAML"] == ep.text
    shows = [c.source for c in nb.cells if c.source.startswith("run.show(")]
    assert shows == [f"run.show({name!r})" for name in ep.steps]
    assert nb.cells[-1].source == "run.summary()"
    for cell in nb.cells:
        if cell.cell_type == "code":
            ast.parse(cell.source)  # every code cell is valid Python


def test_compiled_markdown_reads_what_runs(registry: Registry) -> None:
    nb = compile_entrypoint(load_entrypoint(ENTRYPOINTS / "hello_dioptra.yaml"))
    intro = nb.cells[0].source
    assert intro.startswith("# hello_dioptra")
    assert "| `greeting` | `str` | `Goodbye` |" in intro
    step_doc = next(c.source for c in nb.cells if c.source.startswith("## Step `mixed_step`"))
    assert "`hello_plugin.tasks.greet`" in step_doc
    assert "- argument 1: `Hey`" in step_doc
    assert "- `name` = `$shout_step.message`" in step_doc


def test_required_parameters_are_placeholders(registry: Registry, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "req.yaml"
    path.write_text("parameters: [who]\ngraph:\n  s:\n    hello: $who\n")
    nb = compile_entrypoint(load_entrypoint(path))
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert params.source == "who = None  # required: str"


def test_invalid_entrypoint_does_not_compile(registry: Registry, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "bad.yaml"
    path.write_text("graph:\n  s:\n    nosuch: 1\n")
    with pytest.raises(EntryPointError, match="unknown task 'nosuch'"):
        compile_entrypoint(load_entrypoint(path))


def test_notebook_entrypoint_compiles_to_itself() -> None:
    ep = load_entrypoint(ENTRYPOINTS / "params.ipynb")
    assert compile_entrypoint(ep) == nbformat.read(str(ENTRYPOINTS / "params.ipynb"), as_version=4)
