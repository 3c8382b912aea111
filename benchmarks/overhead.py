"""Overhead of dioptra_lab on the same small graph, measured side by side in one run.

(a) plain Python calls of the task functions, (b) ``EntryPoint.run`` (Prefect flow in
this process), (c) ``dioptra-lab run`` (a fresh kernel through Papermill). Prints the
times, the ratios and Prefect's overhead per task.

    python benchmarks/overhead.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DIOPTRA_LAB_PLUGIN_PATH", str(ROOT / "tests" / "fixtures" / "plugins"))
ENTRYPOINT = ROOT / "tests" / "fixtures" / "entrypoints" / "hello_dioptra.yaml"


def plain(name: str) -> dict[str, object]:
    from hello_plugin.tasks import greet, hello, shout, split_words

    hello_step = hello(name)
    goodbye = greet("Goodbye", name)
    shouted = shout(hello_step)
    price = greet("Price", "$5")
    mixed = greet("Hey", shouted)
    first, rest = split_words(goodbye)
    return {"price_step": price, "mixed_step": mixed, "last_word": shout(rest), "first": first}


def samples_of(fn, repeat: int) -> list[float]:  # noqa: ANN001
    found = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        found.append(time.perf_counter() - start)
    return found


def timed(fn, repeat: int) -> float:  # noqa: ANN001
    return statistics.median(samples_of(fn, repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from dioptra_lab.entrypoints import load_entrypoint
    from dioptra_lab.stack import Stack

    url = Stack().ensure_prefect(announce=print)
    print(f"Prefect server: {url}\n")
    ep = load_entrypoint(ENTRYPOINT).validate()
    steps = len(ep.steps)
    from dioptra_lab.engine.runner import run_entrypoint
    from dioptra_lab.entrypoints import load_entrypoint_text

    one_step = load_entrypoint_text("graph:\n  only:\n    hello: ann\n", name="one_step").validate()
    run_entrypoint(ep, {"name": "warmup"}, quiet=True)  # first flow pays for imports
    t_plain = timed(lambda: plain("ann"), args.repeat)
    engine = samples_of(lambda: run_entrypoint(ep, {"name": "ann"}, quiet=True), args.repeat)
    single = samples_of(lambda: run_entrypoint(one_step, {}, quiet=True), args.repeat)
    t_engine, t_single = statistics.median(engine), statistics.median(single)
    dioptra_lab_cli = Path(sys.executable).parent / "dioptra-lab"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.ipynb"
        t_cli = timed(
            lambda: subprocess.run(
                [str(dioptra_lab_cli), "run", str(ENTRYPOINT), "-p", "name=ann", "-o", str(out)],
                check=True,
                capture_output=True,
            ),
            max(1, args.repeat // 2),
        )
    print(f"graph: {ENTRYPOINT.name}, {steps} steps (median of {args.repeat} runs)")
    print(f"  (a) plain Python calls     {t_plain * 1000:10.3f} ms")
    print(f"  (b) EntryPoint.run         {t_engine * 1000:10.1f} ms   {t_engine / t_plain:10.0f}x (a)")
    print(f"  (c) dioptra-lab run        {t_cli * 1000:10.1f} ms   {t_cli / t_engine:10.1f}x (b)")
    print(
        f"      min / max              {min(engine) * 1000:10.1f} / {max(engine) * 1000:.1f} ms"
        "   (Prefect on SQLite: ~2 s client back-off after a 503)"
    )
    print(f"  one-step graph (per flow)  {t_single * 1000:10.1f} ms   min {min(single) * 1000:.1f} ms")
    print(
        f"  Prefect overhead per task  {(min(engine) - min(single)) / (steps - 1) * 1000:10.1f} ms"
        "   (min of 7-step minus min of 1-step, over 6 extra tasks)"
    )
    print(f"  kernel + Papermill + CLI   {(t_cli - t_engine) * 1000:10.1f} ms per run")


if __name__ == "__main__":
    main()
