"""Load artifact inputs from the value given for them: a path or an MLflow URI.

``runs:/RUN_ID/path`` and ``models:/NAME/VERSION`` are fetched with MLflow (imported
only then); a file a Dioptra artifact task serialized is read back by that task's
``deserialize`` (a sidecar file names the task); other local files are read by suffix;
anything else is passed through as is.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dioptra_lab.errors import DioptraLabError


def _load_npy(path: Path) -> Any:
    import numpy as np

    return np.load(path, allow_pickle=False)


def _load_pickle(path: Path) -> Any:
    with path.open("rb") as fh:
        return pickle.load(fh)  # noqa: S301 - artifacts the user's own runs wrote


def _load_torch(path: Path) -> Any:
    import torch

    return torch.load(path, weights_only=False)


LOADERS: dict[str, Callable[[Path], Any]] = {
    ".json": lambda p: json.loads(p.read_text()),
    ".txt": lambda p: p.read_text(),
    ".npy": _load_npy,
    ".pkl": _load_pickle,
    ".pickle": _load_pickle,
    ".pt": _load_torch,
}


def _is_logged_model(mlflow: Any, uri: str) -> bool:
    try:
        mlflow.models.get_model_info(uri)
    except Exception:
        return False
    return True


def load_model(uri: str) -> Any:
    """Load a logged model in its own flavor (PyTorch, scikit-learn), else as pyfunc."""
    import mlflow

    try:
        flavors = mlflow.models.get_model_info(uri).flavors
    except Exception as exc:
        raise DioptraLabError(f"cannot read model {uri}: {exc}") from exc
    if "pytorch" in flavors:
        import mlflow.pytorch

        return mlflow.pytorch.load_model(uri)
    if "sklearn" in flavors:
        import mlflow.sklearn

        return mlflow.sklearn.load_model(uri)
    return mlflow.pyfunc.load_model(uri)


# Beside a file an artifact task serialized: which task, so its deserialize reads it back
ARTIFACT_TASK_SIDECAR = ".dioptra-task.json"


def write_artifact_task_sidecar(path: Path, task_qualname: str) -> None:
    """Record which artifact task serialized ``path`` (uploaded with it in a job)."""
    Path(str(path) + ARTIFACT_TASK_SIDECAR).write_text(json.dumps({"task": task_qualname}))


def _deserialized(path: Path) -> tuple[bool, Any]:
    """(True, value) when ``path`` was written by an artifact task that can read it back."""
    sidecar = Path(str(path) + ARTIFACT_TASK_SIDECAR)
    if not sidecar.is_file():
        return False, None
    from dioptra_lab.plugins.registry import get_registry

    try:
        name = json.loads(sidecar.read_text())["task"]
    except (ValueError, KeyError, TypeError):
        return False, None
    task = get_registry().find_artifact_task(str(name))
    if task is None:
        raise DioptraLabError(
            f"artifact {path.name} was written by artifact task {name!r}, which no plugin defines now; "
            "put its plugin on the plugin path"
        )
    return True, task.deserialize(path.parent, path.name)


def load_artifact(value: Any) -> Any:
    """Turn the value given for an artifact input into the object it names.

    Raises:
        DioptraLabError: the path or URI does not exist or cannot be read.
    """
    if not isinstance(value, str):
        return value
    if value.startswith(("runs:/", "models:/", "mlflow-artifacts:/")):
        try:
            import mlflow
        except ImportError as exc:  # pragma: no cover - mlflow is a core dependency
            raise DioptraLabError("MLflow URIs need mlflow: pip install mlflow") from exc
        if value.startswith("models:/") or _is_logged_model(mlflow, value):
            return load_model(value)
        try:
            local = Path(mlflow.artifacts.download_artifacts(value))
        except Exception as exc:
            raise DioptraLabError(f"cannot fetch artifact {value}: {exc}") from exc
        try:  # the artifact task that wrote it, when one did
            mlflow.artifacts.download_artifacts(value + ARTIFACT_TASK_SIDECAR, dst_path=str(local.parent))
        except Exception:  # noqa: BLE001, S110 - none: read by suffix
            pass
        return load_artifact(str(local))
    path = Path(value)
    if not path.exists():
        raise DioptraLabError(f"artifact input {value!r}: no such file; give a path or a runs:/ URI")
    done, value = _deserialized(path)
    if done:
        return value
    if path.is_dir():
        return path
    loader = LOADERS.get(path.suffix)
    return loader(path) if loader else path
