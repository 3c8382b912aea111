"""What a running job shows the world: heartbeat, progress (step i of n) and kernel output.

The engine in the kernel appends progress events to a JSON-lines file; a thread in the
work horse follows it and writes the latest event and a heartbeat into the RQ job's meta
every second. Kernel output goes to a local log file and to a Redis list that
``Job.logs()`` reads while the job runs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from dioptra_lab.jobs.connection import LOG_KEY

LOG_TTL = 7 * 24 * 3600


class KernelOutput:
    """A file-like sink for Papermill's ``stdout_file``: local file + Redis list."""

    def __init__(self, path: Path, connection: Any, job_id: str) -> None:
        self.path = path
        self.connection = connection
        self.key = LOG_KEY.format(job_id)
        self._file = path.open("a")

    def write(self, text: str) -> int:
        if text:
            self._file.write(text)
            self._file.flush()
            try:
                self.connection.rpush(self.key, text.encode())
                self.connection.expire(self.key, LOG_TTL)
            except Exception:  # a Redis hiccup must not fail the job; the file keeps it all
                pass
        return len(text)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class LiveFeed:
    """Heartbeat and progress of one job, kept in its RQ meta by a background thread."""

    def __init__(self, job: Any, workspace: Path, interval: float = 1.0, output: Any = None) -> None:
        self.job = job
        self.output = output
        self.worker_pid = os.getppid()
        self.progress_file = workspace / "progress.jsonl"
        self.progress_file.touch()
        self.interval = interval
        self._stop = threading.Event()
        self._offset = 0
        self._thread = threading.Thread(target=self._loop, name="dioptra-lab-heartbeat", daemon=True)

    def start(self) -> LiveFeed:
        self.beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.beat()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if os.getppid() != self.worker_pid:
                self._abandon()
            try:
                self.beat()
            except Exception:  # keep beating through transient Redis errors
                continue

    def _abandon(self) -> None:
        """The worker died: stop here, unsupervised work must not go on. The kernel exits
        with us (its parent poller), the heartbeat stops, and the reaper fails or retries
        the job as abandoned."""
        if self.output is not None:
            self.output.write("[dioptra-lab] the worker process died; abandoning this job\n")
        os._exit(1)

    def beat(self) -> None:
        """Record the latest progress event and a heartbeat in the job's meta."""
        latest = None
        with self.progress_file.open() as fh:
            fh.seek(self._offset)
            for line in fh:
                if line.endswith("\n"):
                    latest = json.loads(line)
                    self._offset += len(line.encode())
        if latest is not None:
            self.job.meta["progress"] = {
                key: latest[key] for key in ("step", "task", "index", "total", "state", "seconds")
            }
        self.job.meta["heartbeat"] = time.time()
        self.job.save_meta()
