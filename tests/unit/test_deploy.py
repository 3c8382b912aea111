"""The deployment files: docker-compose.yml, .env.example, worker/ images, kernels/, binder/.

No Docker daemon runs on these machines: the compose file is checked by reading it (the
invariants every service must keep) and by Debian's ``docker-compose config`` (its own schema
and interpolation) with the committed ``.env.example``; the service scripts are checked by
``sh -n`` here and run for real by the stack tests' PostgreSQL path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SERVICES = {"redis", "postgres", "mlflow", "prefect", "lab", "worker-cpu", "worker-gpu-0", "worker-gpu-1"}
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "AUTH")


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def strings(node: Any) -> list[str]:
    """Every string in a parsed YAML tree (keys excluded)."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []


def test_every_service_is_there_with_a_healthcheck_a_restart_policy_and_healthy_dependencies() -> None:
    services = compose()["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check.get("test"), f"{name}'s healthcheck has no test"
        assert service.get("restart") == "unless-stopped", name
        for dependency, how in (service.get("depends_on") or {}).items():
            assert dependency in services, (name, dependency)
            assert how == {"condition": "service_healthy"}, (name, dependency)
    # the workers wait for the three services they talk to; MLflow and Prefect for PostgreSQL
    for worker in ("worker-cpu", "worker-gpu-0", "worker-gpu-1", "lab"):
        assert set(services[worker]["depends_on"]) == {"redis", "mlflow", "prefect"}, worker
    assert set(services["mlflow"]["depends_on"]) == {"postgres"}
    assert set(services["prefect"]["depends_on"]) == {"postgres"}
    assert services["worker-cpu"]["healthcheck"]["test"] == ["CMD", "dioptra-lab", "worker", "--healthcheck"]


def test_redis_keeps_an_append_only_file_and_requires_a_password() -> None:
    redis = compose()["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert '--requirepass "$$REDIS_PASSWORD"' in command  # from the environment, at run time
    assert redis["volumes"] == ["redis-data:/data"]


def test_no_secret_is_inline_and_every_variable_is_in_env_example() -> None:
    text = COMPOSE.read_text()
    example = env_example()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    assert used, "no ${VAR} found: the test would check nothing"
    assert used <= set(example), f"not in .env.example: {sorted(used - set(example))}"
    # a secret is never given a default: compose refuses to start without it (`:?`)
    for var in used:
        if any(word in var for word in SECRET_WORDS):
            forms = set(re.findall(r"\$\{" + var + r"(:?[?-]?)", text))
            assert forms == {":?"}, f"{var} is used as {forms}: a secret must be ${{{var}:?...}}"
    # and no literal value in the file looks like one (KEY: value where KEY says secret)
    for service in compose()["services"].values():
        environment = service.get("environment") or {}
        for key, value in environment.items():
            if any(word in key for word in SECRET_WORDS):
                assert "${" in str(value), f"inline secret {key}={value!r}"
    assert all(
        value.startswith("change-me") or ":change-me" in value
        for key, value in example.items()
        if any(word in key for word in SECRET_WORDS)
    ), "a real-looking secret in .env.example"


def test_env_is_ignored_and_kept_out_of_images() -> None:
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()
    assert ".env" in (REPO / ".dockerignore").read_text().splitlines()
    listed = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO, check=False, capture_output=True)
    assert listed.returncode == 0, "git does not ignore .env"


def test_gpu_workers_reserve_their_device_and_serve_the_gpu_queue() -> None:
    services = compose()["services"]
    for name, device in (("worker-gpu-0", "0"), ("worker-gpu-1", "1")):
        service = services[name]
        (reservation,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert reservation["driver"] == "nvidia"
        assert reservation["device_ids"] == [device]
        assert reservation["capabilities"] == ["gpu"]
        command = service["command"]
        assert command[command.index("--queue") + 1] == "gpu"
        # inside the container its one reserved GPU is device 0
        assert command[command.index("--gpu") + 1] == "0"
        assert service["profiles"], f"{name} must not start on a machine without GPUs"
    assert "deploy" not in services["worker-cpu"]
    assert "profiles" not in services["worker-cpu"]  # scalable: --scale worker-cpu=N
    assert "container_name" not in services["worker-cpu"]


def test_state_lives_in_named_volumes() -> None:
    spec = compose()
    named = set(spec["volumes"])
    assert named == {"redis-data", "postgres-data", "mlflow-artifacts", "lab-home"}
    mounted = set()
    for service in spec["services"].values():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if not source.startswith("."):  # bind mounts of the user's files are ./…
                assert source in named, f"{source} is not a named volume"
                mounted.add(source)
    assert mounted == named


def test_every_file_the_compose_file_and_images_use_exists_and_parses() -> None:
    for path in re.findall(r"\./(worker/[\w.-]+)", COMPOSE.read_text()):
        assert (REPO / path).is_file(), path
    dockerfile = (REPO / "worker" / "Dockerfile").read_text()
    targets = re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.M)
    assert targets == ["build", "worker", "worker-cuda", "lab"]
    for target in {s["build"]["target"] for s in compose()["services"].values() if "build" in s}:
        assert target in targets
    for copied in re.findall(r"^COPY (worker/\S+(?: worker/\S+)*) ", dockerfile, re.M):
        for path in copied.split():
            assert (REPO / path).is_file(), path
    assert len(re.findall(r"^USER lab$", dockerfile, re.M)) == 3  # never root at run time
    assert dockerfile.count('ENTRYPOINT ["dioptra-lab", "worker"]') == 2
    assert dockerfile.count('CMD ["dioptra-lab", "worker", "--healthcheck"]') == 2
    assert "download.pytorch.org/whl/cpu" in dockerfile
    assert "whl/cu128" in dockerfile
    for script in ("mlflow-server.sh", "prefect-server.sh", "postgres-init.sh"):
        path = REPO / "worker" / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        subprocess.run(["sh", "-n", str(path)], check=True)
    compile(  # the healthcheck script
        (REPO / "worker" / "http-ok.py").read_text(), "http-ok.py", "exec"
    )


def _compose_config(tmp_path: Path, env: dict[str, str], *profiles: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is not installed (make test installs Debian's docker-compose)"
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    argv = [tool, "--project-directory", str(REPO), "-f", str(COMPOSE), "--env-file", str(tmp_path / ".env")]
    for profile in profiles:
        argv += ["--profile", profile]
    clean = {k: v for k, v in os.environ.items() if k not in env}
    return subprocess.run(
        [*argv, "config"], capture_output=True, text=True, timeout=60, env=clean, check=False
    )


def test_docker_compose_config_accepts_the_file_with_env_example(tmp_path: Path) -> None:
    done = _compose_config(tmp_path, env_example(), "gpu", "gpu2")
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert set(resolved["services"]) == SERVICES
    worker = resolved["services"]["worker-cpu"]["environment"]
    assert worker["DIOPTRA_LAB_REDIS_URL"] == "redis://:change-me-redis@redis:6379/0"
    assert worker["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert worker["PREFECT_API_URL"] == "http://prefect:4200/api"
    assert worker["PREFECT_API_AUTH_STRING"] == "admin:change-me-prefect"


def test_docker_compose_refuses_to_run_without_the_secrets(tmp_path: Path) -> None:
    example = env_example()
    del example["REDIS_PASSWORD"]
    done = _compose_config(tmp_path, example)
    assert done.returncode != 0
    assert "set REDIS_PASSWORD in .env" in done.stderr


def test_the_kernel_spec_and_binder_files() -> None:
    spec = json.loads((REPO / "kernels" / "dioptra-lab" / "kernel.json").read_text())
    assert spec["argv"][:3] == ["python", "-m", "ipykernel_launcher"]  # the environment's Python
    assert "{connection_file}" in spec["argv"]
    assert spec["language"] == "python"
    binder = REPO / "binder"
    requirements = (binder / "requirements.txt").read_text()
    assert "torch==2.13.0" in requirements
    assert "download.pytorch.org/whl/cpu" in requirements
    assert (binder / "apt.txt").read_text().split() == ["redis-server"]
    for script in ("postBuild", "start"):
        assert os.access(binder / script, os.X_OK), script
        subprocess.run(["bash", "-n", str(binder / script)], check=True)
    assert 'exec "$@"' in (binder / "start").read_text()  # then Binder's own server


def test_worker_services_get_the_three_urls_and_their_passwords(tmp_path: Path) -> None:
    done = _compose_config(tmp_path, env_example(), "gpu", "gpu2")
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    workers = sorted(name for name in services if name.startswith("worker-") or name == "lab")
    assert workers == ["lab", "worker-cpu", "worker-gpu-0", "worker-gpu-1"]
    for name in workers:
        environment = services[name]["environment"]
        for key in (
            "DIOPTRA_LAB_REDIS_URL",
            "MLFLOW_TRACKING_URI",
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
            "PREFECT_API_URL",
            "PREFECT_API_AUTH_STRING",
        ):
            assert environment.get(key), (name, key)
