"""Paths given to the REST API: relative to the server's root folder, never leading out of it."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from dioptra_lab.errors import DioptraLabError, NotFoundError

_DRIVE = re.compile(r"^[A-Za-z]:")


def clean_relative(relative: str) -> str:
    """``relative`` checked and normalized (``/`` separators, no ``.`` parts).

    Raises:
        DioptraLabError: empty, absolute, or with a ``..`` part.
    """
    text = relative.replace("\\", "/")
    if not text.strip():
        raise DioptraLabError("give a path relative to the server's root folder")
    if "\x00" in text:
        raise DioptraLabError(f"{relative!r} is not a valid path")
    if text.startswith("/") or _DRIVE.match(text):
        raise DioptraLabError(f"{relative!r} is absolute; give a path relative to the server's root folder")
    parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
    if ".." in parts:
        raise DioptraLabError(f"{relative!r} leads out of the server's root folder; `..` is not allowed")
    if not parts:
        raise DioptraLabError("give a path relative to the server's root folder")
    return "/".join(parts)


def resolve_in_root(root: str | Path, relative: str, *, must_exist: bool = True) -> Path:
    """The real path of ``relative`` under ``root``, symbolic links followed.

    Raises:
        DioptraLabError: the path is absolute, has ``..`` or leads out of ``root`` (through a
            symbolic link, say).
        NotFoundError: ``must_exist`` and nothing is there.
    """
    clean = clean_relative(relative)
    base = Path(root).resolve()
    target = (base / clean).resolve()
    if not target.is_relative_to(base):
        raise DioptraLabError(f"{relative!r} leads out of the server's root folder (a symbolic link?)")
    if must_exist and not target.exists():
        raise NotFoundError(f"no file {clean!r} in the server's root folder")
    return target
