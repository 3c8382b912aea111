"""A load test: N jobs as sweeps and single submissions from several processes at once.

    python -m tests.reliability.load --jobs 500 --submitters 4 [--report load.json]

On an isolated stack of its own (see :class:`tests.reliability.faults.IsolatedStack`: a temporary
home, free ports, 2 workers), ``--submitters`` processes submit their share of the jobs at the
same time, each through the public API (``dioptra_lab.submit`` and ``dioptra_lab.submit_sweep``):
the jobs are dealt, with a fixed seed, into single submissions and sweeps of 5 to 25 jobs, half
of them in each. Every job is a trivial one-step graph with two parameters (``x``, unique per job,
and ``label``). The test then waits until every job has ended and checks:

- every job is ``FINISHED`` in MLflow, with the parameters it was submitted with, and
  ``finished`` in RQ;
- no ERROR, CRITICAL or Traceback line in any service log of the stack (``<home>/logs``) written
  during the load, unless :data:`EXPLAINED` explains it (each such line is printed).

It prints the figures: submit→done p50/p99/max (from the moment the submitting call began to
the run's end time), throughput, the submission rate, Redis' ``used_memory`` and the MLflow
database's size before and after. Exit code 1 if a job did not finish, lost or changed a
parameter, or a log has an unexplained error. A JSON report goes to ``--report``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tests.reliability.faults import IsolatedStack, dump_json, error_lines, log_offsets

EXPERIMENT = "reliability-load"
EXPLAINED: list[tuple[re.Pattern[str], str]] = []
"""Log lines that are not errors of the load (pattern, why); none so far."""


def deal(jobs: int, submitters: int, seed: int) -> list[list[tuple[str, list[float]]]]:
    """The batches of each submitter: ``("single", [x])`` or ``("sweep", [x, …])``, every x
    unique; half the jobs are single submissions, the others sweeps of 5 to 25 jobs, shuffled."""
    rng = random.Random(seed)
    sizes = [1] * (jobs // 2)
    left = jobs - len(sizes)
    while left > 0:
        size = left if left <= 10 else rng.randint(5, min(25, left - 5))
        sizes.append(size)
        left -= size
    rng.shuffle(sizes)
    batches: list[tuple[str, list[float]]] = []
    next_x = 0
    for size in sizes:
        xs = [float(x) for x in range(next_x, next_x + size)]
        batches.append(("single", xs) if size == 1 else ("sweep", xs))
        next_x += size
    shares: list[list[tuple[str, list[float]]]] = [[] for _ in range(submitters)]
    for index, batch in enumerate(batches):
        shares[index % submitters].append(batch)
    return shares


def submitter(index: int, batches: list[tuple[str, list[float]]], entrypoint: str, queue: str) -> list[dict]:
    """One submitting process: its batches, one after the other; what it submitted, with times."""
    from dioptra_lab.jobs import submit, submit_sweep

    records = []
    for number, (kind, xs) in enumerate(batches):
        label = f"s{index}-b{number}"
        began = time.time()
        if kind == "single":
            job = submit(entrypoint, {"x": xs[0], "label": label}, experiment=EXPERIMENT, queue=queue)
            ids = [job.id]
            sweep = None
        else:
            found = submit_sweep(entrypoint, {"x": xs}, {"label": label}, experiment=EXPERIMENT, queue=queue)
            ids = [job.id for job in found.jobs]
            sweep = found.id
        returned = time.time()
        records += [
            {"id": i, "x": x, "label": label, "submitted": began, "returned": returned, "sweep": sweep}
            for i, x in zip(ids, xs, strict=True)
        ]
    return records


def redis_memory() -> int:
    from dioptra_lab.jobs.connection import redis_connection

    return int(redis_connection().info("memory")["used_memory"])


def mlflow_db_size(home: Path) -> int:
    return sum(p.stat().st_size for p in (home / "mlflow").glob("*.db*") if p.is_file())


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0.5: the median, 0.99: p99)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-share * len(ordered) // 1))))
    return ordered[rank - 1]


def wait_all(ids: set[str], timeout: float) -> dict[str, Any]:
    """Poll MLflow until every job's run has ended (or ``timeout``); return the runs by id."""
    from dioptra_lab.tracking.client import client

    mlflow = client()
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    deadline = time.monotonic() + timeout
    runs: dict[str, Any] = {}
    while True:
        found = mlflow.search_runs([experiment.experiment_id], max_results=max(1000, 2 * len(ids)))
        runs = {r.info.run_id: r for r in found if r.info.run_id in ids}
        ended = sum(1 for r in runs.values() if r.info.status in ("FINISHED", "FAILED", "KILLED"))
        if ended == len(ids) or time.monotonic() > deadline:
            return runs
        time.sleep(2.0)


def run_load(
    stack: IsolatedStack, jobs: int, submitters: int, seed: int = 1, timeout: float | None = None
) -> dict:
    """Submit ``jobs`` jobs from ``submitters`` processes to ``stack``, wait, check; the figures."""
    from dioptra_lab.jobs.connection import redis_connection

    offsets = log_offsets(stack.home)
    before = {"redis_used_memory": redis_memory(), "mlflow_db_bytes": mlflow_db_size(stack.home)}
    shares = deal(jobs, submitters, seed)
    began = time.time()
    context = multiprocessing.get_context("spawn")  # fresh interpreters: nothing shared with this one
    with context.Pool(submitters) as pool:
        parts = pool.starmap(
            submitter, [(i, share, str(stack.bench.quick), stack.queue) for i, share in enumerate(shares)]
        )
    records = [r for part in parts for r in part]
    submitted = time.time()
    ids = {r["id"] for r in records}
    runs = wait_all(ids, timeout if timeout is not None else max(600.0, 3.0 * jobs))
    conn = redis_connection()
    problems = []
    durations = []
    finished_rq = 0
    for record in records:
        run = runs.get(record["id"])
        rq = (conn.hget(f"rq:job:{record['id']}", "status") or b"").decode()
        finished_rq += rq == "finished"
        if run is None:
            problems.append(f"{record['id']}: no run in MLflow")
            continue
        params = run.data.params
        if run.info.status != "FINISHED" or rq != "finished":
            problems.append(f"{record['id']}: MLflow {run.info.status}, RQ {rq or 'no job'}")
        elif params.get("label") != record["label"] or float(params.get("x", "nan")) != record["x"]:
            problems.append(
                f"{record['id']}: parameters {dict(params)}, submitted x={record['x']} {record['label']}"
            )
        if run.info.end_time:
            durations.append(run.info.end_time / 1000 - record["submitted"])
    ends = [r.info.end_time / 1000 for r in runs.values() if r.info.end_time]
    after = {"redis_used_memory": redis_memory(), "mlflow_db_bytes": mlflow_db_size(stack.home)}
    errors = error_lines(stack.home, offsets)
    unexplained = [e for e in errors if not any(p.search(e[2]) for p, _ in EXPLAINED)]
    finished = sum(1 for r in runs.values() if r.info.status == "FINISHED")
    return {
        "jobs": jobs,
        "submitters": submitters,
        "singles": sum(1 for r in records if r["sweep"] is None),
        "sweeps": len({r["sweep"] for r in records if r["sweep"]}),
        "submit_seconds": submitted - began,
        "done_seconds": (max(ends) - began) if ends else None,
        "finished_mlflow": finished,
        "finished_rq": finished_rq,
        "p50": percentile(durations, 0.5) if durations else None,
        "p99": percentile(durations, 0.99) if durations else None,
        "max": max(durations) if durations else None,
        "mean": statistics.fmean(durations) if durations else None,
        "throughput_per_min": (len(ends) / (max(ends) - began) * 60) if ends else 0.0,
        "before": before,
        "after": after,
        "problems": problems,
        "log_errors": [list(e) for e in errors],
        "unexplained_log_errors": [list(e) for e in unexplained],
        "ok": finished == jobs and finished_rq == jobs and not problems and not unexplained,
    }


def mib(value: int) -> str:
    return f"{value / 2**20:.1f} MiB"


def print_load(figures: dict) -> None:
    jobs = figures["jobs"]
    print(
        f"load: {jobs} jobs ({figures['singles']} single, {jobs - figures['singles']} in "
        f"{figures['sweeps']} sweeps) from {figures['submitters']} submitters at once, 2 workers"
    )
    print(
        f"submitted in {figures['submit_seconds']:.1f}s ({jobs / figures['submit_seconds']:.1f} jobs/s); "
        f"the last one done {figures['done_seconds'] or 0:.1f}s after the first submission"
    )
    print(
        f"FINISHED in MLflow with their parameters: {figures['finished_mlflow']}/{jobs}; "
        f"finished in RQ: {figures['finished_rq']}/{jobs}"
    )
    if figures["p50"] is not None:
        print(
            f"submit→done: p50 {figures['p50']:.1f}s, p99 {figures['p99']:.1f}s, max {figures['max']:.1f}s; "
            f"throughput {figures['throughput_per_min']:.1f} jobs/min"
        )
    before, after = figures["before"], figures["after"]
    print(f"Redis used_memory: {mib(before['redis_used_memory'])} → {mib(after['redis_used_memory'])}")
    print(f"MLflow database: {mib(before['mlflow_db_bytes'])} → {mib(after['mlflow_db_bytes'])}")
    for problem in figures["problems"][:20]:
        print(f"  ! {problem}")
    if len(figures["problems"]) > 20:
        print(f"  ! … {len(figures['problems']) - 20} more")
    errors = figures["log_errors"]
    print(f"service logs: {len(errors)} error line(s), {len(figures['unexplained_log_errors'])} unexplained")
    for name, number, text in errors[:40]:
        print(f"  {name}:{number}: {text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--submitters", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1, help="how the jobs are dealt into sweeps and singles")
    parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for every job")
    parser.add_argument("--report", type=Path, default=Path("load-report.json"))
    parser.add_argument("--warm-kernels", type=int, default=1, help="DIOPTRA_LAB_WARM_KERNELS of the workers")
    parser.add_argument("--keep", action="store_true", help="keep the stack's home even when all passed")
    args = parser.parse_args(argv)

    stack = IsolatedStack(warm_kernels=args.warm_kernels, prefix="dioptra-lab-load-")
    ok = False
    try:
        stack.start()
        figures = run_load(stack, args.jobs, args.submitters, args.seed, args.timeout)
        print_load(figures)
        ok = figures["ok"]
        dump_json(args.report, {**figures, "home": str(stack.home)})
        print(f"report: {args.report}")
    finally:
        if not ok or args.keep:
            print(f"the stack's home is kept: {stack.home}")
        stack.stop(keep=args.keep or not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
