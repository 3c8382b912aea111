"""Bundles: the immutable, content-addressed snapshot one job runs.

A bundle holds the entry point's text, the notebook compiled from it, the exact source
of every plugin on the plugin path (plugins import one another, so all of them are
kept) and the parameter values. Its sha256 is computed over a canonical JSON form;
the worker recomputes it before running and refuses a bundle that does not match.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from dioptra_lab.entrypoints.compile import compile_entrypoint
from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.entrypoints.names import file_name_problem
from dioptra_lab.errors import DioptraLabError, EntryPointError, Problem, brief
from dioptra_lab.plugins.registry import Registry

BUNDLE_ARTIFACT = "bundle/bundle.json"
FORMAT = 1


def _digest(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Bundle:
    """A job's snapshot; ``sha256`` identifies its content."""

    content: dict[str, Any]

    @property
    def sha256(self) -> str:
        return _digest(self.content)

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.content["parameters"])

    @property
    def entrypoint_name(self) -> str:
        return str(self.content["entrypoint"]["name"])

    def plugin_hashes(self) -> dict[str, str]:
        """sha256 of each plugin's files, for tags and comparisons."""
        return {name: _digest(files) for name, files in self.content["plugins"].items()}

    def notebook(self) -> nbformat.NotebookNode:
        """The compiled notebook this bundle runs."""
        return nbformat.from_dict(self.content["notebook"])

    def with_parameters(self, parameters: dict[str, Any]) -> Bundle:
        """The same code with other parameter values (for sweeps)."""
        from dioptra_lab.engine.results import to_jsonable

        return Bundle({**self.content, "parameters": to_jsonable(dict(parameters))})

    def code(self) -> dict[str, Any]:
        """Everything but the parameters: what the jobs of one sweep share."""
        return {k: v for k, v in self.content.items() if k != "parameters"}

    @property
    def code_sha256(self) -> str:
        return _digest(self.code())

    @classmethod
    def from_code(cls, code: dict[str, Any], parameters: dict[str, Any], expected_sha256: str) -> Bundle:
        """Rebuild a job's bundle from the shared code and its own parameters.

        Raises:
            DioptraLabError: the result is not the bundle expected (its sha256 differs).
        """
        bundle = cls({**code, "parameters": parameters})
        if bundle.sha256 != expected_sha256:
            raise DioptraLabError(
                f"bundle hash mismatch: expected {expected_sha256}, computed {bundle.sha256}"
            )
        return bundle

    def to_json(self) -> str:
        return json.dumps({"sha256": self.sha256, **self.content}, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str, expected_sha256: str | None = None) -> Bundle:
        """Parse a bundle and verify its hash (against ``expected_sha256`` when given).

        Raises:
            DioptraLabError: the bundle is damaged or is not the one expected.
        """
        data = json.loads(text)
        recorded = data.pop("sha256", None)
        bundle = cls(data)
        actual = bundle.sha256
        for want in (recorded, expected_sha256):
            if want and want != actual:
                raise DioptraLabError(
                    f"bundle hash mismatch: expected {want}, computed {actual}; the bundle was altered"
                )
        return bundle

    def materialize(self, root: Path) -> tuple[Path, Path]:
        """Write the entry point and plugins under ``root``; return (notebook, plugin folder).

        Raises:
            DioptraLabError: a file of the bundle would land outside ``root`` (a name with
                ``..`` or ``/``, an absolute path); nothing is written then.
        """
        plugins = root / "plugins"
        entry = self.content["entrypoint"]
        named = {
            f"{name}/{rel}": (plugins / name / rel if rel != "." else plugins / f"{name}.py", source)
            for name, sources in self.content["plugins"].items()
            for rel, source in sources.items()
        }
        named[str(entry["filename"])] = (root / str(entry["filename"]), entry["text"])
        inside = root.resolve()
        for name, (path, _) in named.items():
            if not path.resolve().is_relative_to(inside) or path.resolve() == inside:
                raise DioptraLabError(
                    f"bundle {self.sha256[:12]} names a file outside its workspace ({brief(name)}); "
                    "nothing of it was written"
                )
        for path, source in named.values():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source)
        notebook = root / "job.ipynb"
        nbformat.write(self.notebook(), str(notebook))
        return notebook, plugins


def plugin_sources(registry: Registry) -> dict[str, dict[str, str]]:
    """Source files of every plugin found on the plugin path, by plugin and relative path."""
    registry.discover()
    return {
        name: info.sources()
        for name, info in sorted(registry.plugins.items())
        if info.origin == "path" and info.location is not None
    }


def build_bundle(ep: EntryPoint, parameters: dict[str, Any], registry: Registry) -> Bundle:
    """Snapshot a valid entry point, its compiled notebook, the plugins and the parameters."""
    from dioptra_lab.engine.results import to_jsonable

    ep.validate()
    filename = ep.path.name if ep.path else f"{ep.name}.yaml"
    problem = file_name_problem(filename)
    if problem:  # an entry point made in code, not loaded (names of loaded ones are checked)
        raise EntryPointError(ep.source, [Problem("name", f"entry point name: {problem}")])
    return Bundle(
        {
            "format": FORMAT,
            "entrypoint": {
                "name": ep.name,
                "kind": ep.kind,
                "filename": filename,
                "text": ep.text,
                "sha256": ep.digest,
            },
            "notebook": dict(compile_entrypoint(ep, portable=True)),
            "plugins": plugin_sources(registry),
            "parameters": to_jsonable(parameters),
        }
    )


def upload_bundle(client: Any, run_id: str, bundle: Bundle) -> None:
    """Store the bundle as the run's artifact ``bundle/bundle.json``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.json"
        path.write_text(bundle.to_json())
        client.log_artifact(run_id, str(path), artifact_path="bundle")


def download_bundle(client: Any, run_id: str, expected_sha256: str | None = None) -> Bundle:
    """Fetch and verify a run's bundle."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, BUNDLE_ARTIFACT, tmp)
        except Exception as exc:
            raise DioptraLabError(f"run {run_id} has no readable bundle ({exc})") from exc
        return Bundle.from_json(Path(local).read_text(), expected_sha256)
