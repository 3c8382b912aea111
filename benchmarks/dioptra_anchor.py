"""NIST Dioptra itself as the speed anchor: its task engine and its queued job on our hello graph.

Runs Dioptra (``dioptra-platform`` 1.2.2, in a virtual environment of its own under
``.bench/dioptra-venv``, created on first use in about 2–3 minutes, ~820 MB) on the 7-step graph
of ``tests/fixtures/entrypoints/hello_dioptra.yaml`` with the task bodies of
``tests/fixtures/plugins/hello_plugin/tasks.py`` (Dioptra's copies: ``benchmarks/dioptra_anchor/``).

(a) in-process: ``dioptra.task_engine.validation.validate`` once, then
``task_engine.run_experiment`` timed ``--repeat`` times after one warm-up (name=ann, greeting
default); the warm-up's seven outputs are checked against the plain functions'.
(b) queued: a stack of Dioptra's own in a temporary folder (REST API on Flask's dev server and
SQLite, redis-server, ``mlflow server``, ``dioptra-worker-v1``), the plugin, its tasks and the entry
point registered through the REST API, then one cold job and ``--queued-repeat`` jobs timed
submit→finished (polling the job's status every 50 ms). The one-time setup is reported apart.
Every process is stopped at the end, also on error or Ctrl-C. p99 is interpolated
(``statistics.quantiles``, inclusive): with 30 samples it lies close to the maximum.

    python benchmarks/dioptra_anchor.py [--repeat 30] [--queued-repeat 5] [--no-queued] [--json]

Any Python 3.11 runs it (it re-runs itself with Dioptra's venv); ``mlflow server`` comes from the
project's venv. Other benchmarks call ``from dioptra_anchor import anchor``: the project's Python
never imports ``dioptra``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(__file__).resolve().parent / "dioptra_anchor"
GRAPH = ASSETS / "hello_dioptra.yaml"
VENV = ROOT / ".bench" / "dioptra-venv"
VENV_PYTHON = VENV / "bin" / "python"
DIOPTRA_VERSION = "1.2.2"
QUEUE = "anchor"
POLL_S = 0.05
DONE = ("finished", "failed")
# the outputs of the seven steps for name=ann (see overhead.py's plain())
EXPECTED = {
    "hello": ["Hello, ann"],
    "greet": ["Goodbye, ann", "Price, $5", "Hey, HELLO, ANN!"],
    "shout": ["HELLO, ANN!", "ANN!"],
    "split": [("Goodbye,", "ann")],
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the venv (runs under any Python) ---------------------------------------------------------


def ensure_venv() -> Path:
    """Dioptra's venv, created once (``python -m venv`` + ``pip install dioptra-platform``)."""
    marker = VENV / ".dioptra-anchor-installed"
    if marker.exists():
        return VENV_PYTHON
    log(f"creating Dioptra's venv in {VENV} (about 2–3 minutes and ~820 MB, once)…")
    start = time.perf_counter()
    if not VENV_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        + [f"dioptra-platform=={DIOPTRA_VERSION}"],
        check=True,
    )
    marker.write_text(f"dioptra-platform=={DIOPTRA_VERSION}\n")
    log(f"Dioptra's venv ready in {time.perf_counter() - start:.0f} s")
    return VENV_PYTHON


def default_mlflow() -> str | None:
    """The ``mlflow`` with a server: the project's venv (Dioptra's venv has mlflow-skinny's CLI only)."""
    found = shutil.which("mlflow")
    for candidate in (ROOT / ".venv" / "bin" / "mlflow", Path(sys.executable).parent / "mlflow", found):
        if candidate and Path(candidate).exists() and VENV.resolve() not in Path(candidate).resolve().parents:
            return str(candidate)
    return None


def anchor(repeat: int = 30, queued: bool = True, queued_repeat: int = 5) -> dict[str, Any]:
    """Measure Dioptra in its own venv (created if needed) and return the JSON result."""
    python = ensure_venv()
    args = [str(python), str(Path(__file__).resolve()), "--json", "--repeat", str(repeat)]
    args += ["--queued-repeat", str(queued_repeat)]
    if not queued:
        args.append("--no-queued")
    if mlflow := default_mlflow():
        args += ["--mlflow", mlflow]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as proc:
        try:
            out, _ = proc.communicate()
        except KeyboardInterrupt:
            # a Ctrl-C reached the child as well, and it stops its services; otherwise, tell it
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)
                proc.wait(60)
            raise
    if proc.returncode:
        raise RuntimeError(f"dioptra_anchor.py in Dioptra's venv ended with {proc.returncode}")
    return json.loads(out)


# --- measuring (runs in Dioptra's venv only) --------------------------------------------------


def summary(samples: list[float]) -> dict[str, Any]:
    p99 = statistics.quantiles(samples, n=100, method="inclusive")[98] if len(samples) > 1 else samples[0]
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "p99_s": p99,
        "samples": samples,
    }


def load_graph() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(GRAPH.read_text())


def in_process(repeat: int) -> dict[str, Any]:
    import dioptra.pyplugs
    from dioptra.task_engine.task_engine import run_experiment
    from dioptra.task_engine.validation import validate

    desc = load_graph()
    start = time.perf_counter()
    issues = validate(desc)
    validate_s = time.perf_counter() - start
    if issues:
        raise SystemExit(f"Dioptra rejects {GRAPH.name}: {issues}")

    with tempfile.TemporaryDirectory(prefix="dioptra-anchor-") as tmp:
        dirs = {name: Path(tmp, name) for name in ("artifacts", "serialize", "deserialize")}
        for path in dirs.values():
            path.mkdir()

        def run() -> None:
            run_experiment(
                experiment_desc=desc,
                global_parameters={"name": "ann"},
                artifact_parameters={},
                artifact_tasks={},
                artifacts_dir=dirs["artifacts"],
                plugins_dir=ASSETS,
                serialize_dir=dirs["serialize"],
                deserialize_dir=dirs["deserialize"],
            )

        outputs: dict[str, list[Any]] = {}
        call = dioptra.pyplugs.call

        def recording(package: str, plugin: str, func: str, *args: Any, **kwargs: Any) -> Any:
            result = call(package, plugin, func, *args, **kwargs)
            outputs.setdefault(func, []).append(result)
            return result

        dioptra.pyplugs.call = recording  # the warm-up records the steps' outputs
        try:
            run()
        finally:
            dioptra.pyplugs.call = call
        if {k: sorted(v) for k, v in outputs.items()} != {k: sorted(v) for k, v in EXPECTED.items()}:
            raise SystemExit(f"Dioptra's outputs differ from the plain functions': {outputs}")

        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            run()
            samples.append(time.perf_counter() - start)
    return {**summary(samples), "validate_s": validate_s}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, ready: Callable[[], bool], proc: subprocess.Popen, logfile: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {tail(logfile)}")
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after 180 s: {tail(logfile)}")


def tail(logfile: Path, lines: int = 5) -> str:
    text = logfile.read_text(errors="replace") if logfile.exists() else ""
    return " | ".join(text.strip().splitlines()[-lines:])


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


class Services:
    """Processes in process groups of their own, stopped together."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
        logfile = self.folder / f"{name}.log"
        with logfile.open("w") as out:
            proc = subprocess.Popen(
                args,
                cwd=self.folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append((name, proc))
        return proc, logfile

    def stop(self) -> None:
        # one at a time, the last started first: the worker shuts down while redis still answers;
        # a second Ctrl-C or SIGTERM must not cut this short
        handlers = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._stop_all()
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            offspring = descendants(proc.pid)  # RQ's work horse calls setsid: not in the group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            # and whatever the leader left behind, in its group (uvicorn's workers) or not
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            for pid in offspring:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.procs.clear()


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (Linux /proc), deepest first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found[::-1]


@contextlib.contextmanager
def dioptra_stack(folder: Path, mlflow: str, steps: dict[str, float]) -> Iterator[dict[str, str]]:
    """Dioptra's REST API, redis, MLflow and a worker; yields the worker's environment."""
    redis = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(redis).exists():
        raise RuntimeError("redis-server not found (apt-get install -y redis-server)")
    bin_dir = str(VENV / "bin")
    ports = {name: free_port() for name in ("redis", "mlflow", "api")}
    password = secrets.token_urlsafe(12)
    base = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "TMPDIR": str(folder),
        "HOME": str(folder),
        "PYTHONUNBUFFERED": "1",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports['mlflow']}",
    }
    api_env = {
        **base,
        "FLASK_APP": "dioptra.restapi:create_app",
        "DIOPTRA_RESTAPI_ENV": "dev",
        "DIOPTRA_RESTAPI_DEV_DATABASE_URI": f"sqlite:///{folder / 'dioptra.db'}",
        "DIOPTRA_DEPLOY_SECRET_KEY": secrets.token_hex(16),
        "RQ_REDIS_URI": f"redis://127.0.0.1:{ports['redis']}/0",
    }
    worker_env = {
        **base,
        "DIOPTRA_API": f"http://127.0.0.1:{ports['api']}",
        "DIOPTRA_WORKER_USERNAME": "anchor",
        "DIOPTRA_WORKER_PASSWORD": password,
        # only checked for presence: the graph stores no artifacts
        "MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    services = Services(folder)
    try:
        t0 = time.perf_counter()
        (folder / "redis").mkdir()
        redis_proc, redis_log = services.start(
            "redis",
            [redis, "--port", str(ports["redis"]), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(folder / "redis")],
            base,
        )
        mlflow_proc, mlflow_log = services.start(
            "mlflow",
            [mlflow, "server", "--host", "127.0.0.1", "--port", str(ports["mlflow"]), "--workers", "1"]
            + ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
            + ["--default-artifact-root", str(folder / "mlruns")],
            {**base, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )
        # the schema (Dioptra's `dioptra-db upgrade` runs this and ignores its exit status)
        from dioptra.restapi.db.alembic.run import find_alembic_dir

        migrations = str(find_alembic_dir())
        done = subprocess.run(
            [f"{bin_dir}/flask", "db", "upgrade", "-d", migrations],
            cwd=folder,
            env=api_env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"flask db upgrade failed: {done.stderr.strip().splitlines()[-3:]}")
        steps["schema_s"] = time.perf_counter() - t0
        api_proc, api_log = services.start(
            "restapi",
            [f"{bin_dir}/flask", "run", "--host", "127.0.0.1", "--port", str(ports["api"])]
            + ["--no-reload", "--no-debugger"],
            api_env,
        )
        worker_proc, worker_log = services.start(
            "worker", [f"{bin_dir}/dioptra-worker-v1", "--url", api_env["RQ_REDIS_URI"], QUEUE], worker_env
        )

        def redis_ok() -> bool:
            with socket.create_connection(("127.0.0.1", ports["redis"]), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")

        wait_for("redis-server", redis_ok, redis_proc, redis_log)
        wait_for(
            "Dioptra's REST API", lambda: http_ok(f"{worker_env['DIOPTRA_API']}/health"), api_proc, api_log
        )
        wait_for(
            "mlflow server", lambda: http_ok(f"{base['MLFLOW_TRACKING_URI']}/health"), mlflow_proc, mlflow_log
        )
        wait_for(
            "dioptra-worker-v1", lambda: "Listening on" in worker_log.read_text(), worker_proc, worker_log
        )
        steps["services_s"] = time.perf_counter() - t0  # includes schema_s
        yield worker_env
    finally:
        services.stop()


def register(client: Any, password: str) -> tuple[int, int, int]:
    """User, types, queue, plugin with its tasks, entry point, experiment: through the REST API."""
    desc = load_graph()
    client.users.create(username="anchor", email="anchor@example.org", password=password)
    client.auth.login(username="anchor", password=password)
    group = client.groups.get()["data"][0]["id"]
    types = {t["name"]: t["id"] for t in client.plugin_parameter_types.get(page_length=100)["data"]}
    for name, structure in (desc.get("types") or {}).items():
        created = client.plugin_parameter_types.create(group_id=group, name=name, structure=structure)
        types[name] = created["id"]

    # the `tasks:` section of the YAML is the contract: turn it into the API's task declarations
    tasks: dict[str, list[dict[str, Any]]] = {}
    for task_name, task in desc["tasks"].items():
        module, func = task["plugin"].rsplit(".", 1)
        if func != task_name or module != "hello_plugin.tasks":
            raise RuntimeError(
                f"{task_name}: Dioptra's API names a task after its function (hello_plugin.tasks)"
            )
        inputs = []
        for spec in task.get("inputs", []):
            if "type" in spec:  # long form
                inputs.append((spec["name"], spec["type"], spec.get("required", True)))
            else:
                ((name, type_),) = spec.items()
                inputs.append((name, type_, True))
        declared = task.get("outputs", {})  # {name: type} or [{name: type}, …]
        outputs = (
            list(declared.items()) if isinstance(declared, dict) else [(*o.items(),)[0] for o in declared]
        )
        tasks.setdefault("tasks.py", []).append(
            {
                "name": func,
                "inputParams": [{"name": n, "parameterType": types[t], "required": r} for n, t, r in inputs],
                "outputParams": [{"name": n, "parameterType": types[t]} for n, t in outputs],
            }
        )
    queue = client.queues.create(group_id=group, name=QUEUE)["id"]
    plugin = client.plugins.create(group_id=group, name="hello_plugin")["id"]
    for filename, function_tasks in tasks.items():
        client.plugins.files.create(
            plugin_id=plugin,
            filename=filename,
            contents=(ASSETS / "hello_plugin" / filename).read_text(),
            function_tasks=function_tasks,
        )

    kinds = {"string": "string", "number": "float", "integer": "integer", "boolean": "boolean"}
    parameters = []
    for name, spec in desc["parameters"].items():
        spec = spec if isinstance(spec, dict) else {"default": spec}
        default = spec.get("default")
        kind = kinds.get(spec.get("type", ""), "string")
        parameters.append(
            {"name": name, "defaultValue": None if default is None else str(default), "parameterType": kind}
        )
    import yaml

    entrypoint = client.entrypoints.create(
        group_id=group,
        name="hello_dioptra",
        task_graph=yaml.safe_dump(desc["graph"], sort_keys=False),
        parameters=parameters,
        queues=[queue],
        plugins=[plugin],
    )["id"]
    experiment = client.experiments.create(group_id=group, name="anchor", entrypoints=[entrypoint])["id"]
    return experiment, entrypoint, queue


def queued_jobs(repeat: int, mlflow: str | None, keep: bool = False) -> dict[str, Any]:
    from dioptra.client import connect_json_dioptra_client

    if not mlflow:
        raise RuntimeError("no `mlflow` with a server found (pass --mlflow PATH)")
    folder = Path(tempfile.mkdtemp(prefix="dioptra-anchor-"))
    steps: dict[str, float] = {}
    start = time.perf_counter()
    try:
        log("starting Dioptra's stack: REST API (Flask dev server, SQLite), redis, MLflow, worker…")
        with dioptra_stack(folder, mlflow, steps) as env:
            t0 = time.perf_counter()
            client = connect_json_dioptra_client(env["DIOPTRA_API"])
            experiment, entrypoint, queue = register(client, env["DIOPTRA_WORKER_PASSWORD"])
            steps["register_s"] = time.perf_counter() - t0
            setup_s = time.perf_counter() - start
            log(f"Dioptra's stack up and registered in {setup_s:.1f} s; running jobs…")

            def one_job() -> float:
                t = time.perf_counter()
                job = client.experiments.jobs.create(
                    experiment_id=experiment, entrypoint_id=entrypoint, queue_id=queue, values={"name": "ann"}
                )
                while (status := client.jobs.get_by_id(job_id=job["id"])["status"]) not in DONE:
                    if time.perf_counter() - t > 300:
                        raise RuntimeError(f"job {job['id']} still {status} after 300 s")
                    time.sleep(POLL_S)
                elapsed = time.perf_counter() - t
                if status != "finished":
                    raise RuntimeError(f"job {job['id']} {status}: {tail(folder / 'worker.log', 8)}")
                return elapsed

            first = one_job()
            samples = [one_job() for _ in range(repeat)]
        return {**summary(samples), "first_job_s": first, "setup_s": setup_s, "setup_steps_s": steps}
    finally:
        if keep:
            log(f"kept {folder} (logs of every service)")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def measure(
    repeat: int, queued: bool, queued_repeat: int, mlflow: str | None, keep: bool = False
) -> dict[str, Any]:
    from importlib.metadata import version

    dioptra_version = version("dioptra-platform")
    log(f"Dioptra {dioptra_version}: in-process, {repeat} runs after a warm-up…")
    result: dict[str, Any] = {
        "dioptra_version": dioptra_version,
        "steps": len(load_graph()["graph"]),
        "in_process": in_process(repeat),
        "queued": None,
        "queued_error": None,
    }
    if queued:
        try:
            result["queued"] = queued_jobs(queued_repeat, mlflow, keep)
        except Exception as error:  # noqa: BLE001 - reported, not raised: the in-process figures stand
            log(traceback.format_exc())
            result["queued_error"] = f"{type(error).__name__}: {error}"
    return result


def report(result: dict[str, Any]) -> None:
    ms = 1000

    def line(label: str, figures: dict[str, Any]) -> None:
        print(
            f"  {label:28}median {figures['median_s'] * ms:8.1f} ms   min {figures['min_s'] * ms:8.1f} ms"
            f"   max {figures['max_s'] * ms:8.1f} ms   p99 {figures['p99_s'] * ms:8.1f} ms"
            f"   ({len(figures['samples'])} runs)"
        )

    print(f"NIST Dioptra {result['dioptra_version']}, {result['steps']}-step hello graph (name=ann)")
    print(f"  validate (once)             {result['in_process']['validate_s'] * ms:8.1f} ms")
    line("run_experiment (in-process)", result["in_process"])
    queued = result["queued"]
    if queued:
        line("queued job submit→finished", queued)
        print(f"  first (cold) job            {queued['first_job_s'] * ms:8.1f} ms")
        steps = queued["setup_steps_s"]
        print(
            f"  one-time setup              {queued['setup_s']:8.1f} s   "
            f"(services up {steps['services_s']:.1f} s, of which the schema {steps['schema_s']:.1f} s;"
            f" registration {steps['register_s']:.1f} s)"
        )
    else:
        print(f"  queued job: not measured ({result['queued_error'] or 'disabled'})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=30, help="in-process runs (default 30)")
    parser.add_argument("--queued-repeat", type=int, default=5, help="queued jobs timed (default 5)")
    parser.add_argument("--no-queued", action="store_true", help="skip the queued job")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--keep", action="store_true", help="keep the stack's temporary folder (logs)")
    parser.add_argument("--mlflow", default=None, help="the `mlflow` executable for the MLflow server")
    args = parser.parse_args()

    if Path(sys.prefix).resolve() != VENV.resolve():  # re-run in Dioptra's venv
        python = ensure_venv()
        extra = [] if args.mlflow or not (mlflow := default_mlflow()) else ["--mlflow", mlflow]
        os.execv(python, [str(python), str(Path(__file__).resolve()), *sys.argv[1:], *extra])

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C, SIGTERM and SIGHUP all stop the services (SIGINT too when started in the background)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    result = measure(
        args.repeat, not args.no_queued, args.queued_repeat, args.mlflow or default_mlflow(), args.keep
    )
    if args.json:
        print(json.dumps(result))
    else:
        report(result)


if __name__ == "__main__":
    main()
