"""``dioptra-lab`` commands for the stack: up, down, status, worker and dashboard."""

from __future__ import annotations

import argparse
from typing import Any

from dioptra_lab.cli_common import err, parse_assignments, split_names, table
from dioptra_lab.config import masked_url
from dioptra_lab.errors import DioptraLabError


def cmd_up(args: argparse.Namespace) -> int:
    from dioptra_lab.stack import Stack

    stack = Stack()
    urls = stack.up(
        args.workers,
        split_names(args.queues) or None,
        announce=err,
        gpus=split_names(args.gpus) or None,
        dashboards=not args.no_dashboards,
        lab=not args.no_lab,
        host=args.host,
        postgres=args.postgres,
    )
    print_connection_help(urls, stack.home)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from dioptra_lab.stack import Stack
    from dioptra_lab.stack.voila import dashboards_folder

    stack = Stack()
    folder = dashboards_folder(stack.settings.project_root)
    names = sorted(p.stem for p in folder.glob("*.ipynb"))
    name = args.name.removesuffix(".ipynb")
    if name not in names:
        where = f"the dashboards in {folder}: {', '.join(names)}" if names else f"no dashboards in {folder}"
        raise DioptraLabError(f"no dashboard named {name!r}; {where}")
    stack.up(announce=err)  # Redis, MLflow, Prefect, a worker, and the dashboards' Voila
    url = stack.dashboard_url(name, **parse_assignments(args.param))
    if url is None:
        raise DioptraLabError("the dashboards' server does not answer; see <home>/logs/voila.log")
    print(f"Dashboard {name!r} (standalone Voila; the link carries its token, keep it private):")
    print(f"  {url}")
    return 0


def print_connection_help(urls: dict[str, str], home: Any) -> None:
    """Where the services are and how other processes connect.

    The export line is the one place the Redis password is shown (other hosts need it); the
    table masks it, as `status` does.
    """
    print(f"\nStack ready (files under {home}):")
    print(f"  MLflow UI   {masked_url(urls['mlflow'])}")
    print(f"  Prefect UI  {masked_url(urls['prefect'].removesuffix('/api'))}")
    print(f"  Redis       {masked_url(urls['redis'])}")
    if urls.get("postgres"):
        print(f"  PostgreSQL  {masked_url(urls['postgres'])}  (MLflow's and Prefect's data)")
    if urls.get("lab"):
        print(f"  JupyterLab  {urls['lab']}")
        print("              (the Dioptra Lab panel is in the left sidebar; the link carries the token)")
    if urls.get("dashboards"):
        # the launcher's address with the token: whoever has it can submit jobs
        print(f"  Dashboards  {urls['dashboards']}")
        print("              (`dioptra-lab dashboard results` for the results explorer)")
    print(f"\nProcesses started here find the stack through {home}/stack.json (owner-only).")
    print("Elsewhere (another host, a container), set (it carries the passwords, keep it private):")
    print(f"  {export_line(urls, home)}")
    print("Stop everything with `dioptra-lab down`.")


def export_line(urls: dict[str, str], home: Any) -> str:
    """The variables a worker or client elsewhere needs: the three URLs (Redis's carries its
    password) and, for a stack started with ``--host``, MLflow's and Prefect's credentials."""
    from dioptra_lab.config import (
        MLFLOW_CREDENTIALS_KEY,
        MLFLOW_PASSWORD_ENV,
        MLFLOW_USER_ENV,
        PREFECT_AUTH_ENV,
        PREFECT_CREDENTIALS_KEY,
        read_stack_file,
    )

    stack = read_stack_file(home)
    values = {
        "DIOPTRA_LAB_REDIS_URL": urls["redis"],
        "MLFLOW_TRACKING_URI": urls["mlflow"],
        "PREFECT_API_URL": urls["prefect"],
    }
    if stack.get(MLFLOW_CREDENTIALS_KEY):
        user, _, password = str(stack[MLFLOW_CREDENTIALS_KEY]).partition(":")
        values[MLFLOW_USER_ENV], values[MLFLOW_PASSWORD_ENV] = user, password
    if stack.get(PREFECT_CREDENTIALS_KEY):
        values[PREFECT_AUTH_ENV] = str(stack[PREFECT_CREDENTIALS_KEY])
    return "export " + " ".join(f"{name}={value}" for name, value in values.items())


def cmd_down(args: argparse.Namespace) -> int:
    from dioptra_lab.stack import Stack

    stopped = Stack().down(announce=err)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    if args.healthcheck:
        return worker_healthcheck()
    from dioptra_lab.worker.process import run_worker

    if args.queue is None:
        raise DioptraLabError("`dioptra-lab worker` needs --queue, e.g. --queue cpu")
    queues = split_names(args.queue)
    if not queues:
        raise DioptraLabError("--queue needs at least one queue name, e.g. --queue cpu")
    run_worker(queues, gpu=args.gpu, name=args.name, burst=args.burst)
    return 0


def worker_healthcheck() -> int:
    """Exit 0 when Redis has a fresh heartbeat of a worker on this host (a container's
    healthcheck: the worker process may be running yet unable to reach Redis)."""
    import socket

    from dioptra_lab.jobs.queues import live_workers_on_host

    host = socket.gethostname()
    workers = live_workers_on_host(host)
    if not workers:
        print(f"unhealthy: Redis has no fresh worker heartbeat from host {host}")
        return 1
    for worker in workers:
        print(f"healthy: {worker.name} ({worker.state}, queues {','.join(worker.queues)})")
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
    if any(s.name == "lab" and s.running for s in status.services):
        from dioptra_lab.stack import Stack

        link = Stack().lab_url()
        print(f"\nJupyterLab: {link}" if link else "\nJupyterLab does not answer; see <home>/logs/lab.log")
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

    p = sub.add_parser("up", help="start the embedded stack (Redis, MLflow, Prefect, workers, Voila, Lab)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--queues", default=None, help="comma-separated queue names (default cpu)")
    p.add_argument("--gpus", default=None, help="comma-separated GPU ids, one per worker in turn")
    p.add_argument("--no-dashboards", action="store_true", help="do not start the dashboards' Voila server")
    p.add_argument("--no-lab", action="store_true", help="do not start JupyterLab (with the extension)")
    p.add_argument(
        "--host",
        default=None,
        metavar="ADDRESS",
        help="listen on this address so workers on other hosts can join (then MLflow and Prefect "
        "require passwords too; default 127.0.0.1, password-free but Redis)",
    )
    p.add_argument(
        "--postgres",
        nargs="?",
        const="",
        default=None,
        metavar="URL",
        help="keep MLflow's and Prefect's data in PostgreSQL: a server the stack starts (Debian's "
        "postgresql), or the one at postgresql://user:password@host:port",
    )
    p.set_defaults(func=cmd_up)

    p = sub.add_parser(
        "dashboard", help="a Voila dashboard (launcher, results) on the stack: prints its address"
    )
    p.add_argument("name", nargs="?", default="launcher", help="launcher (default) or results")
    p.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a preset in the address, e.g. -p entrypoint=examples/pgd.yaml -p eps=0.1",
    )
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("status", help="services, queues, workers and job counts")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("worker", help="serve queues (an RQ worker running jobs in fresh kernels)")
    p.add_argument("--queue", default=None, help="queue name(s), comma-separated (required to serve)")
    p.add_argument("--gpu", default=None, help="GPU id for this worker's kernels (CUDA_VISIBLE_DEVICES)")
    p.add_argument("--name", default=None)
    p.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    p.add_argument(
        "--healthcheck",
        action="store_true",
        help="exit 0 if Redis has a fresh heartbeat of a worker on this host, else 1 (containers)",
    )
    p.set_defaults(func=cmd_worker)
