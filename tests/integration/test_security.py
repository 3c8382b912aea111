"""Security checks (issue 13, item 5) and the command line during a service outage (bug 9).

- **Redis has a password** (bug 1): the stack's own ``redis-server`` refuses every client
  without the password generated into the stack's home; the password survives a ``kill -9``
  of Redis (the same URL, the AOF replayed), sits only in owner-only files, never on a
  command line, and is masked wherever an address is shown, except the one export line of
  ``dioptra-lab up``.
- **Nothing but JSON on Redis**: after real jobs (finished and failed), every value of every
  key is JSON, zlib-compressed JSON or plain text — never a pickle.
- **No environment secret leaves the submitting process**: not in the bundle, the run's
  params and tags, the executed notebook, the kernel log or the RQ job.
- **Parameter values never become code**: quotes, triple quotes, newlines, backslashes and
  ``__import__`` calls reach the task exactly, as values; their side effect never happens.
- **The command line fails fast** (bug 9): with MLflow hung or stopped, `jobs show`,
  `jobs list` and `results` end within seconds with one line naming the service, its address
  and what to do; never a traceback.

MLflow and Prefect have no authentication in the embedded stack: their passwords belong to
the deployment issue (11), which is where a test that a client without them is refused goes.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError, ResponseError

from dioptra_lab.config import load_settings
from dioptra_lab.errors import ServiceError
from dioptra_lab.processes import free_port, pid_alive, stop_pid
from dioptra_lab.stack import Stack
from tests.conftest import ENTRYPOINTS, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

BIN = Path(sys.executable).parent
WAIT = 180
FAIL_FAST_BOUND = 45.0
"""Seconds a command may take against a dead or hung service, its own start included: the
command line gives a hung MLflow about 10 s; the rest is Python's and MLflow's imports (3 s on
a quiet host, up to 30 s on a busy one). MLflow's own patience is about 4 minutes."""
SERVICE_ENV = (
    "DIOPTRA_LAB_REDIS_URL",
    "DIOPTRA_LAB_REDIS_PORT",
    "MLFLOW_TRACKING_URI",
    "DIOPTRA_LAB_MLFLOW_PORT",
    "PREFECT_API_URL",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
)


# -- an embedded stack of our own (the session's is shared: never stopped here) --------------------
@contextmanager
def _stack_environment(home: Path) -> Iterator[None]:
    """The environment of a process on the stack in ``home``: none of the session's addresses."""
    with pytest.MonkeyPatch.context() as patch:
        for name in SERVICE_ENV:
            patch.delenv(name, raising=False)
        patch.setenv("DIOPTRA_LAB_HOME", str(home))
        yield


@pytest.fixture(scope="module")
def _own_stack_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    home = tmp_path_factory.mktemp("own-stack")
    with _stack_environment(home):
        stack = Stack(load_settings())
        try:
            stack.ensure_redis()
            stack.ensure_mlflow()
        except BaseException:
            stack.down()
            raise
    yield stack, home
    with _stack_environment(home):
        stack.down()


@pytest.fixture
def own_stack(_own_stack_home: tuple[Stack, Path]) -> Iterator[Stack]:
    """Redis and MLflow of a stack in a home of its own, with its environment for the test
    (whatever addresses earlier tests left in this process's environment are hidden)."""
    stack, home = _own_stack_home
    with _stack_environment(home):
        yield stack


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a command run on the stack in ``home`` (found through stack.json)."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_ENV}
    return {**env, "DIOPTRA_LAB_HOME": str(home), **extra}


def cli(*args: str, env: dict[str, str], timeout: float = 90) -> tuple[int, str, str, float]:
    """Run ``dioptra-lab args``: exit code, stdout, stderr and seconds (124 when it hung)."""
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [str(BIN / "dioptra-lab"), *args], env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return 124, out, err, time.monotonic() - start
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start


def run_all(commands: list[list[str]], env: dict[str, str]) -> list[tuple[int, str, str, float]]:
    """Run commands two at a time (more would measure the host's load, not the command)."""
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda c: cli(*c, env=env), commands))


def assert_one_line_failure(command: list[str], result: tuple[int, str, str, float], *names: str) -> None:
    code, _out, err, seconds = result
    where = f"`dioptra-lab {' '.join(command)}` ({seconds:.1f} s, exit {code}): {err[-3000:]}"
    assert code not in (0, 124), where
    assert seconds < FAIL_FAST_BOUND, where
    assert "Traceback" not in err, where
    lines = err.strip().splitlines()
    assert len(lines) == 1, where
    assert lines[0].startswith("error: "), where
    for name in names:
        assert name in lines[0], where


def submit_queued(home: Path, experiment: str) -> str:
    """A job on a queue no worker serves (it stays queued): its id."""
    code, out, err, _ = cli(
        "submit",
        str(ENTRYPOINTS / "hello_dioptra.yaml"),
        "--queue",
        f"nobody-{uuid.uuid4().hex[:6]}",
        "--experiment",
        experiment,
        env=cli_env(home),
        timeout=120,
    )
    assert code == 0, err
    return out.strip().splitlines()[-1]


# -- bug 1: Redis has a password ------------------------------------------------------------------
def owner_only(path: Path) -> bool:
    return path.stat().st_mode & 0o077 == 0


def test_the_stacks_redis_refuses_clients_without_its_password(own_stack: Stack) -> None:
    url = own_stack.redis_url()
    assert url is not None
    parts = urlsplit(url)
    password = parts.password
    assert password, f"the stack's Redis has no password: {url}"
    assert Redis.from_url(url).ping()
    with pytest.raises(AuthenticationError):  # NOAUTH
        Redis(host=parts.hostname or "", port=parts.port or 0).ping()
    with pytest.raises((AuthenticationError, ResponseError)):  # WRONGPASS
        Redis(host=parts.hostname or "", port=parts.port or 0, password="not-" + password).ping()
    # the password is in owner-only files and nowhere else: not on the command line, not in logs
    home = own_stack.home
    holders = [p for p in home.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    assert home / "stack.json" in holders
    assert all(owner_only(p) for p in holders), [(p, oct(p.stat().st_mode)) for p in holders]
    assert not [p for p in holders if p.suffix == ".log"]
    pid = int((home / "pids" / "redis.pid").read_text())
    assert password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_the_sessions_redis_has_a_password_too(services: Stack) -> None:
    """The stack every other test runs its jobs on: a client without the password is refused."""
    url = load_settings().redis_url
    assert url is not None
    parts = urlsplit(url)
    assert parts.password
    with pytest.raises(AuthenticationError):
        Redis(host=parts.hostname or "", port=parts.port or 0, socket_connect_timeout=3).keys("rq:*")


def test_redis_keeps_its_password_and_data_after_kill_9(own_stack: Stack) -> None:
    url = own_stack.ensure_redis()
    assert urlsplit(url).password
    key = f"dioptra-lab-test:{uuid.uuid4().hex}"
    Redis.from_url(url).set(key, "kept")
    time.sleep(1.5)  # the AOF is fsynced every second
    pid = int((own_stack.home / "pids" / "redis.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), 10, "Redis to die")
    assert own_stack.redis_url() is None
    assert own_stack.ensure_redis() == url  # the same port and password
    assert Redis.from_url(url).get(key) == b"kept"  # the AOF replayed
    parts = urlsplit(url)
    with pytest.raises(AuthenticationError):
        Redis(host=parts.hostname or "", port=parts.port or 0).ping()


def test_the_password_is_shown_only_in_the_export_line(
    own_stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from dioptra_lab.cli_stack import print_connection_help

    url = own_stack.ensure_redis()
    password = urlsplit(url).password
    assert password
    code, out, err, _ = cli("status", env=cli_env(own_stack.home))
    assert code == 0, err
    assert password not in out + err
    assert f"redis://:***@127.0.0.1:{urlsplit(url).port}/0" in out

    print_connection_help({"redis": url, "mlflow": "http://m", "prefect": "http://p/api"}, own_stack.home)
    shown = capsys.readouterr().out
    assert shown.count(password) == 1
    (export,) = [line for line in shown.splitlines() if password in line]
    assert export.strip().startswith(f"export DIOPTRA_LAB_REDIS_URL={url} ")

    # errors: a configured Redis that does not answer, on the command line and from the stack
    dead = f"redis://:{password}@127.0.0.1:{free_port()}/0"
    logs = ["jobs", "logs", "x" * 32]
    result = cli(*logs, env=cli_env(tmp_path, DIOPTRA_LAB_REDIS_URL=dead))
    assert_one_line_failure(logs, result, "Redis at redis://:***@127.0.0.1:", "dioptra-lab up")
    assert password not in result[1] + result[2]
    monkeypatch.setenv("DIOPTRA_LAB_REDIS_URL", dead)
    configured = Stack(load_settings())
    configured.home = tmp_path / "configured"
    with pytest.raises(ServiceError) as refused:
        configured.ensure_redis()
    assert password not in str(refused.value)
    assert "redis://:***@127.0.0.1:" in str(refused.value)


# -- bug 9: the command line fails fast when a service is down -------------------------------------
def test_commands_fail_fast_while_the_stacks_mlflow_hangs_or_is_stopped(own_stack: Stack) -> None:
    home = own_stack.home
    experiment = f"outage-{uuid.uuid4().hex[:6]}"
    job = submit_queued(home, experiment)
    url = own_stack.ensure_mlflow()
    commands = [
        ["jobs", "show", job],
        ["jobs", "list"],
        ["results", experiment],
        ["jobs", "show", "not a job id!"],
    ]
    pid = int((home / "pids" / "mlflow.pid").read_text())
    os.killpg(pid, signal.SIGSTOP)  # hung: connections are accepted, never answered
    try:
        hung = run_all(commands, cli_env(home))
    finally:
        os.killpg(pid, signal.SIGCONT)
    for command, result in zip(commands, hung, strict=True):
        if command[-1] == "not a job id!":  # refused before MLflow is asked
            assert result[0] == 1, result
            assert "no job with id" in result[2], result
            continue
        assert_one_line_failure(command, result, "MLflow", url, "dioptra-lab up")
    stop_pid(pid)  # stopped: connections refused (the module's last use of this stack's MLflow)
    stopped = run_all(commands[:3], cli_env(home))
    for command, result in zip(commands, stopped, strict=False):
        assert_one_line_failure(command, result, "MLflow", url, "dioptra-lab up")


# -- what real jobs leave behind: JSON on Redis, no secrets, values never code --------------------
SECRETS = {
    "DIOPTRA_LAB_TEST_SECRET": f"dlts-{uuid.uuid4().hex}",
    "AWS_SECRET_ACCESS_KEY": f"aws{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}",
    "GITHUB_TOKEN": f"ghp_{uuid.uuid4().hex}",
}
"""Planted in the environment of the process that submits (values nobody else could know)."""


def payloads(marker: Path) -> dict[str, str]:
    """String parameter values that would run code if they were pasted into the notebook."""
    touch = f"__import__('os').system('touch {marker}')"
    return {
        "call": touch,
        "triple_double": f"\"\"\"'\nimport os; os.system('touch {marker}')  # ",
        "triple_single": f"'''\n{touch}\n'''",
        "quotes_backslashes": f"\\'; {touch}; '\\\\\" \\",
        "braces": f"{{{touch}}} f'{{{touch}}}' {{{{ 7*7 }}}} $(touch {marker}) `touch {marker}`",
        "lines": "first\nsecond\r\n\tthird\\n not a newline \u2028 é ✓",
    }


ECHO_TASK = "sleep_then"
"""A test task that returns its ``label`` unchanged (after ``seconds``)."""


def echo_entrypoint(folder: Path, names: list[str]) -> Path:
    import yaml

    path = folder / "echo_strings.yaml"
    spec = {
        "description": "returns each string parameter unchanged",
        "parameters": {name: {"type": "string", "default": "x"} for name in names},
        "graph": {f"out_{name}": {ECHO_TASK: {"label": f"${name}", "seconds": 0.0}} for name in names},
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


class Finished:
    """The jobs of this module's security checks, once they ended."""

    def __init__(self, folder: Path, marker: Path, values: dict[str, str], jobs: dict[str, Any]) -> None:
        self.folder = folder
        self.marker = marker
        self.values = values
        self.jobs = jobs


@pytest.fixture(scope="module")
def finished(worker: str, tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """An injection job, a job submitted with secrets in the environment and a failing job."""
    from dioptra_lab.jobs import JobStatus, submit
    from dioptra_lab.plugins.registry import Registry, set_registry
    from tests.conftest import PLUGINS

    folder = tmp_path_factory.mktemp("security")
    marker = folder / "pwned"
    values = payloads(marker)
    experiment = f"security-{uuid.uuid4().hex[:6]}"
    set_registry(Registry([PLUGINS]))
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, secret in SECRETS.items():
                patch.setenv(name, secret)
            jobs = {
                "echo": submit(
                    echo_entrypoint(folder, list(values)), values, experiment=experiment, queue=worker
                ),
                "hello": submit(ENTRYPOINTS / "hello_dioptra.yaml", experiment=experiment, queue=worker),
                "failing": submit(ENTRYPOINTS / "failing.yaml", experiment=experiment, queue=worker),
            }
    finally:
        set_registry(None)
    ended = {name: job.wait(WAIT) for name, job in jobs.items()}
    assert ended == {"echo": JobStatus.FINISHED, "hello": JobStatus.FINISHED, "failing": JobStatus.FAILED}, {
        name: jobs[name].logs()[-2000:] for name in jobs
    }
    return Finished(folder, marker, values, jobs)


PICKLE = re.compile(rb"\x80[\x01-\x05]")
"""A pickle's first bytes (PROTO opcode and protocol); JSON and UTF-8 text never hold \\x80."""
BASE64 = re.compile(rb"[A-Za-z0-9+/]{8,}={0,2}")


def readable(raw: bytes) -> Any:
    """A Redis value as what it holds: JSON, else text; an AssertionError for anything else.

    Accepted (and why): JSON (RQ's JSONSerializer: job meta, a result's return value);
    zlib-compressed JSON or text (RQ compresses a job's ``data`` and ``exc_info``); base64 of
    those (RQ's result streams); plain UTF-8 text (timestamps, statuses, queue and worker
    names, ids, integers as text, kernel output lines). A pickle starts with ``\\x80`` +
    protocol, which is not UTF-8: refused wherever it hides.
    """
    layers = [raw]
    if BASE64.fullmatch(raw) and len(raw) % 4 == 0:
        try:
            layers.append(base64.b64decode(raw, validate=True))
        except ValueError:
            pass
    for layer in list(layers):
        try:
            layers.append(zlib.decompress(layer))
        except zlib.error:
            pass
    for layer in layers:
        assert not PICKLE.match(layer), f"a pickle on Redis: {raw[:80]!r}"
    value = layers[-1] if len(layers) > 1 and layers[-1] is not raw else raw
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = raw.decode("utf-8")  # base64 of something that is not text: the base64 itself
        except UnicodeDecodeError:
            raise AssertionError(f"binary (neither JSON nor text) on Redis: {raw[:80]!r}") from None
    try:
        return json.loads(text)
    except ValueError:
        return text


def redis_values(conn: Redis) -> Iterator[tuple[bytes, bytes]]:
    """Every (key, value) of every key: string values, hash fields and values, list items,
    set and sorted set members (and scores), stream entries' fields and values."""
    for key in conn.scan_iter(count=500):
        kind = conn.type(key).decode()
        if kind == "none":  # expired between SCAN and TYPE (e.g. RQ's short-lived rq:wip:<queue>)
            continue
        yield key, key
        if kind == "string":
            yield key, conn.get(key) or b""
        elif kind == "hash":
            for field, value in conn.hgetall(key).items():
                yield key, field
                yield key, value
        elif kind == "list":
            yield from ((key, item) for item in conn.lrange(key, 0, -1))
        elif kind == "set":
            yield from ((key, member) for member in conn.smembers(key))
        elif kind == "zset":
            for member, score in conn.zrange(key, 0, -1, withscores=True):
                yield key, member
                yield key, str(score).encode()
        elif kind == "stream":
            for entry_id, fields in conn.xrange(key):
                yield key, entry_id
                for field, value in fields.items():
                    yield key, field
                    yield key, value
        else:
            raise AssertionError(f"{key!r}: a Redis {kind} nobody expects")


def test_nothing_but_json_and_text_on_redis(finished: Finished) -> None:
    from dioptra_lab.jobs.connection import redis_connection

    conn = redis_connection()
    seen = {}
    for key, value in redis_values(conn):
        seen[key] = readable(value)  # raises on a pickle or other binary
    for job in finished.jobs.values():  # the jobs' own records were among them
        data = readable(conn.hget(f"rq:job:{job.id}", "data") or b"")
        assert isinstance(data, list), data
        assert data[0] == "dioptra_lab.worker.execute_job", data
    assert len(seen) > 10


def files_of(folder: Path) -> Iterator[tuple[str, bytes]]:
    """Every file under ``folder`` and every member of the zip and tar archives among them."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield str(path.relative_to(folder)), data
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    yield f"{path.name}!{name}", archive.read(name)
        elif tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                for member in archive.getmembers():
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        yield f"{path.name}!{member.name}", extracted.read()


def test_no_environment_secret_reaches_runs_bundles_or_redis(finished: Finished, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from dioptra_lab.jobs.connection import redis_connection

    assert all(os.environ.get(name) != secret for name, secret in SECRETS.items())  # only the submit had them
    client = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri)
    for name, job in finished.jobs.items():
        run = client.get_run(job.id)
        texts = {**run.data.params, **run.data.tags, "logs": job.logs()}
        for secret in SECRETS.values():
            assert not [k for k, v in texts.items() if secret in k or secret in v], name
        folder = Path(client.download_artifacts(job.id, "", str(tmp_path / name)))
        files = dict(files_of(folder))
        assert {"bundle/bundle.json", "notebook/executed.ipynb"} <= set(files), sorted(files)
        for secret in SECRETS.values():
            assert not [f for f, data in files.items() if secret.encode() in data], (name, secret)
    for secret in SECRETS.values():
        for key, value in redis_values(redis_connection()):
            assert secret.encode() not in value, key


def test_parameter_values_are_values_never_code(finished: Finished) -> None:
    from mlflow import MlflowClient

    from dioptra_lab.engine.results import read_results

    job = finished.jobs["echo"]
    values = finished.values
    run = MlflowClient(tracking_uri=load_settings().mlflow_tracking_uri).get_run(job.id)
    assert run.data.params == values  # recorded exactly
    executed = job.notebook()
    (cell,) = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assigned = {
        node.targets[0].id: node.value  # type: ignore[attr-defined]
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.Assign)
    }
    for name, value in values.items():
        assert isinstance(assigned[name], ast.Constant), (name, ast.unparse(assigned[name]))  # a literal
        assert assigned[name].value == value, name
    results = read_results(executed)
    assert results is not None
    assert {name: results["results"][f"out_{name}"] for name in values} == values  # reached the task exactly
    assert not finished.marker.exists()  # and no payload ran
    assert not list(finished.folder.glob("pwned*"))
