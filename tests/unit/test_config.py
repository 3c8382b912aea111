"""One stack per project: the home is found by walking up from the working folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from dioptra_lab.config import find_project_root, load_settings


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DIOPTRA_LAB_HOME", "DIOPTRA_LAB_PLUGIN_PATH"):
        monkeypatch.delenv(name, raising=False)


def test_a_subfolder_finds_the_projects_stack(tmp_path: Path, no_env: None) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    notebooks = tmp_path / "notebooks" / "deeper"
    notebooks.mkdir(parents=True)
    settings = load_settings(notebooks)
    assert settings.home == tmp_path / ".dioptra_lab"
    assert settings.plugin_path == [tmp_path / "plugins"]
    assert settings.project_root == tmp_path


def test_a_stack_folder_or_settings_file_marks_the_project_before_pyproject(
    tmp_path: Path, no_env: None
) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    inner = tmp_path / "experiments" / "mine"
    (inner / ".dioptra_lab").mkdir(parents=True)
    (inner / "sub").mkdir()
    assert find_project_root(inner / "sub") == inner
    other = tmp_path / "other"
    (other / "sub").mkdir(parents=True)
    (other / "dioptra_lab.toml").write_text('home = "state"\nplugin_path = ["tasks", "more"]\n')
    settings = load_settings(other / "sub")
    assert settings.home == other / "state"
    assert settings.plugin_path == [other / "tasks", other / "more"]


def test_environment_wins_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.setenv("DIOPTRA_LAB_HOME", "here")
    monkeypatch.setenv("DIOPTRA_LAB_PLUGIN_PATH", "p1")
    settings = load_settings(sub)
    assert settings.home == sub / "here"
    assert settings.plugin_path == [sub / "p1"]


def test_no_project_means_the_working_folder(tmp_path: Path, no_env: None) -> None:
    lonely = tmp_path / "a"
    lonely.mkdir()
    assert not any((p / "pyproject.toml").exists() for p in tmp_path.parents)  # a clean /tmp
    assert find_project_root(lonely) == lonely
    assert load_settings(lonely).home == lonely / ".dioptra_lab"


def test_stack_file_is_owner_only_and_passwords_are_masked(tmp_path: Path) -> None:
    from dioptra_lab.config import masked_url, read_stack_file, write_stack_file

    url = "redis://:s3cret-_x@127.0.0.1:6379/0"
    write_stack_file(tmp_path, {"redis_url": url})
    write_stack_file(tmp_path, {"redis_url": url})  # replaced, still owner-only, no leftovers
    assert (tmp_path / "stack.json").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["stack.json"]
    assert read_stack_file(tmp_path) == {"redis_url": url}
    assert masked_url(url) == "redis://:***@127.0.0.1:6379/0"
    assert (
        masked_url(f"at {url} and http://u:p@h:5000/x")
        == "at redis://:***@127.0.0.1:6379/0 and http://u:***@h:5000/x"
    )
    for plain in ("redis://127.0.0.1:6379/0", "http://127.0.0.1:5000", "redis://user@h/0"):
        assert masked_url(plain) == plain
