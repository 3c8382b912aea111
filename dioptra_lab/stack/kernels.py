"""The kernel shelf: warm kernels the stack keeps for local runs (``dioptra-lab run``).

One process, ``python -m dioptra_lab.engine.kernel_shelf <home>/kernels``, keeps a kernel
zygote and one forked kernel ready; a local run claims it instead of starting a kernel of
its own (see :mod:`dioptra_lab.engine.kernels`). Off when ``DIOPTRA_LAB_WARM_KERNELS=0``.
"""

from __future__ import annotations

import sys

from dioptra_lab.engine.kernels import SHELF, warm_kernel_count
from dioptra_lab.stack.base import Announce, Service, quiet


class KernelShelf(Service):
    """The stack's warm kernels for local runs."""

    name = "kernels"

    def ensure(self, announce: Announce = quiet) -> int | None:
        """Start the shelf unless it runs (or warm kernels are off); return its pid."""
        if warm_kernel_count() == 0:
            return None
        running = self.state.pid(self.name)
        if running is not None:
            return running
        folder = self.state.home / SHELF
        argv = [sys.executable, "-m", "dioptra_lab.engine.kernel_shelf", str(folder)]
        pid = self.state.start(self.name, argv, env={"DIOPTRA_LAB_HOME": str(self.state.home)})
        announce(f"Started the kernel shelf (pid {pid}): warm kernels for `dioptra-lab run`")
        return pid
