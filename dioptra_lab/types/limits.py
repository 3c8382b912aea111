"""Limits on parameter values: their size, and text every service can store.

A value travels to MLflow (a param), Redis (the job), Prefect (the flow run's parameters)
and the job's notebook, so a 50 MB string is refused before anything is created (issue
13, bug 7). Sizes are measured as JSON text in UTF-8. Two limits:

- per value, ``DIOPTRA_LAB_MAX_PARAM_BYTES`` (default 256 KiB);
- all values of one job together, ``DIOPTRA_LAB_MAX_PARAMS_BYTES`` (default 500,000 bytes):
  Prefect's server refuses a flow run whose parameters are over 512 KiB
  (``PREFECT_SERVER_API_MAX_PARAMETER_SIZE``, 524,288 bytes), which failed the job in its
  kernel after everything had been created. Raise both with that setting of the Prefect server.

Larger data goes in as an artifact input (a file path or a ``runs:/`` URI).
"""

from __future__ import annotations

import os
import sys
from typing import Any

MAX_PARAM_BYTES_ENV = "DIOPTRA_LAB_MAX_PARAM_BYTES"
DEFAULT_MAX_PARAM_BYTES = 256 << 10
MAX_PARAMS_BYTES_ENV = "DIOPTRA_LAB_MAX_PARAMS_BYTES"
DEFAULT_MAX_PARAMS_BYTES = 500_000
MAX_VALUE_DEPTH = 64
MAX_INT_BITS = 13_000  # about 3,900 digits: under Python's 4,300-digit limit on int <-> str


def _setting(name: str, default: int) -> int:
    try:
        return max(int(os.environ.get(name, default)), 1)
    except ValueError:
        return default


def max_param_bytes() -> int:
    """The size limit of one parameter value in bytes (``DIOPTRA_LAB_MAX_PARAM_BYTES``)."""
    return _setting(MAX_PARAM_BYTES_ENV, DEFAULT_MAX_PARAM_BYTES)


def max_params_bytes() -> int:
    """The size limit of all parameter values of a job together (``DIOPTRA_LAB_MAX_PARAMS_BYTES``)."""
    return _setting(MAX_PARAMS_BYTES_ENV, DEFAULT_MAX_PARAMS_BYTES)


def show_bytes(count: float) -> str:
    """``1048576`` → ``"1 MiB"``, ``1500000`` → ``"1.4 MiB"``, ``100`` → ``"100 bytes"``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            amount = count / size
            return f"{amount:.0f} {unit}" if amount.is_integer() else f"{amount:.1f} {unit}"
    return f"{count:.0f} bytes"


class _Refused(Exception):
    pass


def value_problem(value: Any, limit: int | None = None) -> str | None:
    """Why ``value`` cannot be a parameter value, or ``None`` (see :func:`measure`)."""
    return measure(value, limit)[1]


def measure(value: Any, limit: int | None = None) -> tuple[int, str | None]:
    """The size of ``value`` as JSON text (about), and why it cannot be a parameter value.

    Refused: a value whose JSON text would be over ``limit`` bytes (default
    :func:`max_param_bytes`), text that is not valid UTF-8 (a lone surrogate such as
    ``"\\ud800"``, which MLflow cannot send), nesting deeper than 64 levels (or a list that
    contains itself). The walk stops as soon as the limit is passed.
    """
    limit = max_param_bytes() if limit is None else limit
    total = 0

    def add(count: int) -> None:
        nonlocal total
        total += count
        if total > limit:
            raise _Refused(_too_large(limit))

    def walk(item: Any, depth: int) -> None:
        if depth > MAX_VALUE_DEPTH:
            raise _Refused(f"nested deeper than {MAX_VALUE_DEPTH} levels (or it contains itself)")
        if isinstance(item, str):
            add(len(item) + 2)  # a cheap lower bound first: a huge text stops here
            try:
                add(len(item.encode("utf-8")) - len(item))
            except UnicodeEncodeError as exc:
                raise _Refused(
                    f"text with a lone surrogate ({item[exc.start]!r} at index {exc.start}), "
                    "which is not valid UTF-8"
                ) from None
        elif isinstance(item, bool) or item is None:
            add(5)
        elif isinstance(item, int):
            if item.bit_length() > MAX_INT_BITS:  # Python refuses to print it (sys.int_info)
                raise _Refused("an integer of over 4,000 digits; pass it as text")
            add(item.bit_length() * 30103 // 100000 + 2)
        elif isinstance(item, float):
            add(24)
        elif isinstance(item, bytes | bytearray):
            add(len(item) * 4 // 3 + 4)
        elif isinstance(item, dict):
            add(2)
            for key, sub in item.items():
                walk(key if isinstance(key, str) else str(type(key)), depth + 1)
                walk(sub, depth + 1)
                add(2)
        elif isinstance(item, list | tuple | set | frozenset):
            add(2)
            for sub in item:
                walk(sub, depth + 1)
                add(1)
        else:  # an object given in-process (an array, a model): its memory is a fair measure
            nbytes = getattr(item, "nbytes", None)
            add(nbytes if isinstance(nbytes, int) else sys.getsizeof(item))

    try:
        walk(value, 0)
    except _Refused as exc:
        return total, str(exc)
    return total, None


def total_problem(sizes: int, limit: int | None = None) -> str | None:
    """Why values of ``sizes`` bytes in all are too many for one job, or ``None``."""
    limit = max_params_bytes() if limit is None else limit
    if sizes <= limit:
        return None
    return (
        f"the values are {sizes:,} bytes in all, over the limit of {limit:,} bytes for one job "
        f"({MAX_PARAMS_BYTES_ENV}; Prefect keeps at most 512 KiB of a flow run's parameters); "
        "pass large data as an artifact input (a file path or a runs:/ URI)"
    )


def text_problem(text: str, limit: int | None = None) -> str | None:
    """Why a value given as text is refused before it is parsed (its size), or ``None``."""
    limit = max_param_bytes() if limit is None else limit
    if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
        return _too_large(limit)
    return None


def _too_large(limit: int) -> str:
    return (
        f"value over the limit of {show_bytes(limit)} per value ({MAX_PARAM_BYTES_ENV}); "
        "pass large data as an artifact input (a file path or a runs:/ URI)"
    )
