"""Jobs through the queue next to plain Papermill, plain Python and NIST Dioptra, in one run.

On a stack of its own (a temporary home, stopped at the end):

- ``dioptra-lab up`` cold: seconds until every service answers, and until the worker's
  warm kernel is ready;
- the idle worker's memory without and with its warm kernel (RSS of the worker alone, and
  the proportional set size, PSS, of worker + zygote + kernel: the kernel's pages are
  mostly shared with its zygote, so summing RSS would count them twice);
- a trivial entry point and a ~10-second one: submit→running (the status), submit→step (its
  step's function called, from the step's progress event) and submit→done through the
  queue (median of ``--repeat``), the same compiled notebook with the plain ``papermill``
  command, and the plain Python function;
- the 7-step hello graph as a queued job, next to Dioptra's own queued job on the same
  graph (``benchmarks/dioptra_anchor.py``; skipped with ``--no-dioptra``);
- the throughput of a ``--sweep``-job sweep with 1 and with 2 workers (each warm first).

Prints the figures, then the goals of the speed issue this script owns with their ratios.

    python benchmarks/jobs.py [--sweep 20] [--repeat 5] [--no-dioptra]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from isolated import FIXTURES  # first: sets the environment

BIN = Path(sys.executable).parent
QUEUE = "bench"
HELLO = FIXTURES / "entrypoints" / "hello_dioptra.yaml"


def through_queue(path: Path, params: dict[str, object]) -> tuple[float, float, float]:
    """Seconds from submit to: the job's status running (a worker took it), its last step's
    function called (from the step's progress event: when it ended, less how long it ran;
    for a one-step graph, its first step), and the status finished."""
    from dioptra_lab.jobs import JobStatus, submit

    start, wall = time.perf_counter(), time.time()
    job = submit(path, params, queue=QUEUE, experiment="benchmark")
    started = None
    while True:
        status = job.status
        if started is None and status != JobStatus.QUEUED:
            started = time.perf_counter() - start
        if status.done:
            break
        time.sleep(0.01)
    done = time.perf_counter() - start
    if status != JobStatus.FINISHED:
        raise SystemExit(f"job {job.id} ended {status.value}")
    event = job.progress or {}
    if event.get("time") is None or event.get("seconds") is None:
        raise SystemExit(f"job {job.id} recorded no step with its time (a worker older than this script?)")
    step = float(event["time"]) - float(event["seconds"]) - wall
    return started or 0.0, step, done


def queued_medians(
    path: Path, params: dict[str, object], repeat: int
) -> tuple[float, float, float, list[float]]:
    """Medians of :func:`through_queue`'s three figures over ``repeat`` jobs, and the done times."""
    samples = [through_queue(path, params) for _ in range(repeat)]
    started, step, done = (list(figure) for figure in zip(*samples, strict=True))
    return statistics.median(started), statistics.median(step), statistics.median(done), done


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


def mlflow_requests() -> int:
    """Requests MLflow's server has answered so far (the lines of its access log)."""
    from dioptra_lab.config import load_settings

    log = load_settings().home / "logs" / "mlflow.log"
    return sum(1 for line in log.read_text(errors="replace").splitlines() if " HTTP/1.1" in line)


def family(pid: int) -> list[int]:
    """``pid`` and its descendants (a worker, its kernel zygote and warm kernels)."""
    from dioptra_lab.processes import descendants

    return [pid, *sorted(descendants(pid))]


def memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` (from status) or ``Pss`` (from smaps_rollup) of a process, in KiB."""
    source = "status" if field == "VmRSS" else "smaps_rollup"
    try:
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_warm(pids: list[int], timeout: float = 180) -> float:
    """Seconds until every worker has its zygote and a warm kernel (3 processes each)."""
    start = time.perf_counter()
    while any(len(family(pid)) < 3 for pid in pids):
        if time.perf_counter() - start > timeout:
            raise SystemExit("the workers' warm kernels did not come up")
        time.sleep(0.1)
    time.sleep(0.5)  # the kernel answers a moment after it exists
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sweep", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5, help="jobs timed per entry point (median)")
    parser.add_argument("--no-dioptra", action="store_true", help="skip Dioptra's queued job")
    args = parser.parse_args()

    from dioptra_lab.plugins import get_registry
    from dioptra_lab.stack import Stack

    sleep_for = get_registry().get("job_plugin.tasks.sleep_for").func  # discovery puts plugins on sys.path

    stack = Stack()
    started = time.perf_counter()
    stack.up(workers=1, queues=[QUEUE], announce=print, dashboards=False)
    t_up = time.perf_counter() - started
    worker = stack.ensure_workers(1, [QUEUE])[0]
    t_warm = t_up + wait_warm([worker])
    goals: list[tuple[str, str, str, bool]] = []
    slow = FIXTURES / "entrypoints" / "slow.yaml"
    try:
        rss_worker = memory_kib(worker, "VmRSS") / 1024
        pss_all = sum(memory_kib(pid, "Pss") for pid in family(worker)) / 1024
        rss_all = sum(memory_kib(pid, "VmRSS") for pid in family(worker)) / 1024
        print(
            f"\n`dioptra-lab up` cold (no dashboards): services answer in {t_up:.1f}s, "
            f"the worker's warm kernel is ready in {t_warm:.1f}s"
        )
        print(
            f"idle worker: RSS {rss_worker:.0f} MiB alone; with zygote + warm kernel "
            f"PSS {pss_all:.0f} MiB (RSS summed {rss_all:.0f} MiB)"
        )
        through_queue(slow, {"seconds": 0})  # warm-up: the first job creates the experiment
        wait_warm([worker])
        print(
            f"\n{'entry point':<12} {'python':>9} {'papermill':>10} {'→running':>9} {'→step':>7} "
            f"{'submit→done':>12} {'done/papermill':>15} {'done/python':>12}"
        )
        rows, per_job = {}, 0.0
        with tempfile.TemporaryDirectory() as tmp:
            for label, seconds in (("trivial", 0), ("~10 s", 10)):
                start = time.perf_counter()
                sleep_for(seconds)
                t_python = time.perf_counter() - start
                t_papermill = plain_papermill(slow, {"seconds": seconds}, Path(tmp))
                repeat = args.repeat if seconds == 0 else max(1, args.repeat // 2)
                answered = mlflow_requests()
                t_start, t_step, t_done, _ = queued_medians(slow, {"seconds": seconds}, repeat)
                if seconds == 0:  # this script polls each job's status every 10 ms meanwhile
                    per_job = (mlflow_requests() - answered) / repeat
                rows[label] = (t_python, t_papermill, t_start, t_done, t_step)
                print(
                    f"{label:<12} {t_python:>8.3f}s {t_papermill:>9.2f}s {t_start:>8.2f}s {t_step:>6.2f}s "
                    f"{t_done:>11.2f}s "
                    f"{t_done / t_papermill:>14.2f}x {t_done / max(t_python, 1e-3):>11.2f}x"
                )
        print(f"MLflow requests per trivial job, submit and polling included: {per_job:.1f}")
        _, _, t_hello, hello_samples = queued_medians(HELLO, {"name": "ann"}, args.repeat)
        print(
            f"\n7-step hello graph as a queued job: median {t_hello:.2f}s "
            f"(min {min(hello_samples):.2f}s, max {max(hello_samples):.2f}s, {len(hello_samples)} jobs)"
        )
        one = sweep_throughput(args.sweep)
        workers = stack.ensure_workers(2, [QUEUE], announce=print)
        wait_warm(workers)
        two = sweep_throughput(args.sweep)
        print(f"\n{args.sweep}-job sweep of the trivial entry point:")
        print(f"  1 worker : {one:6.1f} jobs/min")
        print(f"  2 workers: {two:6.1f} jobs/min  ({two / one:.2f}x; 2 cores)")
    finally:
        stack.down()

    trivial, ten = rows["trivial"], rows["~10 s"]
    goals += [
        (
            "trivial job submit→done ÷ plain papermill",
            f"{trivial[3] / trivial[1]:.2f}x",
            "≤ 0.15x",
            trivial[3] / trivial[1] <= 0.15,
        ),
        ("submit → first step running, trivial (p50)", f"{trivial[4]:.2f}s", "≤ 0.15s", trivial[4] <= 0.15),
        (
            "~10 s job submit→done ÷ plain Python",
            f"{ten[3] / ten[0]:.2f}x",
            "≤ 1.05x",
            ten[3] / ten[0] <= 1.05,
        ),
        ("sweep throughput, 2 workers ÷ 1", f"{two / one:.2f}x", "≥ 1.85x", two / one >= 1.85),
        ("idle worker RSS without its warm kernel", f"{rss_worker:.0f} MiB", "≤ 300 MiB", rss_worker <= 300),
        ("idle worker with its warm kernel (PSS)", f"{pss_all:.0f} MiB", "≤ 900 MiB", pss_all <= 900),
        ("`dioptra-lab up` cold, to all services healthy", f"{t_up:.1f}s", "≤ 15s", t_up <= 15),
    ]
    if not args.no_dioptra:
        from dioptra_anchor import anchor

        print("\nNIST Dioptra's queued job on the same graph (its own stack; a minute, more the first time):")
        found = anchor(repeat=5, queued=True, queued_repeat=args.repeat)
        queued = found.get("queued")
        if queued:
            dioptra = float(queued["median_s"])
            print(f"  Dioptra {found.get('dioptra_version')}: median {dioptra:.2f}s submit→finished")
            goals.append(
                (
                    "queued 7-step job ÷ Dioptra's queued job",
                    f"{t_hello / dioptra:.2f}x",
                    "≤ 0.5x",
                    t_hello / dioptra <= 0.5,
                )
            )
        else:
            print(f"  Dioptra's queued job could not run: {found.get('queued_error')}")
    print(f"\n{'goal':<50} {'measured':>10} {'target':>10}  met")
    for name, measured, target, met in goals:
        print(f"{name:<50} {measured:>10} {target:>10}  {'yes' if met else 'NO'}")


if __name__ == "__main__":
    main()
