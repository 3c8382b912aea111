"""Does a live job monitor slow the notebook down? Measured side by side in one kernel.

Starts its own embedded stack (Redis, MLflow, Prefect; no worker, so every job stays queued
and the monitor keeps polling all of them: its worst case), a real Jupyter kernel, and in
that kernel submits a sweep of N trivial jobs. Then it times a trivial cell (``1 + 1``) many
times without a monitor, and again with a ``JobMonitor`` of the sweep refreshing in its
background thread; and it reports the monitor's service calls per second.

    python benchmarks/widgets.py [--jobs 100] [--cells 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from isolated import FIXTURES  # first: sets the environment


def run_cell(client: object, code: str) -> float:
    """Execute ``code`` in the kernel; return the seconds until its reply."""
    start = time.perf_counter()
    reply = client.execute_interactive(code, timeout=120, output_hook=lambda _msg: None)  # type: ignore[attr-defined]
    if reply["content"]["status"] != "ok":
        raise SystemExit(f"cell failed: {reply['content']}")
    return time.perf_counter() - start


def cell_times(client: object, count: int) -> list[float]:
    return [run_cell(client, "1 + 1") for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--cells", type=int, default=60)
    args = parser.parse_args()

    from jupyter_client.manager import start_new_kernel

    from dioptra_lab.stack import Stack

    stack = Stack()
    stack.ensure_redis()
    stack.ensure_mlflow()
    stack.ensure_prefect()
    kernel, client = start_new_kernel(kernel_name="python3")
    try:
        run_cell(
            client,
            "import dioptra_lab\n"
            "from dioptra_lab.widgets import JobMonitor\n"
            f"sweep = dioptra_lab.submit_sweep({str(FIXTURES / 'entrypoints' / 'score.yaml')!r}, "
            f"{{'x': list(range({args.jobs}))}}, queue='nobody-serves-this', experiment='bench-widgets')",
        )
        run_cell(client, "1 + 1")  # warm
        without = cell_times(client, args.cells)
        run_cell(client, "monitor = JobMonitor([sweep]); monitor.calls = 0; import time; t0 = time.time()")
        time.sleep(3)  # let it settle into its refresh loop
        with_monitor = cell_times(client, args.cells)
        time.sleep(2)
        client.execute_interactive(
            "print(monitor.calls / (time.time() - t0), len(monitor.rows), monitor.refresher.running)",
            timeout=60,
            output_hook=lambda msg: (
                print(f"  monitor: calls/s, rows, refreshing = {msg['content'].get('text', '')}".rstrip())
                if msg["msg_type"] == "stream"
                else None
            ),
        )
    finally:
        client.stop_channels()
        kernel.shutdown_kernel(now=True)
        stack.down()
    a, b = statistics.median(without), statistics.median(with_monitor)
    p_a, p_b = sorted(without)[int(0.9 * len(without))], sorted(with_monitor)[int(0.9 * len(with_monitor))]
    print(f"\ntrivial cell in a kernel, {args.cells} runs each; sweep of {args.jobs} queued jobs")
    print(f"  {'':32}{'median':>10}{'p90':>10}")
    print(f"  {'without a monitor':32}{a * 1000:8.1f}ms{p_a * 1000:8.1f}ms")
    print(f"  {'with JobMonitor([sweep])':32}{b * 1000:8.1f}ms{p_b * 1000:8.1f}ms")
    print(f"  ratio with/without (median)     {b / a:8.2f}x   (goal <= 1.2x)")


if __name__ == "__main__":
    sys.exit(main())
