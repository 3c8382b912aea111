"""The Prefect server on SQLite next to the same server on PostgreSQL, side by side in one run.

Two stacks of their own (temporary homes): one Prefect server on SQLite (the embedded stack's
default), one on PostgreSQL (`dioptra-lab up --postgres`: a PostgreSQL server the stack starts).
The same 7-step graph runs ``--repeat`` times against each, alternating run by run, so a busy
moment of the machine hits both alike. Prints p50, p99, p99/p50 and the Prefect client's own
2-second back-offs per server, and the ratios.

    python benchmarks/postgres.py [--repeat 50]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from isolated import FIXTURES  # first: a stack home of its own, the test plugins
from overhead import BackOffs, percentile

ENTRYPOINT = FIXTURES / "entrypoints" / "hello_dioptra.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=50, help="runs of the graph on each server")
    args = parser.parse_args()

    from dioptra_lab.config import load_settings
    from dioptra_lab.engine.runner import run_entrypoint
    from dioptra_lab.entrypoints import load_entrypoint
    from dioptra_lab.stack import Stack

    sqlite = Stack(load_settings())
    postgres_home = Path(tempfile.mkdtemp(prefix="dioptra-lab-bench-pg-"))
    postgres = Stack(load_settings())
    postgres.home = postgres_home
    stacks = {"SQLite": sqlite, "PostgreSQL": postgres}
    try:
        postgres.ensure_postgres(announce=print)
        urls = {}
        for name, stack in stacks.items():
            os.environ.pop("PREFECT_API_URL", None)  # each stack starts its own server
            urls[name] = stack.ensure_prefect(announce=print)
        ep = load_entrypoint(ENTRYPOINT).validate()
        times: dict[str, list[float]] = {name: [] for name in stacks}
        back_offs = {name: BackOffs() for name in stacks}
        client_log = logging.getLogger("prefect.client")
        client_log.setLevel(logging.DEBUG)
        client_log.propagate = False
        for url in urls.values():  # the first flow on each pays for imports and the client
            os.environ["PREFECT_API_URL"] = url
            run_entrypoint(ep, {"name": "warmup"}, quiet=True)
        for _ in range(args.repeat):
            for name, url in urls.items():
                os.environ["PREFECT_API_URL"] = url
                client_log.addHandler(back_offs[name])
                start = time.perf_counter()
                run_entrypoint(ep, {"name": "ann"}, quiet=True)
                times[name].append(time.perf_counter() - start)
                client_log.removeHandler(back_offs[name])
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=60)  # task runs' events reach the servers before they stop
    finally:
        data = postgres.status()
        for stack in stacks.values():
            stack.down()
        for service in data:  # the cluster `down` keeps: this benchmark's alone
            if service.name == "postgres" and service.details.get("data"):
                shutil.rmtree(Path(service.details["data"]).parent, ignore_errors=True)

    print(f"\n7-step graph, {args.repeat} runs on each Prefect server, alternating (one machine, one run)\n")
    print(f"{'server':<12}{'p50':>10}{'p99':>10}{'p99/p50':>10}{'max':>10}{'2-s back-offs':>15}")
    stats = {}
    for name, found in times.items():
        p50, p99 = statistics.median(found), percentile(found, 99)
        stats[name] = (p50, p99)
        print(
            f"{name:<12}{p50 * 1000:>8.0f}ms{p99 * 1000:>8.0f}ms{p99 / p50:>10.2f}{max(found) * 1000:>8.0f}ms"
            f"{back_offs[name].count:>15}"
        )
    (s50, s99), (p50, p99) = stats["SQLite"], stats["PostgreSQL"]
    print(f"\nPostgreSQL ÷ SQLite: p50 {p50 / s50:.2f}×, p99 {p99 / s99:.2f}×")


if __name__ == "__main__":
    main()
