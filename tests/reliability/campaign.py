"""Fault-injection campaign against a real stack of its own: N faults, drawn with a fixed seed.

    python -m tests.reliability.campaign --faults 100 --seed 1 [--report campaign.json]
    python -m tests.reliability.campaign --seed 1 --faults 100 --replay 17,42   # two faults again

It starts an isolated stack (a temporary ``DIOPTRA_LAB_HOME``, free ports, Redis, MLflow,
Prefect and 2 ``dioptra-lab worker`` processes through the product's :class:`Stack` API, a heartbeat
timeout of 10 s), generates a plugin (tasks that sleep and note each step in a ledger file) and its
entry points, then injects the faults one after the other. Each fault is played as a *scenario*: a
target job (plus 0-3 background jobs, so that services restarts meet queued and running jobs) is
submitted, the fault is injected at the drawn point of the target's life (``point`` 0: as soon as
RQ says started; ``k``: during step ``k`` of its steps; plus a drawn delay), the operator's repair
follows (SIGCONT, a service started again by ``Stack.ensure_*``, killed workers restarted by
``Stack.ensure_workers``), and the scenario *settles*: every job must reach a final state in RQ and
in MLflow within ``--settle`` seconds. Then every invariant is checked on every job of it.

The seed decides everything the campaign chooses: the order of the kinds (shuffled decks, so every
kind comes once before any comes twice), the points, delays, outages, variants and background
jobs; ``--replay`` plays chosen faults of that plan again with the same draws.

Fault kinds, what is done, how the jobs are submitted, and their expected final state:

=================  ==============================================================  =======  ==========
kind               injection (and the operator's repair)                            retries  expected
=================  ==============================================================  =======  ==========
worker_kill        SIGKILL of the worker running the target; the worker is           1       FINISHED
                   restarted after ``outage`` s (``Stack.ensure_workers``)
horse_kill         SIGKILL of the target's work horse                                1       FINISHED
kernel_kill        SIGKILL of the target's kernel                                    1       FINISHED
sigstop            SIGSTOP for heartbeat timeout + ``outage`` s, then SIGCONT, of    1       FINISHED
                   the worker (variant ``worker``: its process group, i.e. main
                   process and reconciler) or of its whole tree (``host``: also
                   horse, zygote and kernels, a frozen machine)
redis_restart      SIGKILL of redis-server with queued and running jobs; started     0       FINISHED
                   again after ``outage`` s on its port (its AOF); every queued
                   job must still be there
mlflow_restart     SIGKILL of the MLflow server's process group; started again       0       FINISHED
                   after ``outage`` s
prefect_restart    SIGKILL of the Prefect server's process group; started again      0       FINISHED
                   after ``outage`` s
timeout            the target runs 6 s with ``timeout`` 2 or 3 s                     0       FAILED, reason
                                                                                               ``timeout``
cancel_queued      ``Job.cancel()`` of the target while both workers are busy        0       KILLED
cancel_running     ``Job.cancel()`` of the running target at the drawn point         0       KILLED
oom                the target's task limits its address space and allocates until    0       FAILED
                   MemoryError; variant ``kill``: the kernel then SIGKILLs itself
                   as the OOM killer would; ``raise``: the MemoryError propagates
plugin_edit        the plugin's code version is edited after the target is           0       FINISHED, each
                   submitted (workers busy: it is queued) and a second job                     with its own
                   submitted after the edit                                                     version
=================  ==============================================================  =======  ==========

Background jobs are submitted with the scenario's retries and must end FINISHED. Service
restarts affect every job live at the fault; the other kinds affect their target(s).

Invariants checked on every job once its scenario settled (the column a failure counts in):

- RQ and MLflow both give a final state, and the two agree (else **stuck**: a run that stays
  ``SCHEDULED``/``RUNNING``, an RQ job that stays queued or started, or two different ends);
- it ended as expected (else **lost**: e.g. FAILED ``abandoned`` where a retry should have
  finished it, RQ no longer has the job, Redis lost a queued job across its restart, or a job ran
  other code than it was submitted with);
- it never ran twice at once (else **duplicated**): in the ledger, no kernel of the job writes a
  line after a later kernel of the same job began (lines written within 2 s of a frozen process'
  SIGCONT are excused: that is when the product can notice), and RQ has at most one successful
  result of it;
- others (column **other**): a FINISHED run carries no failure tags of an earlier attempt, the
  attempt tag counts every execution, a ``Job.wait()`` that returned during the fault returned
  the job's final state, the run's parameters are the submitted ones, its workspace is gone, no
  kernel or work horse is left without a live job, no process of the stack is left whose owner
  is gone (``/proc``: its home in the environment, and no recorded service or worker above it),
  every process of a killed worker is gone, and no worker died that the campaign did not kill.

The campaign prints one line per fault, then the table
``fault kind | injected | jobs affected | recovered | lost | stuck | duplicated | other`` and the
line ``faults: N injected, L lost, S stuck, D duplicated``; it writes a JSON report (``--report``)
with the plan, every job's two sides and, for each failure, the evidence (the states seen while it
settled, the job's record in Redis, its log's notes and the workers' log lines about it), keeps
the stack's home (logs, Redis, MLflow) when anything failed, and exits 1 if any job was lost,
stuck or duplicated or any other invariant failed.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.reliability.faults import (
    MLFLOW_FINAL,
    RQ_FINAL,
    STEPS,
    IsolatedStack,
    Proc,
    concurrent_runs,
    dump_json,
    executions,
    family,
    job_log,
    kernel_of,
    leftover_workspaces,
    processes,
    rq_results,
    rq_side,
    signal_procs,
    strays,
    wait_gone,
    wait_until,
    worker_parts,
)

EXPERIMENT = "reliability-campaign"
RESUME_TOLERANCE = 2.0
"""Seconds after a frozen process' SIGCONT during which its kernel's ledger lines are excused."""
FAILURE_TAGS = ("failure_reason", "failed_step", "exception", "exception_message", "failed_cell")


@dataclass(frozen=True)
class Spec:
    """How a fault kind is played (see the module's table)."""

    retries: int
    expected: str
    running_target: bool = True
    queued_target: bool = False
    everyone: bool = False
    entry: str = "steps"


SPECS: dict[str, Spec] = {
    "worker_kill": Spec(1, "FINISHED"),
    "horse_kill": Spec(1, "FINISHED"),
    "kernel_kill": Spec(1, "FINISHED"),
    "sigstop": Spec(1, "FINISHED"),
    "redis_restart": Spec(0, "FINISHED", everyone=True),
    "mlflow_restart": Spec(0, "FINISHED", everyone=True),
    "prefect_restart": Spec(0, "FINISHED", everyone=True),
    "timeout": Spec(0, "FAILED", running_target=False),
    "cancel_queued": Spec(0, "KILLED", running_target=False, queued_target=True),
    "cancel_running": Spec(0, "KILLED"),
    "oom": Spec(0, "FAILED", running_target=False, entry="hog"),
    "plugin_edit": Spec(0, "FINISHED", running_target=False, queued_target=True),
}
KINDS = tuple(SPECS)
SAMPLE_KINDS = (
    "worker_kill",
    "horse_kill",
    "kernel_kill",
    "sigstop",
    "redis_restart",
    "mlflow_restart",
    "prefect_restart",
    "timeout",
    "cancel_running",
    "plugin_edit",
)
"""The kinds of ``make test``'s sample, one fault each (the issue's list; ``oom`` and
``cancel_queued`` only in the full campaign, to keep the sample within its time budget)."""


# -- the plan -------------------------------------------------------------------------------------
@dataclass
class Fault:
    """One fault of the plan: everything the seed decides about it."""

    index: int
    kind: str
    point: int
    delay: float
    background: int
    outage: float
    variant: str = ""

    def describe(self) -> str:
        parts = [f"#{self.index} {self.kind}"]
        if SPECS[self.kind].running_target:
            parts.append(f"point={self.point}+{self.delay:.2f}s")
        if self.kind in ("worker_kill", "sigstop", "redis_restart", "mlflow_restart", "prefect_restart"):
            parts.append(f"outage={self.outage:.1f}s")
        if self.variant:
            parts.append(f"variant={self.variant}")
        parts.append(f"background={self.background}")
        return " ".join(parts)


def draw_plan(
    seed: int,
    count: int,
    kinds: tuple[str, ...] = KINDS,
    steps: int = STEPS,
    outage_scale: float = 1.0,
    max_background: int = 3,
) -> list[Fault]:
    """The faults of a campaign: kinds dealt from shuffled decks, each with its draws
    (outages scaled by ``outage_scale``)."""
    rng = random.Random(seed)
    order: list[str] = []
    while len(order) < count:
        deck = list(kinds)
        rng.shuffle(deck)
        order.extend(deck)
    plan = []
    for index, kind in enumerate(order[:count], 1):
        spec = SPECS[kind]
        point = rng.randint(0, steps)
        delay = round(rng.uniform(0.0, 0.4), 3)
        background = rng.randint(2, 3) if (spec.everyone or spec.queued_target) else rng.randint(0, 2)
        outage = {
            "worker_kill": rng.uniform(0.0, 5.0),
            "sigstop": rng.uniform(1.0, 5.0),
            "redis_restart": rng.uniform(0.0, 5.0),
            "mlflow_restart": rng.uniform(0.0, 8.0),
            "prefect_restart": rng.uniform(0.0, 8.0),
        }.get(kind, 0.0)
        variant = {
            "sigstop": rng.choice(["worker", "host"]),
            "oom": rng.choice(["kill", "raise"]),
            "timeout": str(rng.choice([2, 3])),
        }.get(kind, "")
        background = min(background, max(max_background, 2 if spec.everyone or spec.queued_target else 0))
        plan.append(Fault(index, kind, point, delay, background, round(outage * outage_scale, 2), variant))
    return plan


# -- jobs -------------------------------------------------------------------------------------------
@dataclass
class Tracked:
    """A job the campaign submitted, and what it saw of it."""

    id: str
    label: str
    role: str
    expected: str
    retries: int
    version: int | None = None
    reason: str | None = None
    submitted: float = 0.0
    waited: list[str] = field(default_factory=list)
    affected: bool = False
    outcome: str = ""
    problems: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    sides: dict[str, Any] = field(default_factory=dict)
    timeline: list[str] = field(default_factory=list)

    def saw(self, rq: str | None, ml: str | None) -> None:
        """Note the two sides when they changed (seconds since submission)."""
        now = f"RQ {rq}, MLflow {ml}"
        if not self.timeline or not self.timeline[-1].endswith(now):
            self.timeline.append(f"{time.time() - self.submitted:6.1f}s {now}")


@dataclass
class Result:
    """What became of one fault."""

    fault: Fault
    injected: bool = False
    detail: str = ""
    seconds: float = 0.0
    jobs: list[Tracked] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    excused: list[tuple[float, float]] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for job in self.jobs if job.affected and job.outcome == outcome)

    @property
    def affected(self) -> int:
        return sum(1 for job in self.jobs if job.affected)

    @property
    def other(self) -> int:
        return len(self.violations) + sum(len(job.others) for job in self.jobs)


class Campaign:
    """Plays faults on an :class:`IsolatedStack` and checks the invariants after each."""

    def __init__(self, stack: IsolatedStack, seconds: float = 0.5, settle: float = 60.0) -> None:
        from dioptra_lab.jobs.connection import redis_connection

        self.stack = stack
        self.seconds = seconds
        self.settle_limit = settle
        self.conn = redis_connection(check=False)
        self.killed: set[int] = set()
        self.unexpected_deaths = 0
        self.all_jobs: list[Tracked] = []
        self._known_workers = dict(stack.worker_pids())

    # -- submission ----------------------------------------------------------------------------
    def submit(self, result: Result, role: str, retries: int, expected: str, **extra: Any) -> Tracked:
        from dioptra_lab.jobs import submit

        bench = self.stack.bench
        label = f"f{result.fault.index}-{role}-{uuid.uuid4().hex[:6]}"
        timeout = extra.pop("timeout", None)
        if extra.pop("entry", "steps") == "hog":
            path = bench.hog
            params: dict[str, Any] = {"label": label, "ledger": str(bench.ledger), **extra}
        else:
            path = bench.steps
            params = {"label": label, "ledger": str(bench.ledger), "seconds": self.seconds, **extra}
        version = bench.version
        submitted = time.time()
        job = submit(
            path, params, experiment=EXPERIMENT, queue=self.stack.queue, retries=retries, timeout=timeout
        )
        tracked = Tracked(job.id, label, role, expected, retries, version, submitted=submitted)
        tracked.sides["parameters"] = {k: str(v) for k, v in params.items()}
        result.jobs.append(tracked)
        self.all_jobs.append(tracked)
        threading.Thread(target=self._wait, args=(tracked,), daemon=True).start()
        return tracked

    def _wait(self, job: Tracked) -> None:
        """A user's ``Job.wait()``: what it returns is recorded (it must be the final state)."""
        from dioptra_lab.jobs import Job

        deadline = time.monotonic() + self.settle_limit + 120
        while time.monotonic() < deadline:
            try:
                job.waited.append(Job(job.id).wait(timeout=max(1.0, deadline - time.monotonic())).value)
                return
            except Exception as exc:  # a service down: a user waits again
                note = f"error: {type(exc).__name__}"
                if not job.waited or job.waited[-1] != note:
                    job.waited.append(note)
                time.sleep(1.0)

    # -- the target's life ---------------------------------------------------------------------
    def rq_status(self, job: Tracked) -> str | None:
        try:
            return rq_side(self.conn, job.id).get("status")
        except Exception:
            return None

    def wait_running(self, job: Tracked, timeout: float = 90.0) -> bool:
        return bool(wait_until(lambda: self.rq_status(job) == "started", timeout, 0.05))

    def wait_point(self, job: Tracked, fault: Fault, timeout: float = 90.0) -> str | None:
        """Wait for the drawn point of ``job``'s life (then the drawn delay); ``None`` when
        the job ended before it."""
        if fault.point == 0:
            if not self.wait_running(job, timeout):
                return None
            where = "started"
        else:

            def reached() -> bool:
                runs = executions(self.stack.bench.ledger, job.label)
                return bool(runs) and any(
                    event == "begin" and index == fault.point for _, event, index, _ in runs[-1].lines
                )

            if not wait_until(reached, timeout, 0.05):
                return None
            where = f"step {fault.point}"
        time.sleep(fault.delay)
        return where if self.rq_status(job) == "started" else None

    def worker_of(self, job: Tracked) -> int | None:
        name = rq_side(self.conn, job.id).get("worker_name")
        return self.stack.rq_worker_pid(name) if name else None

    def running_parts(self, job: Tracked) -> tuple[int | None, Proc | None, Proc | None]:
        """The worker pid, work horse and kernel of a running job (found in ``/proc``)."""
        pid = self.worker_of(job)
        if pid is None:
            return None, None, None
        table = processes()
        horses = worker_parts(pid, table).horses
        return pid, (horses[0] if horses else None), kernel_of(job.id, table)

    # -- one fault ------------------------------------------------------------------------------
    def play(self, fault: Fault) -> Result:
        result = Result(fault)
        started = time.perf_counter()
        self.quiesce(result)
        spec = SPECS[fault.kind]
        before = {name: pid for name, pid in self.stack.worker_pids().items()}
        self._known_workers = {k: v for k, v in before.items() if v is not None}
        try:
            getattr(self, f"inject_{fault.kind}")(fault, spec, result)
        except Exception as exc:
            result.violations.append(f"the campaign could not inject: {type(exc).__name__}: {exc}")
        self.settle(result)
        self.check(result)
        result.seconds = time.perf_counter() - started
        return result

    def quiesce(self, result: Result, timeout: float = 120.0) -> None:
        """Before a fault: the workers run and are ready, and no job of ours is live."""
        result.restarted += self.stack.ensure_workers()
        if not self.stack.wait_ready(timeout):
            result.violations.append(f"a worker was not ready {timeout:.0f}s after its (re)start")
        live = [
            j for j in self.all_jobs if self.rq_status(j) in ("queued", "started", "scheduled", "deferred")
        ]
        if live:
            wait_until(lambda: not any(self.rq_status(j) in ("queued", "started") for j in live), 60, 0.5)

    def backgrounds(self, fault: Fault, spec: Spec, result: Result) -> list[Tracked]:
        return [
            self.submit(result, f"bg{i}", spec.retries, "FINISHED") for i in range(1, fault.background + 1)
        ]

    def target(self, fault: Fault, spec: Spec, result: Result, **extra: Any) -> Tracked:
        job = self.submit(result, "target", spec.retries, spec.expected, **extra)
        job.affected = True
        return job

    def occupied(self, fault: Fault, spec: Spec, result: Result) -> list[Tracked]:
        """Background jobs submitted first, until both workers run one (the target queues)."""
        jobs = self.backgrounds(fault, spec, result)
        wait_until(lambda: sum(self.rq_status(j) == "started" for j in jobs) >= min(2, len(jobs)), 60, 0.05)
        return jobs

    def running_scenario(self, fault: Fault, spec: Spec, result: Result) -> tuple[Tracked, str | None]:
        """The target first (it starts at once), then the background jobs; wait for the point."""
        job = self.target(fault, spec, result)
        self.backgrounds(fault, spec, result)
        return job, self.wait_point(job, fault)

    def missed(self, result: Result, why: str) -> None:
        result.injected = False
        result.detail = f"not injected: {why}"

    # -- the kinds ------------------------------------------------------------------------------
    def inject_worker_kill(self, fault: Fault, spec: Spec, result: Result) -> None:
        job, where = self.running_scenario(fault, spec, result)
        pid = self.worker_of(job) if where else None
        if pid is None:
            return self.missed(result, "the target was not running at its point")
        victims = family(pid)
        self.killed.add(pid)
        signal_procs(victims[:1], signal.SIGKILL)
        result.injected = True
        result.detail = f"SIGKILL worker {pid} at {where} ({len(victims) - 1} processes below it)"
        time.sleep(fault.outage)
        result.restarted = self.stack.ensure_workers()
        gone = wait_gone(victims, 15)
        result.violations += [
            f"process {p.pid} of killed worker {pid} still runs: {p.cmdline[:120]}" for p in gone
        ]

    def inject_horse_kill(self, fault: Fault, spec: Spec, result: Result) -> None:
        job, where = self.running_scenario(fault, spec, result)
        horse = self.running_parts(job)[1] if where else None
        if horse is None:
            return self.missed(result, "no work horse of the target at its point")
        signal_procs([horse], signal.SIGKILL)
        result.injected = True
        result.detail = f"SIGKILL work horse {horse.pid} at {where}"

    def inject_kernel_kill(self, fault: Fault, spec: Spec, result: Result) -> None:
        job, where = self.running_scenario(fault, spec, result)
        kernel = wait_until(lambda: kernel_of(job.id), 30, 0.05) if where else None
        if kernel is None or self.rq_status(job) != "started":
            return self.missed(result, "no kernel of the target at its point")
        signal_procs([kernel], signal.SIGKILL)
        result.injected = True
        result.detail = f"SIGKILL kernel {kernel.pid} at {where}"

    def inject_sigstop(self, fault: Fault, spec: Spec, result: Result) -> None:
        job, where = self.running_scenario(fault, spec, result)
        pid = self.worker_of(job) if where else None
        if pid is None:
            return self.missed(result, "the target was not running at its point")
        table = processes()
        if fault.variant == "host":
            frozen = family(pid, table)
        else:
            group = table[pid].pgid
            frozen = [p for p in table.values() if p.pgid == group and p.alive]
        stopped = signal_procs(frozen, signal.SIGSTOP)
        pause = self.stack.heartbeat + fault.outage
        result.injected = True
        result.detail = (
            f"SIGSTOP {fault.variant} of worker {pid} ({len(stopped)} processes) at {where} for {pause:.1f}s"
        )
        time.sleep(pause)
        resumed = time.time()  # before the signals: a resumed kernel may write at once
        signal_procs(stopped, signal.SIGCONT)
        result.excused.append((resumed, time.time() + RESUME_TOLERANCE))

    def _restart(self, fault: Fault, spec: Spec, result: Result, service: str) -> None:
        job, where = self.running_scenario(fault, spec, result)
        if where is None:
            return self.missed(result, "the target was not running at its point")
        queued = [
            (x.decode() if isinstance(x, bytes) else str(x)).split(":")[-1]
            for x in self.conn.lrange(f"rq:queue:{self.stack.queue}", 0, -1)
        ]
        live = {j.id: self.rq_status(j) for j in result.jobs}
        victims = self.stack.kill_service(service)
        if not victims:
            return self.missed(result, f"{service} was not running")
        for tracked in result.jobs:
            tracked.affected = live.get(tracked.id) in ("queued", "started")
        result.injected = True
        states = ", ".join(f"{j.role} {live.get(j.id)}" for j in result.jobs)
        result.detail = f"SIGKILL {service} ({len(victims)} processes) at {where} [{states}]"
        time.sleep(fault.outage)
        try:
            took = self.stack.restart_service(service)
            result.detail += f"; started again in {took:.1f}s"
        except Exception as exc:
            result.violations.append(f"{service} did not start again: {type(exc).__name__}: {exc}")
            return
        if service == "redis":
            from dioptra_lab.jobs.connection import redis_connection

            self.conn = redis_connection(check=False)
            for tracked in result.jobs:
                if tracked.id in queued and not rq_side(self.conn, tracked.id):
                    tracked.problems.append(
                        "lost: queued before Redis was killed, gone from RQ after its restart"
                    )
            result.detail += f"; {len(queued)} job(s) were queued"

    def inject_redis_restart(self, fault: Fault, spec: Spec, result: Result) -> None:
        self._restart(fault, spec, result, "redis")

    def inject_mlflow_restart(self, fault: Fault, spec: Spec, result: Result) -> None:
        self._restart(fault, spec, result, "mlflow")

    def inject_prefect_restart(self, fault: Fault, spec: Spec, result: Result) -> None:
        self._restart(fault, spec, result, "prefect")

    def inject_timeout(self, fault: Fault, spec: Spec, result: Result) -> None:
        limit = int(fault.variant or 2)
        job = self.target(fault, spec, result, timeout=limit, seconds=2.0)
        job.reason = "timeout"
        self.backgrounds(fault, spec, result)
        result.injected = True
        result.detail = f"timeout {limit}s on a 6s job"

    def inject_cancel_queued(self, fault: Fault, spec: Spec, result: Result) -> None:
        self.occupied(fault, spec, result)
        job = self.target(fault, spec, result)
        time.sleep(fault.delay)
        state = self.rq_status(job)
        from dioptra_lab.jobs import Job

        ended = Job(job.id).cancel()
        result.injected = True
        result.detail = f"cancel while RQ said {state}: {ended.value}"

    def inject_cancel_running(self, fault: Fault, spec: Spec, result: Result) -> None:
        job, where = self.running_scenario(fault, spec, result)
        if where is None:
            return self.missed(result, "the target was not running at its point")
        from dioptra_lab.jobs import Job

        ended = Job(job.id).cancel()
        result.injected = True
        result.detail = f"cancel at {where}: {ended.value}"

    def inject_oom(self, fault: Fault, spec: Spec, result: Result) -> None:
        self.target(fault, spec, result, entry="hog", mode=fault.variant, megabytes=256)
        self.backgrounds(fault, spec, result)
        result.injected = True
        result.detail = f"a task exhausts its memory ({fault.variant})"

    def inject_plugin_edit(self, fault: Fault, spec: Spec, result: Result) -> None:
        self.occupied(fault, spec, result)
        job = self.target(fault, spec, result)
        time.sleep(fault.delay)
        state = self.rq_status(job)
        bench = self.stack.bench
        bench.write_plugin(bench.version + 1)
        after = self.submit(result, "after-edit", spec.retries, "FINISHED")
        after.affected = True
        result.injected = True
        result.detail = f"plugin edited v{job.version}→v{bench.version} while the target was {state}"

    # -- settling and checking ------------------------------------------------------------------
    def both_sides(self, job: Tracked) -> tuple[str | None, str | None]:
        from dioptra_lab.tracking.client import client

        rq = self.rq_status(job)
        try:
            ml = str(client().get_run(job.id).info.status)
        except Exception:
            ml = None
        return rq, ml

    def settled(self, job: Tracked) -> bool:
        rq, ml = self.both_sides(job)
        job.saw(rq, ml)
        return rq in RQ_FINAL and ml in MLFLOW_FINAL and RQ_FINAL[rq] == ml

    def settle(self, result: Result) -> None:
        """Wait until every job of the fault is final on both sides (``--settle`` at most);
        a worker that died though nobody killed it is noted, then restarted."""
        deadline = time.monotonic() + self.settle_limit
        dead_since: dict[str, float] = {}
        while time.monotonic() < deadline:
            if all(self.settled(job) for job in result.jobs):
                break
            for name, pid in self.stack.worker_pids().items():
                if pid is None:
                    dead_since.setdefault(name, time.monotonic())
                    if time.monotonic() - dead_since[name] > self.stack.heartbeat:
                        self.note_deaths(result)
                        result.restarted += self.stack.ensure_workers()
                        dead_since.clear()
            time.sleep(0.5)
        for job in result.jobs:  # a final wait() returns a moment after the states settle
            wait_until(lambda job=job: job.waited and not job.waited[-1].startswith("error"), 5, 0.2)

    def note_deaths(self, result: Result) -> None:
        """Count the workers that died though the campaign did not kill them."""
        from dioptra_lab.processes import pid_alive

        for name, pid in self._known_workers.items():
            if pid not in self.killed and not pid_alive(pid):
                self.unexpected_deaths += 1
                self.killed.add(pid)
                result.violations.append(f"{name} (pid {pid}) died; the campaign did not kill it")

    def check(self, result: Result) -> None:
        from dioptra_lab.tracking.client import client

        mlflow = client()
        self.note_deaths(result)
        result.restarted += self.stack.ensure_workers()
        for job in result.jobs:
            self.judge(job, mlflow, result.excused)
        self.check_processes(result)

    def judge(self, job: Tracked, mlflow: Any, excused: list[tuple[float, float]]) -> None:
        rq = rq_side(self.conn, job.id)
        rq_status = rq.get("status")
        try:
            run = mlflow.get_run(job.id)
            ml, tags, params = str(run.info.status), dict(run.data.tags), dict(run.data.params)
            metrics = {
                name: [m.value for m in mlflow.get_metric_history(job.id, name)]
                for name in ("campaign_done", "code_version")
            }
        except Exception as exc:
            ml, tags, params, metrics = f"unreadable ({type(exc).__name__})", {}, {}, {}
        runs = executions(self.stack.bench.ledger, job.label)
        results = rq_results(self.conn, job.id)
        short = {k.removeprefix("dioptra_lab."): v for k, v in tags.items() if k.startswith("dioptra_lab.")}
        job.sides.update(
            rq=rq_status,
            mlflow=ml,
            attempt=short.get("attempt"),
            failure_reason=short.get("failure_reason"),
            last_failure=short.get("last_failure"),
            rq_results=results,
            executions=[{"kernel": r.pid, "lines": len(r.lines), "done": r.done} for r in runs],
            metrics=metrics,
            waited=job.waited,
        )
        problems = job.problems
        if not rq:
            problems.append("lost: RQ has no such job")
        elif rq_status not in RQ_FINAL or ml not in MLFLOW_FINAL:
            job.outcome = "stuck"
            problems.append(f"stuck: RQ {rq_status}, MLflow {ml} after the settle time")
        elif RQ_FINAL[rq_status] != ml:
            job.outcome = "stuck"
            problems.append(f"stuck: RQ {rq_status} but MLflow {ml}")
        elif ml != job.expected:
            problems.append(
                f"lost: ended {ml}, expected {job.expected} (reason: {short.get('failure_reason')})"
            )
        if ml == job.expected == "FINISHED" and job.version is not None:
            versions = metrics.get("code_version") or []
            if versions and versions[-1] != job.version:
                problems.append(f"lost: ran code version {versions[-1]:g}, submitted with {job.version}")
        duplicated = concurrent_runs(runs, excused)
        if results.count("SUCCESSFUL") > 1:
            duplicated.append(f"RQ has {results.count('SUCCESSFUL')} successful results: {results}")
        if not job.outcome:
            if any(p.startswith("lost") for p in problems):
                job.outcome = "lost"
            elif duplicated:
                job.outcome = "duplicated"
            else:
                job.outcome = "recovered"
        problems += [f"duplicated: {d}" for d in duplicated]
        others = job.others
        if job.reason and short.get("failure_reason") != job.reason and ml == job.expected:
            others.append(f"failure_reason {short.get('failure_reason')!r}, expected {job.reason!r}")
        if ml == "FINISHED":
            left = [f"{k}={short[k]!r}" for k in FAILURE_TAGS if short.get(k)]
            if left:
                others.append(f"FINISHED run keeps failure tags of an earlier attempt: {', '.join(left)}")
        attempt = short.get("attempt", "0")
        if attempt.isdigit() and len(runs) > int(attempt):
            others.append(f"attempt tag {attempt} but {len(runs)} executions in the ledger")
        if job.waited and job.waited[-1] in ("finished", "failed", "cancelled"):
            final = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "cancelled"}.get(str(ml))
            if final and job.waited[-1] != final:
                others.append(f"Job.wait() returned {job.waited[-1]} but the job ended {final}")
        if params.get("label") not in (None, job.label):
            others.append(f"parameter label {params.get('label')!r} is not the submitted {job.label!r}")
        if job.outcome != "recovered" or job.others:
            job.sides["evidence"] = self.evidence(job)
        if job.outcome != "stuck":
            left_ws = wait_until(lambda: not leftover_workspaces(job.id), 5, 0.5)
            if left_ws is None:
                others.append(f"workspace left behind: {[str(p) for p in leftover_workspaces(job.id)]}")

    def evidence(self, job: Tracked) -> list[str]:
        """The two sides as the campaign saw them change, the job's record in Redis, and what
        the job's log and the workers' logs say of it (the notes, not the HTTP lines)."""
        record = {
            k.decode(): v.decode(errors="replace")[:300]
            for k, v in self.conn.hgetall(f"dioptra_lab:job:{job.id}").items()
        }
        found = [f"seen: {line}" for line in job.timeline]
        found.append(f"record: {record}")
        found += [
            f"job log: {line.strip()}"
            for line in job_log(self.conn, job.id).splitlines()
            if line.startswith("[dioptra-lab]")
        ]
        for path in sorted((self.stack.home / "logs").glob("worker-*.log")):
            found += [
                f"{path.name}: {line.strip()[:300]}"
                for line in path.read_text(errors="replace").splitlines()
                if job.id in line and "HTTP/1.1" not in line
            ]
        return found

    def check_processes(self, result: Result) -> None:
        """No kernel or work horse without a live job; nothing of the stack whose owner is gone."""
        live = {j.id for j in self.all_jobs if self.rq_status(j) == "started"}

        def leftovers() -> list[str]:
            found = []
            table = processes()
            for name, pid in self.stack.worker_pids().items():
                if pid is None:
                    continue
                parts = worker_parts(pid, table)
                if not live:
                    found += [f"{name}'s work horse {h.pid} with no live job" for h in parts.horses]
                for kernel in parts.kernels:
                    folder = Path(f"/proc/{kernel.pid}/cwd")
                    try:
                        where = str(folder.readlink())
                    except OSError:
                        continue
                    if "dioptra-lab-job-" in where and not any(j[:8] in where for j in live):
                        found.append(f"{name}'s kernel {kernel.pid} still in {where}")
            found += [
                f"stray process {p.pid} (parent {p.ppid}): {p.cmdline[:120]}"
                for p in strays(self.stack.home, self.stack.roots(), table)
            ]
            return found

        waited = wait_until(lambda: not leftovers(), 8, 0.5)
        if waited is None:
            result.violations += leftovers()


# -- report -----------------------------------------------------------------------------------------
COLUMNS = ("fault kind", "injected", "jobs affected", "recovered", "lost", "stuck", "duplicated", "other")


def table(results: list[Result]) -> tuple[list[list[Any]], dict[str, int]]:
    rows = []
    totals = dict.fromkeys(COLUMNS[1:], 0)
    kinds = sorted({r.fault.kind for r in results}, key=KINDS.index)
    for kind in kinds:
        mine = [r for r in results if r.fault.kind == kind]
        row = {
            "injected": sum(r.injected for r in mine),
            "jobs affected": sum(r.affected for r in mine),
            "recovered": sum(r.count("recovered") for r in mine),
            "lost": sum(r.count("lost") for r in mine),
            "stuck": sum(r.count("stuck") for r in mine),
            "duplicated": sum(r.count("duplicated") for r in mine),
            "other": sum(r.other for r in mine)
            + sum(1 for r in mine for j in r.jobs if not j.affected and j.outcome != "recovered"),
        }
        for key, value in row.items():
            totals[key] += value
        rows.append([kind, *row.values()])
    return rows, totals


def print_table(rows: list[list[Any]], totals: dict[str, int]) -> None:
    widths = [
        max(len(str(x)) for x in col) for col in zip(COLUMNS, *rows, ["total", *totals.values()], strict=True)
    ]
    line = " | ".join(f"{c:<{w}}" for c, w in zip(COLUMNS, widths, strict=True))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for row in [*rows, ["total", *totals.values()]]:
        print(" | ".join(f"{str(c):<{w}}" for c, w in zip(row, widths, strict=True)))


def report_line(result: Result) -> str:
    counts = ", ".join(
        f"{k} {result.count(k)}" for k in ("recovered", "lost", "stuck", "duplicated") if result.count(k)
    )
    done = f"affected {result.affected} ({counts or 'none'}), {result.seconds:.1f}s"
    return f"{result.fault.describe()}: {result.detail or '-'} → {done}"


def problems_of(result: Result) -> list[str]:
    """Every failed invariant of a fault, one line each, with the job it is about."""
    found = list(result.violations)
    for job in result.jobs:
        found += [f"{job.role} {job.id} ({job.label}): {text}" for text in job.problems + job.others]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", type=int, default=100, help="how many faults (default 100)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated fault kinds to draw from")
    parser.add_argument("--replay", default="", help="play only these fault numbers of the plan (1,5,9)")
    parser.add_argument("--report", type=Path, default=Path("campaign-report.json"), help="JSON report path")
    parser.add_argument("--heartbeat", type=float, default=10.0, help="DIOPTRA_LAB_HEARTBEAT_TIMEOUT (s)")
    parser.add_argument("--seconds", type=float, default=0.5, help="seconds each of a job's steps sleeps")
    parser.add_argument(
        "--outage-scale", type=float, default=1.0, help="scale the drawn outages (the sample: shorter)"
    )
    parser.add_argument(
        "--max-background",
        type=int,
        default=3,
        help="at most this many background jobs (at least 2 where needed)",
    )
    parser.add_argument("--settle", type=float, default=60.0, help="seconds a fault's jobs have to end")
    parser.add_argument("--warm-kernels", type=int, default=1, help="DIOPTRA_LAB_WARM_KERNELS of the workers")
    parser.add_argument("--keep", action="store_true", help="keep the stack's home even when all passed")
    parser.add_argument("--plan", action="store_true", help="print the plan and exit")
    parser.add_argument(
        "--then-load", type=int, default=0, metavar="JOBS", help="then a load of JOBS jobs on the same stack"
    )
    parser.add_argument("--submitters", type=int, default=4, help="submitting processes of --then-load")
    args = parser.parse_args(argv)

    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in SPECS]
    if unknown:
        parser.error(f"unknown fault kinds {unknown}; known: {', '.join(KINDS)}")
    plan = draw_plan(
        args.seed, args.faults, kinds, outage_scale=args.outage_scale, max_background=args.max_background
    )
    if args.replay:
        wanted = {int(x) for x in args.replay.split(",") if x.strip()}
        plan = [f for f in plan if f.index in wanted]
    if args.plan:
        for fault in plan:
            print(fault.describe())
        return 0

    started = time.perf_counter()
    stack = IsolatedStack(heartbeat=args.heartbeat, warm_kernels=args.warm_kernels)
    results: list[Result] = []
    failed = True
    try:
        stack.start()
        campaign = Campaign(stack, seconds=args.seconds, settle=args.settle)
        print(f"campaign: {len(plan)} faults, seed {args.seed}")
        for fault in plan:
            result = campaign.play(fault)
            results.append(result)
            print(report_line(result), flush=True)
            for problem in problems_of(result):
                print(f"    ! {problem}", flush=True)
            for job in result.jobs:
                for line in job.sides.get("evidence", [])[:20]:
                    print(f"      {job.role}: {line}", flush=True)
        rows, totals = table(results)
        print()
        print_table(rows, totals)
        restarts = sum(stack.restarts.values())
        print(
            f"\nworkers restarted by the campaign: {restarts} "
            f"({campaign.unexpected_deaths} of them died without being killed)"
        )
        missed = sum(1 for r in results if not r.injected)
        print(
            f"faults: {totals['injected']} injected, {totals['lost']} lost, {totals['stuck']} stuck, "
            f"{totals['duplicated']} duplicated"
            + (f" ({missed} not injected)" if missed else "")
            + (f"; {totals['other']} other invariant failures" if totals["other"] else "")
        )
        failed = bool(totals["lost"] or totals["stuck"] or totals["duplicated"] or totals["other"])
        campaign_seconds = time.perf_counter() - started
        figures = None
        if args.then_load:
            from tests.reliability.load import print_load, run_load

            print(f"\nthen a load of {args.then_load} jobs on the same stack:")
            figures = run_load(stack, args.then_load, args.submitters, args.seed)
            print_load(figures)
            failed = failed or not figures["ok"]
        elapsed = time.perf_counter() - started
        print(f"seed {args.seed}, {elapsed:.0f}s; report: {args.report}")
        dump_json(
            args.report,
            {
                "campaign_seconds": campaign_seconds,
                "load": figures,
                "seed": args.seed,
                "faults": args.faults,
                "kinds": list(kinds),
                "seconds": elapsed,
                "home": str(stack.home),
                "heartbeat_timeout": args.heartbeat,
                "table": [dict(zip(COLUMNS, row, strict=True)) for row in rows],
                "totals": totals,
                "workers_restarted": stack.restarts,
                "unexpected_worker_deaths": campaign.unexpected_deaths,
                "results": [
                    {
                        **asdict(r.fault),
                        "injected": r.injected,
                        "detail": r.detail,
                        "seconds": round(r.seconds, 1),
                        "violations": r.violations,
                        "problems": problems_of(r),
                        "jobs": [asdict(j) for j in r.jobs],
                    }
                    for r in results
                ],
            },
        )
    finally:
        keep = args.keep or failed
        if keep:
            print(f"the stack's home is kept: {stack.home}")
        stack.stop(keep=keep)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
