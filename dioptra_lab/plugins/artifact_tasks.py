"""Dioptra's artifact tasks: classes that serialize a step's output and read it back.

An artifact task is a class with Dioptra's shape (``serialize(working_dir, name, contents,
**kwargs) -> Path``, ``deserialize(working_dir, path, **kwargs)``, ``validation() -> JSON
schema properties | None``). Plugins define them (see :mod:`dioptra_compat`); the usual
ones are built in (:data:`BUILTIN_ARTIFACT_TASKS`). ``artifact_outputs`` name one with
``task: {name: …, args: {…}}``; its arguments are checked against ``validation()`` when
the entry point is loaded.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dioptra_lab.errors import first_line


@dataclass(frozen=True)
class ArtifactTaskSpec:
    """One artifact task: its class, short name and qualified name (``module.Class``)."""

    name: str
    qualname: str
    cls: Any
    plugin: str = "builtin"

    def schema(self) -> dict[str, Any]:
        """The JSON schema of ``serialize``'s extra keyword arguments (an object)."""
        properties = self.cls.validation() or {}
        return {"type": "object", "properties": properties, "additionalProperties": False}

    def argument_problems(self, args: dict[str, Any]) -> list[str]:
        """Why ``args`` do not fit the task's schema (empty when they do)."""
        import jsonschema

        try:
            validator = jsonschema.Draft202012Validator(self.schema())
            errors = sorted(validator.iter_errors(args), key=lambda e: list(e.path))
        except Exception as exc:  # noqa: BLE001 - a plugin's broken schema
            return [f"artifact task {self.name!r} has an unusable validation(): {first_line(str(exc))}"]
        found = []
        for error in errors:
            where = ".".join(str(p) for p in error.path)
            found.append(f"{where + ': ' if where else ''}{first_line(error.message, 200)}")
        return found

    def serialize(self, working_dir: Path, name: str, contents: Any, **kwargs: Any) -> Path:
        return Path(self.cls.serialize(working_dir, name, contents, **kwargs))

    def deserialize(self, working_dir: Path, path: str, **kwargs: Any) -> Any:
        return self.cls.deserialize(working_dir, path, **kwargs)


def is_artifact_task(value: Any) -> bool:
    """Whether ``value`` is a class with Dioptra's artifact-task shape (not the interface)."""
    if not inspect.isclass(value) or getattr(value, "__name__", "") == "ArtifactTaskInterface":
        return False
    return all(callable(getattr(value, attr, None)) for attr in ("serialize", "deserialize", "validation"))


# -- built-in artifact tasks --------------------------------------------------------------
class StringArtifactTask:
    """A text, as ``<name>.txt`` (``encoding``, default utf-8)."""

    @staticmethod
    def serialize(working_dir: Path, name: str, contents: Any, encoding: str = "utf-8", **_: Any) -> Path:
        path = Path(working_dir) / f"{name}.txt"
        path.write_text(str(contents), encoding=encoding)
        return path

    @staticmethod
    def deserialize(working_dir: Path, path: str, encoding: str = "utf-8", **_: Any) -> Any:
        return (Path(working_dir) / path).read_text(encoding=encoding)

    @staticmethod
    def validation() -> dict[str, Any] | None:
        return {"encoding": {"type": "string"}}


class BytesArtifactTask:
    """Bytes, as ``<name>.bin``."""

    @staticmethod
    def serialize(working_dir: Path, name: str, contents: Any, **_: Any) -> Path:
        path = Path(working_dir) / f"{name}.bin"
        path.write_bytes(bytes(contents))
        return path

    @staticmethod
    def deserialize(working_dir: Path, path: str, **_: Any) -> Any:
        return (Path(working_dir) / path).read_bytes()

    @staticmethod
    def validation() -> dict[str, Any] | None:
        return None


class JsonArtifactTask:
    """A JSON-ready value, as ``<name>.json``."""

    @staticmethod
    def serialize(working_dir: Path, name: str, contents: Any, indent: int | None = None, **_: Any) -> Path:
        path = Path(working_dir) / f"{name}.json"
        path.write_text(json.dumps(contents, indent=indent))
        return path

    @staticmethod
    def deserialize(working_dir: Path, path: str, **_: Any) -> Any:
        return json.loads((Path(working_dir) / path).read_text())

    @staticmethod
    def validation() -> dict[str, Any] | None:
        return {"indent": {"type": ["integer", "null"], "minimum": 0}}


class NumpyArrayArtifactTask:
    """A NumPy array, as ``<name>.npy`` (no pickles)."""

    @staticmethod
    def serialize(working_dir: Path, name: str, contents: Any, **_: Any) -> Path:
        import numpy as np

        path = Path(working_dir) / f"{name}.npy"
        np.save(path, np.asarray(contents), allow_pickle=False)
        return path

    @staticmethod
    def deserialize(working_dir: Path, path: str, **_: Any) -> Any:
        import numpy as np

        return np.load(Path(working_dir) / path, allow_pickle=False)

    @staticmethod
    def validation() -> dict[str, Any] | None:
        return None


class DataFrameArtifactTask:
    """A pandas DataFrame, as CSV or JSON (``format``: csv, json; default csv)."""

    @staticmethod
    def serialize(working_dir: Path, name: str, contents: Any, format: str = "csv", **_: Any) -> Path:  # noqa: A002
        path = Path(working_dir) / f"{name}.{format}"
        if format == "json":
            contents.to_json(path, orient="records")
        else:
            contents.to_csv(path, index=False)
        return path

    @staticmethod
    def deserialize(working_dir: Path, path: str, **_: Any) -> Any:
        import pandas as pd

        full = Path(working_dir) / path
        return pd.read_json(full, orient="records") if full.suffix == ".json" else pd.read_csv(full)

    @staticmethod
    def validation() -> dict[str, Any] | None:
        return {"format": {"enum": ["csv", "json"]}}


class TorchModelArtifactTask:
    """A PyTorch model (its ``state_dict``, or the whole module with ``whole: true``), as ``<name>.pt``."""

    @staticmethod
    def serialize(working_dir: Path, name: str, contents: Any, whole: bool = False, **_: Any) -> Path:
        import torch

        path = Path(working_dir) / f"{name}.pt"
        torch.save(contents if whole or not hasattr(contents, "state_dict") else contents.state_dict(), path)
        return path

    @staticmethod
    def deserialize(working_dir: Path, path: str, **_: Any) -> Any:
        import torch

        return torch.load(Path(working_dir) / path, weights_only=False)

    @staticmethod
    def validation() -> dict[str, Any] | None:
        return {"whole": {"type": "boolean"}}


BUILTIN_ARTIFACT_TASKS: dict[str, ArtifactTaskSpec] = {
    cls.__name__: ArtifactTaskSpec(cls.__name__, f"{__name__}.{cls.__name__}", cls)
    for cls in (
        StringArtifactTask,
        BytesArtifactTask,
        JsonArtifactTask,
        NumpyArrayArtifactTask,
        DataFrameArtifactTask,
        TorchModelArtifactTask,
    )
}
