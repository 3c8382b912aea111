"""What a running job shows the world: heartbeat, progress (step i of n) and kernel output.

The engine in the kernel appends progress events to a JSON-lines file; a thread in the
work horse follows it and writes the latest event and a heartbeat into the RQ job's meta
every second. Kernel output goes to a local log file and to a Redis list that
``Job.logs()`` reads while the job runs.

A work horse never goes on alone: when its worker died, or when a newer attempt at its job
began elsewhere (its job was taken for abandoned, and retried), the heartbeat thread
removes the job's workspace and ends the horse; the kernel exits with it.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from dioptra_lab.jobs import lifecycle
from dioptra_lab.jobs.connection import LOG_KEY

LOG_TTL = 7 * 24 * 3600
REDIS_PAUSE = 5.0
"""Seconds kernel output goes to the local file only after Redis failed to take a line."""


class KernelOutput:
    """A file-like sink for Papermill's ``stdout_file``: local file + Redis list."""

    def __init__(self, path: Path, connection: Any, job_id: str) -> None:
        self.path = path
        self.connection = connection
        self.key = LOG_KEY.format(job_id)
        self._file = path.open("a")
        self._quiet_until = 0.0

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write(self, text: str) -> int:
        if text and not self._file.closed:
            self._file.write(text)
            self._file.flush()
            if time.monotonic() >= self._quiet_until:
                try:
                    self.connection.rpush(self.key, text.encode())
                    self.connection.expire(self.key, LOG_TTL)
                except Exception:  # a Redis hiccup must not slow or fail the job; the file keeps it all
                    self._quiet_until = time.monotonic() + REDIS_PAUSE
        return len(text)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class LiveFeed:
    """Heartbeat and progress of one job, kept in its RQ meta by a background thread."""

    def __init__(
        self, job: Any, workspace: Path, interval: float = 1.0, output: Any = None, attempt: int = 0
    ) -> None:
        self.job = job
        self.output = output
        self.workspace = workspace
        self.attempt = attempt
        self.worker_pid = os.getppid()
        self.progress_file = workspace / "progress.jsonl"
        self.progress_file.touch()
        self.interval = interval
        self._stop = threading.Event()
        self._offset = 0
        self._beating = threading.Lock()
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
            if self.orphaned:
                self.abandon("the worker process died")
            try:
                if self.superseded():
                    self.abandon("a newer attempt at this job began (it was taken for abandoned)")
                self.beat()
            except Exception:  # keep beating through transient Redis errors
                continue

    @property
    def orphaned(self) -> bool:
        """Whether the worker that forked this work horse died."""
        return os.getppid() != self.worker_pid

    def superseded(self) -> bool:
        """Whether a newer attempt at the job began than the one running here."""
        return lifecycle.superseded(self.job.id, self.attempt, self.job.connection)

    def abandon(self, why: str) -> None:
        """Stop here, unsupervised work must not go on: the workspace goes, the kernel exits
        with us (its parent poller), the heartbeat stops, and the reaper fails or retries
        the job as abandoned (or the newer attempt carries it)."""
        if self.output is not None:
            self.output.write(f"[dioptra-lab] {why}; abandoning this job\n")
        # the horse ends at once (its main thread must record nothing more); a child of this
        # thread alone removes the workspace after it
        if os.fork() == 0:
            shutil.rmtree(self.workspace, ignore_errors=True)
            os._exit(0)
        os._exit(1)

    def beat(self) -> None:
        """Record the latest progress event and a heartbeat in the job's meta (from the
        feed's thread and the horse's main thread alike)."""
        with self._beating:
            self._beat()

    def _beat(self) -> None:
        latest = None
        with self.progress_file.open() as fh:
            fh.seek(self._offset)
            for line in fh:
                if line.endswith("\n"):
                    latest = json.loads(line)
                    self._offset += len(line.encode())
        if latest is not None:
            self.job.meta["progress"] = {
                key: latest.get(key) for key in ("step", "task", "index", "total", "state", "seconds", "time")
            }
        self.job.meta["heartbeat"] = time.time()
        self.job.save_meta()
