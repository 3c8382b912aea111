"""``dioptra-lab`` commands for jobs on the queue: submit, jobs, results."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from typing import Any

from dioptra_lab.cli_common import err, parse_assignments, split_names, table
from dioptra_lab.errors import DioptraLabError


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
        grid = {
            name: split_names(values) for name, values in parse_assignments(args.sweep, "--sweep").items()
        }
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
    """Show progress until every job ends; exit code 1 if any did not finish.

    Like ``Job.wait``, it reaps a running job whose worker stopped heartbeating.
    """
    from dioptra_lab.jobs.job import REAP_INTERVAL

    pending = {job.id: job for job in jobs}
    shown: dict[str, str] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    reaped_at = time.monotonic()
    while pending:
        reap = time.monotonic() - reaped_at >= REAP_INTERVAL
        for job_id, job in list(pending.items()):
            status = job.status
            progress = job.progress if status.value == "running" else None
            if status.value == "running" and reap:
                job.reap()
            line = status.value
            if progress:
                line += f" [{progress.get('index')}/{progress.get('total')}] {progress.get('step')}"
            if shown.get(job_id) != line:
                err(f"{job_id}: {line}")
                shown[job_id] = line
            if status.done:
                del pending[job_id]
        if reap:
            reaped_at = time.monotonic()
        if deadline is not None and time.monotonic() > deadline:
            raise DioptraLabError(f"{len(pending)} job(s) still running after {timeout:.0f}s")
        if pending:
            time.sleep(0.5)
    failed = [info for info in (job.info() for job in jobs) if info.status.value != "finished"]
    for info in failed:
        err(f"{info.id}: {info.status.value}" + (f": {info.failure}" if info.failure else ""))
    return 1 if failed else 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from dioptra_lab import api
    from dioptra_lab.jobs import Job

    action = args.jobs_command
    if action == "list":
        rows = [
            [
                info.id,
                info.status.value,
                info.entrypoint,
                info.queue,
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.submitted)) if info.submitted else "-",
            ]
            for info in api.list_jobs(args.experiment, args.limit)
        ]
        print(table(rows, ["job", "status", "entry point", "queue", "started"]) if rows else "no jobs")
        return 0
    job = Job(args.job)
    if action == "show":
        results = job.results()
        shown = {**results.to_json(), "job": job.info().to_json()}
        print(json.dumps(shown, indent=2, default=str))
    elif action == "wait":
        return wait_and_report([job], args.timeout)
    elif action == "cancel":
        print(f"{job.id}: {api.cancel(job.id).status.value}")
    elif action == "logs":
        text = job.logs()
        if not text:
            from dioptra_lab.tracking.runs import get_run

            get_run(job.id)  # no output yet, or no such job (UnknownJobError)
        sys.stdout.write(text)
    elif action == "rerun":
        new = job.rerun()
        print(new.id)
        if args.wait:
            return wait_and_report([new])
    return 0


def results_rows(experiment: str) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of an experiment's runs: id, status, params, metrics (as text)."""
    from dioptra_lab.api import results

    headers, rows = results(experiment).table()
    return headers, [[_cell(v) for v in row] for row in rows]


def _cell(value: Any) -> Any:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else value


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
    """Register the job commands (submit, jobs, results) on the top-level subparsers."""
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
