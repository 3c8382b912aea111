"""Install hints in messages name extras that pyproject.toml defines."""

from __future__ import annotations

import re
import tomllib
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
