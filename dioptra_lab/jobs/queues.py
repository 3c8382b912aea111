"""What the queues hold and which workers serve them (RQ's registries, read only)."""

from __future__ import annotations

from dioptra_lab.jobs.connection import redis_connection, serializer
from dioptra_lab.models import QueueInfo, WorkerInfo


def queue_report() -> tuple[list[QueueInfo], list[WorkerInfo]]:
    """Job counts per queue and the registered workers.

    Raises:
        ServiceError: Redis is not configured or does not answer.
    """
    from rq import Queue, Worker

    conn = redis_connection()
    queues = [
        QueueInfo(
            name=q.name,
            queued=q.count,
            running=q.started_job_registry.count,
            failed=q.failed_job_registry.count,
            finished=q.finished_job_registry.count,
        )
        for q in Queue.all(connection=conn, serializer=serializer())
    ]
    workers = [
        WorkerInfo(
            name=w.name,
            state=str(w.get_state()),
            queues=list(w.queue_names()),
            current_job=w.get_current_job_id() or None,
            gpu=_gpu_of(w.name),
        )
        for w in Worker.all(connection=conn, serializer=serializer())
    ]
    return queues, workers


def _gpu_of(worker_name: str) -> str | None:
    # `dioptra-lab worker --gpu N` names itself …-gpuN (see worker.process.run_worker)
    head, sep, gpu = worker_name.rpartition("-gpu")
    return gpu if sep and head and gpu.isdigit() else None
