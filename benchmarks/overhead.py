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

- ``dioptra-lab run`` of the graph in a new kernel, and in the warm kernel the stack keeps
  on its shelf (each run waits until the shelf has its next kernel, as a person would);
- NIST Dioptra's task engine on the same graph in-process (``benchmarks/dioptra_anchor.py``,
  in a venv of its own; ``--no-dioptra`` skips it);
- the goals of the speed issue this script owns, with their ratios.

Starts its own Prefect server and kernel shelf in a temporary home and stops them at the end.

    python benchmarks/overhead.py [--repeat 50] [--cli-repeat 3] [--fresh 3] [--no-dioptra]
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

from isolated import FIXTURES  # first: a stack home of its own, the test plugins

ENTRYPOINT = FIXTURES / "entrypoints" / "hello_dioptra.yaml"

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
    parser.add_argument("--no-dioptra", action="store_true", help="skip NIST Dioptra's task engine")
    args = parser.parse_args()

    from dioptra_lab.stack import Stack

    stack = Stack()
    try:
        measure(args, stack)
    finally:
        stack.down()


def cli_run(out: Path, shelf: Path | None = None) -> float:
    """Seconds of one `dioptra-lab run` of the graph (after the shelf has a warm kernel)."""
    if shelf is not None:
        deadline = time.monotonic() + 120
        while not any((shelf / "ready").glob("*.json")):
            if time.monotonic() > deadline:
                raise SystemExit("the kernel shelf has no warm kernel")
            time.sleep(0.05)
    args = [str(Path(sys.executable).parent / "dioptra-lab"), "run", str(ENTRYPOINT), "-p", "name=ann"]
    start = time.perf_counter()
    proc = subprocess.run([*args, "-o", str(out)], check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    warm = "in a warm kernel" in proc.stderr
    if warm != (shelf is not None):
        raise SystemExit(f"expected {'a warm' if shelf else 'a new'} kernel: {proc.stderr[-500:]}")
    return elapsed


def measure(args: argparse.Namespace, stack: Any) -> None:
    from dioptra_lab.config import load_settings
    from dioptra_lab.engine.kernels import SHELF
    from dioptra_lab.entrypoints import load_entrypoint

    url = stack.ensure_prefect(announce=print)
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

    t_cli = t_cli_warm = None
    if args.cli_repeat > 0:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.ipynb"
            t_cli = statistics.median(cli_run(out) for _ in range(args.cli_repeat))
            stack.ensure_kernels(announce=print)
            shelf = load_settings().home / SHELF
            t_cli_warm = statistics.median(cli_run(out, shelf) for _ in range(args.cli_repeat))
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
    if t_cli is not None and t_cli_warm is not None:
        print(f"  (c) dioptra-lab run, new kernel {t_cli * 1000:8.1f} ms      {t_cli / t_engine:8.1f}x (b)")
        warm_ms, warm_x = t_cli_warm * 1000, t_cli_warm / t_engine
        print(f"      in the shelf's warm kernel {warm_ms:8.1f} ms      {warm_x:8.1f}x (b)")
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
    goals = [
        ("Prefect overhead per flow (median)", f"{t_single * 1000:.0f} ms", "≤ 50 ms", t_single <= 0.05),
        ("Prefect overhead per task (median)", f"{per_task * 1000:.1f} ms", "≤ 5 ms", per_task <= 0.005),
        ("p99 ÷ p50 of a 7-step local run", f"{p99 / t_engine:.2f}", "≤ 1.5", p99 / t_engine <= 1.5),
    ]
    if t_cli_warm is not None:
        ratio = t_cli_warm / t_engine
        goals.append(
            ("`dioptra-lab run` ÷ EntryPoint.run (warm kernel)", f"{ratio:.1f}x", "≤ 2x", ratio <= 2)
        )
    if not args.no_dioptra:
        from dioptra_anchor import anchor

        print("\nNIST Dioptra's task engine on the same graph (a venv of its own; minutes the first time):")
        found = anchor(repeat=30, queued=False)
        dioptra = float(found["in_process"]["median_s"])
        print(f"  run_experiment: median {dioptra * 1000:.3f} ms ({found.get('dioptra_version')})")
        ratio = t_engine / dioptra
        goals.append(("EntryPoint.run ÷ Dioptra's run_experiment", f"{ratio:.0f}x", "≤ 10x", ratio <= 10))
    print(f"\n{'goal':<50} {'measured':>10} {'target':>10}  met")
    for name, measured, target, met in goals:
        print(f"{name:<50} {measured:>10} {target:>10}  {'yes' if met else 'NO'}")


if __name__ == "__main__":
    main()
