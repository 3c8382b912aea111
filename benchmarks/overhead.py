"""Overhead of dioptra_lab on the same small graph, measured side by side in one run.

(a) plain Python calls of the task functions, (b) ``run_entrypoint`` (a Prefect flow in
this process, one Prefect task per step), (c) ``dioptra-lab run`` (a fresh kernel through
Papermill). Prints:

- the engine's overhead per flow (median of a one-step graph's ``run_entrypoint``) and
  per task ((7-step median - 1-step median) / 6), the 7-step graph's p50, p99 and
  p99/p50 over ``--repeat`` runs (the 7-step and 1-step runs alternate, so a busy moment
  hits both alike);
- the first flow in a fresh process (``import prefect`` and the engine, then the first
  flow, against a later one), and the same after ``prefect_api.warm_up()``, which a kernel
  warmed before its job can run ahead of time;
- whether the Prefect server shows every flow run of this benchmark Completed, with all
  its task runs (``--no-check`` skips it).

    python benchmarks/overhead.py [--repeat 50] [--cli-repeat 3] [--fresh 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DIOPTRA_LAB_PLUGIN_PATH", str(ROOT / "tests" / "fixtures" / "plugins"))
ENTRYPOINT = ROOT / "tests" / "fixtures" / "entrypoints" / "hello_dioptra.yaml"

# Run in a fresh interpreter: what a job's kernel pays before and for its first flow.
FRESH_PROCESS = """
import json, sys, time
warm = sys.argv[1] == "warm"
started = time.perf_counter()
import prefect, prefect.flow_engine, prefect.task_engine
from dioptra_lab.engine import prefect_api
from dioptra_lab.engine.runner import run_entrypoint
imported = time.perf_counter()
warmed = imported
if warm:
    prefect_api.warm_up()
    warmed = time.perf_counter()
from dioptra_lab.entrypoints import load_entrypoint
ep = load_entrypoint(sys.argv[2]).validate()
loaded = time.perf_counter()
run_entrypoint(ep, {"name": "ann"}, quiet=True)
first = time.perf_counter()
run_entrypoint(ep, {"name": "ann"}, quiet=True)
second = time.perf_counter()
print(json.dumps({"imports": imported - started, "warm_up": warmed - imported,
                  "first": first - loaded, "second": second - first}))
"""


def plain(name: str) -> dict[str, object]:
    from hello_plugin.tasks import greet, hello, shout, split_words

    hello_step = hello(name)
    goodbye = greet("Goodbye", name)
    shouted = shout(hello_step)
    price = greet("Price", "$5")
    mixed = greet("Hey", shouted)
    first, rest = split_words(goodbye)
    return {"price_step": price, "mixed_step": mixed, "last_word": shout(rest), "first": first}


def seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed(fn: Callable[[], Any], repeat: int) -> float:
    return statistics.median(seconds(fn) for _ in range(repeat))


def percentile(values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def fresh_process(warm: bool) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, "warm" if warm else "cold", str(ENTRYPOINT)],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def check_prefect_ui(flow_run_ids: dict[str, int], timeout: float = 15.0) -> str:
    """Whether the server lists each flow run Completed with its task runs (recorded from
    events, so they may lag the flow by a flush interval)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    ids = list(flow_run_ids)
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs = []
            for start in range(0, len(ids), 200):
                chunk = FlowRunFilter(id=FlowRunFilterId(any_=ids[start : start + 200]))  # type: ignore[arg-type]
                runs += client.read_flow_runs(flow_run_filter=chunk, limit=200)
            completed = sum(1 for r in runs if r.state is not None and r.state.is_completed())
            tasks: dict[str, int] = {}
            for start in range(0, len(ids), 20):
                chunk = FlowRunFilter(id=FlowRunFilterId(any_=ids[start : start + 20]))  # type: ignore[arg-type]
                for task_run in client.read_task_runs(flow_run_filter=chunk, limit=200):
                    if task_run.state is not None and task_run.state.is_completed():
                        key = str(task_run.flow_run_id)
                        tasks[key] = tasks.get(key, 0) + 1
            missing = sum(1 for i, n in flow_run_ids.items() if tasks.get(i, 0) < n)
            if (completed == len(ids) and not missing) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    expected = sum(flow_run_ids.values())
    shown = sum(min(tasks.get(i, 0), n) for i, n in flow_run_ids.items())
    verdict = "OK" if completed == len(ids) and not missing else "MISSING"
    return f"{verdict}: {completed}/{len(ids)} flow runs Completed, {shown}/{expected} task runs Completed"


class BackOffs(logging.Handler):
    """Counts the Prefect client's own retries (each waits 2 s or more)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Another attempt will be made" in record.getMessage():
            self.count += 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=50, help="in-process runs of each graph")
    parser.add_argument("--cli-repeat", type=int, default=3, help="`dioptra-lab run` runs")
    parser.add_argument("--fresh", type=int, default=3, help="fresh processes for the first flow")
    parser.add_argument("--sequential", action="store_true", help="all 7-step runs first, not alternating")
    parser.add_argument("--no-check", action="store_true", help="skip checking the runs in the Prefect API")
    args = parser.parse_args()

    from dioptra_lab.entrypoints import load_entrypoint
    from dioptra_lab.stack import Stack

    url = Stack().ensure_prefect(announce=print)
    os.environ["PREFECT_API_URL"] = url
    print(f"Prefect server: {url}\n")
    ep = load_entrypoint(ENTRYPOINT).validate()
    steps = len(ep.steps)
    from dioptra_lab.engine import prefect_api
    from dioptra_lab.engine.runner import run_entrypoint
    from dioptra_lab.entrypoints import load_entrypoint_text

    one_step = load_entrypoint_text("graph:\n  only:\n    hello: ann\n", name="one_step").validate()
    run_entrypoint(ep, {"name": "warmup"}, quiet=True)  # the first flow pays for imports
    run_entrypoint(one_step, {}, quiet=True)
    t_plain = timed(lambda: plain("ann"), args.repeat)

    back_offs = BackOffs()
    client_log = logging.getLogger("prefect.client")
    saved = client_log.level, client_log.propagate
    client_log.setLevel(logging.DEBUG)
    client_log.propagate = False  # count its retries without printing its debug lines
    client_log.addHandler(back_offs)
    quick_before = getattr(prefect_api, "quick_retries", lambda: 0)()
    flow_runs: dict[str, int] = {}
    engine: list[float] = []
    single: list[float] = []
    plan = [(ep, {"name": "ann"}, engine), (one_step, {}, single)]
    if args.sequential:
        order = [p for p in plan for _ in range(args.repeat)]
    else:
        order = [p for _ in range(args.repeat) for p in plan]
    try:
        for graph, params, found in order:
            start = time.perf_counter()
            result = run_entrypoint(graph, params, quiet=True)
            found.append(time.perf_counter() - start)
            if result.flow_run_id:
                flow_runs[str(result.flow_run_id)] = len(graph.steps)
    finally:
        client_log.removeHandler(back_offs)
        client_log.setLevel(saved[0])
        client_log.propagate = saved[1]
    quick = getattr(prefect_api, "quick_retries", lambda: 0)() - quick_before
    t_engine, t_single = statistics.median(engine), statistics.median(single)
    p99 = percentile(engine, 99)
    per_task = (t_engine - t_single) / (steps - 1)

    t_cli = None
    if args.cli_repeat > 0:
        dioptra_lab_cli = Path(sys.executable).parent / "dioptra-lab"
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.ipynb"
            t_cli = timed(
                lambda: subprocess.run(
                    [str(dioptra_lab_cli), "run", str(ENTRYPOINT), "-p", "name=ann", "-o", str(out)],
                    check=True,
                    capture_output=True,
                ),
                args.cli_repeat,
            )
    cold = [fresh_process(warm=False) for _ in range(args.fresh)]
    can_warm = hasattr(prefect_api, "warm_up")
    warm = [fresh_process(warm=True) for _ in range(args.fresh)] if can_warm else []

    def ms(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs) * 1000

    print(f"graph: {ENTRYPOINT.name}, {steps} steps; {args.repeat} in-process runs of it and of 1 step")
    print(f"  (a) plain Python calls        {t_plain * 1000:10.3f} ms")
    print(f"  (b) run_entrypoint, 7 steps   {t_engine * 1000:10.1f} ms p50  {t_engine / t_plain:8.0f}x (a)")
    print(f"      p99, p99/p50              {p99 * 1000:10.1f} ms      {p99 / t_engine:8.2f}")
    print(f"      min, max                  {min(engine) * 1000:10.1f} ms  {max(engine) * 1000:8.1f} ms")
    print(f"  engine overhead per flow      {t_single * 1000:10.1f} ms   (median of the 1-step graph)")
    print(
        f"  engine overhead per task      {per_task * 1000:10.1f} ms   ((7-step - 1-step p50) / {steps - 1})"
    )
    print(
        f"  Prefect client back-offs      {back_offs.count:10d}      (2 s or more; re-sent at once: {quick})"
    )
    if t_cli is not None:
        print(f"  (c) dioptra-lab run           {t_cli * 1000:10.1f} ms      {t_cli / t_engine:8.1f}x (b)")
        print(f"      kernel + Papermill + CLI  {(t_cli - t_engine) * 1000:10.1f} ms per run")
    if cold:
        print(f"first flow in a fresh process ({steps} steps, median of {args.fresh}):")
        print(f"  import prefect + engine       {ms(cold, 'imports'):10.1f} ms")
        first, second = ms(cold, "first"), ms(cold, "second")
        print(f"  first flow                    {first:10.1f} ms   (the next flow: {second:.1f} ms)")
    if warm:
        print(
            f"  first flow after warm_up()    {ms(warm, 'first'):10.1f} ms   "
            f"(warm_up() ahead of the job: {ms(warm, 'warm_up'):.1f} ms)"
        )
    if not args.no_check:
        print(f"Prefect UI: {check_prefect_ui(flow_runs)}")


if __name__ == "__main__":
    main()
