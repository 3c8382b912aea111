"""Import a plugin module with a time limit, and survive what its import does.

A plugin is user code run at import time. One that raises, calls ``sys.exit`` or never
returns must not take down (or freeze) the command line, a kernel or the Jupyter server
that discovers it: :func:`bounded_import` turns each of these into a :class:`PluginError`.

The time limit (``DIOPTRA_LAB_PLUGIN_IMPORT_TIMEOUT``, default 60 s; 0 turns it off) is
enforced in the way the calling thread allows:

- in the main thread (the CLI, a kernel, a worker) by ``SIGALRM`` (``setitimer``), whose
  handler raises in the importing code. It interrupts sleeps and blocking system calls, too.
  Used only when no other real-time timer is armed (RQ's job timeouts use one), and the
  previous handler is put back afterwards;
- in any other thread (the Jupyter server runs requests in worker threads) by a watchdog
  thread that raises the timeout in the importing thread with
  ``PyThreadState_SetAsyncExc``. Such an exception is delivered between two bytecodes, so
  a plugin blocked inside one C call (``time.sleep(10**9)``) is stopped only when that call
  returns. Importing in a subprocess instead would cost a Python start per plugin.

The timeout is a :class:`BaseException` so that a plugin's own ``except Exception`` does not
swallow it.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import signal
import threading
import time
from types import FrameType, ModuleType

from dioptra_lab.errors import PluginError, first_line

TIMEOUT_ENV = "DIOPTRA_LAB_PLUGIN_IMPORT_TIMEOUT"
DEFAULT_TIMEOUT = 60.0


class PluginImportTimeout(BaseException):  # noqa: N818 - not an error of the plugin's own
    """Raised inside a plugin's import that ran past the time limit."""


class PluginImportError(PluginError):
    """A plugin module could not be imported; ``reason`` is one line (no traceback)."""

    def __init__(self, module: str, reason: str, details: str = "") -> None:
        self.module = module
        self.reason = reason
        self.details = details
        super().__init__(f"plugin module {module!r} failed to import: {reason}")


def import_timeout() -> float:
    """Seconds a plugin import may take (``DIOPTRA_LAB_PLUGIN_IMPORT_TIMEOUT``; 0: no limit)."""
    try:
        return max(float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT)), 0.0)
    except ValueError:
        return DEFAULT_TIMEOUT


def bounded_import(name: str, timeout: float | None = None) -> ModuleType:
    """``importlib.import_module(name)``, bounded in time; every failure a :class:`PluginImportError`.

    Raises:
        PluginImportError: the import raised (any ``Exception``), called ``sys.exit`` or took
            longer than ``timeout`` seconds (default :func:`import_timeout`). ``reason`` says
            which, in one line.
    """
    import traceback

    limit = import_timeout() if timeout is None else timeout
    started = time.monotonic()
    try:
        return _import_within(name, limit)
    except PluginImportTimeout:
        took = time.monotonic() - started
        raise PluginImportError(
            name,
            f"its import did not finish within {limit:g} s ({TIMEOUT_ENV}; stopped after {took:.1f} s); "
            "does it run something forever at import time?",
        ) from None
    except SystemExit as exc:
        raise PluginImportError(
            name, f"its import called sys.exit({exc.code!r}); a plugin must not exit the process"
        ) from None
    except Exception as exc:  # any error in a plugin must not break its caller
        raise PluginImportError(
            name, f"{type(exc).__name__}: {first_line(str(exc))}", traceback.format_exc()
        ) from None


def _import_within(name: str, limit: float) -> ModuleType:
    if limit <= 0:
        return importlib.import_module(name)
    if _alarm_usable():
        return _import_with_alarm(name, limit)
    return _import_with_watchdog(name, limit)


def _alarm_usable() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )


def _raise_timeout(signum: int, frame: FrameType | None) -> None:
    raise PluginImportTimeout


def _import_with_alarm(name: str, limit: float) -> ModuleType:
    previous = signal.signal(signal.SIGALRM, _raise_timeout)
    try:
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            return importlib.import_module(name)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)


def _import_with_watchdog(name: str, limit: float) -> ModuleType:
    target = threading.get_ident()
    finished = threading.Event()
    lock = threading.Lock()
    inside = [True]

    def watch() -> None:
        if finished.wait(limit):
            return
        with lock:  # the importer leaves only under this lock: never a stray exception later
            if inside[0]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(target), ctypes.py_object(PluginImportTimeout)
                )

    watchdog = threading.Thread(target=watch, name=f"plugin-import-watchdog-{name}", daemon=True)
    watchdog.start()
    try:
        return importlib.import_module(name)
    finally:
        # An exception injected just before this lock is taken is raised inside this block (the
        # next bytecode), so it reaches bounded_import as a timeout like any other.
        with lock:
            inside[0] = False
        finished.set()
