"""Workers: ``dioptra-lab worker`` child processes named ``worker-1`` … ``worker-N``."""

from __future__ import annotations

import os
import secrets

from dioptra_lab.stack.base import Announce, Service, executable, quiet

PREFIX = "worker-"


class Workers(Service):
    """The stack's worker processes, each serving the same queues."""

    def ensure(
        self, count: int, queues: list[str], announce: Announce = quiet, gpus: list[str] | None = None
    ) -> list[int]:
        """Start workers ``worker-1`` … ``worker-N`` that are not already running.

        Args:
            count: How many workers should run.
            queues: The queues each one serves.
            announce: Receives a line per worker started.
            gpus: GPU ids handed to the workers in turn (one GPU per worker); ``None`` for none.

        Returns:
            The pids of the ``count`` workers, already running or just started.
        """
        pids = []
        for index in range(1, count + 1):
            name = f"{PREFIX}{index}"
            running = self.state.pid(name)
            if running is not None:
                pids.append(running)
                continue
            # RQ refuses a name already registered in Redis: a fresh suffix per start keeps a
            # new worker-1 apart from an earlier one whose registration has not expired yet
            # (one killed a moment ago, even when the same process starts both).
            argv = [
                executable("dioptra-lab"),
                "worker",
                "--queue",
                ",".join(queues),
                "--name",
                f"{name}-{os.getpid()}-{secrets.token_hex(3)}",
            ]
            gpu = gpus[(index - 1) % len(gpus)] if gpus else None
            if gpu is not None:
                argv += ["--gpu", gpu]
            # The worker finds Redis, MLflow and Prefect through this home's stack.json.
            pid = self.state.start(
                name, argv, env={"DIOPTRA_LAB_HOME": str(self.state.home)}, queues=queues, gpu=gpu
            )
            announce(
                f"Started {name} (pid {pid}) on queues {', '.join(queues)}"
                + (f", GPU {gpu}" if gpu is not None else "")
            )
            pids.append(pid)
        return pids
