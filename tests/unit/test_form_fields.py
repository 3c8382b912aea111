"""Form fields are made from parameter types and checked in the CLI's words (no services)."""

from __future__ import annotations

import html

import ipywidgets as w
import pytest

import dioptra_lab
from dioptra_lab.errors import ParameterError
from dioptra_lab.processes import free_port
from dioptra_lab.widgets.form import ParameterForm
from dioptra_lab.widgets.form_fields import split_sweep

TEXT = """
parameters:
  factor: 2.0
  mode: fast
  flag:
    type: boolean
    default: true
  items: [a, b]
  mapping:
    default: {a: 1}
  label: hi
  n: 3
  model: models:/tiny/1
graph:
  scaled:
    scale:
      x: 1.0
      factor: $factor
  picked:
    pick:
      mode: $mode
  counted:
    collect:
      items: $items
      label: $label
  used:
    use_model:
      model: $model
"""


@pytest.fixture
def stack_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """No service answers: the form must not wait on any."""
    monkeypatch.setenv("DIOPTRA_LAB_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")


@pytest.fixture
def form(registry: object, stack_down: None) -> ParameterForm:
    return ParameterForm(dioptra_lab.load_entrypoint_text(TEXT))


def cli_problem(name: str, text: str) -> str:
    """The message `dioptra-lab submit -p name=text` prints (both use EntryPoint.coerce)."""
    with pytest.raises(ParameterError) as caught:
        dioptra_lab.load_entrypoint_text(TEXT).coerce({name: text}, from_text=True)
    return caught.value.problems[0]


def test_fields_follow_the_types(form: ParameterForm) -> None:
    fields = form.fields
    assert isinstance(fields["factor"], w.FloatText)
    slider = form.sliders["factor"]
    assert isinstance(slider, w.FloatSlider)
    assert (slider.min, slider.max, slider.value) == (0, 10, 2.0)
    assert isinstance(fields["n"], w.IntText)
    assert set(form.sliders) == {"factor"}  # only bounded numbers have one
    assert isinstance(fields["mode"], w.Dropdown)
    assert list(fields["mode"].options) == [("fast", "fast"), ("slow", "slow")]
    assert isinstance(fields["flag"], w.Checkbox)
    assert fields["flag"].value is True
    assert isinstance(fields["items"], w.Textarea)
    assert fields["items"].value == "[a, b]"
    assert isinstance(fields["mapping"], w.Textarea)
    assert isinstance(fields["model"], w.Combobox)
    assert fields["model"].value == "models:/tiny/1"
    assert isinstance(fields["label"], w.Text)
    assert set(form.sweep_toggles) == {"factor", "mode", "flag", "label", "n", "model"}
    assert form.values()["items"] == ["a", "b"]
    assert not form.submit_button.disabled


def test_errors_are_the_cli_messages(form: ParameterForm) -> None:
    form.fields["factor"].value = 11
    assert form.errors["factor"].value
    assert html.escape(cli_problem("factor", "11.0")) in form.errors["factor"].value
    assert form.submit_button.disabled
    assert form.sliders["factor"].value == 2.0  # the slider kept its place
    form.fields["factor"].value = 4
    assert form.errors["factor"].value == ""
    assert not form.submit_button.disabled
    form.fields["mapping"].value = "a: [1"
    assert html.escape(cli_problem("mapping", "a: [1")) in form.errors["mapping"].value
    assert form.submit_button.disabled
    with pytest.raises(ParameterError, match="mapping"):
        form.values()


def test_slider_and_box_are_linked(form: ParameterForm) -> None:
    slider = form.sliders["factor"]
    slider.value = 7.5
    assert form.fields["factor"].value == 7.5
    form.fields["factor"].value = 3
    assert slider.value == 3


def test_sweeps_check_every_value(form: ParameterForm) -> None:
    form.sweep_toggles["factor"].value = True
    assert form.sweep_fields["factor"].value == "2.0"
    assert form.run_button.disabled  # a sweep goes to the queue
    form.sweep_fields["factor"].value = "0:1:0.25"
    assert form.grid() == {"factor": [0.0, 0.25, 0.5, 0.75, 1.0]}
    assert "factor" not in form.values()
    form.sweep_fields["factor"].value = "1, 20"
    assert html.escape(cli_problem("factor", "20")) in form.errors["factor"].value
    assert form.submit_button.disabled


def test_split_sweep() -> None:
    assert split_sweep("1, 2,,3") == ["1", "2", "3"]
    assert split_sweep("0:0.3:0.1") == ["0.0", "0.1", "0.2", "0.3"]
    assert split_sweep("1:7:3") == ["1", "4", "7"]
    assert split_sweep("1:0:1") == ["1:0:1"]  # no range: one value, for the type to judge


def test_presets_and_the_stack_banner(registry: object, stack_down: None) -> None:
    form = ParameterForm(
        dioptra_lab.load_entrypoint_text(TEXT), presets={"factor": "0:1:0.5", "n": "abc", "zz": "1"}
    )
    assert "dioptra-lab up" in form.banner.value
    assert form.sweep_toggles["factor"].value is True
    assert form.grid() == {"factor": [0.0, 0.5, 1.0]}
    assert html.escape(cli_problem("n", "abc")) in form.warnings.value
    assert "zz" in form.warnings.value
    assert isinstance(form.queue, w.Text)  # Redis is down: the queue is typed
    assert form.submit() == []
    assert form.submitted == []
    assert form.error_area.value == ""  # the banner says it, once


def test_a_missing_file_is_an_error_not_a_traceback(registry: object, stack_down: None) -> None:
    form = ParameterForm("no/such/entrypoint.yaml")
    assert "no such file" in form.error_area.value
    assert form.submit_button.disabled
    assert form.fields == {}
