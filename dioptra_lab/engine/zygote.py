"""The kernel zygote: a process that imports the heavy libraries once and forks kernels.

``python -m dioptra_lab.engine.zygote '["numpy", "torch", ...]'`` imports the modules
named, answers ``{"ready": true, "failed": {module: error}}`` on its standard output, then
reads one JSON request per line on its standard input::

    {"connection_file": "/tmp/.../kernel.json", "cwd": "/tmp/..."}  →  {"pid": 1234}

and for each forks a child that becomes a fresh IPython kernel (``IPKernelApp``) on that
connection file. A fork costs milliseconds where starting Python and importing torch,
MLflow and Prefect costs seconds, so a kernel is warm a fraction of a second after it is
asked for. The zygote imports no plugin and runs no job code: each child is a new process
that starts from the same clean state, and re-seeds Python's and NumPy's random
generators so that jobs do not share random streams.

The zygote exits when its standard input closes (its owner died or let it go), and while it
imports (seconds, before it reads its input) as soon as its owner is gone: the kernel kills it
then (``PR_SET_PDEATHSIG``, even while an import holds the interpreter), a watch thread does
where that is not available, and it does not start importing if the owner named in
``DIOPTRA_LAB_ZYGOTE_OWNER`` is already dead; each
child kernel exits within a second of the zygote's death (ipykernel's parent poller), so nothing
outlives the worker that owns them.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

OWNER_ENV = "DIOPTRA_LAB_ZYGOTE_OWNER"
"""The owner's pid, set by the owner (:class:`dioptra_lab.engine.kernels.Zygote`)."""

_PR_SET_PDEATHSIG = 1

KERNEL_MODULES = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",  # debugpy: imported by every kernel as it starts (~55 ms of its 130)
    "sqlite3",  # IPython's history
    "pdb",
)
"""Imported by every kernel before its first cell: done once, in the zygote. Not
``matplotlib.pyplot`` nor the inline backend: importing them picks a backend (``agg``,
outside a kernel), and a kernel must pick the inline one itself, as a fresh one does."""


def _reply(stream: Any, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _become_kernel(connection_file: str, cwd: str, log_path: str | None, start_dir: str) -> None:
    """In the forked child: detach, re-seed, and run an IPython kernel until shut down."""
    os.setsid()  # its own process group: the owner kills the kernel and what it started
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    null = os.open(os.devnull, os.O_RDWR)
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if log_path else null
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.chdir(cwd)
    if sys.path and sys.path[0] == start_dir:  # `python -m` put the zygote's folder first;
        sys.path[0] = ""  # a kernel finds modules in its own working folder, as a fresh one does
    zygote = os.getppid()
    os.environ["JPY_PARENT_PID"] = str(zygote)
    import random

    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    # the trait's default was read from the zygote's environment when it imported ipykernel:
    # name the parent explicitly, so the kernel exits within a second of the zygote's death
    # and, as nbclient does for the kernels it starts, no history file shared by every kernel
    app.initialize(
        [
            "-f",
            connection_file,
            f"--IPKernelApp.parent_handle={zygote}",
            "--HistoryManager.hist_file=:memory:",
        ]
    )
    app.start()


def _parent_death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent dies (0: no longer)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):  # not Linux: the watch thread alone
        return False


def _exit_if_orphaned_until() -> Callable[[], None]:
    """Watch, while the imports run, for the owner's death: exit then, rather than import for
    seconds and only then find the input closed. A C extension's import can hold the
    interpreter for seconds, so the kernel's parent-death signal does it where it can; the
    thread is the fallback. Returns the call that ends the watch (no thread is left, and the
    signal is off, when kernels are forked)."""
    given = os.environ.pop(OWNER_ENV, "")
    owner = int(given) if given.isdigit() else os.getppid()
    killed_with_owner = _parent_death_signal(signal.SIGKILL)
    if os.getppid() != owner:  # the owner died before the signal was asked for
        os._exit(0)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            if os.getppid() != owner:
                os._exit(0)

    watcher = threading.Thread(target=watch, name="dioptra-lab-owner-watch", daemon=True)
    watcher.start()

    def stop() -> None:
        done.set()
        watcher.join()
        if killed_with_owner:  # the owner now lets it go by closing its input
            _parent_death_signal(0)

    return stop


def _prepare_engine() -> None:
    """Best effort: what every kernel's warm-up would build without a connection (Prefect's
    settings and flow machinery), built once here; never where Prefect was not imported
    (``prepare_before_fork`` checks). Also nbformat's notebook validator, where nbformat was
    imported: it compiles its JSON schema on first use (~70 ms), which a local run's kernel
    does when it compiles the entry point (:mod:`dioptra_lab.engine.local_prepare`)."""
    try:
        from dioptra_lab.engine.prefect_api import prepare_before_fork

        prepare_before_fork()
    except Exception:  # each kernel's warm-up builds it, and reports what fails
        pass
    if "nbformat" in sys.modules:
        try:
            sys.modules["nbformat"].v4.new_notebook()  # validates it: the validator is kept
        except Exception:
            pass


def _freeze_heap() -> None:
    """Take what the imports built out of the garbage collector's view, for good.

    torch, MLflow and Prefect leave about half a million objects behind. Without this, every
    full collection in a kernel walks all of them (about 240 ms on our machines), and
    writes to their pages, which a forked kernel then copies from the zygote: in a forked
    process, a first graph run took 0.61-0.67 s without it, 0.21-0.26 s with it. Garbage is
    collected first so that none is frozen. Frozen objects are still freed by reference
    counting; only cycles among them are never collected, and ``gc.get_objects()`` and
    ``gc.get_referrers()`` in a kernel no longer see them.
    """
    gc.collect()
    gc.freeze()


def main(argv: list[str]) -> int:
    names = json.loads(argv[0]) if argv else []
    log_path = argv[1] if len(argv) > 1 else None
    start_dir = os.getcwd()
    # matplotlib reads its backend when it is imported (here): the inline one, as ipykernel
    # sets it for a kernel it starts, unless the owner chose another
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    channel = os.fdopen(os.dup(1), "w")  # replies; stray prints of imported modules go to stderr
    os.dup2(2, 1)
    failed = {}
    imported = _exit_if_orphaned_until()
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # an optional library missing only makes jobs import less
            failed[name] = f"{type(exc).__name__}: {exc}"
    for name in KERNEL_MODULES:  # what every kernel loads before its first cell
        importlib.import_module(name)
    _prepare_engine()
    _freeze_heap()
    imported()  # from here on, the end of the input says the owner is gone
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    _reply(channel, {"ready": True, "failed": failed, "pid": os.getpid()})
    for line in sys.stdin:
        try:
            request = json.loads(line)
            connection_file, cwd = str(request["connection_file"]), str(request["cwd"])
        except (ValueError, KeyError, TypeError) as exc:
            _reply(channel, {"error": f"bad request: {exc}"})
            continue
        pid = os.fork()
        if pid == 0:
            try:
                channel.close()
                _become_kernel(connection_file, cwd, log_path, start_dir)
            finally:
                os._exit(0)
        _reply(channel, {"pid": pid})
    os._exit(0)  # the owner let go: skip tearing down torch & co. (its kernels follow)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
