"""Task decorator and registry: discovery, specs, broken plugins, look-up errors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

from dioptra_lab import task
from dioptra_lab.errors import PluginError, UnknownTaskError
from dioptra_lab.plugins import MISSING, PluginImportWarning, Registry, build_spec
from tests.conftest import FIXTURES, PLUGINS


def test_task_spec_from_signature(registry: Registry) -> None:
    spec = registry.get("hello_plugin.tasks.greet")
    assert spec.name == "greet"
    assert spec.qualname == "hello_plugin.tasks.greet"
    assert spec.description == "Greet someone with a chosen greeting."
    assert [(i.name, str(i.type), i.required) for i in spec.inputs] == [
        ("greeting", "str", True),
        ("name", "str", False),
    ]
    assert spec.inputs[1].default == "world"
    assert [o.name for o in spec.outputs] == ["output"]
    assert spec.plugin == "hello_plugin"


def test_outputs_from_namedtuple_decorator_and_none(registry: Registry) -> None:
    measure = registry.get("measure")
    assert [(o.name, str(o.type)) for o in measure.outputs] == [("length", "int"), ("words", "int")]
    assert measure.unpack
    split = registry.get("split_words")
    assert [(o.name, str(o.type)) for o in split.outputs] == [("first", "str"), ("rest", "str")]
    assert registry.get("record").outputs == []


def test_docstring_args_and_annotated_descriptions(registry: Registry) -> None:
    assert registry.get("hello").inputs[0].description == "who to greet."
    factor = registry.get("scale").input("factor")
    assert factor is not None
    assert factor.description == "multiplier"
    assert factor.describe()["maximum"] == 10


def test_decorator_bare_and_with_options_keeps_function() -> None:
    @task
    def plain(x: int) -> int:
        """Double."""
        return x * 2

    @task(name="renamed", retries=2, cache=True, outputs="doubled")
    def configured(x: int) -> int:
        """Double, configured."""
        return x * 2

    assert plain(2) == 4
    assert configured(3) == 6
    spec = configured.__dioptra_task__  # type: ignore[attr-defined]
    assert (spec.name, spec.retries, spec.cache, spec.outputs[0].name) == ("renamed", 2, True, "doubled")


def test_decorator_rejects_bad_options_and_defaults() -> None:
    with pytest.raises(PluginError, match="retries must be >= 0"):

        @task(retries=-1)
        def bad(x: int) -> int:
            return x

    with pytest.raises(PluginError, match="default of input 'x'"):

        @task
        def wrong_default(x: int = "three") -> int:  # type: ignore[assignment]
            return x


def test_split_outputs_follows_dioptra_rule() -> None:
    class Pair(NamedTuple):
        a: int
        b: int

    def f() -> Pair:
        return Pair(1, 2)

    spec = build_spec(f)
    assert spec.split_outputs(Pair(1, 2)) == {"a": 1, "b": 2}
    spec3 = build_spec(f, outputs=["a", "b", "c"])
    assert spec3.split_outputs((1, 2)) == {"a": 1, "b": 2}  # the shorter of the two wins
    with pytest.raises(PluginError, match="non-iterable"):
        spec3.split_outputs(5)


def test_broken_plugin_is_listed_not_fatal() -> None:
    reg = Registry([FIXTURES / "broken_plugins", PLUGINS])
    with pytest.warns(PluginImportWarning, match="a_module_that_does_not_exist"):
        reg.discover()
    assert [b.module for b in reg.broken] == ["broken_plugin"]
    assert "ModuleNotFoundError" in reg.broken[0].reason
    assert reg.get("hello").qualname == "hello_plugin.tasks.hello"


def test_unknown_task_lists_closest_names(registry: Registry) -> None:
    with pytest.raises(UnknownTaskError, match=r"unknown task 'helo'; did you mean 'hello'"):
        registry.get("helo")
    with pytest.raises(UnknownTaskError, match="plugins list"):
        registry.get("zzzzzz")


def test_ambiguous_short_name(tmp_path: Path) -> None:
    for pkg in ("amb_one", "amb_two"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text(
            "from dioptra_lab import task\n@task\ndef same(x: int) -> int:\n    '''Same.'''\n    return x\n"
        )
    reg = Registry([tmp_path], distributions=False)
    with pytest.raises(PluginError, match="ambiguous: use one of amb_one.same, amb_two.same"):
        reg.get("same")
    assert reg.get("amb_two.same").plugin == "amb_two"


def test_find_callable_accepts_undecorated_dioptra_functions(registry: Registry) -> None:
    spec = registry.find_callable("os.path.join")
    assert spec.qualname.endswith(".join")
    with pytest.raises(UnknownTaskError, match="cannot import no_such_mod"):
        registry.find_callable("no_such_mod.func")
    with pytest.raises(PluginError, match="at least two dotted parts"):
        registry.find_callable("single")


def test_distribution_entry_points(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "distplug").mkdir(parents=True)
    (site / "distplug" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from dioptra_lab import task

            @task
            def from_dist(x: float) -> float:
                '''A task shipped by an installed distribution.'''
                return x + 1
            """
        )
    )
    info = site / "distplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: distplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[dioptra_lab.plugins]\ndistplug = distplug\n")
    sys.path.insert(0, str(site))
    try:
        reg = Registry([], distributions=True).discover()
        spec = reg.get("from_dist")
        assert spec.qualname == "distplug.from_dist"
        assert reg.plugins["distplug"].origin == "distribution distplug"
        assert reg.plugins["distplug"].source_files() == [site / "distplug" / "__init__.py"]
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("distplug", None)


def test_reload_picks_up_edited_plugin(tmp_path: Path) -> None:
    pkg = tmp_path / "editable_plug"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from dioptra_lab import task\n@task\ndef v() -> int:\n    '''V.'''\n    return 1\n"
    )
    reg = Registry([tmp_path], distributions=False)
    assert reg.get("v").func() == 1
    (pkg / "__init__.py").write_text(
        "from dioptra_lab import task\n@task\ndef v() -> int:\n    '''V.'''\n    return 2\n"
    )
    assert reg.reload().get("v").func() == 2


def test_required_inputs_and_var_kwargs() -> None:
    def f(a: int, *args: int, b: str = "x", **kw: int) -> None:
        """F."""

    spec = build_spec(f)
    assert [i.required for i in spec.inputs] == [True, False, False, False]
    assert spec.inputs[2].default == "x"
    assert spec.inputs[0].default is MISSING
    assert spec.accepts_var_keywords
    assert spec.accepts_var_positional


def test_plugins_that_exit_or_raise_on_import_are_broken_not_fatal(tmp_path: Path) -> None:
    """Issue 13: a plugin module (or a sub-package of one) calling sys.exit at import ended the
    process that discovered it (SystemExit is not an Exception; pkgutil let it through)."""
    package = tmp_path / "exiting_pkg"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    task_source = "from dioptra_lab import task\n\n@task\ndef ok(x: int) -> int:\n    return x\n"
    (package / "tasks.py").write_text(task_source)
    (package / "inner" / "__init__.py").write_text("import sys\nsys.exit(2)\n")
    (tmp_path / "raising_mod.py").write_text("raise ValueError('first line\\nsecond line')\n")
    reg = Registry([tmp_path])
    with pytest.warns(PluginImportWarning):
        reg.discover()
    reasons = {b.module: b.reason for b in reg.broken}
    assert reasons == {
        "exiting_pkg.inner": "its import called sys.exit(2); a plugin must not exit the process",
        "raising_mod": "ValueError: first line",  # one line, never a traceback
    }
    assert reg.get("ok").qualname == "exiting_pkg.tasks.ok"
