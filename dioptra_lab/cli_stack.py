"""``dioptra-lab`` commands for the stack: up, down, status and worker."""

from __future__ import annotations

import argparse
from typing import Any

from dioptra_lab.cli_common import err, split_names, table
from dioptra_lab.errors import DioptraLabError


def cmd_up(args: argparse.Namespace) -> int:
    from dioptra_lab.stack import Stack

    stack = Stack()
    urls = stack.up(
        args.workers, split_names(args.queues) or None, announce=err, gpus=split_names(args.gpus) or None
    )
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


def cmd_down(args: argparse.Namespace) -> int:
    from dioptra_lab.stack import Stack

    stopped = Stack().down(announce=err)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from dioptra_lab.worker.process import run_worker

    queues = split_names(args.queue)
    if not queues:
        raise DioptraLabError("--queue needs at least one queue name, e.g. --queue cpu")
    run_worker(queues, gpu=args.gpu, name=args.name, burst=args.burst)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from dioptra_lab.api import stack_status

    status = stack_status()
    if not status.services:
        print("no services recorded; start them with `dioptra-lab up`")
        return 0
    rows = [
        [s.name, "running" if s.running else "stopped", str(s.pid or "-"), s.url or "-"]
        for s in status.services
    ]
    print(table(rows, ["service", "state", "pid", "address"]))
    if status.problem:
        # the services' table is still worth showing when Redis is down
        print(f"\nqueues: unavailable ({status.problem})")
        return 0
    if status.queues:
        queue_rows = [
            [q.name, str(q.queued), str(q.running), str(q.failed), str(q.finished)] for q in status.queues
        ]
        print("\n" + table(queue_rows, ["queue", "queued", "running", "failed", "finished"]))
    worker_rows = [[w.name, w.state, ",".join(w.queues), w.current_job or "-"] for w in status.workers]
    print(
        "\n"
        + (
            table(worker_rows, ["worker", "state", "queues", "current job"])
            if worker_rows
            else "no workers registered"
        )
    )
    return 0


def add_commands(sub: Any) -> None:
    """Register the stack commands (up, down, status, worker) on the top-level subparsers."""
    # `down` first: the order `dioptra-lab --help` has always listed them in.
    p = sub.add_parser("down", help="stop every service the stack started")
    p.set_defaults(func=cmd_down)

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
