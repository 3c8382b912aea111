"""Progress events of a running graph (step i of n), sent to listeners.

The engine runs inside a kernel, far from the queue; it announces progress here and
whoever runs the kernel listens: the console printer below, and a JSON-lines file
named by ``DIOPTRA_LAB_PROGRESS_FILE`` that a worker follows.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

PROGRESS_FILE_ENV = "DIOPTRA_LAB_PROGRESS_FILE"


@dataclass(frozen=True)
class ProgressEvent:
    """``state`` is started, finished, cached, retrying or failed."""

    step: str
    task: str
    index: int
    total: int
    state: str
    seconds: float | None = None
    message: str = ""
    time: float = 0.0


Listener = Callable[[ProgressEvent], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def add_listener(listener: Listener) -> None:
    """Call ``listener`` for every progress event of every graph run in this process."""
    _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    """Stop calling ``listener``."""
    if listener in _listeners:
        _listeners.remove(listener)


def emit(event: ProgressEvent, quiet: bool = False) -> None:
    """Send one event to the console (unless quiet), the progress file and the listeners."""
    event = ProgressEvent(**{**asdict(event), "time": time.time()})
    with _lock:
        if not quiet:
            _print(event)
        path = os.environ.get(PROGRESS_FILE_ENV)
        if path:
            with open(path, "a") as fh:
                fh.write(json.dumps(asdict(event)) + "\n")
        for listener in list(_listeners):
            listener(event)


def _print(event: ProgressEvent) -> None:
    head = f"[{event.index}/{event.total}] {event.step} ({event.task})"
    if event.state == "started":
        line = f"{head} started"
    elif event.state in ("finished", "cached"):
        took = f"{event.seconds:.3f}s" if event.seconds is not None else "-"
        line = f"{head} {event.state} in {took}"
    else:
        line = f"{head} {event.state}: {event.message}"
    print(line, file=sys.stdout, flush=True)
