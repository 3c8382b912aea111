"""The REST API's pieces that need no server: expected end, the root-folder guard, the error
mapping, the route table and its OpenAPI document, and cheap imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dioptra_lab.errors import (
    DioptraLabError,
    EntryPointError,
    NotFoundError,
    NotReadyError,
    ParameterError,
    Problem,
    ServiceError,
    UnknownExperimentError,
    UnknownJobError,
    UnknownTaskError,
)
from dioptra_lab.models import JobInfo, JobStatus, Progress

REPO = Path(__file__).resolve().parents[2]


def running(progress: Progress | None, started: float | None = 100.0) -> JobInfo:
    return JobInfo("j", JobStatus.RUNNING, "e", "ep", "q", started=started, progress=progress)


# -- expected end ------------------------------------------------------------------------------
def test_expected_end_extrapolates_the_steps_done() -> None:
    # 2 of 4 steps finished after 10 s: the whole job should take 20 s
    assert running(Progress("b", "t", 2, 4, "finished")).expected_end(110.0) == pytest.approx(120.0)
    # step 3 started (2 done) after 30 s: 60 s in all
    assert running(Progress("c", "t", 3, 4, "started")).expected_end(130.0) == pytest.approx(160.0)
    # a step that came from the cache has ended too (as the panel's progress bar counts it)
    assert running(Progress("b", "t", 2, 4, "cached")).expected_end(110.0) == pytest.approx(120.0)


def test_expected_end_is_unknown_before_the_first_step_ends() -> None:
    assert running(Progress("a", "t", 1, 4, "started")).expected_end(200.0) is None
    assert running(None).expected_end(200.0) is None
    assert running(Progress("a", "t", 1, 4, "finished"), started=None).expected_end(200.0) is None
    done = JobInfo(
        "j", JobStatus.FINISHED, "e", "ep", "q", started=1.0, progress=Progress("a", "t", 1, 1, "finished")
    )
    assert done.expected_end(200.0) is None


def test_job_info_carries_its_start_in_json() -> None:
    assert running(None, started=12.5).to_json()["started"] == 12.5
    assert "started" in JobInfo.schema()["properties"]


# -- the root-folder guard -----------------------------------------------------------------------
@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.yaml").write_text("graph: {}\n")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.yaml").write_text("graph: {}\n")
    (root / "link.yaml").symlink_to(tmp_path / "outside" / "secret.yaml")
    (root / "linkdir").symlink_to(tmp_path / "outside")
    (root / "inner.yaml").symlink_to(root / "sub" / "a.yaml")
    return root


def test_paths_resolve_inside_the_root(root: Path) -> None:
    from dioptra_lab.server.paths import clean_relative, resolve_in_root

    assert resolve_in_root(root, "sub/a.yaml") == (root / "sub" / "a.yaml").resolve()
    assert resolve_in_root(root, "./sub//a.yaml") == (root / "sub" / "a.yaml").resolve()
    assert resolve_in_root(root, "inner.yaml") == (root / "sub" / "a.yaml").resolve()  # a link inside
    assert resolve_in_root(root, "new/folder", must_exist=False) == root.resolve() / "new" / "folder"
    assert clean_relative("./sub//a.yaml") == "sub/a.yaml"


@pytest.mark.parametrize(
    "path",
    [
        "../outside/secret.yaml",
        "sub/../../outside/secret.yaml",
        "/etc/passwd",
        "\\etc\\passwd",
        "C:/x",
        "..",
        "link.yaml",
        "linkdir/secret.yaml",
        "",
        "a\x00b",
    ],
)
def test_paths_never_lead_out_of_the_root(root: Path, path: str) -> None:
    from dioptra_lab.server.paths import resolve_in_root

    with pytest.raises(DioptraLabError) as caught:
        resolve_in_root(root, path)
    assert not isinstance(caught.value, NotFoundError)


def test_a_missing_file_is_not_found(root: Path) -> None:
    from dioptra_lab.server.paths import resolve_in_root

    with pytest.raises(NotFoundError, match="no file 'sub/missing.yaml'"):
        resolve_in_root(root, "sub/missing.yaml")


# -- the error mapping -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (UnknownTaskError("x", ["y"]), 404),
        (UnknownJobError("abc"), 404),
        (UnknownExperimentError("no experiment named 'e'"), 404),
        (NotFoundError("no file"), 404),
        (NotReadyError("no notebook yet"), 409),
        (ServiceError("Redis at redis://x does not answer; start it with `dioptra-lab up`"), 503),
        (ServiceError("the workers are gone"), 503),
        (ParameterError(["parameter 'x': expected a float, got 'a'"]), 400),
        (EntryPointError("e.yaml", [Problem("graph", "missing")]), 400),
        (DioptraLabError("retries must be >= 0"), 400),
    ],
)
def test_errors_map_to_http_answers(exc: Exception, status: int) -> None:
    from dioptra_lab.server.handlers import http_error

    answer = http_error(exc)
    assert answer is not None
    assert answer.status_code == status
    body = answer.body()
    assert body["message"] == str(exc) or "dioptra-lab up" in body["message"]
    if status == 503:
        assert "dioptra-lab up" in body["message"]
    if isinstance(exc, EntryPointError):
        assert body["problems"] == [{"message": "missing", "place": "graph"}]
    if isinstance(exc, ParameterError):
        assert body["problems"] == [{"message": "parameter 'x': expected a float, got 'a'", "place": ""}]


def test_bugs_stay_bugs() -> None:
    from dioptra_lab.server.handlers import http_error

    assert http_error(KeyError("x")) is None  # a 500, logged by jupyter_server


def test_an_unreachable_redis_is_a_503() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from dioptra_lab.server.handlers import http_error

    answer = http_error(RedisConnectionError("Connection refused"))
    assert answer is not None
    assert answer.status_code == 503
    assert "dioptra-lab up" in answer.message


def test_body_errors_name_every_field() -> None:
    from dioptra_lab.server.handlers import SUBMIT_BODY, ApiError, check_body

    with pytest.raises(ApiError) as caught:
        check_body({"entrypoint": 3, "timeout": "soon", "retries": True, "extra": 1}, SUBMIT_BODY)
    places = {p.place for p in caught.value.problems or []}
    assert {"entrypoint", "timeout", "retries"} <= places
    assert any("extra" in p.message for p in caught.value.problems or [])
    with pytest.raises(ApiError, match="'entrypoint' is a required property"):
        check_body({}, SUBMIT_BODY)
    check_body(
        {"entrypoint": "a.yaml", "parameters": {"x": 1}, "grid": {"y": [1, 2]}, "timeout": 2.5}, SUBMIT_BODY
    )


# -- the route table and its document ---------------------------------------------------------
def test_every_route_is_documented_and_nothing_else() -> None:
    from dioptra_lab.server.routes import ROUTES, document
    from dioptra_lab.server.spec import operations

    doc = document("/base/")
    routes = {("/" + pattern, method) for pattern, handler in ROUTES for method in operations(handler)}
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert routes == documented
    assert len(ROUTES) == len({p for p, _ in ROUTES})
    for _, handler in ROUTES:
        assert operations(handler), f"{handler.__name__} declares no operation"
        for name in ("get", "post", "put", "patch", "delete"):
            if name in vars(handler):
                assert name in operations(handler), f"{handler.__name__}.{name} is not declared"
    assert doc["servers"] == [{"url": "/base/dioptra-lab/api/v1"}]


def test_the_document_is_valid_openapi_with_resolvable_references() -> None:
    from jsonschema import Draft202012Validator

    from dioptra_lab.server.routes import document

    doc = document()
    assert doc["openapi"].startswith("3.1")
    text = json.dumps(doc)
    schemas = doc["components"]["schemas"]
    for name in set(re.findall(r'"#/components/schemas/(\w+)"', text)):
        assert name in schemas, name
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)  # raises when malformed
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert {"403", "400", "503"} <= set(op["responses"]), (path, method)
            assert op["operationId"]
            for param in op["parameters"]:
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_the_document_loads_in_schemathesis() -> None:
    import schemathesis

    from dioptra_lab.server.routes import document

    schema = schemathesis.openapi.from_dict(document())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) for item in document()["paths"].values())


def test_tornado_patterns() -> None:
    from dioptra_lab.server.spec import tornado_pattern

    assert tornado_pattern("jobs/{id}/logs") == "jobs/([^/]+)/logs"
    assert tornado_pattern("entrypoints/{path}") == "entrypoints/(.+)"
    assert tornado_pattern("openapi.json") == "openapi\\.json"


# -- packaging ---------------------------------------------------------------------------------
def test_the_extension_is_declared_and_importing_it_is_cheap() -> None:
    import dioptra_lab

    assert dioptra_lab._jupyter_server_extension_points() == [{"module": "dioptra_lab.server"}]
    config = json.loads((REPO / "jupyter-config/jupyter_server_config.d/dioptra_lab.json").read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"dioptra_lab": True}}}
    probe = (
        "import sys, dioptra_lab, dioptra_lab.server\n"
        "dioptra_lab._jupyter_server_extension_points()\n"
        "names = ('tornado', 'jupyter_server', 'mlflow', 'rq', 'dioptra_lab.api')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_answers_have_no_nan() -> None:
    from dioptra_lab.server.handlers import finite

    data = {"metrics": {"loss": float("nan"), "acc": 0.5}, "rows": [float("inf"), 1, "x"]}
    assert json.dumps(finite(data), allow_nan=False) == (
        '{"metrics": {"loss": null, "acc": 0.5}, "rows": [null, 1, "x"]}'
    )
