"""Pieces every widget shares: the stack banner, problem messages, background refresh."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as w

from dioptra_lab.errors import DioptraLabError
from dioptra_lab.models import ProblemInfo

START_HINT = "start it with <code>dioptra-lab up</code> (in a terminal, at the project's root)"


def message_html(text: str, kind: str = "error") -> str:
    """One message line, coloured by kind (error, warning, ok, info), HTML-escaped."""
    colour = {"error": "#b00020", "warning": "#8a6d00", "ok": "#1b5e20", "info": "#444"}[kind]
    return f'<div class="dioptra-lab-{kind}" style="color:{colour}">{html.escape(text)}</div>'


def problems_html(problems: Iterable[ProblemInfo | str]) -> str:
    """Every problem, one per line, with its place."""
    lines = []
    for problem in problems:
        info = problem if isinstance(problem, ProblemInfo) else ProblemInfo(str(problem))
        lines.append(message_html(f"{info.place}: {info.message}" if info.place else info.message))
    return "".join(lines)


class StackBanner(w.HTML):
    """One line that says the stack is down and how to start it; empty while it is up."""

    def check(self) -> bool:
        """Look at the stack now; return whether Redis and MLflow answer."""
        from dioptra_lab.jobs.enqueue import check_services

        try:
            check_services()
        except DioptraLabError as exc:
            self.value = (
                '<div class="dioptra-lab-banner" style="background:#fdecea;padding:6px;border-radius:4px">'
                f"<b>The dioptra_lab stack is not running</b>: {html.escape(str(exc).split(';')[0])}. "
                f"To submit jobs, {START_HINT}.</div>"
            )
            return False
        self.value = ""
        return True


def guarded(action: Callable[[], Any], errors: w.HTML) -> Any:
    """Run ``action``; show a :class:`DioptraLabError` in ``errors`` instead of raising it."""
    try:
        result = action()
    except DioptraLabError as exc:
        errors.value = message_html(str(exc))
        return None
    errors.value = ""
    return result


class Refresher:
    """Calls ``refresh`` every ``interval`` seconds from a daemon thread until stopped.

    Widget state changes from a background thread reach the front end through the kernel's
    comm messages, in JupyterLab and in Voila alike; the cell that made the widget returns
    at once, so the user keeps running cells while it updates.
    """

    def __init__(self, refresh: Callable[[], bool], interval: float = 1.0) -> None:
        self.refresh = refresh
        self.interval = max(interval, 1.0)  # at most once a second
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="dioptra-lab-widget", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.refresh():  # False: nothing left to watch
                    return
            except Exception:  # a transient service error must not kill the updates
                continue
