"""A client on another host, run by tests/integration/test_hosts.py in a process of its own
with only the stack's URLs and passwords in its environment.

``python -m tests.hosts.client sweep QUEUE EXPERIMENT N`` submits N short jobs and waits;
``… pair QUEUE EXPERIMENT SECONDS`` submits two jobs of SECONDS (retries=1) and prints their
ids at once; ``… wait ID…`` waits for jobs and ``… where ID…`` does not; ``… submit QUEUE
EXPERIMENT`` submits one job; ``… workers QUEUE`` counts its live workers, ``… queued QUEUE``
its jobs, ``… runs EXPERIMENT`` the experiment's MLflow runs by status. Each prints one JSON
line.
"""

from __future__ import annotations

import json
import sys

from dioptra_lab.jobs import Job, submit, submit_sweep
from tests.conftest import ENTRYPOINTS

WAIT = 300


def report(jobs: list[Job]) -> list[dict[str, object]]:
    rows = []
    for job in jobs:
        info = job.info()
        rows.append(
            {"id": job.id, "status": str(info.status), "worker": info.worker, "attempt": info.attempt}
        )
    return rows


def main(argv: list[str]) -> int:
    command = argv[0]
    if command == "sweep":
        queue, experiment, count = argv[1], argv[2], int(argv[3])
        sweep = submit_sweep(
            ENTRYPOINTS / "slow.yaml",
            {"seconds": [0.2 + i / 1000 for i in range(count)]},
            experiment=experiment,
            queue=queue,
        )
        for job in sweep.jobs:
            job.wait(WAIT)
        print(json.dumps(report(list(sweep.jobs))))
    elif command == "pair":
        queue, experiment, seconds = argv[1], argv[2], float(argv[3])
        jobs = [
            submit(
                ENTRYPOINTS / "slow.yaml", {"seconds": seconds}, experiment=experiment, queue=queue, retries=1
            )
            for _ in range(2)
        ]
        print(json.dumps([job.id for job in jobs]))
    elif command == "wait":
        jobs = [Job(job_id) for job_id in argv[1:]]
        for job in jobs:
            job.wait(WAIT)
        print(json.dumps(report(jobs)))
    elif command == "where":
        print(json.dumps(report([Job(job_id) for job_id in argv[1:]])))
    elif command == "workers":
        from dioptra_lab.jobs.queues import queue_report

        live = [w for w in queue_report()[1] if argv[1] in w.queues and w.state != "dead"]
        print(json.dumps(len(live)))
    elif command == "queued":
        from dioptra_lab.jobs.queues import queue_report

        counts = {q.name: q.queued + q.running + q.failed + q.finished for q in queue_report()[0]}
        print(json.dumps(counts.get(argv[1], 0)))
    elif command == "runs":
        from collections import Counter

        from mlflow import MlflowClient

        mlflow = MlflowClient()
        found = mlflow.get_experiment_by_name(argv[1])
        runs = mlflow.search_runs([found.experiment_id], max_results=1000) if found else []
        print(json.dumps(dict(Counter(run.info.status for run in runs))))
    elif command == "submit":
        job = submit(ENTRYPOINTS / "slow.yaml", {"seconds": 0.1}, experiment=argv[2], queue=argv[1])
        print(json.dumps([job.id]))
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
