"""Plugins: the ``@task`` decorator, task specifications and the registry."""

from dioptra_lab.plugins.registry import (
    BrokenPlugin,
    PluginImportWarning,
    PluginInfo,
    Registry,
    get_registry,
    set_registry,
)
from dioptra_lab.plugins.task import MISSING, InputSpec, OutputSpec, TaskSpec, build_spec, task

__all__ = [
    "MISSING",
    "BrokenPlugin",
    "InputSpec",
    "OutputSpec",
    "PluginImportWarning",
    "PluginInfo",
    "Registry",
    "TaskSpec",
    "build_spec",
    "get_registry",
    "set_registry",
    "task",
]
