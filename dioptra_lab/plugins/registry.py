"""The task registry: discovers plugins and looks tasks up by name.

Plugins come from folders on the plugin path (each package or module in the folder
is one plugin) and from installed distributions declaring the distribution entry-point
group ``dioptra_lab.plugins``. A plugin module that fails to import is recorded as
broken, with its reason and a warning, and discovery goes on: whether it raised, called
``sys.exit`` or ran past the import time limit (:mod:`dioptra_lab.plugins.imports`).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import pkgutil
import sys
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from dioptra_lab.errors import PluginError, UnknownTaskError, brief, first_line
from dioptra_lab.plugins import dioptra_compat
from dioptra_lab.plugins.artifact_tasks import BUILTIN_ARTIFACT_TASKS, ArtifactTaskSpec, is_artifact_task
from dioptra_lab.plugins.imports import PluginImportError, bounded_import
from dioptra_lab.plugins.task import SPEC_ATTRIBUTE, TaskSpec, build_spec

DISTRIBUTION_GROUP = "dioptra_lab.plugins"


class PluginImportWarning(UserWarning):
    """A plugin module failed to import; its tasks are unavailable."""


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin module that could not be imported, and why."""

    module: str
    location: str
    reason: str
    details: str = ""


@dataclass
class PluginInfo:
    """One discovered plugin: its top-level module and where its source lives."""

    name: str
    location: Path | None
    origin: str  # "path" or "distribution"
    modules: list[str] = field(default_factory=list)

    def source_files(self) -> list[Path]:
        """The ``.py`` files of this plugin (what a bundle snapshots)."""
        if self.location is None:
            return []
        if self.location.is_file():
            return [self.location]
        return sorted(p for p in self.location.rglob("*.py") if "__pycache__" not in p.parts)

    def sources(self) -> dict[str, str]:
        """The text of each source file by its path in the package (``"."`` for a single module)."""
        location = self.location
        if location is None:
            return {}
        if location.is_file():
            return {".": location.read_text()}
        return {str(p.relative_to(location)): p.read_text() for p in self.source_files()}


class Registry:
    """Tasks by qualified name, plus the plugins they came from and the broken ones."""

    def __init__(self, plugin_path: list[Path] | None = None, distributions: bool = True) -> None:
        self.plugin_path = [Path(p) for p in (plugin_path or [])]
        self.distributions = distributions
        self.tasks: dict[str, TaskSpec] = {}
        # Dioptra's artifact tasks (classes) found in plugins, by qualified name
        self.artifact_tasks: dict[str, ArtifactTaskSpec] = {}
        self.plugins: dict[str, PluginInfo] = {}
        self.broken: list[BrokenPlugin] = []
        self._discovered = False
        # Threads (the REST API's handlers) wait for a discovery under way rather than see
        # half a registry; re-entrant for plugins that look tasks up while they import.
        self._lock = threading.RLock()

    # -- discovery -------------------------------------------------------------------
    def discover(self) -> Registry:
        """Import every plugin once; later calls do nothing (see :meth:`reload`)."""
        with self._lock:
            if self._discovered:
                return self
            self._discovered = True
            dioptra_compat.install()  # plugins written for Dioptra import `dioptra.pyplugs`
            for folder in self.plugin_path:
                if folder.is_dir():
                    self._discover_folder(folder.resolve())
            if self.distributions:
                self._discover_distributions()
            return self

    def reload(self) -> Registry:
        """Forget every plugin module and discover again (picks up edited plugin files)."""
        with self._lock:
            for info in self.plugins.values():
                for module in [m for m in sys.modules if m == info.name or m.startswith(info.name + ".")]:
                    del sys.modules[module]
            importlib.invalidate_caches()
            self.tasks.clear()
            self.artifact_tasks.clear()
            self.plugins.clear()
            self.broken.clear()
            self._discovered = False
            return self.discover()

    def _discover_folder(self, folder: Path) -> None:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        for child in sorted(folder.iterdir()):
            if child.name.startswith(("_", ".")):
                continue
            if child.is_dir() and (child / "__init__.py").is_file():
                self._load_plugin(child.name, child, "path")
            elif child.suffix == ".py":
                self._load_plugin(child.stem, child, "path")

    def _discover_distributions(self) -> None:
        for ep in importlib.metadata.entry_points(group=DISTRIBUTION_GROUP):
            module_name = ep.value.split(":")[0]
            dist = getattr(ep.dist, "name", "?")
            self._load_plugin(module_name, None, f"distribution {dist}")

    def _load_plugin(self, name: str, location: Path | None, origin: str) -> None:
        existing = sys.modules.get(name)
        if existing is not None and location is not None and not _defined_under(existing, location):
            self._broken(
                name,
                str(location),
                f"the name {name!r} is already taken by {getattr(existing, '__file__', existing)}; "
                "rename the plugin folder",
            )
            return
        module = self._import(name, str(location or origin))
        if module is None:
            return
        if location is None and getattr(module, "__file__", None):
            file = Path(module.__file__ or "")
            location = file.parent if file.name == "__init__.py" else file
        info = PluginInfo(name, location, origin)
        self.plugins[name] = info
        modules = [module, *self._submodules(module, str(location))]
        for mod in modules:
            info.modules.append(mod.__name__)
            self._collect(mod, name)

    def _submodules(self, package: ModuleType, location: str) -> list[ModuleType]:
        """Every module under a package, each imported once through :meth:`_import`.

        Not ``pkgutil.walk_packages``: it imports sub-packages itself, unbounded in time and
        letting ``SystemExit`` through.
        """
        found: list[ModuleType] = []
        pending = [package]
        while pending:
            current = pending.pop(0)
            path = getattr(current, "__path__", None)
            if path is None:
                continue
            for sub in pkgutil.iter_modules(path, prefix=current.__name__ + "."):
                loaded = self._import(sub.name, location)
                if loaded is not None:
                    found.append(loaded)
                    if sub.ispkg:
                        pending.append(loaded)
        return found

    def _import(self, module_name: str, location: str) -> ModuleType | None:
        try:
            return bounded_import(module_name)
        except PluginImportError as exc:  # any failure of a plugin must not break discovery
            self._broken(module_name, location, exc.reason, exc.details)
            return None

    def _broken(self, module: str, location: str, reason: str, details: str = "") -> None:
        self.broken.append(BrokenPlugin(module, location, reason, details))
        warnings.warn(
            f"plugin {module!r} ({location}) failed to load: {reason}",
            PluginImportWarning,
            stacklevel=2,
        )

    def _collect(self, module: ModuleType, plugin: str) -> None:
        for value in vars(module).values():
            if is_artifact_task(value) and getattr(value, "__module__", None) == module.__name__:
                qualname = f"{module.__name__}.{value.__name__}"
                self.artifact_tasks[qualname] = ArtifactTaskSpec(value.__name__, qualname, value, plugin)
                continue
            spec = getattr(value, SPEC_ATTRIBUTE, None)
            if isinstance(spec, TaskSpec) and getattr(value, "__module__", None) == module.__name__:
                spec.plugin = plugin
                self.add(spec)

    def add(self, spec: TaskSpec) -> None:
        """Register one task (discovery calls this; tests and notebooks may too)."""
        self.tasks[spec.qualname] = spec

    # -- look-up ---------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every name a task can be found by: qualified and short names."""
        self.discover()
        return sorted(set(self.tasks) | {t.name for t in self.tasks.values()})

    def list_tasks(self) -> list[TaskSpec]:
        """All tasks, sorted by qualified name."""
        self.discover()
        return [self.tasks[k] for k in sorted(self.tasks)]

    def get(self, name: str) -> TaskSpec:
        """Find a task by qualified name (``pkg.module.func``) or unique short name."""
        self.discover()
        found = _by_name(self.tasks, name, "task")
        if found is None:
            raise UnknownTaskError(name, self.suggest(name), self._broken_hint(name))
        return found

    def find_callable(self, dotted: str) -> TaskSpec:
        """Resolve Dioptra's ``plugin: package.module.function``: registry first, then import.

        Undecorated functions are accepted so that files written for Dioptra run unchanged.
        """
        self.discover()
        if dotted in self.tasks:
            return self.tasks[dotted]
        module_name, _, func_name = dotted.rpartition(".")
        if not module_name or not func_name or len(dotted) > 200:
            raise PluginError(f"plugin {brief(dotted)}: expected module.function (at least two dotted parts)")
        try:
            module = bounded_import(module_name)
        except PluginImportError as exc:
            raise UnknownTaskError(
                dotted, self.suggest(dotted), f"cannot import {module_name}: {exc.reason}"
            ) from None
        func: Any = getattr(module, func_name, None)
        if not callable(func):
            raise UnknownTaskError(dotted, self.suggest(dotted), f"{module_name} has no {func_name}")
        spec = getattr(func, SPEC_ATTRIBUTE, None)
        if isinstance(spec, TaskSpec):
            return spec
        try:
            return build_spec(func)
        except PluginError:
            raise
        except Exception as exc:  # a callable inspect cannot read (some built-ins)
            raise PluginError(
                f"plugin {dotted!r} cannot be a task: {type(exc).__name__}: {first_line(str(exc))}"
            ) from None

    def find_artifact_task(self, name: str) -> ArtifactTaskSpec | None:
        """An artifact task by qualified name, by class name (plugins first), or a built-in."""
        self.discover()
        found = _by_name(self.artifact_tasks, name, "artifact task")
        if found is not None:
            return found
        return BUILTIN_ARTIFACT_TASKS.get(name) or next(
            (t for t in BUILTIN_ARTIFACT_TASKS.values() if t.qualname == name), None
        )

    def suggest(self, name: str) -> list[str]:
        """The closest task names, best first."""
        short = name.rsplit(".", 1)[-1]
        candidates = self.names()
        shorts = sorted({t.name for t in self.tasks.values()})
        # dotted names share ".tasks." and the like, so they must be closer to count
        found = difflib.get_close_matches(name, candidates, n=3, cutoff=0.8 if "." in name else 0.6)
        found += [c for c in difflib.get_close_matches(short, shorts, n=3, cutoff=0.7) if c not in found]
        return found[:3]

    def _broken_hint(self, name: str) -> str:
        for broken in self.broken:
            if name.startswith(broken.module) or broken.module.split(".")[0] in name:
                return f"plugin {broken.module!r} failed to import: {broken.reason}"
        if self.broken:
            return f"{len(self.broken)} plugin module(s) failed to import; see `dioptra-lab plugins list`"
        return ""


def _by_name(table: dict[str, Any], name: str, kind: str) -> Any:
    """A task (or artifact task) by qualified name, else by its short name when only one has it."""
    if name in table:
        return table[name]
    matches = [t for t in table.values() if t.name == name]
    if len(matches) > 1:
        options = ", ".join(sorted(t.qualname for t in matches))
        raise PluginError(f"{kind} name {name!r} is ambiguous: use one of {options}")
    return matches[0] if matches else None


def _defined_under(module: ModuleType, location: Path) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return False
    try:
        Path(file).resolve().relative_to(
            location.resolve() if location.is_dir() else location.parent.resolve()
        )
    except ValueError:
        return False
    return True


_registry: Registry | None = None
_creating = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry for the current settings' plugin path."""
    global _registry
    with _creating:
        if _registry is None:
            from dioptra_lab.config import load_settings

            _registry = Registry(load_settings().plugin_path)
        registry = _registry
    return registry.discover()


def set_registry(registry: Registry | None) -> None:
    """Replace the process-wide registry (``None``: rebuild from settings next time)."""
    global _registry
    _registry = registry
