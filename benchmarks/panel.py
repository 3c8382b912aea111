"""What does one refresh of the Dioptra Lab side panel cost the server, with 500 jobs listed?

Starts its own embedded stack (Redis, MLflow, Prefect; no worker, so every job stays queued:
the panel's worst case is a long list of live jobs) and the stack's JupyterLab with the
extension, submits a sweep of N trivial jobs, then times the requests one panel refresh makes
(``GET stack``, ``GET experiments``, ``GET jobs``) side by side with Jupyter's own
``GET /api/status`` as the anchor, for a short page (50, the panel's default) and the whole
list (N). Each request is timed from this process over HTTP, as the browser sees it.

    python benchmarks/panel.py [--jobs 500] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request

from isolated import FIXTURES, ROOT  # first: sets the environment


def timed(url: str) -> tuple[float, int]:
    """Seconds to fetch ``url`` and the size of its body."""
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as resp:
        body = resp.read()
    return time.perf_counter() - start, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    from dioptra_lab.jobs import submit_sweep
    from dioptra_lab.stack import Stack

    stack = Stack()
    stack.ensure_redis()
    stack.ensure_mlflow()
    stack.ensure_prefect()
    try:
        started = time.perf_counter()
        submit_sweep(
            FIXTURES / "entrypoints" / "score.yaml",
            {"x": list(range(args.jobs))},
            queue="nobody-serves-this",
            experiment="bench-panel",
        )
        print(f"submitted {args.jobs} jobs in {time.perf_counter() - started:.1f}s")
        stack.ensure_lab(root=ROOT)
        lab = stack.lab_url("") or ""
        base, token = lab.split("/?token=")
        api = f"{base}/dioptra-lab/api/v1"
        calls = {
            "GET /api/status (anchor)": f"{base}/api/status?token={token}",
            "GET stack": f"{api}/stack?token={token}",
            "GET experiments": f"{api}/experiments?token={token}",
            "GET jobs (limit 50)": f"{api}/jobs?limit=50&token={token}",
            f"GET jobs (limit {args.jobs})": f"{api}/jobs?limit={args.jobs}&token={token}",
        }
        with urllib.request.urlopen(f"{api}/jobs?limit={args.jobs}&token={token}") as resp:
            listed = len(json.load(resp)["jobs"])
        for url in calls.values():  # warm every path once
            timed(url)
        times: dict[str, list[float]] = {name: [] for name in calls}
        sizes: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, url in calls.items():
                seconds, sizes[name] = timed(url)
                times[name].append(seconds)
    finally:
        stack.down()

    anchor = statistics.median(times["GET /api/status (anchor)"])
    print(f"\nrequests of one panel refresh, {args.repeats} runs each; {listed} jobs listed of {args.jobs}")
    print(f"  {'request':30}{'median':>10}{'p90':>10}{'÷ anchor':>10}{'bytes':>10}")
    for name, values in times.items():
        ordered = sorted(values)
        median = statistics.median(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        print(
            f"  {name:30}{median * 1000:>8.1f}ms{p90 * 1000:>8.1f}ms{median / anchor:>9.1f}×{sizes[name]:>10}"
        )
    short = sum(statistics.median(times[n]) for n in ("GET stack", "GET experiments", "GET jobs (limit 50)"))
    full = sum(
        statistics.median(times[n]) for n in ("GET stack", "GET experiments", f"GET jobs (limit {args.jobs})")
    )
    print(f"\none refresh (stack + experiments + jobs): {short * 1000:.0f} ms with the default page of 50, ")
    print(
        f"{full * 1000:.0f} ms with all {args.jobs} jobs; the panel refreshes every 2 s while it is visible"
    )


if __name__ == "__main__":
    main()
