"""Packaging: install hints name extras pyproject.toml defines; the wheel ships the Lab extension."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_install_hint_names_a_defined_extra() -> None:
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    hinted = {}
    for folder in ("dioptra_lab", "plugins"):
        for path in (REPO / folder).rglob("*.py"):
            for extra in re.findall(r"dioptra_lab\[(\w+)\]", path.read_text()):
                hinted[extra] = path.relative_to(REPO)
    assert hinted, "no install hint found; the test would check nothing"
    missing = {extra: str(path) for extra, path in hinted.items() if extra not in extras}
    assert not missing, f"hints name extras pyproject.toml lacks: {missing}"


def test_the_wheel_carries_the_prebuilt_lab_extension_and_the_server_config(tmp_path: Path) -> None:
    """A user who installs the wheel needs no Node: the built extension and the file that enables
    the server extension are in it, and nothing of the TypeScript build's tooling is."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--quiet", "-w", str(tmp_path)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("dioptra_lab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shared = [n for n in names if "/data/share/jupyter/labextensions/dioptra-lab/" in n]
    assert any(n.endswith("labextensions/dioptra-lab/package.json") for n in shared)
    assert any(n.endswith("labextensions/dioptra-lab/install.json") for n in shared)
    assert any("/static/remoteEntry." in n for n in shared), "no built JavaScript in the wheel"
    assert any(n.endswith("data/etc/jupyter/jupyter_server_config.d/dioptra_lab.json") for n in names)
    assert "dioptra_lab/server/routes.py" in names
    assert any(n.endswith("data/share/jupyter/kernels/dioptra-lab/kernel.json") for n in names)
    assert not [n for n in names if "node_modules" in n or n.endswith(".ts")]


def test_jupyter_lists_both_extensions_enabled_and_ok() -> None:
    """What `make setup` installed: Lab's extension manager and the server see them as OK."""
    jupyter = str(Path(sys.executable).with_name("jupyter"))

    def listing(*argv: str) -> str:
        done = subprocess.run([jupyter, *argv], capture_output=True, text=True, timeout=120, check=True)
        return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)

    lab = listing("labextension", "list")
    assert re.search(r"dioptra-lab v[\d.]+ enabled OK", lab), lab
    server = listing("server", "extension", "list")
    assert re.search(r"dioptra_lab enabled", server), server
    assert re.search(r"dioptra_lab [\d.]+ OK", server), server


def test_the_dioptra_lab_kernel_spec_runs_this_environments_python() -> None:
    """Compiled notebooks name the `dioptra-lab` kernel: installed with the package (make setup,
    the images), it starts this environment's interpreter, not whatever `python3` is first."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel

    from dioptra_lab.entrypoints.compile import KERNEL_NAME

    specs = KernelSpecManager().find_kernel_specs()
    assert KERNEL_NAME in specs, f"the {KERNEL_NAME} kernel spec is not installed: {sorted(specs)}"
    assert Path(specs[KERNEL_NAME]).resolve().is_relative_to(Path(sys.prefix).resolve())
    manager, client = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=120)
    try:
        printed: list[str] = []
        client.execute_interactive(
            "import sys; print(sys.executable)",
            timeout=60,
            output_hook=lambda msg: printed.append(msg["content"].get("text", "")),
        )
        assert Path("".join(printed).strip()) == Path(sys.executable)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
