"""The typed views every interface shows: JSON round trips, schemas, the lifecycle's rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dioptra_lab.errors import Problem
from dioptra_lab.jobs.lifecycle import TRANSITIONS, allowed
from dioptra_lab.models import (
    ALL_MODELS,
    Failure,
    JobInfo,
    JobStatus,
    ParameterInfo,
    ProblemInfo,
    Progress,
)
from tests.conftest import ENTRYPOINTS, PLUGINS

REPO = Path(__file__).resolve().parents[2]


def test_job_info_to_json_is_plain_json() -> None:
    info = JobInfo(
        id="abc",
        status=JobStatus.FAILED,
        experiment="e",
        entrypoint="fgsm",
        queue="cpu",
        progress=Progress("model", "lab_models.tasks.train_model", 3, 7, "started"),
        failure=Failure("step model failed", "ValueError", "bad", step="model", task="t"),
        submitted=10.0,
        ended=12.5,
    )
    data = json.loads(json.dumps(info.to_json()))
    assert data["status"] == "failed"
    assert data["progress"]["index"] == 3
    assert data["failure"] == {
        "reason": "step model failed",
        "exception": "ValueError",
        "message": "bad",
        "step": "model",
        "task": "t",
        "cell": None,
    }
    assert info.seconds == 2.5


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_every_view_has_a_schema_naming_its_fields(model: type) -> None:
    definitions: dict[str, object] = {}
    schema = model.schema(definitions)  # type: ignore[attr-defined]
    assert schema["type"] == "object"
    assert set(schema["properties"]) == set(model.__dataclass_fields__)
    assert schema["description"]  # the first docstring line is what the API documents
    json.dumps([schema, definitions])


def test_schema_of_job_info_types_its_fields() -> None:
    definitions: dict[str, object] = {}
    props = JobInfo.schema(definitions)["properties"]
    assert props["status"] == {"type": "string", "enum": [s.value for s in JobStatus]}
    assert props["attempt"] == {"type": "integer"}
    assert {"$ref": "#/components/schemas/Failure"} in props["failure"]["anyOf"]
    assert "Failure" in definitions
    assert "Progress" in definitions


def test_failure_reads_like_the_cli_message() -> None:
    step = Failure("step s failed", "ZeroDivisionError", "division by zero", step="s", task="p.t.divide")
    assert str(step) == "step 's' (task p.t.divide) failed: ZeroDivisionError: division by zero"
    assert str(Failure("cell 3 failed", "KeyError", "'x'", cell=3)) == "cell 3 failed: KeyError: 'x'"
    assert str(Failure("timeout", "JobTimeoutException", "")) == "timeout (JobTimeoutException)"


def test_problem_and_parameter_views() -> None:
    assert ProblemInfo.of(Problem("graph.a", "unknown task")).to_json() == {
        "message": "unknown task",
        "place": "graph.a",
    }
    info = ParameterInfo.from_description(
        {
            "name": "eps",
            "kind": "float",
            "type": "float[>=0.0, <=1.0]",
            "required": False,
            "default": 0.1,
            "ge": 0.0,
            "le": 1.0,
            "minimum": 0.0,
            "maximum": 1.0,
        }
    )
    assert (info.minimum, info.maximum, info.exclusive_minimum, info.default) == (0.0, 1.0, False, 0.1)


def test_lifecycle_allows_only_the_documented_moves() -> None:
    q, r, f, x, c = (
        JobStatus.QUEUED,
        JobStatus.RUNNING,
        JobStatus.FINISHED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    )
    for start, end in ((q, r), (r, f), (r, x), (r, c), (q, c)):
        assert allowed(start, end), (start, end)
    assert allowed(r, q)  # a failed or abandoned attempt that RQ retries
    for final in (f, x, c):
        assert not TRANSITIONS[final], f"{final} is final"
    assert not allowed(q, f)  # nothing finishes without running


def test_only_the_lifecycle_writes_run_statuses() -> None:
    writers = []
    for path in (REPO / "dioptra_lab").rglob("*.py"):
        text = path.read_text()
        for call in ("write_status(", "set_terminated(", "update_run(", "update_run_info("):
            if call in text:
                writers.append(f"{path.relative_to(REPO)}:{call}")
    allowed_here = {"dioptra_lab/tracking/runs.py", "dioptra_lab/jobs/lifecycle.py"}
    assert {w.split(":")[0] for w in writers} <= allowed_here, writers


BUNDLE_SCRIPT = """
from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.plugins.registry import get_registry
from dioptra_lab.tracking.bundles import build_bundle

ep = load_entrypoint("hello.yaml").validate()
bundle = build_bundle(ep, ep.coerce({}), get_registry())
print(bundle.sha256)
print(bundle.to_json())
"""


def test_same_code_from_two_folders_gives_the_same_bundle(tmp_path: Path) -> None:
    hashes = []
    for name in ("checkout-a", "elsewhere/checkout-b"):
        root = tmp_path / name
        shutil.copytree(PLUGINS, root / "plugins")
        shutil.copy(ENTRYPOINTS / "hello_dioptra.yaml", root / "hello.yaml")
        env = {**os.environ, "DIOPTRA_LAB_PLUGIN_PATH": "plugins", "DIOPTRA_LAB_HOME": str(root / ".dl")}
        proc = subprocess.run(
            [sys.executable, "-c", BUNDLE_SCRIPT],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        sha, text = proc.stdout.split("\n", 1)
        assert str(tmp_path) not in text  # no path of the submitter's machine in the bundle
        hashes.append(sha)
    assert hashes[0] == hashes[1]
