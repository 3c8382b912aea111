"""The layers of DESIGN.md hold: no module imports a module of a higher layer, function-local
imports included, and no import cycle exists between modules.

Imports under ``if TYPE_CHECKING:`` are for annotations only and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "dioptra_lab"

# Lowest first. A module may import its own layer and the layers below it.
LAYERS: list[list[str]] = [
    ["errors"],
    ["config", "processes", "display"],
    ["types"],
    ["models"],
    ["plugins"],
    ["entrypoints"],
    ["engine"],
    ["tracking"],
    ["jobs"],
    ["worker"],
    ["stack"],
    ["plots"],
    ["api"],
    ["widgets"],
    ["server"],
    ["cli", "cli_common", "cli_jobs", "cli_stack"],
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path, name: str | None = None) -> set[str]:
    """Every dioptra_lab module ``path`` imports at run time (module level or in a function)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if _type_checking_block(node):
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("dioptra_lab"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base])
                base = base.strip(".")
            if base.startswith("dioptra_lab"):
                for alias in node.names:
                    # `from pkg import submodule` imports the submodule
                    found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in MODULES}


def layer_of(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def test_every_module_has_a_layer() -> None:
    missing = sorted({layer_of(m) for m in MODULES if m != "dioptra_lab"} - set(RANK))
    assert not missing, f"add these to LAYERS (and to the README's architecture): {missing}"


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in GRAPH.items()
        if module != "dioptra_lab"
        for target in targets
        if target != "dioptra_lab" and RANK[layer_of(target)] > RANK[layer_of(module)]
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_function_local_imports(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from dioptra_lab.api import run\n"
        "def f():\n    from dioptra_lab.jobs import submit\n    import dioptra_lab.stack\n"
    )
    found = imports_of(source, "dioptra_lab.probe")
    assert "dioptra_lab.jobs.submit" in found
    assert "dioptra_lab.stack" in found
    assert "dioptra_lab.api" not in found
