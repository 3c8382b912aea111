"""NIST Dioptra's own validator, as a second opinion on the Dioptra-format corpus.

Dioptra's task engine is pure Python (PyYAML, jsonschema, referencing, all in our venv), but
the ``dioptra-platform`` package pins torch 2.10.0 and pulls ~800 MB, so it is never one of
our dependencies: its wheel is installed once with ``pip install --no-deps --target`` into
``.cache/dioptra-<version>`` and run in a subprocess with that folder on ``PYTHONPATH``.

Run as a script with a cases file: prints one JSON object per case (``id``, ``valid``,
``errors``, ``warnings``); a validator that raises (Dioptra 1.2.2 raises for some invalid
type definitions instead of reporting them) counts as an invalid verdict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DIOPTRA_VERSION = "1.2.2"
ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / ".cache" / f"dioptra-{DIOPTRA_VERSION}"


def _install_once(target: Path, requirement: str) -> Path:
    """``pip install --no-deps --target target requirement``, once (a marker file remembers)."""
    marker = target / ".installed"
    if not marker.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--target",
                str(target),
                requirement,
            ],
            check=True,
        )
        marker.write_text(requirement + "\n")
    return target


def ensure_dioptra() -> Path:
    """The folder holding Dioptra's package (installed on first use, ~10 s)."""
    return _install_once(TARGET, f"dioptra-platform=={DIOPTRA_VERSION}")


def dioptra_sdk_path() -> str:
    """``PYTHONPATH`` entries under which ``from dioptra import pyplugs`` imports the real
    package: its wheel, and structlog (the one dependency of its plugin API), installed once
    into ``.cache/dioptra-<version>-sdk``."""
    sdk = _install_once(ROOT / ".cache" / f"dioptra-{DIOPTRA_VERSION}-sdk", "structlog")
    return os.pathsep.join([str(ensure_dioptra()), str(sdk)])


def dioptra_verdicts(cases_file: Path) -> dict[str, dict[str, object]]:
    """Dioptra's verdict on every case of ``cases_file``, by case id."""
    env = {**os.environ, "PYTHONPATH": str(ensure_dioptra())}
    out = subprocess.run(
        [sys.executable, __file__, str(cases_file)], env=env, capture_output=True, text=True, check=True
    ).stdout
    found = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {case["id"]: case for case in found}


def _main(cases_file: str) -> None:
    import yaml
    from dioptra.task_engine.validation import validate  # type: ignore[import-not-found]

    for case in yaml.safe_load(Path(cases_file).read_text()):
        try:
            issues = validate(case["description"])
        except Exception as exc:  # noqa: BLE001 - Dioptra raising is its "invalid"
            result = {"valid": False, "errors": [f"raised {type(exc).__name__}: {exc}"], "warnings": []}
        else:
            errors = [i.message for i in issues if i.severity.name == "ERROR"]
            warnings = [i.message for i in issues if i.severity.name != "ERROR"]
            result = {"valid": not errors, "errors": errors, "warnings": warnings}
        print(json.dumps({"id": case["id"], **result}))


if __name__ == "__main__":
    _main(sys.argv[1])
