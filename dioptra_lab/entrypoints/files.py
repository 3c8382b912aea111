"""Find entry point files under a folder, for pickers (the Lab panel, the REST API).

Cheap on purpose: a YAML file counts when it has a top-level ``graph:`` key (so one with a
mistake in it is still listed, and opening it shows its problems), a notebook when one of
its cells is tagged ``parameters``. Nothing is imported and no task is resolved.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from dioptra_lab.entrypoints.notebook import PARAMETERS_TAG
from dioptra_lab.models import EntryPointFile

YAML_SUFFIXES = (".yaml", ".yml")
SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "site-packages"})
MAX_FILE_BYTES = 2_000_000
_GRAPH_KEY = re.compile(r"^graph\s*:", re.MULTILINE)


def _skipped(folder: str) -> bool:
    # hidden folders cover .dioptra_lab, .venv, .git and .ipynb_checkpoints
    return folder.startswith(".") or folder in SKIPPED_FOLDERS


def entrypoint_kind(path: Path) -> str | None:
    """``"yaml"`` or ``"notebook"`` when ``path`` looks like an entry point, else ``None``."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        if path.suffix in YAML_SUFFIXES:
            return "yaml" if _GRAPH_KEY.search(path.read_text(errors="replace")) else None
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text()).get("cells", [])
            tagged = any(PARAMETERS_TAG in (c.get("metadata") or {}).get("tags", []) for c in cells)
            return "notebook" if tagged else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    return None


def find_entrypoint_files(root: Path, limit: int = 1000) -> list[EntryPointFile]:
    """Entry point files under ``root`` (paths relative to it, sorted), at most ``limit``.

    Hidden folders, ``node_modules`` and ``__pycache__`` are skipped, symbolic links to
    folders are not followed, and files that resolve outside ``root`` are left out.
    """
    root = root.resolve()
    found: list[EntryPointFile] = []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if not _skipped(f))
        for name in sorted(files):
            if name.startswith(".") or not name.endswith((*YAML_SUFFIXES, ".ipynb")):
                continue
            path = Path(folder) / name
            if not path.resolve().is_relative_to(root):
                continue
            kind = entrypoint_kind(path)
            if kind is not None:
                found.append(EntryPointFile(path.relative_to(root).as_posix(), path.stem, kind))
                if len(found) >= limit:
                    return sorted(found, key=lambda e: e.path)
    return sorted(found, key=lambda e: e.path)
