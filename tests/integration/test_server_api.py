"""The REST API of the Jupyter server extension against the real test stack.

A real Jupyter server runs in this process (pytest-jupyter's ``jp_fetch``) with the extension
enabled by configuration, over a root folder of entry points; Redis, MLflow, Prefect and a
`dioptra-lab worker` are the session's real services (``tests/conftest.py``). Nothing is
mocked. Every JSON answer of every call here is checked against the OpenAPI document the
server serves, and a schemathesis run fuzzes that document against a live server process.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jsonschema import Draft202012Validator
from jupyter_server.auth import Authorizer

# jp_fetch and the fixtures it needs, visible in this module only (its autouse fixtures too),
# so that the rest of the suite does not get a Jupyter server per test.
from pytest_jupyter.jupyter_server import *  # noqa: F403

from dioptra_lab.processes import free_port
from dioptra_lab.server.routes import ROUTES, document
from dioptra_lab.server.spec import PREFIX, operations, path_parameters, tornado_pattern
from tests.conftest import ENTRYPOINTS

pytestmark = pytest.mark.integration

WAIT = 180
DONE = {"finished", "failed", "cancelled"}
SECRET = "TOP-SECRET-OUTSIDE-THE-ROOT"
ECHO = """\
description: shouts a message
parameters:
  message: hello
graph:
  loud:
    shout:
      message: $message
"""
BROKEN = "graph:\n  a: [unclosed\n  b: {\n"
DASHBOARD = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
FAKE_JOB = "0123456789abcdef0123456789abcdef"


def make_root(root: Path) -> None:
    """A server root with entry points, things that are not, and links leading out of it."""
    outside = root.parent / f"{root.name}-outside"
    outside.mkdir(parents=True)
    (outside / "secret.yaml").write_text(f"description: {SECRET}\ngraph:\n  d:\n    score:\n      x: 1\n")
    root.mkdir(parents=True)
    for name in ("score.yaml", "slow.yaml", "params.ipynb"):
        (root / name).write_bytes((ENTRYPOINTS / name).read_bytes())
    (root / "echo.yaml").write_text(ECHO)
    (root / "broken.yaml").write_text(BROKEN)
    (root / "notes.txt").write_text("graph: not an entry point by its name\n")
    (root / "compose.yml").write_text("services:\n  redis: {}\n")
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "nested" / "deeper" / "score_copy.yaml").write_bytes((ENTRYPOINTS / "score.yaml").read_bytes())
    for hidden in (".hidden", "node_modules/pkg", ".ipynb_checkpoints", ".venv/lib"):
        (root / hidden).mkdir(parents=True)
        (root / hidden / "skipped.yaml").write_text(ECHO)
    (root / "notebooks" / "dashboards").mkdir(parents=True)
    (root / "notebooks" / "dashboards" / "launcher.ipynb").write_text(json.dumps(DASHBOARD))
    (root / "link.yaml").symlink_to(outside / "secret.yaml")
    (root / "linkdir").symlink_to(outside)


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"dioptra_lab": True}}}


@pytest.fixture
def jp_root_dir(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    make_root(root)
    return root


# -- calling the API and checking every answer against the document ---------------------------
@dataclass
class Answer:
    code: int
    text: str
    headers: Any

    def json(self) -> Any:
        return json.loads(self.text)


def _route_of(path: str) -> str | None:
    import re

    for pattern, _ in ROUTES:
        if re.fullmatch(tornado_pattern(pattern), path):
            return pattern
    return None


def check_answer(doc: dict[str, Any], path: str, method: str, answer: Answer) -> None:
    """The status is documented for this operation and a JSON answer fits its schema."""
    assert answer.code < 500 or answer.code == 503, f"{method} {path}: {answer.code} {answer.text[:500]}"
    pattern = _route_of(path.split("?")[0])
    if pattern is None:
        return
    responses = doc["paths"]["/" + pattern][method.lower()]["responses"]
    assert str(answer.code) in responses, f"{method} {path}: undocumented status {answer.code}: {answer.text}"
    kind = answer.headers.get("Content-Type", "").split(";")[0]
    if kind != "application/json":
        assert kind in responses[str(answer.code)]["content"], f"{method} {path}: undocumented {kind}"
        return
    schema = {
        **responses[str(answer.code)]["content"]["application/json"]["schema"],
        "components": doc["components"],
    }
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(answer.json())]
    assert not errors, f"{method} {path} ({answer.code}) does not fit its schema: {errors[:3]}"


class Api:
    """Calls ``<base_url>dioptra-lab/api/v1/…`` on the test server and checks every answer."""

    def __init__(self, jp_fetch: Any, client: Any, loop: Any, base_url: str, token: str) -> None:
        self.jp_fetch, self.client, self.loop = jp_fetch, client, loop
        self.base_url, self.token = base_url, token
        self.doc = json.loads(json.dumps(document(base_url)))

    def __call__(
        self,
        path: str,
        method: str = "GET",
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        data = None if body is None else body if isinstance(body, str | bytes) else json.dumps(body)
        if method == "POST" and data is None:
            data = ""
        response = self.loop.run_until_complete(
            self.jp_fetch(
                PREFIX, path, method=method, body=data, params=params, headers=headers, raise_error=False
            )
        )
        answer = Answer(response.code, response.body.decode(), response.headers)
        check_answer(self.doc, path, method, answer)
        return answer

    def raw(
        self, path: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """A request whose path is sent exactly as given (no escaping), with the token."""
        url = f"{self.base_url}{PREFIX}/{path}"
        data = None if body is None else json.dumps(body)
        response = self.loop.run_until_complete(
            self.client.fetch(
                url,
                method=method,
                body=data if data is not None else ("" if method == "POST" else None),
                headers={"Authorization": f"token {self.token}", **(headers or {})},
                raise_error=False,
            )
        )
        answer = Answer(response.code, response.body.decode(), response.headers)
        check_answer(self.doc, path, method, answer)
        return answer

    def wait(self, job_id: str, timeout: float = WAIT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            view = self(f"jobs/{job_id}").json()
            if view["status"] in DONE:
                return dict(view)
            assert time.monotonic() < deadline, f"job {job_id} still {view['status']} after {timeout}s"
            time.sleep(0.5)

    def wait_for(self, job_id: str, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while True:
            view = self(f"jobs/{job_id}").json()
            if predicate(view):
                return dict(view)
            assert view["status"] not in DONE, f"job {job_id} ended ({view['status']}) before {what}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.3)


@pytest.fixture
def api(
    services: object,
    jp_fetch: Any,
    http_server_client: Any,
    jp_asyncio_loop: Any,
    jp_base_url: str,
    jp_serverapp: Any,
) -> Api:
    return Api(
        jp_fetch, http_server_client, jp_asyncio_loop, jp_base_url, jp_serverapp.identity_provider.token
    )


def experiment() -> str:
    return f"api-{uuid.uuid4().hex[:8]}"


def messages(answer: Answer) -> str:
    data = answer.json()
    return data["message"] + " | " + " | ".join(p["message"] for p in data.get("problems", []))


# -- reading ----------------------------------------------------------------------------------
def test_read_endpoints(api: Api, stack_home: Path, jp_base_url: str) -> None:
    tasks = api("tasks").json()
    names = {t["name"] for t in tasks["tasks"]}
    assert {"score", "shout", "sleep_for"} <= names
    assert isinstance(tasks["broken"], list)
    assert api("tasks/score").json()["qualname"] == "job_plugin.tasks.score"
    assert api("tasks/job_plugin.tasks.score").json()["name"] == "score"

    found = api("entrypoints").json()["entrypoints"]
    assert [(e["path"], e["kind"]) for e in found] == [
        ("broken.yaml", "yaml"),
        ("echo.yaml", "yaml"),
        ("nested/deeper/score_copy.yaml", "yaml"),
        ("params.ipynb", "notebook"),
        ("score.yaml", "yaml"),
        ("slow.yaml", "yaml"),
    ]  # no hidden folders, node_modules, checkpoints, non-entry points, or links out of the root
    assert found[-2]["name"] == "score"

    score = api("entrypoints/score.yaml").json()
    assert (score["path"], score["name"], score["kind"], score["problems"]) == (
        "score.yaml",
        "score",
        "yaml",
        [],
    )
    assert [(p["name"], p["type"], p["default"]) for p in score["parameters"]] == [("x", "float", 1.0)]
    assert score["steps"][0]["task"] == "job_plugin.tasks.score"
    assert api("entrypoints/nested/deeper/score_copy.yaml").json()["path"] == "nested/deeper/score_copy.yaml"
    notebook = api("entrypoints/params.ipynb").json()
    assert notebook["kind"] == "notebook"
    assert {p["name"] for p in notebook["parameters"]} == {"x", "label", "mode", "count"}
    broken = api("entrypoints/broken.yaml").json()  # shown with its problems, not refused
    assert "YAML syntax error" in broken["problems"][0]["message"]

    ok = api("validate", "POST", {"entrypoint": "score.yaml", "parameters": {"x": 2}})
    assert ok.json() == {"valid": True, "problems": []}
    bad = api(
        "validate",
        "POST",
        {"entrypoint": "score.yaml", "parameters": {"nope": 1}, "grid": {"x": [1, "b"]}},
    ).json()
    assert bad["valid"] is False
    text = " | ".join(p["message"] for p in bad["problems"])
    assert "unknown parameter 'nope'" in text
    assert "parameter 'x'" in text  # every problem at once
    assert api("validate", "POST", {"entrypoint": "score.yaml", "grid": {"x": []}}).code == 400  # a field
    broken_check = api("validate", "POST", {"entrypoint": "broken.yaml"}).json()
    assert broken_check["valid"] is False
    assert "YAML syntax error" in broken_check["problems"][0]["message"]

    assert isinstance(api("experiments").json()["experiments"], list)
    stack = api("stack").json()
    assert Path(stack["home"]) == stack_home.resolve()
    assert {"redis", "mlflow"} <= {s["name"] for s in stack["services"] if s["running"]}
    assert stack["problem"] is None
    from dioptra_lab.config import load_settings
    from dioptra_lab.stack import Stack

    # the stack's standalone Voila (with its token) when an earlier test started it, else this
    # server's own /voila/render
    standalone = Stack(load_settings()).dashboard_url("launcher")
    assert api("dashboards").json() == {
        "dashboards": [
            {
                "name": "launcher",
                "path": "notebooks/dashboards/launcher.ipynb",
                "url": standalone or f"{jp_base_url}voila/render/notebooks/dashboards/launcher.ipynb",
            }
        ]
    }
    assert api("openapi.json").json() == api.doc


# -- jobs -------------------------------------------------------------------------------------
def test_a_job_runs_with_logs_notebook_results_and_rerun(api: Api, worker: str, jp_root_dir: Path) -> None:
    exp = experiment()
    answer = api(
        "jobs",
        "POST",
        {"entrypoint": "score.yaml", "parameters": {"x": 1.5}, "experiment": exp, "queue": worker},
    )
    assert answer.code == 201, answer.text
    submitted = answer.json()
    assert submitted["sweep"] is None
    (job,) = submitted["jobs"]
    assert job["status"] in {"queued", "running"}
    assert (job["experiment"], job["entrypoint"], job["queue"], job["parameters"]) == (
        exp,
        "score",
        worker,
        {"x": "1.5"},
    )
    assert job["links"]["mlflow"].startswith("http")
    assert job["links"]["mlflow"].endswith(f"/runs/{job['id']}")

    done = api.wait(job["id"])
    assert done["status"] == "finished", done
    assert done["submitted"] <= done["started"] <= done["ended"]
    assert done["expected_end"] is None
    listed = api("jobs", params={"experiment": exp}).json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    assert (listed["offset"], listed["limit"]) == (0, 50)

    logs = api(f"jobs/{job['id']}/logs").json()
    assert logs["done"] is True
    assert "[1/1] doubled (job_plugin.tasks.score) finished" in logs["text"]
    assert logs["offset"] == len(logs["text"])
    rest = api(f"jobs/{job['id']}/logs", params={"offset": 10}).json()
    assert rest == {"text": logs["text"][10:], "offset": len(logs["text"]), "done": True}
    assert api(f"jobs/{job['id']}/logs", params={"offset": logs["offset"]}).json()["text"] == ""

    executed = api(f"jobs/{job['id']}/notebook").json()
    assert executed["nbformat"] == 4
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in executed["cells"])
    saved = api(f"jobs/{job['id']}/notebook", "POST").json()["path"]
    assert saved == f"dioptra-lab-jobs/{exp}/score-{job['id'][:8]}.ipynb"
    assert nbformat.read(str(jp_root_dir / saved), as_version=4).cells  # opens as a notebook under root

    results = api(f"experiments/{exp}/results").json()
    assert results["experiment"] == exp
    (row,) = results["runs"]
    assert (row["run_id"], row["params"], row["metrics"]["doubled"]) == (job["id"], {"x": "1.5"}, 3.0)
    csv = api(f"experiments/{exp}/results", params={"format": "csv"})
    assert csv.headers["Content-Type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("run_id,status,entrypoint,x,")
    assert lines[1].startswith(f"{job['id']},finished,score,1.5,")
    assert exp in api("experiments").json()["experiments"]

    again = api(f"jobs/{job['id']}/rerun", "POST")
    assert again.code == 201
    rerun = again.json()
    assert rerun["rerun_of"] == job["id"]
    assert rerun["id"] != job["id"]
    assert api.wait(rerun["id"])["status"] == "finished"


def test_a_sweep_via_grid_and_the_list_filters(api: Api, worker: str) -> None:
    exp = experiment()
    answer = api(
        "jobs",
        "POST",
        {"entrypoint": "score.yaml", "grid": {"x": [1, 2]}, "experiment": exp, "queue": worker},
    )
    assert answer.code == 201, answer.text
    sweep = answer.json()["sweep"]
    jobs = answer.json()["jobs"]
    assert len(jobs) == 2
    assert {j["sweep"] for j in jobs} == {sweep}
    assert sorted(j["parameters"]["x"] for j in jobs) == ["1.0", "2.0"]  # floats, as the type says
    assert {api.wait(j["id"])["status"] for j in jobs} == {"finished"}

    by_sweep = api("jobs", params={"sweep": sweep}).json()["jobs"]
    assert {j["id"] for j in by_sweep} == {j["id"] for j in jobs}
    assert by_sweep[0]["submitted"] >= by_sweep[1]["submitted"]  # newest first
    assert len(api("jobs", params={"sweep": sweep, "status": "finished,failed"}).json()["jobs"]) == 2
    assert api("jobs", params={"sweep": sweep, "status": "failed"}).json()["jobs"] == []
    first = api("jobs", params={"sweep": sweep, "limit": 1}).json()
    second = api("jobs", params={"sweep": sweep, "limit": 1, "offset": 1}).json()
    assert (first["limit"], second["offset"]) == (1, 1)
    assert [first["jobs"][0]["id"], second["jobs"][0]["id"]] == [j["id"] for j in by_sweep]
    metrics = sorted(r["metrics"]["doubled"] for r in api(f"experiments/{exp}/results").json()["runs"])
    assert metrics == [2.0, 4.0]
    # found by schemathesis: a sweep id no sweep can have lists nothing (it was a 500 once)
    assert api("jobs", params={"sweep": "\u00a5\u00a8\u0003'"}).json()["jobs"] == []


def test_cancel_a_running_job(api: Api, worker: str) -> None:
    exp = experiment()
    body = {"entrypoint": "slow.yaml", "parameters": {"seconds": 120}, "experiment": exp, "queue": worker}
    job = api("jobs", "POST", body).json()["jobs"][0]
    running = api.wait_for(
        job["id"], lambda v: (v["progress"] or {}).get("state") == "started", "the step to start"
    )
    assert running["status"] == "running"
    assert running["started"] is not None
    assert running["expected_end"] is None  # no step has ended yet
    assert running["progress"]["total"] == 1
    listed = api("jobs", params={"experiment": exp, "status": "running"}).json()["jobs"]
    assert [j["progress"]["step"] for j in listed] == ["nap"]
    cancelled = api(f"jobs/{job['id']}/cancel", "POST")
    assert cancelled.code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert api(f"jobs/{job['id']}").json()["status"] == "cancelled"
    assert api(f"jobs/{job['id']}/cancel", "POST").json()["status"] == "cancelled"  # twice is fine


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [s for item in value for s in strings_in(item)] if isinstance(value, list) else []


def test_parameter_values_are_values_never_code(api: Api, worker: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payloads = [
        f"__import__('os').system('touch {marker}')",
        f"\"\"\"'\nimport os; os.system('touch {marker}')  # ",
    ]
    exp = experiment()
    answer = api(
        "jobs",
        "POST",
        {"entrypoint": "echo.yaml", "grid": {"message": payloads}, "experiment": exp, "queue": worker},
    )
    assert answer.code == 201, answer.text
    for job in answer.json()["jobs"]:
        done = api.wait(job["id"])
        assert done["status"] == "finished", done
        payload = done["parameters"]["message"]
        assert payload in payloads
        executed = api(f"jobs/{job['id']}/notebook").json()
        (cell,) = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
        source = "".join(cell["source"])
        assigned = {
            node.targets[0].id: node.value  # type: ignore[attr-defined]
            for node in ast.parse(source).body
            if isinstance(node, ast.Assign)
        }
        assert isinstance(assigned["message"], ast.Constant)  # a literal, nothing to evaluate
        assert assigned["message"].value == payload
        outputs = strings_in([cell.get("outputs", []) for cell in executed["cells"]])
        assert any(payload.upper() + "!" in text for text in outputs), outputs  # text, as text
    assert not marker.exists()


def test_a_queued_job_has_no_notebook_yet(api: Api, services: object) -> None:
    exp = experiment()
    body = {"entrypoint": "score.yaml", "experiment": exp, "queue": f"nobody-serves-{uuid.uuid4().hex[:6]}"}
    job = api("jobs", "POST", body).json()["jobs"][0]
    assert job["status"] == "queued"
    assert job["started"] is None
    for method in ("GET", "POST"):
        refused = api(f"jobs/{job['id']}/notebook", method)
        assert refused.code == 409
        assert "no executed notebook yet" in refused.json()["message"]
    assert api(f"jobs/{job['id']}/logs").json() == {"text": "", "offset": 0, "done": False}
    queued = api("jobs", params={"experiment": exp, "status": "queued"}).json()["jobs"]
    assert [j["id"] for j in queued] == [job["id"]]
    assert api(f"jobs/{job['id']}/cancel", "POST").json()["status"] == "cancelled"
    assert api(f"jobs/{job['id']}/logs").json()["done"] is True


# -- mistakes ---------------------------------------------------------------------------------
BAD_REQUESTS: list[tuple[str, str, Any, dict[str, Any] | None, str]] = [
    ("POST", "jobs", "{not json", None, "not valid JSON"),
    # found by schemathesis: paging past what MLflow answers was a 500 once
    ("GET", "jobs", None, {"offset": 22779126834063}, "listed at most 50,000 back"),
    ("POST", "jobs", "[]", None, "must be a JSON object"),
    ("POST", "jobs", {}, None, "'entrypoint' is a required property"),
    ("POST", "jobs", {"entrypoint": "score.yaml", "timeout": "soon"}, None, "field 'timeout'"),
    ("POST", "jobs", {"entrypoint": "score.yaml", "retries": -1}, None, "field 'retries'"),
    ("POST", "jobs", {"entrypoint": "score.yaml", "retries": True}, None, "field 'retries'"),
    ("POST", "jobs", {"entrypoint": ["score.yaml"]}, None, "field 'entrypoint'"),
    ("POST", "jobs", {"entrypoint": "score.yaml", "parameters": "x=1"}, None, "field 'parameters'"),
    ("POST", "jobs", {"entrypoint": "score.yaml", "grid": {"x": 1}}, None, "field 'grid.x'"),
    ("POST", "jobs", {"entrypoint": "score.yaml", "priority": 1}, None, "'priority' was unexpected"),
    (
        "POST",
        "jobs",
        {"entrypoint": "score.yaml", "parameters": {"nope": 1}},
        None,
        "unknown parameter 'nope'",
    ),
    ("POST", "jobs", {"entrypoint": "score.yaml", "parameters": {"x": "abc"}}, None, "parameter 'x'"),
    ("POST", "jobs", {"entrypoint": "score.yaml", "grid": {"x": [1, "b"]}}, None, "parameter 'x'"),
    ("POST", "jobs", {"entrypoint": "broken.yaml"}, None, "YAML syntax error"),
    ("POST", "jobs", {"entrypoint": "notes.txt"}, None, "unknown kind of file"),
    ("POST", "validate", {"entrypoint": 5}, None, "field 'entrypoint'"),
    ("POST", "validate", {"entrypoint": "score.yaml", "queue": "cpu"}, None, "'queue' was unexpected"),
    ("GET", "jobs", None, {"limit": "abc"}, "query parameter 'limit'"),
    ("GET", "jobs", None, {"limit": "0"}, "query parameter 'limit'"),
    ("GET", "jobs", None, {"offset": "-3"}, "query parameter 'offset'"),
    ("GET", "jobs", None, {"status": "running,bogus"}, "unknown status 'bogus'"),
    ("GET", f"jobs/{FAKE_JOB}/logs", None, {"offset": "-1"}, "query parameter 'offset'"),
    ("GET", "experiments/Default/results", None, {"format": "xml"}, "query parameter 'format'"),
    ("GET", "entrypoints/notes.txt", None, None, "unknown kind of file"),
]


def test_mistakes_are_400_with_what_to_change(api: Api) -> None:
    failures = []
    for method, path, body, params, expected in BAD_REQUESTS:
        answer = api(path, method, body, params)
        if answer.code != 400 or expected not in messages(answer):
            failures.append(f"{method} {path} {body!r} {params}: {answer.code} {answer.text[:300]}")
    assert not failures, "\n".join(failures)
    broken = api("jobs", "POST", {"entrypoint": "broken.yaml"}).json()
    assert broken["problems"][0]["place"].startswith("line ")  # every problem with its place
    values = api("jobs", "POST", {"entrypoint": "score.yaml", "parameters": {"nope": 1, "x": "a"}}).json()
    assert len(values["problems"]) == 2


NOT_FOUND: list[tuple[str, str, Any, str]] = [
    ("GET", "tasks/no_such_task_anywhere", None, "unknown task 'no_such_task_anywhere'"),
    ("GET", "tasks/scor", None, "did you mean 'score'"),
    ("GET", f"jobs/{FAKE_JOB}", None, f"no job with id '{FAKE_JOB}'"),
    ("GET", "jobs/not-a-run-id", None, "no job with id 'not-a-run-id'"),
    ("POST", f"jobs/{FAKE_JOB}/cancel", None, "no job with id"),
    ("POST", f"jobs/{FAKE_JOB}/rerun", None, "no job with id"),
    ("GET", f"jobs/{FAKE_JOB}/logs", None, "no job with id"),
    ("GET", f"jobs/{FAKE_JOB}/notebook", None, "no job with id"),
    ("POST", f"jobs/{FAKE_JOB}/notebook", None, "no job with id"),
    (
        "GET",
        "experiments/no-such-experiment-here/results",
        None,
        "no experiment named 'no-such-experiment-here'",
    ),
    ("GET", "entrypoints/missing.yaml", None, "no file 'missing.yaml'"),
    ("GET", "entrypoints/nested/missing.yaml", None, "no file 'nested/missing.yaml'"),
    ("POST", "validate", {"entrypoint": "missing.yaml"}, "no file 'missing.yaml'"),
    ("POST", "jobs", {"entrypoint": "nested/missing.yaml"}, "no file 'nested/missing.yaml'"),
]


def test_unknown_things_are_404(api: Api) -> None:
    failures = []
    for method, path, body, expected in NOT_FOUND:
        answer = api(path, method, body)
        if answer.code != 404 or expected not in messages(answer):
            failures.append(f"{method} {path} {body!r}: {answer.code} {answer.text[:300]}")
    assert not failures, "\n".join(failures)


TRAVERSALS = [
    "entrypoints/../root-outside/secret.yaml",
    "entrypoints/nested/../../root-outside/secret.yaml",
    "entrypoints/%2e%2e/root-outside/secret.yaml",
    "entrypoints/%2e%2e%2froot-outside%2fsecret.yaml",
    "entrypoints/..%5croot-outside%5csecret.yaml",
    "entrypoints//etc/passwd",
    "entrypoints/%2Fetc%2Fpasswd",
    "entrypoints/link.yaml",
    "entrypoints/linkdir/secret.yaml",
]
BAD_ENTRYPOINTS = [
    "../root-outside/secret.yaml",
    "/etc/passwd",
    "link.yaml",
    "linkdir/secret.yaml",
    "nested/../..",
]


def test_paths_never_lead_out_of_the_root(api: Api, jp_root_dir: Path) -> None:
    assert (jp_root_dir.parent / "root-outside" / "secret.yaml").is_file()  # there to be reached for
    failures = []
    for path in TRAVERSALS:
        answer = api.raw(path)
        if answer.code != 400 or SECRET in answer.text or "root folder" not in answer.json()["message"]:
            failures.append(f"GET {path}: {answer.code} {answer.text[:300]}")
    for entrypoint in BAD_ENTRYPOINTS:
        for route in ("validate", "jobs"):
            answer = api(route, "POST", {"entrypoint": entrypoint})
            if answer.code != 400 or SECRET in answer.text or "root folder" not in answer.json()["message"]:
                failures.append(f"POST {route} {entrypoint}: {answer.code} {answer.text[:300]}")
    assert not failures, "\n".join(failures)


def test_a_stopped_redis_is_a_503_saying_how_to_start_it(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    exp = experiment()
    monkeypatch.setenv("DIOPTRA_LAB_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nobody listens
    answer = api("jobs", "POST", {"entrypoint": "score.yaml", "experiment": exp})
    assert answer.code == 503
    assert "dioptra-lab up" in answer.json()["message"]
    assert "Redis" in answer.json()["message"]
    stack = api("stack").json()  # the status page still answers, saying why queues are missing
    assert "dioptra-lab up" in stack["problem"]
    assert exp not in api("experiments").json()["experiments"]  # nothing was half created


# -- authentication, authorization and XSRF ----------------------------------------------------
OPERATIONS = [
    (pattern, method.upper()) for pattern, handler in ROUTES for method in sorted(operations(handler))
]


def concrete(pattern: str) -> str:
    for name in path_parameters(pattern):
        pattern = pattern.replace("{" + name + "}", "score.yaml" if name == "path" else "x")
    return pattern


@pytest.mark.parametrize(("pattern", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_every_route_refuses_without_a_token(api: Api, pattern: str, method: str) -> None:
    body = {"entrypoint": "score.yaml"} if method == "POST" else None
    answer = api(concrete(pattern), method, body, headers={"Authorization": ""})
    assert answer.code == 403, answer.text
    assert SECRET not in answer.text


class DenyDioptraLab(Authorizer):
    """Authenticated users may use the server but not the resource ``dioptra-lab``."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "dioptra-lab"


@pytest.mark.parametrize(
    "jp_server_config",
    [{"ServerApp": {"jpserver_extensions": {"dioptra_lab": True}, "authorizer_class": DenyDioptraLab}}],
)
def test_the_authorizer_decides_on_the_dioptra_lab_resource(api: Api) -> None:
    for path, method in (("tasks", "GET"), ("jobs", "POST"), (f"jobs/{FAKE_JOB}/cancel", "POST")):
        answer = api(path, method, {"entrypoint": "score.yaml"} if method == "POST" else None)
        assert answer.code == 403, (path, answer.text)
        assert "dioptra-lab" in answer.json()["message"]
    status = api.loop.run_until_complete(api.jp_fetch("api", "status", raise_error=False))
    assert status.code == 200  # the rest of the server is allowed


def test_cookie_requests_need_the_xsrf_token(api: Api) -> None:
    login = api("stack")  # with the token: the server answers with its login cookie
    cookies = SimpleCookie()
    for header in login.headers.get_list("Set-Cookie"):
        cookies.load(header)
    assert any(name.startswith("username-") for name in cookies), login.headers
    cookie = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
    body = {"entrypoint": "score.yaml"}
    no_token = {"Authorization": ""}
    assert api("stack", headers={**no_token, "Cookie": cookie}).code == 200  # reading with the cookie
    refused = api("validate", "POST", body, headers={**no_token, "Cookie": cookie})
    assert refused.code == 403
    assert "_xsrf" in refused.json()["message"]
    assert api("validate", "POST", body, headers=no_token).code == 403  # no cookie, no token
    xsrf = uuid.uuid4().hex
    allowed = api(
        "validate",
        "POST",
        body,
        headers={**no_token, "Cookie": f"{cookie}; _xsrf={xsrf}", "X-XSRFToken": xsrf},
    )
    assert allowed.code == 200, allowed.text  # how the Lab front end calls (ServerConnection)


# -- the document against a live server ---------------------------------------------------------
@pytest.fixture(scope="module")
def live_server(services: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A `jupyter server` process with the extension enabled by a config file, over a root."""
    base = tmp_path_factory.mktemp("live")
    make_root(base / "root")
    config = base / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"dioptra_lab": True}}})
    )
    port, token = free_port(), uuid.uuid4().hex
    env = {
        **os.environ,
        "JUPYTER_TOKEN": token,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(base),
    }
    log = (base / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--ServerApp.root_dir={base / 'root'}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/{PREFIX}"
    deadline = time.monotonic() + 90
    try:
        while True:
            request = urllib.request.Request(
                f"{url}/openapi.json", headers={"Authorization": f"token {token}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (base / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (base / "server.log").read_text()[-3000:]
            time.sleep(0.3)
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_schemathesis_finds_no_server_error_and_no_answer_off_schema(live_server: tuple[str, str]) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup
    from schemathesis.specs.openapi.checks import response_schema_conformance

    url, token = live_server
    headers = {"Authorization": f"token {token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{url}/openapi.json", headers=headers)) as response:
        doc = json.loads(response.read())
    schema = schemathesis.openapi.from_dict(doc)
    checks = [not_a_server_error, response_schema_conformance]
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=5,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
            case.call_and_validate(base_url=url, headers=headers, checks=checks, timeout=30)

        call()
    assert len(calls) == len(OPERATIONS)
    assert sum(calls.values()) >= 3 * len(OPERATIONS), calls

    # the checks do bite: an answer off its schema fails
    stack = doc["paths"]["/stack"]["get"]["responses"]["200"]["content"]["application/json"]
    stack["schema"] = {"type": "object", "required": ["not-a-field"]}
    strict = schemathesis.openapi.from_dict(doc)
    case = next(r.ok() for r in strict.get_all_operations() if r.ok().path == "/stack").Case()
    with pytest.raises(FailureGroup) as caught:
        case.call_and_validate(base_url=url, headers=headers, checks=checks, timeout=30)
    assert "not-a-field" in str(caught.value.exceptions[0])
