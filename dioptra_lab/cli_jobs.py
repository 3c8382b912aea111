"""``dioptra-lab`` commands for the stack and the queue: up, worker, submit, jobs, results."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from typing import Any

from dioptra_lab.cli_common import err, parse_assignments, table
from dioptra_lab.errors import DioptraLabError


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


# -- stack ---------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    from dioptra_lab.stack import Stack

    stack = Stack()
    urls = stack.up(args.workers, _split(args.queues) or None, announce=err, gpus=_split(args.gpus) or None)
    print_connection_help(urls, stack.home)
    return 0


def print_connection_help(urls: dict[str, str], home: Any) -> None:
    """Where the services are and how other processes connect."""
    print(f"\nStack ready (files under {home}):")
    print(f"  MLflow UI   {urls['mlflow']}")
    print(f"  Prefect UI  {urls['prefect'].removesuffix('/api')}")
    print(f"  Redis       {urls['redis']}")
    print(f"\nProcesses started here find the stack through {home}/stack.json.")
    print("Elsewhere (another host, a container), set:")
    print(
        f"  export DIOPTRA_LAB_REDIS_URL={urls['redis']} MLFLOW_TRACKING_URI={urls['mlflow']} "
        f"PREFECT_API_URL={urls['prefect']}"
    )
    print("Stop everything with `dioptra-lab down`.")


def cmd_worker(args: argparse.Namespace) -> int:
    from dioptra_lab.worker.process import run_worker

    queues = _split(args.queue)
    if not queues:
        raise DioptraLabError("--queue needs at least one queue name, e.g. --queue cpu")
    run_worker(queues, gpu=args.gpu, name=args.name, burst=args.burst)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from dioptra_lab.stack import Stack

    states = Stack().status()
    if not states:
        print("no services recorded; start them with `dioptra-lab up`")
        return 0
    rows = [[s.name, "running" if s.running else "stopped", str(s.pid or "-"), s.url or "-"] for s in states]
    print(table(rows, ["service", "state", "pid", "address"]))
    try:
        queue_rows, worker_rows = queue_report()
    except DioptraLabError as exc:
        print(f"\nqueues: unavailable ({exc})")
        return 0
    if queue_rows:
        print("\n" + table(queue_rows, ["queue", "queued", "running", "failed", "finished"]))
    print(
        "\n"
        + (
            table(worker_rows, ["worker", "state", "queues", "current job"])
            if worker_rows
            else "no workers registered"
        )
    )
    return 0


def queue_report() -> tuple[list[list[str]], list[list[str]]]:
    """Job counts per queue and the registered workers (what `status` prints)."""
    from rq import Queue, Worker

    from dioptra_lab.jobs.connection import redis_connection, serializer

    conn = redis_connection()
    queues = []
    for q in Queue.all(connection=conn, serializer=serializer()):
        queues.append(
            [
                q.name,
                str(q.count),
                str(q.started_job_registry.count),
                str(q.failed_job_registry.count),
                str(q.finished_job_registry.count),
            ]
        )
    workers = [
        [w.name, str(w.get_state()), ",".join(w.queue_names()), w.get_current_job_id() or "-"]
        for w in Worker.all(connection=conn, serializer=serializer())
    ]
    return queues, workers


# -- jobs ----------------------------------------------------------------------------
def cmd_submit(args: argparse.Namespace) -> int:
    from dioptra_lab.jobs import submit, submit_sweep

    params = parse_assignments(args.param)
    options = {
        "experiment": args.experiment,
        "queue": args.queue,
        "timeout": args.timeout,
        "retries": args.retries,
        "from_text": True,
    }
    if args.sweep:
        grid = {name: _split(values) for name, values in parse_assignments(args.sweep, "--sweep").items()}
        sweep = submit_sweep(args.file, grid, params, **options)
        jobs = sweep.jobs
        print(f"sweep {sweep.id}: {len(jobs)} jobs")
    else:
        jobs = [submit(args.file, params, **options)]
    for job in jobs:
        print(job.id)
    if args.wait:
        return wait_and_report(jobs)
    return 0


def wait_and_report(jobs: list[Any], timeout: float | None = None) -> int:
    """Show progress until every job ends; exit code 1 if any did not finish."""
    pending = {job.id: job for job in jobs}
    shown: dict[str, str] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    while pending:
        for job_id, job in list(pending.items()):
            status = job.status
            progress = job.progress if status.value == "running" else None
            line = status.value
            if progress:
                line += f" [{progress.get('index')}/{progress.get('total')}] {progress.get('step')}"
            if shown.get(job_id) != line:
                err(f"{job_id}: {line}")
                shown[job_id] = line
            if status.done:
                del pending[job_id]
        if deadline is not None and time.monotonic() > deadline:
            raise DioptraLabError(f"{len(pending)} job(s) still running after {timeout:.0f}s")
        if pending:
            time.sleep(0.5)
    failed = [j for j in jobs if j.status.value != "finished"]
    for job in failed:
        tags = job.results()["tags"]
        details = [
            tags.get(f"dioptra_lab.{k}", "") for k in ("failure_reason", "exception", "exception_message")
        ]
        err(f"{job.id}: {job.status.value}: " + " ".join(d for d in details if d))
    return 1 if failed else 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from dioptra_lab.jobs import Job, list_jobs

    action = args.jobs_command
    if action == "list":
        rows = [
            [
                r["job_id"],
                r["status"],
                r["entrypoint"],
                r["queue"],
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["start_time"] / 1000)),
            ]
            for r in list_jobs(args.experiment, args.limit)
        ]
        print(table(rows, ["job", "status", "entry point", "queue", "started"]) if rows else "no jobs")
        return 0
    job = Job(args.job)
    if action == "show":
        info = job.results()
        info["progress"] = job.progress
        print(json.dumps(info, indent=2, default=str))
    elif action == "wait":
        return wait_and_report([job], args.timeout)
    elif action == "cancel":
        print(f"{job.id}: {job.cancel().value}")
    elif action == "logs":
        sys.stdout.write(job.logs())
    elif action == "rerun":
        new = job.rerun()
        print(new.id)
        if args.wait:
            return wait_and_report([new])
    return 0


def results_rows(experiment: str) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of an experiment's runs: id, status, params, metrics."""
    from dioptra_lab.tracking.results import experiment_runs

    found = experiment_runs(experiment)
    params = sorted({k for r in found for k in r["params"]})
    metrics = sorted({k for r in found for k in r["metrics"]})
    headers = ["run_id", "status", "entrypoint", *params, *metrics]
    rows = [
        [
            r["run_id"],
            r["status"],
            r["entrypoint"],
            *(r["params"].get(p, "") for p in params),
            *(_fmt(r["metrics"].get(m)) for m in metrics),
        ]
        for r in found
    ]
    return headers, rows


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def cmd_results(args: argparse.Namespace) -> int:
    headers, rows = results_rows(args.experiment)
    if args.format == "json":
        print(json.dumps([dict(zip(headers, row, strict=True)) for row in rows], indent=2))
    elif args.format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(headers)
        writer.writerows(rows)
        sys.stdout.write(out.getvalue())
    else:
        print(table([[str(c) for c in row] for row in rows], headers) if rows else "no runs yet")
    return 0


def add_commands(sub: Any) -> None:
    """Register the stack and queue commands on the top-level subparsers."""
    p = sub.add_parser("up", help="start Redis, MLflow, Prefect and workers (embedded stack)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--queues", default=None, help="comma-separated queue names (default cpu)")
    p.add_argument("--gpus", default=None, help="comma-separated GPU ids, one per worker in turn")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("status", help="services, queues, workers and job counts")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("worker", help="serve queues (an RQ worker running jobs in fresh kernels)")
    p.add_argument("--queue", required=True, help="queue name(s), comma-separated")
    p.add_argument("--gpu", default=None, help="GPU id for this worker's kernels (CUDA_VISIBLE_DEVICES)")
    p.add_argument("--name", default=None)
    p.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("submit", help="submit an entry point (or a sweep) to the queue")
    p.add_argument("file")
    p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE")
    p.add_argument("--sweep", action="append", metavar="NAME=V1,V2", help="several make a grid")
    p.add_argument("--experiment", default=None)
    p.add_argument("--queue", default=None)
    p.add_argument("--timeout", type=float, default=None, help="seconds before the job is stopped")
    p.add_argument("--retries", type=int, default=0)
    p.add_argument("--wait", action="store_true", help="show progress until the jobs end")
    p.set_defaults(func=cmd_submit)

    jobs = sub.add_parser("jobs", help="list, show, wait for, cancel, read logs of or rerun jobs")
    actions = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    p = actions.add_parser("list")
    p.add_argument("--experiment", default=None)
    p.add_argument("--limit", type=int, default=50)
    for name in ("show", "wait", "cancel", "logs", "rerun"):
        p = actions.add_parser(name)
        p.add_argument("job")
        if name == "wait":
            p.add_argument("--timeout", type=float, default=None)
        if name == "rerun":
            p.add_argument("--wait", action="store_true")
    jobs.set_defaults(func=cmd_jobs)

    p = sub.add_parser("results", help="an experiment's runs with their params and metrics")
    p.add_argument("experiment")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_results)
