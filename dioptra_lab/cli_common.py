"""Small helpers shared by the command-line modules."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dioptra_lab.errors import DioptraLabError


def err(message: str) -> None:
    """Print a message for people (progress, warnings) on stderr."""
    print(message, file=sys.stderr, flush=True)


def parse_assignments(pairs: Sequence[str] | None, flag: str = "-p") -> dict[str, str]:
    """``["eps=0.1", "name=x"]`` → ``{"eps": "0.1", "name": "x"}``; the text is typed later."""
    values: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise DioptraLabError(f"{flag} {pair!r}: expected NAME=VALUE, e.g. {flag} eps=0.1")
        values[name.strip()] = value
    return values


def split_names(value: str | None) -> list[str]:
    """``"cpu, gpu"`` → ``["cpu", "gpu"]``; empty names are dropped."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain text table with aligned columns."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in rows]
    return "\n".join(lines)
