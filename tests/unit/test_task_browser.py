"""The task browser: grouping, search, details with bounds, broken plugins, reload."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from dioptra_lab.errors import UnknownTaskError
from dioptra_lab.models import ParameterInfo
from dioptra_lab.plugins import Registry
from dioptra_lab.plugins.registry import PluginImportWarning, set_registry
from dioptra_lab.widgets.tasks import TaskBrowser, bounds_text
from tests.conftest import FIXTURES, PLUGINS


def test_tasks_are_grouped_by_plugin_and_searchable(registry: Registry) -> None:
    browser = TaskBrowser()
    labels = [label for label, _ in browser.listing.options]
    assert any(label.startswith("▾ hello_plugin") for label in labels)
    assert any(label.startswith("▾ job_plugin") for label in labels)
    assert {"greet", "scale", "score"} <= set(browser.visible)
    browser.search.value = "scale"
    assert browser.visible == ["scale"]
    browser.search.value = "multiply"  # the description
    assert browser.visible == ["scale"]
    browser.search.value = "hello_plugin.tasks.div"  # the qualified name
    assert browser.visible == ["divide"]
    browser.search.value = "metric custom"  # every word, anywhere
    assert browser.visible == ["score"]
    browser.search.value = "zzz"
    assert browser.visible == []
    assert browser.listing.options == ()


def test_details_show_inputs_bounds_and_outputs(registry: Registry) -> None:
    browser = TaskBrowser()
    info = browser.select("scale")
    assert info.qualname == "hello_plugin.tasks.scale"
    shown = html.unescape(browser.details.value)
    assert "Multiply a number." in shown
    assert "[0, 10]" in shown  # factor: float in [0, 10]
    assert "multiplier" in shown
    assert "2.0" in shown
    assert "output" in shown
    assert "float" in shown
    browser.select("pick")
    assert "'fast' | 'slow'" in html.unescape(browser.details.value)
    browser.select("record")
    assert "no output" in browser.details.value
    browser.search.value = "greet"
    browser.select("hello_plugin.tasks.divide")  # hidden by the search: the search is cleared
    assert browser.search.value == ""
    assert "Divide x by divisor." in browser.details.value
    with pytest.raises(UnknownTaskError):
        browser.select("nope")


def test_bounds_text() -> None:
    def info(**kw: object) -> ParameterInfo:
        return ParameterInfo("x", "float", "float", True, **kw)  # type: ignore[arg-type]

    assert bounds_text(info(minimum=0, maximum=1, exclusive_minimum=True)) == "(0, 1]"
    assert bounds_text(info(minimum=0.5)) == "≥ 0.5"
    assert bounds_text(info(maximum=3, exclusive_maximum=True)) == "< 3"
    assert bounds_text(info()) == ""


def test_broken_plugins_are_listed_with_their_error() -> None:
    reg = Registry([FIXTURES / "broken_plugins", PLUGINS])
    with pytest.warns(PluginImportWarning, match="a_module_that_does_not_exist"):
        reg.discover()
    set_registry(reg)
    try:
        browser = TaskBrowser()
        assert "broken_plugin" in browser.broken.value
        assert "ModuleNotFoundError" in browser.broken.value
        assert "greet" in browser.visible  # the other plugins still list
    finally:
        set_registry(None)


def test_reload_picks_up_an_edited_plugin(tmp_path: Path) -> None:
    plugin = tmp_path / "browser_reload_plugin.py"
    plugin.write_text(
        'from dioptra_lab import task\n\n\n@task\ndef first(x: int) -> int:\n    """One."""\n    return x\n'
    )
    set_registry(Registry([tmp_path], distributions=False))
    try:
        browser = TaskBrowser()
        assert browser.visible == ["first"]
        plugin.write_text(
            plugin.read_text()
            + '\n\n@task\ndef second_task(y: str) -> str:\n    """Two, a longer one."""\n    return y\n'
        )
        browser.reload_button.click()
        assert browser.visible == ["first", "second_task"]
    finally:
        set_registry(None)
