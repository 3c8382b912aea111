"""Prefect's settings built in a process that forks kernels (the zygote) serve its kernels."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import os, sys
    {imports}
    from dioptra_lab.engine import prefect_api
    prefect_api.prepare_before_fork()
    print("prefect" in sys.modules, len(prefect_api._SETTINGS), flush=True)
    if "prefect" in sys.modules:
        pid = os.fork()
        if pid == 0:  # a kernel: its session uses the settings built, for its server and results
            from pathlib import Path
            from prefect.context import SyncClientContext
            from prefect.settings import get_current_settings
            def rebuilt(*args):
                raise AssertionError("the settings were built again after the fork")
            prefect_api._settings_context = rebuilt
            # no server listens: the client (per process, after the fork) is not under test
            prefect_api._client_context = lambda url: SyncClientContext.model_construct(client=None)
            (url, results), = prefect_api._SETTINGS
            with prefect_api.prefect_session(url, Path(results)):
                settings = get_current_settings()
                print(url, settings.api.url, settings.results.local_storage_path, flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
    """
)


def run_child(tmp_path: Path, imports: str) -> list[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DIOPTRA_LAB_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": "http://127.0.0.1:9/api",  # nothing listens: no request is made
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(imports=imports)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")


def test_settings_built_before_a_fork_point_a_kernel_at_its_server_and_results(tmp_path: Path) -> None:
    lines = run_child(tmp_path, "import prefect")
    assert lines[0] == "True 1"
    url, api_url, results = lines[1].split()
    assert url == api_url == "http://127.0.0.1:9/api"
    assert Path(results) == tmp_path / "home" / "cache"


def test_nothing_is_prepared_where_prefect_was_not_imported(tmp_path: Path) -> None:
    assert run_child(tmp_path, "")[0] == "False 0"


def test_the_result_folder_resolves_as_prefects_own(tmp_path: Path) -> None:
    """Task results' storage resolves its folder once; it answers as Prefect's LocalFileSystem."""
    from prefect.filesystems import LocalFileSystem

    from dioptra_lab.engine.runner import _result_folder

    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)  # the stack's home may be reached through a link
    ours, prefects = _result_folder(tmp_path / "link"), LocalFileSystem(basepath=str(tmp_path / "link"))
    for key in ("3f2a9c0e1b7d4e6f8a5b2c1d0e9f8a7b", "sub/key", str(real / "abs"), ".hidden"):
        assert ours._resolve_path(key) == prefects._resolve_path(key), key
    for outside in ("../escape", str(tmp_path / "elsewhere")):
        with pytest.raises(ValueError, match="outside of the base path"):
            ours._resolve_path(outside)
    ours.write_path("3f2a", b"result")  # stored and read back where Prefect's would
    assert prefects.read_path("3f2a") == b"result"
    assert (real / "3f2a").read_bytes() == b"result"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Prefect warns when a block type is defined twice
        other = _result_folder(tmp_path / "other")
    assert other._resolve_path("k") == (tmp_path / "other" / "k").resolve()
