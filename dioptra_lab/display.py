"""Notebook display: figures inline, quiet runs, and rich views of the objects researchers touch.

Everything here is a no-op outside a Jupyter kernel and imports nothing heavy: IPython is
only used when it is already loaded (it is, in a kernel). Lower layers give their objects
a plain ``_repr_mimebundle_`` (HTML and text); a higher layer may register a live view
(a widget) for a class by name with :func:`register_view`, which the objects'
``_ipython_display_`` then use — so the job layer shows a live job monitor without
importing the widgets.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

# Loggers that talk on every run (MLflow's INFO lines, alembic's migrations of a new SQLite
# database, Prefect's flow-run lines); kept to warnings unless a run asks to be verbose.
NOISY_LOGGERS = ("mlflow", "alembic", "prefect", "httpx", "urllib3")

_views: dict[str, str] = {}


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _figure_png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def enable_inline_figures() -> bool:
    """Show ``matplotlib.figure.Figure`` objects as PNG images in this kernel.

    Figures built without pyplot (as dioptra_lab's are) have no inline backend behind them
    and would print as ``<Figure size …>``; a PNG formatter registered by class name fixes
    that whether or not pyplot was imported. Returns whether a kernel was found.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return False
    png = shell.display_formatter.formatters["image/png"]
    png.for_type_by_name("matplotlib.figure", "Figure", _figure_png)
    return True


@contextlib.contextmanager
def quiet_logs(verbose: bool = False) -> Iterator[None]:
    """Keep the noisy libraries' INFO lines out of cell output for the duration."""
    if verbose:
        yield
        return
    # MLflow sets its logger to INFO when it is first imported, which may happen during the
    # run; its own variable makes that import choose WARNING instead.
    mlflow_level = os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    saved = {}
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = logger.level
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
        if mlflow_level == "WARNING" and os.environ.get("MLFLOW_LOGGING_LEVEL") == "WARNING":
            del os.environ["MLFLOW_LOGGING_LEVEL"]


def register_view(qualname: str, factory: str) -> None:
    """Use ``factory`` (``"module:function"``, called with the object) to show objects of
    the class ``qualname`` (``"module.Class"``) in a kernel."""
    _views[qualname] = factory


def show(obj: Any, fallback: Callable[[], dict[str, Any]]) -> None:
    """Display ``obj`` with its registered live view, else its static mime bundle."""
    from IPython.display import display

    cls = type(obj)
    factory = _views.get(f"{cls.__module__}.{cls.__qualname__}")
    if factory is not None and in_kernel():
        module, _, name = factory.partition(":")
        try:
            display(getattr(importlib.import_module(module), name)(obj))
            return
        except ImportError:  # widgets not installed: the static view still works
            pass
    display(fallback(), raw=True)


class ProgressLine:
    """One line in the cell that a graph run updates in place (instead of a line per event)."""

    def __init__(self, name: str) -> None:
        from IPython.display import display

        self.name = name
        self.handle = display({"text/plain": f"{name}: starting"}, raw=True, display_id=True)

    def __call__(self, event: Any) -> None:
        if self.handle is None:
            return
        state = "failed" if event.state == "failed" else f"step {event.index}/{event.total}"
        text = f"{self.name}: {state} — {event.step} ({event.state})"
        self.handle.update({"text/plain": text}, raw=True)

    def done(self, text: str) -> None:
        if self.handle is not None:
            self.handle.update({"text/plain": f"{self.name}: {text}"}, raw=True)


def html_table(headers: list[str], rows: list[list[Any]], caption: str = "") -> str:
    """A small HTML table (cells escaped) for the objects' rich displays."""
    import html

    head = "".join(f"<th style='text-align:left'>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    title = f"<caption style='text-align:left'>{html.escape(caption)}</caption>" if caption else ""
    return f"<table class='dioptra-lab'>{title}<tr>{head}</tr>{body}</table>"


def text_table(headers: list[str], rows: list[list[Any]]) -> str:
    """The same table as aligned plain text (terminals, logs)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)
