"""Import a NIST Dioptra resource repository into a folder of ours.

A Dioptra resource repository (the layout of Dioptra's own ``extra/`` folder, read by its
REST API's "import resources" workflow) has a ``dioptra.toml``:

- ``[[plugins]]``: ``path`` (a folder of Python files; the plugin's name is the folder's
  name), ``tasks.functions`` (``filename``, ``name``, ``input_params`` of name/type/required,
  ``output_params`` of name/type) and ``tasks.artifacts`` (artifact-task classes, each
  checked to be a class in its file); an older layout's ``[[plugins.tasks]]`` array of
  function tasks is read as ``tasks.functions``;
- ``[[plugin_param_types]]``: ``name`` and an optional ``structure`` (a Dioptra type
  definition);
- ``[[entrypoints]]``: ``path`` (a YAML file with ``graph:`` and optionally ``artifacts:``),
  ``name``, ``params`` (name, type — string, float, integer, boolean, list, mapping — and
  ``default_value``), ``plugins`` (the plugins whose tasks it may use), ``artifact_params``
  (name and ``output_params``) and ``artifact_plugins`` (each must be one of the
  ``[[plugins]]``; all their artifact tasks are on the plugin path). Dioptra 1.2.2's
  schema gives an entry point no queues (its import attaches none); a ``queues`` key is
  reported as not kept: submit with ``--queue``.

Dioptra builds each entry point's complete description from these when a job runs; the
import does it once, so that each entry point becomes a **complete Dioptra-format YAML**
(``types``, ``parameters``, ``artifact_inputs``, ``tasks``, ``graph``, ``artifact_outputs``)
judged by Dioptra's rules, and each plugin a folder on the plugin path (its Dioptra imports
work through :mod:`dioptra_lab.plugins.dioptra_compat`). Everything that could not be
carried over is listed in the returned report (and ``import-report.txt``), never dropped
silently.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dioptra_lab.entrypoints.names import entrypoint_name_problem, file_name_problem
from dioptra_lab.errors import DioptraLabError, brief, first_line

# Dioptra's entry-point parameter types, as its task engine types them (list and mapping
# parameters get no type there: their default's type is inferred)
PARAM_TYPES = {"string": "string", "float": "number", "integer": "integer", "boolean": "boolean"}
UNTYPED_PARAMS = {"list", "mapping"}
BUILTIN_TYPE_NAMES = {"any", "string", "integer", "number", "boolean", "null"}


@dataclass
class ImportReport:
    """What an import wrote, and what it could not carry over (each with its reason)."""

    output: Path
    plugins: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    artifact_tasks: list[str] = field(default_factory=list)
    entrypoints: dict[str, Path] = field(default_factory=dict)
    not_carried: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [
            f"imported into {self.output}",
            f"plugins ({len(self.plugins)}): {', '.join(self.plugins) or 'none'}  -> plugins/",
            f"function tasks ({len(self.tasks)}): {', '.join(self.tasks) or 'none'}",
            f"artifact tasks ({len(self.artifact_tasks)}): {', '.join(self.artifact_tasks) or 'none'}",
            f"entry points ({len(self.entrypoints)}):",
            *(f"  {name}: {path.relative_to(self.output)}" for name, path in self.entrypoints.items()),
        ]
        if self.not_carried:
            lines.append(f"not carried over ({len(self.not_carried)}):")
            lines += [f"  - {item}" for item in self.not_carried]
        else:
            lines.append("everything was carried over")
        return "\n".join(lines)


def module_of(plugin: str, filename: str) -> str:
    """The module a plugin's ``filename`` (``tasks.py``, ``sub/x.py``, ``__init__.py``) becomes."""
    parts = [Path(p).stem for p in Path(filename).parts]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([plugin, *parts])


def fetch_source(source: str, into: Path) -> Path:
    """A local folder as is; a git URL (``https://``, ``git@``, ``file://``, ``….git``) cloned."""
    local = Path(source).expanduser()
    if local.is_dir():
        return local
    if not (
        source.startswith(("https://", "http://", "git@", "file://", "ssh://")) or source.endswith(".git")
    ):
        raise DioptraLabError(f"{brief(source)} is neither a folder nor a git URL; give one or the other")
    target = into / "repository"
    done = subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", source, str(target)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise DioptraLabError(f"cannot clone {brief(source)}: {first_line(done.stderr) or 'git failed'}")
    return target


def import_dioptra(
    source: str | Path, output: str | Path, *, config: str = "dioptra.toml", force: bool = False
) -> ImportReport:
    """Read a Dioptra resource repository (folder or git URL) into ``output``.

    Writes ``output/plugins/<plugin>/`` (the plugins' Python files), one complete
    Dioptra-format YAML per entry point in ``output/entrypoints/`` and
    ``output/import-report.txt``; then loads every written entry point against the imported
    plugins and reports its problems.

    Raises:
        DioptraLabError: no such folder or repository, no ``dioptra.toml`` or one that is not
            TOML or not of Dioptra's shape, or ``output`` not empty (without ``force``).
    """
    out = Path(output)
    if out.exists() and any(out.iterdir()) and not force:
        raise DioptraLabError(f"{out} is not empty; choose a new folder (or pass force=True / --force)")
    with tempfile.TemporaryDirectory(prefix="dioptra-import-") as scratch:
        root = fetch_source(str(source), Path(scratch))
        config_path = root / config
        if not config_path.is_file():
            raise DioptraLabError(
                f"no {config} in {brief(str(source))}: is this a Dioptra resource repository?"
            )
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise DioptraLabError(f"{config} is not valid TOML: {first_line(str(exc))}") from None
        return _Importer(root, out, data).run()


class _Importer:
    def __init__(self, root: Path, out: Path, data: dict[str, Any]) -> None:
        self.root = root.resolve()
        self.out = out
        self.data = data
        self.report = ImportReport(out)
        self.tasks_by_plugin: dict[str, dict[str, Any]] = {}
        self.types: dict[str, Any] = {}
        self.artifact_files: dict[str, Any] = {}

    def skip(self, what: str) -> None:
        self.report.not_carried.append(what)

    def inside(self, relative: Any, what: str) -> Path | None:
        """``relative`` under the repository's root; never a path that leaves it."""
        if not isinstance(relative, str) or not relative:
            self.skip(f"{what}: no path")
            return None
        found = (self.root / relative).resolve()
        if not found.is_relative_to(self.root):
            self.skip(f"{what}: {brief(relative)} leaves the repository")
            return None
        return found

    def run(self) -> ImportReport:
        for key in ("plugins", "plugin_param_types", "entrypoints"):
            if key in self.data and not isinstance(self.data[key], list):
                raise DioptraLabError(f"dioptra.toml: `{key}` must be an array of tables ([[{key}]])")
        extra = sorted(set(self.data) - {"plugins", "plugin_param_types", "entrypoints"})
        if extra:
            self.skip(f"dioptra.toml: unknown keys {', '.join(extra)} (not part of Dioptra's format)")
        for item in self.data.get("plugin_param_types", []):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                name = item["name"]
                if name in self.types and self.types[name] != item.get("structure"):
                    self.skip(
                        f"plugin_param_types: {name!r} is defined twice, differently; the first is kept"
                    )
                elif name not in BUILTIN_TYPE_NAMES and name not in self.types:
                    self.types[name] = item.get("structure")
            else:
                self.skip(f"plugin_param_types: an entry without a name ({brief(item)})")
        for plugin in self.data.get("plugins", []):
            self.import_plugin(plugin)
        (self.out / "entrypoints").mkdir(parents=True, exist_ok=True)
        for entrypoint in self.data.get("entrypoints", []):
            self.import_entrypoint(entrypoint)
        self.check_written()
        (self.out / "import-report.txt").write_text(self.report.text() + "\n")
        return self.report

    # -- plugins ------------------------------------------------------------------------
    def import_plugin(self, plugin: Any) -> None:
        if not isinstance(plugin, dict):
            self.skip(f"plugins: {brief(plugin)} is not a table")
            return
        folder = self.inside(plugin.get("path"), "plugin")
        if folder is None:
            return
        name = folder.name
        if not folder.is_dir() or not name.isidentifier():
            self.skip(f"plugin {brief(plugin.get('path'))}: not a folder named like a Python package")
            return
        target = self.out / "plugins" / name
        files = sorted(
            p for p in folder.rglob("*.py") if "__pycache__" not in p.parts and not p.name.startswith(".")
        )
        for path in files:
            relative = path.relative_to(folder)
            if any(file_name_problem(part) for part in relative.parts):
                self.skip(f"plugin {name}: file {brief(str(relative))} has an unsafe name")
                continue
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative)
        for package in {target, *(target / p.relative_to(folder).parent for p in files)}:
            init = package / "__init__.py"
            if package.is_dir() and not init.exists():
                init.write_text('"""Made by dioptra-lab import: Dioptra plugins need no __init__.py."""\n')
        self.report.plugins.append(name)
        tasks = plugin.get("tasks") or {}
        if isinstance(tasks, list):
            # an older layout, `[[plugins.tasks]]`: an array of function tasks
            tasks = {"functions": tasks}
        elif not isinstance(tasks, dict):
            self.skip(f"plugin {name}: `tasks` is neither a table nor an array of tables")
            tasks = {}
        declared: dict[str, Any] = {}
        for function in tasks.get("functions", []):
            entry = self.function_task(name, function)
            if entry is not None:
                short, decl = entry
                declared[short] = decl
                self.report.tasks.append(f"{name}.{short}")
        for artifact in tasks.get("artifacts", []):
            if isinstance(artifact, dict) and isinstance(artifact.get("name"), str):
                self.report.artifact_tasks.append(f"{name}.{artifact['name']}")
                self.artifact_files[f"{name}.{artifact['name']}"] = artifact.get("filename")
            else:
                self.skip(f"plugin {name}: an artifact task without a name")
        self.tasks_by_plugin[name] = declared

    def function_task(self, plugin: str, function: Any) -> tuple[str, dict[str, Any]] | None:
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            self.skip(f"plugin {plugin}: a function task without a name ({brief(function)})")
            return None
        short = function["name"]
        filename = function.get("filename")
        if not isinstance(filename, str) or not filename.endswith(".py"):
            self.skip(f"task {plugin}.{short}: no Python `filename`")
            return None
        decl: dict[str, Any] = {"plugin": f"{module_of(plugin, filename)}.{short}"}
        inputs = []
        for param in function.get("input_params", []):
            if not isinstance(param, dict) or "name" not in param or "type" not in param:
                self.skip(f"task {plugin}.{short}: an input without name and type ({brief(param)})")
                continue
            item = {"name": param["name"], "type": param["type"]}
            if param.get("required", True) is False:
                item["required"] = False
            inputs.append(item)
        outputs = [
            {param["name"]: param["type"]}
            for param in function.get("output_params", [])
            if isinstance(param, dict) and "name" in param and "type" in param
        ]
        if inputs:
            decl["inputs"] = inputs
        if outputs:
            decl["outputs"] = outputs if len(outputs) > 1 else outputs[0]
        return short, decl

    # -- entry points -------------------------------------------------------------------
    def import_entrypoint(self, entrypoint: Any) -> None:
        if not isinstance(entrypoint, dict):
            self.skip(f"entrypoints: {brief(entrypoint)} is not a table")
            return
        path = self.inside(entrypoint.get("path"), "entry point")
        if path is None:
            return
        name = entrypoint.get("name") or path.stem
        if entrypoint_name_problem(name):
            self.skip(f"entry point {brief(name)}: {entrypoint_name_problem(name)}")
            return
        try:
            contents = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            self.skip(f"entry point {name}: cannot read {path.name}: {first_line(str(exc))}")
            return
        if not isinstance(contents, dict) or not isinstance(contents.get("graph"), dict):
            self.skip(f"entry point {name}: {path.name} has no `graph:` mapping")
            return
        description: dict[str, Any] = {"name": name}
        if isinstance(entrypoint.get("description"), str):
            description["description"] = entrypoint["description"]
        parameters = {}
        for param in entrypoint.get("params", []):
            converted = self.parameter(name, param)
            if converted is not None:
                parameters[param["name"]] = converted
        plugins = entrypoint.get("plugins")
        chosen = list(self.tasks_by_plugin) if plugins is None else plugins
        tasks: dict[str, Any] = {}
        for plugin in chosen:
            if plugin not in self.tasks_by_plugin:
                self.skip(f"entry point {name}: plugin {brief(plugin)} is not in [[plugins]]")
                continue
            tasks.update(self.tasks_by_plugin[plugin])
        artifact_plugins = entrypoint.get("artifact_plugins", [])
        for plugin in artifact_plugins if isinstance(artifact_plugins, list) else [artifact_plugins]:
            # all imported plugins are on the plugin path, so their artifact tasks are found
            # by class name; Dioptra refuses an artifact plugin it was not given
            if not isinstance(plugin, str) or plugin not in self.tasks_by_plugin:
                self.skip(f"entry point {name}: artifact plugin {brief(plugin)} is not in [[plugins]]")
        artifact_inputs = {}
        for param in entrypoint.get("artifact_params", []):
            outputs = param.get("output_params") if isinstance(param, dict) else None
            if not isinstance(outputs, list) or not outputs:
                self.skip(f"entry point {name}: artifact parameter {brief(param)} without output_params")
                continue
            found = [
                {o["name"]: o["type"]} for o in outputs if isinstance(o, dict) and "name" in o and "type" in o
            ]
            artifact_inputs[param["name"]] = found if len(found) > 1 else found[0]
        for key in sorted(
            set(entrypoint)
            - {
                "path",
                "name",
                "description",
                "params",
                "plugins",
                "artifact_params",
                "artifact_plugins",
                "queues",
            }
        ):
            self.skip(f"entry point {name}: unknown key {brief(key)}")
        if entrypoint.get("queues"):
            self.skip(f"entry point {name}: queues {entrypoint['queues']} are not kept (submit with --queue)")
        if self.types and tasks:
            description["types"] = dict(self.types)
        if parameters:
            description["parameters"] = parameters
        if artifact_inputs:
            description["artifact_inputs"] = artifact_inputs
        description["tasks"] = tasks
        description["graph"] = contents["graph"]
        if contents.get("artifacts"):
            description["artifact_outputs"] = contents["artifacts"]
        target = self.out / "entrypoints" / f"{name}.yaml"
        origin = path.relative_to(self.root).as_posix()
        header = f"# Imported by dioptra-lab from {origin}: a complete Dioptra description.\n"
        target.write_text(header + yaml.safe_dump(description, sort_keys=False, allow_unicode=True))
        self.report.entrypoints[name] = target

    def parameter(self, entrypoint: str, param: Any) -> dict[str, Any] | None:
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            self.skip(f"entry point {entrypoint}: a parameter without a name ({brief(param)})")
            return None
        kind, default = param.get("type"), param.get("default_value")
        converted: dict[str, Any] = {}
        if kind in PARAM_TYPES:
            converted["type"] = PARAM_TYPES[kind]
        elif kind not in UNTYPED_PARAMS:
            self.skip(f"entry point {entrypoint}: parameter {param['name']!r} has unknown type {brief(kind)}")
        if default is not None:
            converted["default"] = self.coerce(entrypoint, param["name"], kind, default)
        if not converted:
            # Dioptra gives such a parameter no type and no default: its description is
            # invalid until one is given
            self.skip(
                f"entry point {entrypoint}: parameter {param['name']!r} ({kind}) has no default; typed any"
            )
            converted["type"] = "any"
        return converted

    def coerce(self, entrypoint: str, name: str, kind: Any, value: Any) -> Any:
        """Dioptra keeps defaults as text; read them as the declared type."""
        if not isinstance(value, str) or kind == "string":
            return value
        try:
            if kind == "integer":
                return int(value)
            if kind == "float":
                return float(value)
            if kind == "boolean":
                if value.lower() in ("true", "false"):
                    return value.lower() == "true"
                raise ValueError(value)
            if kind in UNTYPED_PARAMS:
                return yaml.safe_load(value)
        except (ValueError, yaml.YAMLError):
            self.skip(
                f"entry point {entrypoint}: default {brief(value)} of {name!r} is not a {kind}; kept as text"
            )
        return value

    def check_written(self) -> None:
        from dioptra_lab.entrypoints import load_entrypoint
        from dioptra_lab.plugins.registry import Registry

        registry = Registry([self.out / "plugins"], distributions=False)
        registry.discover()
        for qualified, filename in self.artifact_files.items():
            plugin, _, cls = qualified.partition(".")
            module = module_of(plugin, filename if isinstance(filename, str) else "__init__.py")
            if f"{module}.{cls}" not in registry.artifact_tasks:
                self.skip(
                    f"artifact task {qualified}: no artifact-task class {cls} in {module} "
                    "(the name in dioptra.toml must be a class with serialize and deserialize)"
                )
        for name, path in self.report.entrypoints.items():
            ep = load_entrypoint(path, registry)
            for problem in ep.problems:
                self.skip(f"entry point {name}: {problem}")
