"""``python -m dioptra_lab.engine.kernel_shelf FOLDER``: the stack's warm kernels for local runs.

Keeps a :class:`~dioptra_lab.engine.kernels.KernelPool` and publishes its kernels on the
shelf in ``FOLDER`` (see :func:`~dioptra_lab.engine.kernels.serve_shelf`) until SIGTERM or
SIGINT; then every kernel it holds and its zygote are shut down.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from dioptra_lab.engine.kernels import KernelPool, serve_shelf, stack_environment


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m dioptra_lab.engine.kernel_shelf FOLDER\n")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    folder = Path(argv[0])
    pool = KernelPool(1, environment=stack_environment, log_path=folder / "kernels.log").start()
    try:
        serve_shelf(pool, folder, stop)
    finally:
        pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
