"""Jobs through the queue next to plain Papermill and plain Python, measured in one run.

For a trivial entry point and a ~10-second one: submit→start and submit→finished through
the queue, the same compiled notebook with the plain ``papermill`` command, and the plain
Python function. Then the throughput of a 20-job sweep with 1 and with 2 workers.
Starts its own embedded stack in a temporary folder and stops it at the end.

    python benchmarks/jobs.py [--sweep 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from isolated import FIXTURES  # first: sets the environment

BIN = Path(sys.executable).parent
QUEUE = "bench"


def through_queue(path: Path, params: dict[str, object]) -> tuple[float, float]:
    from dioptra_lab.jobs import JobStatus, submit

    start = time.perf_counter()
    job = submit(path, params, queue=QUEUE, experiment="benchmark")
    started = None
    while True:
        status = job.status
        if started is None and status != JobStatus.QUEUED:
            started = time.perf_counter() - start
        if status.done:
            break
        time.sleep(0.05)
    if status != JobStatus.FINISHED:
        raise SystemExit(f"job {job.id} ended {status.value}")
    return started or 0.0, time.perf_counter() - start


def plain_papermill(path: Path, params: dict[str, object], tmp: Path) -> float:
    from dioptra_lab.entrypoints import load_entrypoint
    from dioptra_lab.entrypoints.compile import compile_entrypoint, write_notebook

    notebook = write_notebook(compile_entrypoint(load_entrypoint(path)), tmp / f"{path.stem}.ipynb")
    args = [str(BIN / "papermill"), str(notebook), str(tmp / "out.ipynb"), "--no-progress-bar"]
    for key, value in params.items():
        args += ["-p", key, str(value)]
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - start


def sweep_throughput(count: int) -> float:
    from dioptra_lab.jobs import submit_sweep

    start = time.perf_counter()
    sweep = submit_sweep(
        FIXTURES / "entrypoints" / "score.yaml",
        {"x": [float(i) for i in range(count)]},
        queue=QUEUE,
        experiment="benchmark-sweep",
    )
    statuses = sweep.wait()
    if statuses != ["finished"] * count:
        raise SystemExit(f"sweep ended {statuses}")
    return count / (time.perf_counter() - start) * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sweep", type=int, default=20)
    args = parser.parse_args()

    from dioptra_lab.plugins import get_registry
    from dioptra_lab.stack import Stack

    sleep_for = get_registry().get("job_plugin.tasks.sleep_for").func  # discovery puts plugins on sys.path

    stack = Stack()
    stack.up(workers=1, queues=[QUEUE], announce=print)
    slow = FIXTURES / "entrypoints" / "slow.yaml"
    try:
        through_queue(slow, {"seconds": 0})  # warm-up: the first job creates the experiment
        print(
            f"\n{'entry point':<12} {'python':>9} {'papermill':>10} {'submit→start':>13} "
            f"{'submit→done':>12} {'done/papermill':>15} {'done/python':>12}"
        )
        with tempfile.TemporaryDirectory() as tmp:
            for label, seconds in (("trivial", 0), ("~10 s", 10)):
                start = time.perf_counter()
                sleep_for(seconds)
                t_python = time.perf_counter() - start
                t_papermill = plain_papermill(slow, {"seconds": seconds}, Path(tmp))
                t_start, t_done = through_queue(slow, {"seconds": seconds})
                print(
                    f"{label:<12} {t_python:>8.3f}s {t_papermill:>9.2f}s {t_start:>12.2f}s {t_done:>11.2f}s "
                    f"{t_done / t_papermill:>14.2f}x {t_done / max(t_python, 1e-3):>11.1f}x"
                )
        one = sweep_throughput(args.sweep)
        stack.ensure_workers(2, [QUEUE], announce=print)
        two = sweep_throughput(args.sweep)
        print(f"\n{args.sweep}-job sweep of the trivial entry point:")
        print(f"  1 worker : {one:6.1f} jobs/min")
        print(f"  2 workers: {two:6.1f} jobs/min  ({two / one:.2f}x; 2 cores)")
    finally:
        stack.down()


if __name__ == "__main__":
    main()
